package kube

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
)

// Target is what a resource deployed and how to find its pods.
type Target struct {
	// Applied are the objects Apply returned for the resource.
	Applied []Applied
	// ExtraSelectors are k8s_resource(extra_pod_selectors=): pods in the
	// applied namespaces with all labels of one selector also belong.
	ExtraSelectors []map[string]string
	// PodReadiness "ignore" makes the resource ready once applied.
	PodReadiness string
}

func (t Target) namespaces(def string) []string {
	seen := map[string]bool{}
	var out []string
	for _, a := range t.Applied {
		ns := a.Namespace
		if ns == "" {
			if !a.RunsPods {
				continue
			}
			ns = def
		}
		if !seen[ns] {
			seen[ns] = true
			out = append(out, ns)
		}
	}
	if len(out) == 0 && len(t.ExtraSelectors) > 0 {
		out = append(out, def)
	}
	return out
}

// nsCache holds the informers of one namespace, shared by every Watch.
// stopped is closed when they stop: by Close, or by Rewatch, after which
// the watches take new ones.
type nsCache struct {
	pods, replicaSets, jobs, events cache.SharedIndexInformer
	stopped                         <-chan struct{}
}

func (n *nsCache) informers() []cache.SharedIndexInformer {
	return []cache.SharedIndexInformer{n.pods, n.replicaSets, n.jobs, n.events}
}

// watchState is the Client's informer state, created on first Watch.
type watchState struct {
	mu     sync.Mutex
	caches map[string]*nsCache
	stop   chan struct{}
	closed bool
}

// namespaceCaches returns the started informers of namespaces, all of
// one start (Rewatch).
func (c *Client) namespaceCaches(namespaces []string) ([]*nsCache, error) {
	w := &c.watch
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil, fmt.Errorf("kube client for context %q is closed", c.context)
	}
	if w.stop == nil {
		w.stop = make(chan struct{})
		w.caches = map[string]*nsCache{}
	}
	var out []*nsCache
	for _, ns := range namespaces {
		out = append(out, c.namespaceCacheLocked(ns))
	}
	return out, nil
}

// namespaceCacheLocked returns the informers of namespace ns, started on
// first use; c.watch.mu is held.
func (c *Client) namespaceCacheLocked(ns string) *nsCache {
	w := &c.watch
	if n, ok := w.caches[ns]; ok {
		return n
	}
	f := informers.NewSharedInformerFactoryWithOptions(c.cs, 0, informers.WithNamespace(ns))
	// Only Warning events explain failures; Normal ones are most of the
	// traffic in a busy namespace.
	ef := informers.NewSharedInformerFactoryWithOptions(c.cs, 0, informers.WithNamespace(ns),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("type", corev1.EventTypeWarning).String()
		}))
	n := &nsCache{
		pods:        f.Core().V1().Pods().Informer(),
		replicaSets: f.Apps().V1().ReplicaSets().Informer(),
		jobs:        f.Batch().V1().Jobs().Informer(),
		events:      ef.Core().V1().Events().Informer(),
		stopped:     w.stop,
	}
	f.Start(w.stop)
	ef.Start(w.stop)
	w.caches[ns] = n
	return n
}

// Rewatch stops the informers Watch, Logs and Forward share and makes the
// running ones start new informers, which list the cluster at once. Call
// it when the cluster answers again after an outage: the informers retry
// a failed list or watch with a backoff that grows to 30 s, so what
// happened meanwhile (restarted containers, replaced pods) would show
// only that much later. Every running Watch then reports the status it
// sees, even an unchanged one.
func (c *Client) Rewatch() {
	w := &c.watch
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed || w.stop == nil {
		return
	}
	close(w.stop)
	w.stop, w.caches = nil, nil
}

// Close stops the informers that Watch, Logs and Forward share.
func (c *Client) Close() {
	w := &c.watch
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed && w.stop != nil {
		close(w.stop)
	}
	w.closed = true
}

// Watch calls report with the Status of t's pods now and on every change,
// until ctx ends (it then returns ctx.Err()). Pods are found through owner
// references from the applied objects (Deployment→ReplicaSet→Pod,
// CronJob→Job→Pod, StatefulSet, DaemonSet, Job, any controller) and through
// t.ExtraSelectors. report runs on Watch's goroutine; it must not block long.
func (c *Client) Watch(ctx context.Context, t Target, report func(Status)) error {
	return c.track(ctx, t, func(st Status, _ []*corev1.Pod) { report(st) })
}

