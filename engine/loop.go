package engine

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/devloop-dev/devloop/devfile"
	"github.com/devloop-dev/devloop/watch"
)

type loadedMsg struct {
	model *devfile.Model
	imgs  imageSet
	err   error
}

type msg any

// loop is the state the engine goroutine owns. Nothing else touches it.
type loop struct {
	e       *Engine
	model   *devfile.Model
	imgs    imageSet
	devfile DevfileStatus
	// noK8s is why Kubernetes resources cannot deploy, "" when they can;
	// kubeWait, while set, what they wait for (Config.KubeWaiting), and
	// kubeCancel ends the wait's worker.
	noK8s, kubeWait string
	kubeCancel      context.CancelFunc
	// fatal, once set, ends the loop: Run returns it.
	fatal error
	// order is the resources' Devfile order; res holds them by name.
	order  []string
	res    map[string]*resource
	reload struct {
		running, again bool
		cancel         context.CancelFunc
	}
	watch struct {
		key    string
		gen    int
		cancel context.CancelFunc
	}
	batches chan watch.Batch
	// cluster is the pinger's state: the error while the cluster does not
	// answer, since when, and the pinger's cancel.
	cluster struct {
		err    string
		since  time.Time
		cancel context.CancelFunc
	}
	// slots holds the workers holding an update slot (max_parallel_updates),
	// gen → whether it may run beside others (busy counts them).
	slots map[int]bool
	// ids hands out view sequence numbers, update IDs and worker generations.
	ids struct{ seq, update, gen int }
	// dirty says that what the View shows besides the resources changed
	// (the Devfile's status, the cluster's, the log sequence); resources'
	// changes are found by refresh.
	dirty bool
}

func newLoop(e *Engine) *loop {
	noK8s, kubeWait := errNoK8s, ""
	if e.cfg.Kube != nil {
		noK8s, kubeWait = "", e.cfg.KubeWaiting
	}
	return &loop{
		e:        e,
		noK8s:    noK8s,
		kubeWait: kubeWait,
		slots:    map[int]bool{},
		res:      map[string]*resource{},
		batches:  make(chan watch.Batch),
		devfile:  DevfileStatus{Path: e.cfg.Model.Path},
	}
}

func (l *loop) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-l.e.msgs:
			l.handle(m)
			if l.fatal != nil {
				return
			}
		case b := <-l.batches:
			l.onBatch(b)
		case <-l.e.logs.notify:
			l.dirty = true
		}
		l.schedule()
		l.publish()
	}
}

func (l *loop) handle(m msg) {
	switch m := m.(type) {
	case loadedMsg:
		l.onLoaded(m)
	case watchErrMsg:
		l.onWatchErr(m)
	case stepMsg:
		l.onStep(m)
	case swapMsg:
		l.onSwap(m)
	case workerDoneMsg:
		l.onWorkerDone(m)
	case serveExitMsg:
		l.onServeExit(m)
	case probeMsg:
		l.onProbe(m)
	case requestMsg:
		m.reply <- l.onRequest(m)
	case gateMsg:
		l.onGate(m)
	case statusMsg:
		l.onStatus(m)
	case followErrMsg:
		l.onFollowErr(m)
	case syncDoneMsg:
		l.onSyncDone(m)
	case kubeMsg:
		l.onKube(m)
	case pingMsg:
		l.onPing(m)
	case takeDownMsg:
		l.onTakeDown(m)
	default:
		panic(fmt.Sprintf("engine: unknown message %T", m))
	}
}

