package engine

import (
	"context"
	"time"

	"github.com/devloop-dev/devloop/kube"
	"github.com/devloop-dev/devloop/watch"
)

// An update runs in a worker: begin starts it with a new generation, the
// worker reports steps (onStep) and ends with a message whose handler
// calls end. A message from a generation the resource no longer runs, or
// from a worker that stop() disowned, changes nothing.

// work identifies a worker to the loop: its resource and its generation.
type work struct {
	name string
	gen  int
}

// stepMsg records a finished step of the update running as gen.
type stepMsg struct {
	work
	step Step
}

// workerDoneMsg ends the worker of gen: serve is the started serve_cmd
// (nil without one or on error); a Kubernetes resource's worker (k8s)
// gives what it applied.
type workerDoneMsg struct {
	work
	serve   Process
	k8s     bool
	applied []kube.Applied
	// images are the references deployed, by Devfile ref.
	images map[string]string
	err    error
}

// send delivers a worker's message to the loop; false when the loop is gone.
func (e *Engine) send(m msg) bool {
	select {
	case e.msgs <- m:
		return true
	case <-e.stopped:
		return false
	}
}

// goWorker runs f as a worker goroutine that Run waits for.
func (e *Engine) goWorker(f func()) {
	e.workers.Add(1)
	go func() {
		defer e.workers.Done()
		f()
	}()
}

// step reports a step of w's update that ran from start until now.
func (e *Engine) step(w work, name string, start time.Time) {
	e.send(stepMsg{work: w, step: Step{Name: name, Start: start, End: e.cfg.Now()}})
}

// start runs r's wanted update in a worker of r's kind.
func (l *loop) start(r *resource) {
	now := l.e.cfg.Now()
	w := r.want
	r.want = nil
	u := &Update{Reason: w.reason, Start: now, Files: boundFiles(w.files), Steps: batchSteps(w.batch)}
	if !w.at.IsZero() && now.After(w.at) {
		u.Steps = append(u.Steps, Step{Name: "queued", Start: w.at, End: now})
	}
	r.phase, r.waiting, r.err, r.k8s.failed = PhaseBuilding, "", "", false
	if (r.spec.Local != nil && r.spec.Local.Cmd.Empty()) || (r.spec.Local == nil && len(r.spec.Images) == 0) {
		r.phase = PhaseDeploying
	}
	if r.spec.Local == nil {
		l.startK8s(r, u)
	} else {
		l.startLocal(r, u)
	}
}

// batchSteps are the file event timing steps of an update b caused.
func batchSteps(b *watch.Batch) []Step {
	if b == nil {
		return nil
	}
	return []Step{{Name: "file events", Start: b.First, End: b.Last}, {Name: "batch", Start: b.Last, End: b.Emitted}}
}

// begin makes u r's current update, superseding the one r was running, and
// runs it as run in a new worker generation. The worker holds an update
// slot (max_parallel_updates) unless it is a live update: a sync copies
// files, it does not build.
func (l *loop) begin(r *resource, u *Update, run func(ctx context.Context, w work)) {
	if r.current != nil {
		l.finish(r, "cancelled", "superseded by a newer update")
	}
	l.ids.gen++
	ctx, cancel := context.WithCancel(context.Background())
	r.worker.gen, r.worker.owned, r.worker.cancel = l.ids.gen, true, cancel
	l.ids.update++
	u.ID, u.Result = l.ids.update, "running"
	r.current = u
	l.e.log.Debug("update start", "resource", r.spec.Name, "id", u.ID, "reason", u.Reason, "files", len(u.Files), "live", u.LiveUpdate)
	if !u.LiveUpdate {
		l.slots[r.worker.gen] = parallel(r)
	}
	w := work{name: r.spec.Name, gen: r.worker.gen}
	l.e.goWorker(func() { run(ctx, w) })
}

// parallel tells whether r's updates may run beside others: local ones
// with allow_parallel, and Kubernetes ones (their builds are in BuildKit,
// their deploys in the cluster).
func parallel(r *resource) bool { return r.spec.Local == nil || r.spec.Local.AllowParallel }

// busy counts the updates holding a slot, and those of them that must run
// alone (without allow_parallel).
func (l *loop) busy() (running, serial int) {
	for _, p := range l.slots {
		if !p {
			serial++
		}
	}
	return len(l.slots), serial
}

// owner returns the resource that still owns its worker gen, or nil.
func (l *loop) owner(w work) *resource {
	if r := l.res[w.name]; r != nil && r.worker.gen == w.gen && r.worker.owned {
		return r
	}
	return nil
}

// end takes back the worker w when it finished: its slot is free and its
// resource runs no worker. It returns that resource, nil when it runs
// another generation (it was removed, maybe re-added), and whether the
// worker was still owned (not disowned by stop()).
func (l *loop) end(w work) (*resource, bool) {
	delete(l.slots, w.gen)
	r := l.res[w.name]
	if r == nil || r.worker.gen != w.gen {
		return nil, false
	}
	owned := r.worker.owned
	if r.worker.cancel != nil {
		r.worker.cancel()
	}
	r.worker.gen, r.worker.owned, r.worker.cancel = 0, false, nil
	r.k8s.gate = nil
	if r.k8s.takeDown && !r.enabled {
		l.takeDown(r) // disabled while this worker ran
	}
	return r, owned
}

func (l *loop) onStep(m stepMsg) {
	if r := l.owner(m.work); r != nil && r.current != nil {
		r.current.Steps = append(r.current.Steps, m.step)
	}
}

func (l *loop) onWorkerDone(m workerDoneMsg) {
	r, owned := l.end(m.work)
	if r != nil {
		defer func() { r.k8s.retry = false }()
	}
	if !owned {
		// Stopped or removed: what it started is not wanted.
		if m.serve != nil {
			l.e.goWorker(func() { stopNow(m.serve) })
		}
		return
	}
	switch {
	case m.err != nil:
		// A serve_cmd from before (or the pods of the last good deploy)
		// keeps serving the last good build.
		r.phase, r.err, r.waiting, r.k8s.failed = PhaseError, m.err.Error(), "", true
		r.failedAt = l.e.cfg.Now()
		l.finish(r, "error", r.err)
		if m.k8s && r.k8s.retry {
			l.retry(r)
		}
	case m.k8s:
		r.liveDeployed(m.images)
		l.deployed(r, m.applied)
	case m.serve == nil:
		r.phase = PhaseReady
		l.finish(r, "ok", "")
	default:
		l.serving(r, m.serve)
	}
}

// ready ends r's current update, if any, as ready: a step since its last
// one, then ok.
func (l *loop) ready(r *resource) {
	r.phase, r.err, r.waiting = PhaseReady, "", ""
	if r.current == nil {
		return
	}
	start := r.current.Start
	if n := len(r.current.Steps); n > 0 {
		start = r.current.Steps[n-1].End
	}
	r.current.Steps = append(r.current.Steps, Step{Name: "ready", Start: start, End: l.e.cfg.Now()})
	l.finish(r, "ok", "")
}

// fail shows why as r's error and ends r's current update, if any, with it.
func (l *loop) fail(r *resource, why string) {
	r.phase, r.err, r.waiting = PhaseError, why, ""
	r.failedAt = l.e.cfg.Now()
	if r.current != nil {
		l.finish(r, "error", why)
	}
}
