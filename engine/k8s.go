package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/devloop-dev/devloop/devfile"
	"github.com/devloop-dev/devloop/kube"
)

// Messages of Kubernetes resources' workers.
type (
	// gateMsg says the worker of gen built its images and waits for reply
	// to be closed before it applies: resource_deps order deploys, not
	// builds.
	gateMsg struct {
		work
		reply chan struct{}
	}
	// statusMsg is the pods' status from the watch of follow generation gen.
	statusMsg struct {
		name   string
		gen    int
		status kube.Status
	}
	// followErrMsg is a watch, log stream or port-forward of follow
	// generation gen that failed.
	followErrMsg struct {
		name string
		gen  int
		what string
		err  error
	}
)

// k8sJob is what a Kubernetes resource's update worker needs.
type k8sJob struct {
	work
	images  []devfile.Image // every image of the model: BuildAll needs the graph
	refs    []string
	objects []devfile.Object
	// claim is the update's on the images it builds (buildLogs).
	claim *buildClaim
}

// runK8s is a Kubernetes resource's update worker: build its images, wait
// for the loop's go (resource_deps), apply its objects with the built
// references. It ends with a workerDoneMsg carrying what was applied. A
// failed build or apply changes nothing in the cluster: the pods of the
// last good deploy keep serving.
func (e *Engine) runK8s(ctx context.Context, j k8sJob) {
	release := sync.OnceFunc(func() {
		if j.claim != nil {
			e.builds.release(j.claim)
		}
	})
	defer release()
	images := map[string]string{}
	done := func(applied []kube.Applied, err error) {
		m := workerDoneMsg{work: j.work, k8s: true, applied: applied, err: err}
		if err == nil {
			m.images = images
		}
		e.send(m)
	}
	objs, err := decodeObjects(j.objects)
	if err != nil {
		done(nil, err)
		return
	}
	if len(j.refs) > 0 {
		if e.kube.Builder == nil {
			done(nil, fmt.Errorf("no image builder: devloop cannot build %s", strings.Join(j.refs, ", ")))
			return
		}
		t := e.cfg.Now()
		res, err := e.kube.Builder.BuildAll(ctx, j.images, j.refs...)
		release()
		e.step(j.work, "build", t)
		for _, ref := range j.refs {
			r, ok := res[ref]
			if !ok {
				continue
			}
			images[ref] = deployReference(r)
			if r.Unchanged {
				e.logs.append(j.name, fmt.Sprintf("image %s unchanged: %s", ref, images[ref]))
			} else {
				e.logs.append(j.name, fmt.Sprintf("image %s built in %s (%d/%d steps cached): %s",
					ref, r.Duration.Round(time.Millisecond), r.CachedSteps(), len(r.Steps), images[ref]))
			}
		}
		if err != nil {
			done(nil, fmt.Errorf("build failed: %w", err))
			return
		}
	}
	gate := gateMsg{work: j.work, reply: make(chan struct{})}
	if !e.send(gate) {
		return
	}
	select {
	case <-gate.reply:
	case <-ctx.Done():
		done(nil, ctx.Err())
		return
	}
	t := e.cfg.Now()
	applied, err := e.kube.Cluster.Apply(ctx, objs, images)
	e.step(j.work, "apply", t)
	if err != nil {
		done(nil, fmt.Errorf("apply failed: %w", err))
		return
	}
	for _, a := range applied {
		what := "configured"
		if !a.Changed {
			what = "unchanged"
		}
		e.logs.append(j.name, fmt.Sprintf("%s %s", a.Ref, what))
	}
	done(applied, nil)
}

// decodeObjects decodes a resource's objects, in order.
func decodeObjects(objects []devfile.Object) ([]*unstructured.Unstructured, error) {
	var objs []*unstructured.Unstructured
	for _, o := range objects {
		d, err := kube.Decode([]byte(o.YAML))
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", strings.ToLower(o.Kind), o.Name, err)
		}
		objs = append(objs, d...)
	}
	return objs, nil
}

// startK8s runs u, a Kubernetes resource's update, in a worker (runK8s).
func (l *loop) startK8s(r *resource, u *Update) {
	r.liveBuildStarts()
	j := k8sJob{
		images:  slices.Clone(l.model.Images),
		refs:    slices.Clone(r.spec.Images),
		objects: slices.Clone(r.spec.Objects),
	}
	if len(j.refs) > 0 && l.e.kube.Builder != nil {
		j.claim = l.claimBuilds(r)
	}
	l.begin(r, u, func(ctx context.Context, w work) {
		j.work = w
		l.e.runK8s(ctx, j)
	})
}

