package engine

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

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

// Kube is what SetKube gives an engine started with Config.KubePending:
// the fields of Config of the same names.
type Kube struct {
	Builder   Builder
	Cluster   Cluster
	Forwarder Forwarder
	Syncer    Syncer
	// Err is why the cluster cannot be used: Kubernetes resources show it.
	Err error
}

// SetKube ends the wait of an engine started with Config.KubePending:
// Kubernetes resources start with k, or show k.Err. It may be called once,
// from any goroutine, before or after Run started.
func (e *Engine) SetKube(ctx context.Context, k Kube) error {
	if f, ok := k.Cluster.(Forwarder); ok && k.Forwarder == nil {
		k.Forwarder = f
	}
	select {
	case e.msgs <- kubeMsg{k: k}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-e.stopped:
		return errEngineStopped
	}
}

// kubeMsg is SetKube's.
type kubeMsg struct{ k Kube }

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

// onKube ends the wait for the cluster. The Kubernetes seams are written
// into the engine's Config here, in the loop, before any worker that uses
// them starts.
func (l *loop) onKube(m kubeMsg) {
	if l.kubeWait == "" {
		return // not waiting, or given already
	}
	c := &l.e.cfg
	c.Builder, c.Cluster, c.Forwarder, c.Syncer, c.KubeError = m.k.Builder, m.k.Cluster, m.k.Forwarder, m.k.Syncer, m.k.Err
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
	p, ok := l.e.cfg.Cluster.(Pinger)
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
