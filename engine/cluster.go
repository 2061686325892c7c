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

// Deleter deletes the objects devloop applied among objs, keeping
// Namespaces and what it did not create (*kube.Client, as `devloop
// down`): a disabled resource's objects.
type Deleter interface {
	DeleteManaged(ctx context.Context, objs []*unstructured.Unstructured, opts kube.DownOptions) ([]kube.DownResult, error)
}

var _ Deleter = (*kube.Client)(nil)

// Rewatcher restarts the pod watches (*kube.Client). The pinger calls it
// when the cluster answers again: the watches' retries back off during an
// outage (up to 30 s in client-go), and what the cluster did meanwhile
// (containers restarted with the image's files, pods replaced) would show
// only then.
type Rewatcher interface {
	Rewatch()
}

var _ Rewatcher = (*kube.Client)(nil)

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
	lost := l.cluster.since
	if l.cluster.err == "" || m.err == "" {
		// since is when it stopped answering, not when its error changed
		// (refused, then a starting API server's failing checks).
		l.cluster.since = l.e.cfg.Now()
	}
	l.cluster.err = m.err
	l.dirty = true
	if m.err != "" {
		l.logf("", "cannot reach the cluster: %s", m.err)
		return
	}
	l.logf("", "the cluster answers again")
	l.recovered(lost)
}

// outageSlack is how long before the ping noticed an outage it may have
// begun: a ping period and a ping's timeout. An update that failed since
// then may have failed for the outage.
const outageSlack = pingEvery + pingTimeout

// recovered picks up the Kubernetes resources after the cluster, lost at
// lost (when the ping noticed), answers again; the pinger restarted the
// pod watches (Rewatcher). A resource whose update failed during the
// outage updates again, and one whose update still runs does if it fails
// (k8sState.retry); changes a live update held are looked at again. A
// deployed resource waits for its pods' status from the restarted watch
// before it shows ready again: its containers may have restarted with
// the image's files, and the catch-up sync (liveUpdate) must run first.
func (l *loop) recovered(lost time.Time) {
	from := lost.Add(-outageSlack)
	for _, name := range l.order {
		r := l.res[name]
		if r.spec.Local != nil || !r.enabled || r.k8s.unavailable != "" {
			continue
		}
		if ls := r.k8s.liveUpdate; ls != nil {
			ls.dirty = true
		}
		switch {
		case r.worker.gen != 0:
			r.k8s.retry = true
		case r.phase == PhaseError && !r.failedAt.Before(from):
			l.retry(r)
		case r.k8s.follow.watchCancel != nil && r.phase != PhaseError:
			r.k8s.follow.confirm = true
			r.phase, r.waiting = PhaseDeploying, waitingAfterOutage
		}
	}
}

// waitingAfterOutage is what a deployed resource waits for once the
// cluster answers again.
const waitingAfterOutage = "waiting for the pods' status after the cluster outage"

// retry asks for an update of r, whose update failed while the cluster did
// not answer.
func (l *loop) retry(r *resource) {
	l.logf(r.spec.Name, "the cluster answers again: updating again (the last update failed: %s)", r.err)
	if r.want == nil {
		r.want = &want{reason: "cluster", at: l.e.cfg.Now()}
	}
	if len(r.history) > 0 && r.history[0].Result == "error" {
		r.want.files = mergeFiles(r.want.files, r.history[0].Files)
	}
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
			if rw, ok := p.(Rewatcher); ok && now == "" && last != "" {
				rw.Rewatch() // before the loop hears of it: the statuses it gets next are new
			}
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