// claimBuilds claims the images r's update builds (buildLogs) and says in
// r's log where their progress shows: here, before any of it, or in the log
// of the resource that builds the image already.
func (l *loop) claimBuilds(r *resource) *buildClaim {
	built := l.imgs.closure(r.spec.Images)
	c, elsewhere := l.e.builds.claim(r.spec.Name, built)
	var here []string
	for _, ref := range r.spec.Images {
		if elsewhere[ref] == "" {
			here = append(here, ref)
		}
	}
	if len(here) > 0 {
		l.logf(r.spec.Name, "building %s", strings.Join(here, ", "))
	}
	for _, ref := range built {
		if other := elsewhere[ref]; other != "" {
			l.logf(r.spec.Name, "building image %s (progress in %s's log)", ref, other)
		}
	}
	return c
}

// onGate holds a worker that built its images until its resource_deps are
// ready (schedule opens the gate); it gives back the update slot, which
// bounds builds, not waits.
func (l *loop) onGate(m gateMsg) {
	r := l.owner(m.work)
	if r == nil {
		return // stopped: its ctx is done, it does not wait
	}
	delete(l.slots, m.gen)
	r.k8s.gate = m.reply
	r.phase = PhaseDeploying
}

// openGates lets workers deploy whose resource_deps are ready.
func (l *loop) openGates() {
	for _, name := range l.order {
		r := l.res[name]
		if r.k8s.gate == nil {
			continue
		}
		if b := l.blockers(r, false); b != "" {
			r.waiting = "waiting for " + b
			continue
		}
		close(r.k8s.gate)
		r.k8s.gate, r.waiting = nil, ""
	}
}

// k8sState is what the loop keeps of a Kubernetes resource.
type k8sState struct {
	// unavailable is why it cannot deploy ("" if it can).
	unavailable string
	// failed is set when the last update's build or apply failed: the
	// pods of the deploy before keep serving, but the error stands.
	failed bool
	// gate, while set, holds a worker that built its images until its
	// resource_deps are ready; follow follows its deployed pods.
	gate   chan struct{}
	follow follow
	// status is the last status of its pods.
	status kube.Status
	// liveUpdate is its live update state, nil when none of its images has a
	// live_update.
	liveUpdate *liveState
	// retry asks for another update if the running one fails: it ran when
	// the cluster answered again after an outage (recovered).
	retry bool
	// takeDown asks for its objects to be deleted once the worker stop()
	// disowned ends: it was disabled while an update ran.
	takeDown bool
}

// follow is what runs for a deployed Kubernetes resource: the watch of its
// pods (restarted with each deploy, whose template hashes tell current pods
// from old ones), its log stream and its port-forwards (kept while the
// deployed objects are the same ones, so that no line is shown twice and
// the forwarded ports stay open).
type follow struct {
	gen         int
	key         string
	cancel      context.CancelFunc // logs and forwards
	watchCancel context.CancelFunc
	forwards    []chan kube.Target
	// confirm holds the phase off ready until the watch reports a status:
	// the cluster answered again after an outage (recovered).
	confirm bool
}

// stopFollow ends what follows r's pods.
func (r *resource) stopFollow() {
	if r.k8s.follow.watchCancel != nil {
		r.k8s.follow.watchCancel()
	}
	if r.k8s.follow.cancel != nil {
		r.k8s.follow.cancel()
	}
	r.k8s.follow = follow{}
}

// targetKey identifies the deployed objects (not their content).
func targetKey(applied []kube.Applied) string {
	var b strings.Builder
	for _, a := range applied {
		fmt.Fprintf(&b, "%s/%s/%s/%s/%s;", a.APIVersion, a.Kind, a.Namespace, a.Name, a.UID)
	}
	return b.String()
}

