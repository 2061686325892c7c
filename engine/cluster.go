package engine

import (
	"context"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/devloop-dev/devloop/devfile"
	"github.com/devloop-dev/devloop/kube"
)

// Cluster and Forwarder are the seams Kubernetes resources use, with
// Builder (image.go): the engine decides, they do the work.

// Cluster applies a resource's objects with the built images injected
// (Devfile ref → reference to deploy) and follows the pods they run
// (*kube.Client).
type Cluster interface {
	Apply(ctx context.Context, objs []*unstructured.Unstructured, images map[string]string) ([]kube.Applied, error)
	Watch(ctx context.Context, t kube.Target, report func(kube.Status)) error
	Logs(ctx context.Context, t kube.Target, out func(kube.LogLine)) error
}

var _ Cluster = (*kube.Client)(nil)

// Forwarder runs a port-forward to a resource's pods until ctx is done
// (*kube.Client).
type Forwarder interface {
	Forward(ctx context.Context, t kube.Target, spec kube.ForwardSpec, events func(kube.ForwardEvent)) error
}

var _ Forwarder = (*kube.Client)(nil)

// Pinger tells whether the cluster answers (*kube.Client). When the
// Cluster is one, the engine pings it every pingEvery and shows a cluster
// that stops answering (View.Cluster), and when it answers again.
type Pinger interface {
	Ping(ctx context.Context) error
}

var _ Pinger = (*kube.Client)(nil)

// pingEvery is how often the cluster is pinged: a stopped cluster (docker
// stop, a laptop waking up) shows within seconds, and a GET /readyz every
// few seconds costs the API server nothing. pingTimeout bounds one ping:
// a local API server answers in milliseconds.
const (
	pingEvery   = 5 * time.Second
	pingTimeout = 3 * time.Second
)

// Kube is what Config.Kube gives: the seams Kubernetes resources use.
type Kube struct {
	// Builder builds images, Cluster deploys and follows pods, Forwarder
	// forwards ports (nil means Cluster, when it is one).
	Builder   Builder
	Cluster   Cluster
	Forwarder Forwarder
	// Syncer live-updates containers; nil means images are always rebuilt.
	Syncer Syncer
	// Err is why the cluster cannot be used (kind cluster creation failed,
	// a context devloop must not deploy to, ...): Kubernetes resources
	// show it.
	Err error
	// Target is where Kubernetes resources deploy, for the View.
	Target *KubeTarget
}

// defaultKubeWaiting is what Kubernetes resources wait for when
// Config.KubeWaiting says nothing.
const defaultKubeWaiting = "preparing the cluster"

// kubeMsg is Config.Kube's answer.
type kubeMsg struct {
	k   Kube
	err error
}

// pingMsg says the cluster's answer changed: err is "" when it answers.
type pingMsg struct{ err string }

// errNoK8s is the status of Kubernetes resources when the engine was given
// no cluster.
const errNoK8s = "no Kubernetes cluster was set up for this run: only local_resource runs"

// noK8sReason is why Kubernetes resources cannot deploy, "" when they can.
func noK8sReason(kubeErr error, c Cluster) string {
	switch {
	case kubeErr != nil:
		return "Kubernetes is not available: " + kubeErr.Error()
	case c == nil:
		return errNoK8s
	}
	return ""
}

// startKube calls Config.Kube in a worker; Kubernetes resources wait for
// its answer (onKube).
func (l *loop) startKube(m *devfile.Model) {
	f := l.e.cfg.Kube
	if f == nil || l.kubeCancel != nil || !needsKube(m) {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	l.kubeCancel = cancel
	l.e.goWorker(func() {
		defer cancel()
		k, err := f(ctx, m, l.e.buildProgress)
		l.e.send(kubeMsg{k: k, err: err})
	})
}

// onKube ends the wait for the cluster. The Kubernetes seams are written
// into the engine here, in the loop, before any worker that uses them
// starts. An error ends the loop: nothing could run.
func (l *loop) onKube(m kubeMsg) {
	if m.err != nil {
		l.fatal = m.err
		return
	}
	if f, ok := m.k.Cluster.(Forwarder); ok && m.k.Forwarder == nil {
		m.k.Forwarder = f
	}
	l.e.kube = m.k
	l.dirty = true // the View shows the target
	l.kubeWait, l.noK8s = "", noK8sReason(m.k.Err, m.k.Cluster)
	if l.noK8s != "" {
		l.logf("", "%s", l.noK8s)
	}
	l.startPing()
	for _, name := range l.order {
		r := l.res[name]
		if r.spec.Local != nil {
			continue
		}
		r.k8s.unavailable = l.noK8s
		r.k8s.liveUpdate = l.newLive(*r.spec)
		r.init("initial", l.e.cfg.Now())
	}
}

// startPing pings the cluster when it can be.
func (l *loop) startPing() {
	p, ok := l.e.kube.Cluster.(Pinger)
	if !ok || l.noK8s != "" || l.kubeWait != "" || l.cluster.cancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	l.cluster.cancel = cancel
	l.e.goWorker(func() { l.e.ping(ctx, p) })
}

func (l *loop) onPing(m pingMsg) {
	l.cluster.err, l.cluster.since = m.err, l.e.cfg.Now()
	if m.err != "" {
		l.logf("", "cannot reach the cluster: %s", m.err)
	} else {
		l.logf("", "the cluster answers again")
	}
	l.dirty = true
}

// ping pings p every pingEvery until ctx ends, and tells the loop when the
// answer changes (the error's text, "" when it answers).
func (e *Engine) ping(ctx context.Context, p Pinger) {
	t := time.NewTicker(pingEvery)
	defer t.Stop()
	last := ""
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, pingTimeout)
		err := p.Ping(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		now := ""
		if err != nil {
			now = err.Error()
		}
		if now != last {
			last = now
			if !e.send(pingMsg{err: now}) {
				return
			}
		}
	}
}

// needsKube tells whether m deploys to Kubernetes or declares a kind
// cluster, the models for which Config.Kube is called.
func needsKube(m *devfile.Model) bool {
	return m.Cluster != nil || slices.ContainsFunc(m.Resources, func(r devfile.Resource) bool { return r.Local == nil })
}