// track is Watch with the pods themselves, for Logs and Forward. When
// Rewatch stops its informers it follows new ones.
func (c *Client) track(ctx context.Context, t Target, report func(Status, []*corev1.Pod)) error {
	for {
		caches, err := c.namespaceCaches(t.namespaces(c.namespace))
		if err != nil {
			return err
		}
		if err := c.trackWith(ctx, t, caches, report); !errors.Is(err, errRewatch) {
			return err
		}
		if c.closed() {
			// Close stopped them, as it stops every watch: wait, as
			// before.
			<-ctx.Done()
			return ctx.Err()
		}
	}
}

func (c *Client) closed() bool {
	c.watch.mu.Lock()
	defer c.watch.mu.Unlock()
	return c.watch.closed
}

// errRewatch says that the informers of a trackWith stopped (Rewatch).
var errRewatch = errors.New("the pod watch's informers were restarted")

// trackWith is track on one start of the informers: it reports the status
// it first sees, then every change, until ctx ends or they stop
// (errRewatch).
func (c *Client) trackWith(ctx context.Context, t Target, caches []*nsCache, report func(Status, []*corev1.Pod)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if len(caches) > 0 {
		// Every cache of one namespaceCaches call stops together.
		stopped := caches[0].stopped
		go func() {
			select {
			case <-stopped:
				cancel()
			case <-ctx.Done():
			}
		}()
	}
	restarted := func() error {
		if len(caches) > 0 && ctx.Err() != nil {
			select {
			case <-caches[0].stopped:
				return errRewatch
			default:
			}
		}
		return ctx.Err()
	}
	dirty := make(chan struct{}, 1)
	poke := func() {
		select {
		case dirty <- struct{}{}:
		default:
		}
	}
	handler := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { poke() },
		UpdateFunc: func(any, any) { poke() },
		DeleteFunc: func(any) { poke() },
	}
	var synced []cache.InformerSynced
	for _, n := range caches {
		for _, inf := range n.informers() {
			reg, err := inf.AddEventHandler(handler)
			if err != nil {
				return fmt.Errorf("watching pods: %w", err)
			}
			defer func() { _ = inf.RemoveEventHandler(reg) }()
			synced = append(synced, reg.HasSynced)
		}
	}
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return restarted()
	}
	var last *Status
	for {
		st, pods := c.observe(t, caches)
		if last == nil || !reflect.DeepEqual(*last, st) {
			last = &st
			report(st, pods)
		}
		select {
		case <-ctx.Done():
			return restarted()
		case <-dirty:
		}
	}
}

// observe reads the informers' caches and evaluates t's status.
func (c *Client) observe(t Target, caches []*nsCache) (Status, []*corev1.Pod) {
	roots := map[types.UID]bool{}
	o := observed{ignoreReadiness: t.PodReadiness == "ignore", templateHashes: map[string]bool{}}
	for _, a := range t.Applied {
		roots[a.UID] = true
		for _, h := range a.TemplateHashes {
			o.templateHashes[h] = true
		}
		if a.RunsPods {
			o.expectPods = true
		}
	}
	if len(t.ExtraSelectors) > 0 {
		o.expectPods = true
	}
	for _, n := range caches {
		lookup := func(kind, ns, name string) ([]metav1.OwnerReference, bool) {
			var inf cache.SharedIndexInformer
			switch kind {
			case "ReplicaSet":
				inf = n.replicaSets
			case "Job":
				inf = n.jobs
			default:
				return nil, false
			}
			obj, ok, err := inf.GetStore().GetByKey(ns + "/" + name)
			if err != nil || !ok {
				return nil, false
			}
			return obj.(metav1.Object).GetOwnerReferences(), true
		}
		for _, obj := range n.pods.GetStore().List() {
			p := obj.(*corev1.Pod)
			if ownedBy(p, roots, lookup) != "" || matchesAny(p.Labels, t.ExtraSelectors) {
				o.pods = append(o.pods, p)
			}
		}
		for _, obj := range n.jobs.GetStore().List() {
			j := obj.(*batchv1.Job)
			if roots[j.UID] {
				o.jobs = append(o.jobs, j)
			}
		}
	}
	names := map[string]bool{}
	for _, p := range o.pods {
		names[p.Namespace+"/"+p.Name] = true
	}
	for _, n := range caches {
		for _, obj := range n.events.GetStore().List() {
			ev := obj.(*corev1.Event)
			if names[ev.InvolvedObject.Namespace+"/"+ev.InvolvedObject.Name] {
				o.events = append(o.events, ev)
			}
		}
	}
	return evaluate(o), o.pods
}
