package engine

import (
	"context"
	"slices"

	"github.com/devloop-dev/devloop/kube"
)

// stepMsg records a finished step of the update running as gen.
type stepMsg struct {
	name string
	gen  int
	step Step
}

// workerDoneMsg ends the worker of gen: serve is the started serve_cmd
// (nil without one or on error); a Kubernetes resource's worker (k8s)
// gives what it applied.
type workerDoneMsg struct {
	name    string
	gen     int
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

// start runs r's wanted update in a worker.
func (l *loop) start(r *resource) {
	now := l.e.cfg.Now()
	if r.current != nil {
		l.finish(r, "cancelled", "superseded by a newer update")
	}
	l.ids.gen++
	ctx, cancel := context.WithCancel(context.Background())
	r.worker.gen, r.worker.owned, r.worker.cancel = l.ids.gen, true, cancel

	w := r.want
	r.want = nil
	l.ids.update++
	u := &Update{ID: l.ids.update, Reason: w.reason, Start: now, Result: "running"}
	u.Files = boundFiles(w.files)
	if b := w.batch; b != nil {
		u.Steps = append(u.Steps, Step{Name: "file events", Start: b.First, End: b.Last},
			Step{Name: "batch", Start: b.Last, End: b.Emitted})
	}
	if !w.at.IsZero() && now.After(w.at) {
		u.Steps = append(u.Steps, Step{Name: "queued", Start: w.at, End: now})
	}
	r.current = u
	l.e.log.Debug("update start", "resource", r.spec.Name, "id", u.ID, "reason", u.Reason, "files", len(w.files))
	r.phase, r.waiting, r.err, r.k8s.failed = PhaseBuilding, "", "", false
	if (r.spec.Local != nil && r.spec.Local.Cmd.Empty()) || (r.spec.Local == nil && len(r.spec.Images) == 0) {
		r.phase = PhaseDeploying
	}
	l.running++
	l.slots[r.worker.gen] = parallel(r)
	if !parallel(r) {
		l.serial++
	}
	l.touch(r)

	if r.spec.Local == nil {
		r.liveBuildStarts()
		j := k8sJob{
			name:    r.spec.Name,
			gen:     r.worker.gen,
			images:  slices.Clone(l.model.Images),
			refs:    slices.Clone(r.spec.Images),
			objects: slices.Clone(r.spec.Objects),
		}
		l.e.goWorker(func() { l.e.runK8s(ctx, j) })
		return
	}
	j := job{
		name:  r.spec.Name,
		gen:   r.worker.gen,
		local: *r.spec.Local,
		env:   envList(l.model.Env, r.spec.Local.Env),
		senv:  envList(l.model.Env, r.spec.Local.ServeEnv),
	}
	if j.local.Dir == "" {
		j.local.Dir = defaultDir(l.model)
	}
	if j.local.ServeDir == "" {
		j.local.ServeDir = j.local.Dir
	}
	l.e.goWorker(func() { l.e.runJob(ctx, j) })
}

// parallel tells whether r's updates may run beside others: local ones
// with allow_parallel, and Kubernetes ones (their builds are in BuildKit,
// their deploys in the cluster).
func parallel(r *resource) bool { return r.spec.Local == nil || r.spec.Local.AllowParallel }

// release gives back the update slot of the worker gen, if it holds one.
func (l *loop) release(gen int) {
	p, ok := l.slots[gen]
	if !ok {
		return
	}
	delete(l.slots, gen)
	l.running--
	if !p {
		l.serial--
	}
}

// owner returns the resource that still owns its worker gen, or nil.
func (l *loop) owner(name string, gen int) *resource {
	if r := l.res[name]; r != nil && r.worker.gen == gen && r.worker.owned {
		return r
	}
	return nil
}

func (l *loop) onWorkerDone(m workerDoneMsg) {
	l.release(m.gen)
	r := l.res[m.name]
	if r == nil || r.worker.gen != m.gen {
		// The resource was removed (and maybe re-added).
		if m.serve != nil {
			l.e.goWorker(func() { stopNow(m.serve) })
		}
		return
	}
	owned := r.worker.owned
	if r.worker.cancel != nil {
		r.worker.cancel()
	}
	r.worker.gen, r.worker.owned, r.worker.cancel = 0, false, nil
	r.k8s.gate = nil
	switch {
	case !owned:
		if m.serve != nil {
			l.e.goWorker(func() { stopNow(m.serve) })
		}
	case m.err != nil:
		// A serve_cmd from before (or the pods of the last good deploy)
		// keeps serving the last good build.
		r.phase, r.err, r.waiting, r.k8s.failed = PhaseError, m.err.Error(), "", true
		l.finish(r, "error", r.err)
	case m.k8s:
		r.liveDeployed(m.images)
		l.deployed(r, m.applied)
	case m.serve == nil:
		r.phase = PhaseReady
		l.finish(r, "ok", "")
	default:
		l.serving(r, m.serve)
	}
	l.touch(r)
}

// stepToNow ends r's current update with a step since its last one.
func (l *loop) stepToNow(r *resource, name string) {
	start := r.current.Start
	if n := len(r.current.Steps); n > 0 {
		start = r.current.Steps[n-1].End
	}
	r.current.Steps = append(r.current.Steps, Step{Name: name, Start: start, End: l.e.cfg.Now()})
}