// apply makes model the running one: unchanged resources keep running
// untouched, changed ones update, removed ones stop, new ones start.
func (l *loop) apply(model *devfile.Model, imgs imageSet, reason string) {
	oldImgs := l.imgs
	l.model, l.imgs = model, imgs
	l.devfile.Path = model.Path
	l.devfile.LoadedAt = l.e.cfg.Now()
	l.devfile.Error = ""
	l.devfile.Warnings = append(slices.Clone(model.Warnings), imgs.warnings...)
	l.dirty = true

	keep := map[string]bool{}
	order := make([]string, 0, len(model.Resources))
	for _, spec := range model.Resources {
		keep[spec.Name] = true
		order = append(order, spec.Name)
		r := l.res[spec.Name]
		switch {
		case r == nil:
			r = newResource(spec, l.filters(spec), l.noK8s)
			r.k8s.liveUpdate = l.newLive(spec)
			l.res[spec.Name] = r
			r.init(reason, l.e.cfg.Now())
		case !sameSpec(*r.spec, spec) || !sameImages(oldImgs, imgs, spec):
			if r.spec.Enabled != spec.Enabled {
				r.enabled = spec.Enabled // the Devfile's say overrides the last toggle
			}
			r.spec = &spec
			r.filters = l.filters(spec)
			l.stop(r, "the Devfile changed it")
			r.k8s.liveUpdate = l.newLive(spec)
			r.init("devfile", l.e.cfg.Now())
		default:
			r.spec.Pos = spec.Pos // only its position moved: the view shows none
		}
	}
	for _, name := range l.order {
		if !keep[name] {
			l.stop(l.res[name], "the Devfile removed it")
			delete(l.res, name)
		}
	}
	l.order = order
	l.rewatch()
	l.startKube(model)
}

// sameSpec tells whether a resource needs no update after a reload.
func sameSpec(a, b devfile.Resource) bool {
	a.Pos = b.Pos
	return reflect.DeepEqual(a, b)
}

func (l *loop) startReload() {
	if l.e.cfg.Loader == nil {
		return
	}
	if l.reload.running {
		l.reload.again = true
		return
	}
	l.reload.running = true
	ctx, cancel := context.WithCancel(context.Background())
	l.reload.cancel = cancel
	l.e.goWorker(func() {
		defer cancel()
		m, err := l.e.cfg.Loader.Load(ctx)
		var imgs imageSet
		if err == nil {
			imgs = readImages(m)
		}
		l.e.send(loadedMsg{model: m, imgs: imgs, err: err})
	})
}

func (l *loop) onLoaded(m loadedMsg) {
	l.reload.running = false
	if l.reload.again {
		l.reload.again = false
		l.startReload()
	}
	l.dirty = true
	if m.err != nil {
		l.devfile.Error = m.err.Error()
		l.logf("", "Devfile reload failed, the last good one keeps running: %v", m.err)
		return
	}
	l.logf("", "Devfile reloaded")
	l.e.log.Debug("devfile reloaded", "path", m.model.Path, "resources", len(m.model.Resources))
	l.apply(m.model, m.imgs, "devfile")
}

func (l *loop) onRequest(m requestMsg) error {
	r := l.res[m.name]
	if r == nil {
		return fmt.Errorf("resource %q: %w (see `devloop get` for the names)", m.name, ErrNotFound)
	}
	if m.enabled != nil {
		if r.enabled == *m.enabled {
			return nil
		}
		r.enabled = *m.enabled
		if r.enabled {
			r.init("initial", l.e.cfg.Now())
		} else {
			l.stop(r, "disabled")
			r.phase, r.waiting, r.err = PhaseDisabled, "", ""
			l.takeDown(r)
		}
		return nil
	}
	if !r.enabled {
		return fmt.Errorf("resource %q is disabled: enable it first", m.name)
	}
	if r.spec.Local == nil && r.k8s.unavailable != "" {
		return fmt.Errorf("resource %q: %s", m.name, r.k8s.unavailable)
	}
	if r.spec.Local == nil && l.kubeWait != "" {
		return fmt.Errorf("resource %q waits for the cluster (%s): it updates once the cluster is ready", m.name, l.kubeWait)
	}
	r.trigger(l.e.cfg.Now())
	return nil
}