// deployed starts following r's pods after a successful apply.
func (l *loop) deployed(r *resource, applied []kube.Applied) {
	t := kube.Target{Applied: applied}
	if k := r.spec.K8s; k != nil {
		t.ExtraSelectors, t.PodReadiness = k.ExtraPodSelectors, k.PodReadiness
	}
	e, name := l.e, r.spec.Name
	if key := targetKey(applied); key != r.k8s.follow.key || r.k8s.follow.cancel == nil {
		r.stopFollow()
		l.ids.gen++
		r.k8s.follow.gen, r.k8s.follow.key = l.ids.gen, key
		ctx, cancel := context.WithCancel(context.Background())
		r.k8s.follow.cancel = cancel
		gen := r.k8s.follow.gen
		e.goWorker(func() {
			err := e.kube.Cluster.Logs(ctx, t, func(ll kube.LogLine) { e.logs.append(name, logText(ll)) })
			if err != nil && ctx.Err() == nil {
				e.send(followErrMsg{name: name, gen: gen, what: "log stream", err: err})
			}
		})
		if len(r.spec.PortForwards) > 0 && e.kube.Forwarder == nil {
			l.logf(name, "port_forwards are not run: this engine has no Forwarder")
		}
		for _, pf := range r.spec.PortForwards {
			if e.kube.Forwarder == nil {
				break
			}
			ch := make(chan kube.Target, 1)
			r.k8s.follow.forwards = append(r.k8s.follow.forwards, ch)
			spec := kube.ForwardSpec{LocalHost: pf.Host, LocalPort: pf.Local, ContainerPort: pf.Container}
			e.goWorker(func() { e.forward(ctx, name, gen, spec, ch) })
		}
	}
	for _, ch := range r.k8s.follow.forwards {
		select {
		case <-ch: // an older target not taken yet
		default:
		}
		ch <- t
	}
	if r.k8s.follow.watchCancel != nil {
		r.k8s.follow.watchCancel()
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.k8s.follow.watchCancel = cancel
	gen := r.k8s.follow.gen
	e.goWorker(func() {
		err := e.kube.Cluster.Watch(ctx, t, func(st kube.Status) {
			e.send(statusMsg{name: name, gen: gen, status: st})
		})
		if err != nil && ctx.Err() == nil {
			e.send(followErrMsg{name: name, gen: gen, what: "pod watch", err: err})
		}
	})
	r.phase, r.waiting = PhaseDeploying, "waiting for pods"
}

func logText(ll kube.LogLine) string {
	if ll.Pod.Name == "" {
		return ll.Text
	}
	return "[" + ll.Pod.Name + "] " + ll.Text
}

// forward runs one port-forward of a resource, to the latest target it
// was sent: on a new target it stops the running forward (closing its
// listener) before it starts the next, so the port is free again.
func (e *Engine) forward(ctx context.Context, name string, gen int, spec kube.ForwardSpec, targets <-chan kube.Target) {
	addr := fmt.Sprintf("%s:%d", orLocalhost(spec.LocalHost), spec.LocalPort)
	var (
		cancel context.CancelFunc
		done   chan struct{}
	)
	stop := func() {
		if cancel != nil {
			cancel()
			<-done
			cancel = nil
		}
	}
	defer stop()
	for {
		var t kube.Target
		select {
		case <-ctx.Done():
			return
		case t = <-targets:
		}
		stop()
		fctx, fcancel := context.WithCancel(ctx)
		cancel, done = fcancel, make(chan struct{})
		go func() {
			defer close(done)
			var pod string
			err := e.kube.Forwarder.Forward(fctx, t, spec, func(ev kube.ForwardEvent) {
				switch {
				case ev.Err != nil:
					e.logs.append(name, fmt.Sprintf("port-forward %s: %v", addr, ev.Err))
				case ev.Pod.Name != "" && ev.Pod.Name != pod:
					pod = ev.Pod.Name
					e.logs.append(name, fmt.Sprintf("port-forward %s → pod %s port %d", addr, pod, spec.ContainerPort))
				}
			})
			if err != nil && fctx.Err() == nil {
				e.send(followErrMsg{name: name, gen: gen, what: "port-forward " + addr, err: err})
			}
		}()
	}
}

func orLocalhost(host string) string {
	if host == "" {
		return "localhost"
	}
	return host
}

// onStatus shows the pods' status as r's phase.
func (l *loop) onStatus(m statusMsg) {
	r := l.res[m.name]
	if r == nil || r.k8s.follow.gen != m.gen || r.k8s.follow.watchCancel == nil {
		return
	}
	r.k8s.status, r.k8s.follow.confirm = m.status, false
	r.liveStatus(m.status)
	if r.worker.gen != 0 || r.k8s.failed || (r.k8s.liveUpdate != nil && r.k8s.liveUpdate.runErr != "") {
		// An update is running, or the last one (or its live update's
		// run() step) failed: its phase stands while the last good pods
		// serve.
		return
	}
	l.showStatus(r)
}

// showStatus sets r's phase from its pods' last status; pods ready or
// failed end r's current update.
func (l *loop) showStatus(r *resource) {
	st := r.k8s.status
	if r.k8s.follow.confirm {
		r.phase, r.err, r.waiting = PhaseDeploying, "", waitingAfterOutage
		return
	}
	switch st.State {
	case kube.StateReady, kube.StateSucceeded:
		l.ready(r)
	case kube.StateError:
		l.fail(r, st.Reason)
	default:
		r.phase, r.err, r.waiting = PhaseDeploying, "", st.Reason
		if r.waiting == "" {
			r.waiting = "waiting for pods"
		}
	}
}

func (l *loop) onFollowErr(m followErrMsg) {
	r := l.res[m.name]
	if r == nil || r.k8s.follow.gen != m.gen {
		return
	}
	msg := fmt.Sprintf("%s: %v", m.what, m.err)
	l.logf(m.name, "%s", msg)
	if r.worker.gen != 0 {
		return
	}
	l.fail(r, msg)
}

// k8sLinks are the links of r's port-forwards.
func k8sLinks(spec devfile.Resource) []Link {
	var out []Link
	for _, pf := range spec.PortForwards {
		out = append(out, Link{URL: fmt.Sprintf("http://%s:%d%s", orLocalhost(pf.Host), pf.Local, pf.LinkPath), Name: pf.Name})
	}
	return out
}

// takeDownMsg ends the worker that deleted a disabled resource's objects.
type takeDownMsg struct {
	work
	results []kube.DownResult
	err     error
}

// takingDown is what a disabled resource waits for while its objects are
// deleted.
const takingDown = "deleting its objects from the cluster"

// takeDown deletes the objects of r, just disabled, that devloop applied,
// as Tilt does; Namespaces and objects devloop did not create stay
// (Deleter, as `devloop down`). It runs as r's worker, after the update
// that stop() disowned: enabling r again applies them in a normal update,
// which starts once they are deleted.
func (l *loop) takeDown(r *resource) {
	d, ok := l.e.kube.Cluster.(Deleter)
	if r.spec.Local != nil || !ok || l.kubeWait != "" || r.k8s.unavailable != "" || len(r.spec.Objects) == 0 {
		return
	}
	r.waiting = takingDown
	if r.worker.gen != 0 {
		r.k8s.takeDown = true // end() starts it
		return
	}
	r.k8s.takeDown = false
	objects := slices.Clone(r.spec.Objects)
	l.ids.gen++
	ctx, cancel := context.WithCancel(context.Background())
	r.worker.gen, r.worker.owned, r.worker.cancel = l.ids.gen, true, cancel
	w := work{name: r.spec.Name, gen: r.worker.gen}
	l.e.goWorker(func() {
		objs, err := decodeObjects(objects)
		var res []kube.DownResult
		if err == nil {
			res, err = d.DeleteManaged(ctx, objs, kube.DownOptions{})
		}
		l.e.send(takeDownMsg{work: w, results: res, err: err})
	})
}

// onTakeDown says in r's log what disabling it deleted and kept.
func (l *loop) onTakeDown(m takeDownMsg) {
	r, owned := l.end(m.work)
	if !owned {
		return
	}
	if r.waiting == takingDown {
		r.waiting = ""
	}
	var deleted, kept []string
	for _, res := range m.results {
		switch res.Action {
		case kube.DownDeleted:
			deleted = append(deleted, res.Ref.String())
		case kube.DownKept:
			kept = append(kept, res.Ref.String()+" ("+res.Why+")")
		}
	}
	if len(deleted) > 0 {
		l.logf(m.name, "disabled: deleted %s", strings.Join(deleted, ", "))
	}
	if len(kept) > 0 {
		l.logf(m.name, "disabled: kept %s", strings.Join(kept, ", "))
	}
	if m.err != nil {
		msg := fmt.Sprintf("disabled, but deleting its objects failed: %v", m.err)
		l.logf(m.name, "%s", msg)
		if !r.enabled {
			r.err = msg
		}
	} else if len(deleted)+len(kept) == 0 {
		l.logf(m.name, "disabled: none of its objects is in the cluster")
	}
}