// schedule starts the updates that may start: resource enabled, no worker
// running for it, every resource_dep ready, and a free slot.
func (l *loop) schedule() {
	limit := l.model.Settings.MaxParallelUpdates
	if limit <= 0 {
		limit = DefaultMaxParallelUpdates
	}
	l.openGates()
	for _, name := range l.order {
		l.liveUpdate(l.res[name])
	}
	for _, name := range l.order {
		r := l.res[name]
		if r.spec.Local == nil && l.kubeWait != "" && r.enabled {
			r.waiting = "waiting for the cluster: " + l.kubeWait
			continue
		}
		if r.want == nil || !r.enabled || r.worker.gen != 0 || (r.spec.Local == nil && r.k8s.unavailable != "") {
			continue
		}
		// A Kubernetes resource waits only for its local resource_deps
		// (they may make what its images are built from: a binary, generated
		// code) before it builds; its worker waits for the others before it
		// deploys (openGates).
		waiting := l.blockers(r, r.spec.Local == nil)
		running, serial := l.busy()
		switch {
		case waiting != "":
		case running >= limit:
			waiting = fmt.Sprintf("a free update slot (max_parallel_updates=%d)", limit)
		case serial > 0 || (running > 0 && !parallel(r)):
			// Tilt's rule: local commands may race on the file system, so
			// one without allow_parallel=True runs alone.
			waiting = "other updates to finish (allow_parallel=False)"
		}
		if waiting != "" {
			if r.current == nil && r.phase != PhaseError {
				r.phase = PhasePending
			}
			r.waiting = "waiting for " + waiting
			continue
		}
		l.start(r)
	}
}

// blockers names the resource_deps of r that are not ready, "" when none.
// With localOnly it names only local resources, also those reached through
// Kubernetes resource_deps (web → api → the local_resource compiling what
// every image copies): what a build may need is made by local resources.
func (l *loop) blockers(r *resource, localOnly bool) string {
	var not []string
	seen := map[string]bool{}
	var walk func(deps []string)
	walk = func(deps []string) {
		for _, d := range deps {
			if seen[d] {
				continue
			}
			seen[d] = true
			dep := l.res[d]
			switch {
			case localOnly && dep == nil:
			case localOnly && dep.spec.Local == nil:
				walk(dep.spec.ResourceDeps)
			case dep == nil:
				not = append(not, d+" (not in the Devfile)")
			case !dep.enabled:
				not = append(not, d+" (disabled)")
			case dep.phase != PhaseReady:
				not = append(not, d)
			}
		}
	}
	walk(r.spec.ResourceDeps)
	if len(not) == 0 {
		return ""
	}
	return "resource_deps: " + strings.Join(not, ", ")
}

// logf adds a line of devloop's own to resource's log ("" for the global one).
func (l *loop) logf(resource, format string, args ...any) {
	l.e.logs.append(resource, fmt.Sprintf(format, args...))
}

// refresh rebuilds the cached view of every resource whose viewKey
// changed since the last refresh, with the next Version, and tells
// whether one did. Every change is seen here: handlers change resources,
// they need not say so.
func (l *loop) refresh() bool {
	changed := false
	for _, name := range l.order {
		r := l.res[name]
		k := r.key()
		if k == r.cache.key && r.cache.view.Name != "" {
			if l.e.checkView != nil {
				l.e.checkView(r.cache.view, r.view())
			}
			continue
		}
		v := r.view()
		v.Version = r.cache.view.Version + 1
		r.cache.key, r.cache.view = k, v
		changed = true
	}
	return changed
}

// publish stores and sends a copy of the state as the next View when a
// resource changed (refresh) or l.dirty says something else did.
func (l *loop) publish() {
	if !l.refresh() && !l.dirty {
		return
	}
	l.dirty = false
	l.ids.seq++
	v := View{
		Seq:       uint64(l.ids.seq),
		Devfile:   l.devfile,
		Resources: make([]ResourceView, 0, len(l.order)),
		LogSeq:    l.e.logs.lastSeq(),
	}
	v.Devfile.Warnings = slices.Clone(l.devfile.Warnings)
	if l.cluster.err != "" {
		v.Cluster = &ClusterStatus{Error: l.cluster.err, Since: l.cluster.since}
	}
	if t := l.e.kube.Target; t != nil {
		c := *t
		v.Kube = &c
	}
	for _, name := range l.order {
		v.Resources = append(v.Resources, l.res[name].cache.view)
	}
	l.e.view.Store(&v)
	l.e.subs.publish(v)
}

// shutdown stops every resource; Run waits for the stops to finish.
func (l *loop) shutdown() {
	for _, name := range l.order {
		l.stop(l.res[name], "devloop is shutting down")
	}
	if l.watch.cancel != nil {
		l.watch.cancel()
	}
	if l.reload.cancel != nil {
		l.reload.cancel()
	}
	if l.cluster.cancel != nil {
		l.cluster.cancel()
	}
	if l.kubeCancel != nil {
		l.kubeCancel()
	}
	l.dirty = true // the last View, even when stopping changed nothing
	l.publish()
}
