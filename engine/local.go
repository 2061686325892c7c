package engine

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/devloop-dev/devloop/devfile"
	"github.com/devloop-dev/devloop/proc"
	"github.com/devloop-dev/devloop/watch"
)

// maxHistory is how many finished updates a resource keeps: enough to see a
// pattern (flapping, a slow step) in the dashboard, small enough to copy on
// every View.
const maxHistory = 10

// maxFiles bounds an update's Files: the dashboard shows a few names; the
// count of a bulk change (a checkout) matters more than the list.
const maxFiles = 50

// tailLines is how many of a failed command's last lines go into the error:
// enough for a compiler's message with its context, few enough for a status
// line and `devloop get`; the full log is a click away.
const tailLines = 5

// probeStartPeriod is how often a readiness probe runs until its first
// success. A local server binds its port within milliseconds of starting;
// with Kubernetes' period (10 s by default) the second attempt would come
// seconds later, on every restart. Ten attempts a second cost nothing.
const probeStartPeriod = 100 * time.Millisecond

// errNoK8s is the status of Kubernetes resources when the engine was given
// no cluster.
const errNoK8s = "no Kubernetes cluster was set up for this run: only local_resource runs"

// want is an update that should run.
type want struct {
	reason string
	files  []string
	// batch carries the file event timing when files caused the update.
	batch *watch.Batch
	at    time.Time
}

// resource is one resource's state, owned by the loop.
type resource struct {
	spec    devfile.Resource
	filters filterSet
	enabled bool
	phase   Phase
	err     string
	waiting string
	queued  []string // changed files a manual resource has not applied
	want    *want
	current *Update
	history []Update
	// cache holds the last view built, valid while its Version is
	// version: Views are immutable, so an unchanged resource shares it.
	cache struct {
		version uint64
		shown   ResourceView
	}
	// worker is the running update's worker: gen 0 when none runs; live is
	// false once stop() disowned it (its results are then ignored, but no
	// new worker starts before it ended).
	worker struct {
		gen    int
		live   bool
		cancel context.CancelFunc
	}
	// serve is the running serve_cmd and the cancel of its watchers (exit,
	// readiness probe). It keeps running while an update's cmd runs, and
	// after that cmd failed.
	serve struct {
		p      Process
		cancel context.CancelFunc
	}
	// k8s is the state of a Kubernetes resource.
	k8s k8sState
}

func newResource(spec devfile.Resource, filters filterSet, noK8s string) *resource {
	r := &resource{spec: spec, filters: filters, enabled: spec.Enabled}
	if spec.Local == nil {
		r.k8s.unavailable = noK8s
	}
	return r
}

// init sets the phase of a (re)configured resource and asks for its first
// update when it has one.
func (r *resource) init(reason string, now time.Time) {
	r.err, r.waiting, r.want, r.queued = "", "", nil, nil
	switch {
	case !r.enabled:
		r.phase = PhaseDisabled
	case r.spec.Local == nil && r.k8s.unavailable != "":
		r.phase, r.err = PhaseError, r.k8s.unavailable
	case !r.spec.AutoInit:
		r.phase, r.waiting = PhasePending, "auto_init=False: waiting for a trigger (devloop trigger "+r.spec.Name+")"
	default:
		r.phase = PhasePending
		r.want = &want{reason: reason, at: now}
	}
}

// filterSet is the watch filters of a resource's (or an image's) roots.
type filterSet []*watch.Filter

// matches reports whether path is under one of the roots and not ignored.
func (fs filterSet) matches(path string) bool {
	for _, f := range fs {
		if f.Match(path) {
			return true
		}
	}
	return false
}

// under reports whether one of the roots lies at or below dir (a removed
// directory stands for everything below it).
func (fs filterSet) under(dir string) bool {
	for _, f := range fs {
		if within(dir, f.Root()) {
			return true
		}
	}
	return false
}

// changed records files that changed under r's deps.
func (r *resource) changed(files []string, b watch.Batch) {
	if !r.enabled || (r.spec.Local == nil && r.k8s.unavailable != "") {
		return
	}
	if r.spec.TriggerMode == devfile.TriggerManual {
		r.queued = mergeFiles(r.queued, files)
		return
	}
	if r.want == nil {
		r.want = &want{reason: "files", at: b.Emitted}
	}
	r.want.files = mergeFiles(r.want.files, files)
	if r.want.batch == nil {
		r.want.batch = &b
	}
}

// trigger asks for an update now, with the queued files.
func (r *resource) trigger(now time.Time) {
	if r.want == nil {
		r.want = &want{reason: "trigger", at: now}
	}
	r.want.reason = "trigger"
	r.want.files = mergeFiles(r.want.files, r.queued)
	r.queued = nil
}

// mergeFiles appends the files of b missing from a.
func mergeFiles(a, b []string) []string {
	seen := make(map[string]bool, len(a))
	for _, f := range a {
		seen[f] = true
	}
	for _, f := range b {
		if !seen[f] {
			seen[f] = true
			a = append(a, f)
		}
	}
	return a
}

// boundFiles returns files for a view: at most maxFiles names, then a note
// of how many more there are.
func boundFiles(files []string) []string {
	if len(files) <= maxFiles {
		return slices.Clone(files)
	}
	return append(slices.Clone(files[:maxFiles]), fmt.Sprintf("... and %d more", len(files)-maxFiles))
}

// job is what an update's worker needs, copied out of loop state.
type job struct {
	name  string
	gen   int
	local devfile.LocalSpec
	env   []string // of cmd
	senv  []string // of serve_cmd
}

// start runs r's wanted update in a worker.
func (l *loop) start(r *resource) {
	now := l.e.cfg.Now()
	if r.current != nil {
		l.finish(r, "cancelled", "superseded by a newer update")
	}
	l.ids.gen++
	ctx, cancel := context.WithCancel(context.Background())
	r.worker.gen, r.worker.live, r.worker.cancel = l.ids.gen, true, cancel

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

// envList flattens layers of environment variables, later layers winning,
// into sorted "KEY=VALUE" entries.
func envList(layers ...map[string]string) []string {
	all := map[string]string{}
	for _, m := range layers {
		maps.Copy(all, m)
	}
	out := make([]string, 0, len(all))
	for _, k := range slices.Sorted(maps.Keys(all)) {
		out = append(out, k+"="+all[k])
	}
	return out
}

// runJob is an update's worker: run cmd while the old serve_cmd keeps
// serving, then take the old serve_cmd from the loop (swapMsg), stop it and
// start the new one. It reports steps and ends with a workerDoneMsg.
func (e *Engine) runJob(ctx context.Context, j job) {
	step := func(name string, start time.Time) {
		e.send(stepMsg{name: j.name, gen: j.gen, step: Step{Name: name, Start: start, End: e.cfg.Now()}})
	}
	done := func(serve Process, err error) {
		m := workerDoneMsg{name: j.name, gen: j.gen, serve: serve, err: err}
		if !e.send(m) && serve != nil {
			stopNow(serve)
		}
	}
	if !j.local.Cmd.Empty() {
		t := e.cfg.Now()
		err := e.runCmd(ctx, j.name, j.local.Cmd.Argv, j.local.Dir, j.env)
		step("cmd", t)
		if err != nil {
			done(nil, err)
			return
		}
	}
	if j.local.ServeCmd.Empty() {
		done(nil, nil)
		return
	}
	swap := swapMsg{name: j.name, gen: j.gen, reply: make(chan Process, 1)}
	if !e.send(swap) {
		return
	}
	// The loop always replies at once; a nil reply means no old serve_cmd.
	if old := <-swap.reply; old != nil {
		t := e.cfg.Now()
		stopNow(old)
		step("stop serve_cmd", t)
	}
	if ctx.Err() != nil {
		done(nil, ctx.Err())
		return
	}
	t := e.cfg.Now()
	e.logs.append(j.name, "$ "+showArgv(j.local.ServeCmd.Argv))
	p, err := e.cfg.Runner.Start(proc.Spec{
		Argv:   j.local.ServeCmd.Argv,
		Dir:    j.local.ServeDir,
		Env:    j.senv,
		Output: func(line string) { e.logs.append(j.name, line) },
	})
	if err != nil {
		done(nil, fmt.Errorf("serve_cmd: %w", err))
		return
	}
	step("serve_cmd start", t)
	done(p, nil)
}

// runCmd runs cmd to its end; the error carries its last lines.
func (e *Engine) runCmd(ctx context.Context, name string, argv []string, dir string, env []string) error {
	e.logs.append(name, "$ "+showArgv(argv))
	p, err := e.cfg.Runner.Start(proc.Spec{
		Argv:   argv,
		Dir:    dir,
		Env:    env,
		Output: func(line string) { e.logs.append(name, line) },
	})
	if err != nil {
		return fmt.Errorf("cmd: %w", err)
	}
	select {
	case <-p.Done():
	case <-ctx.Done():
		stopNow(p)
		return ctx.Err()
	}
	if err := p.Err(); err != nil {
		return fmt.Errorf("cmd failed: %w%s", err, tail(e.logs.last(name, tailLines)))
	}
	return nil
}

func tail(lines []string) string {
	if len(lines) == 0 {
		return ""
	}
	return "; last lines:\n" + strings.Join(lines, "\n")
}

func showArgv(argv []string) string {
	if len(argv) == 3 && argv[0] == "sh" && argv[1] == "-c" {
		return argv[2]
	}
	return strings.Join(argv, " ")
}

// stopNow stops p, bounded by stopTimeout.
func stopNow(p Process) {
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	_ = p.Stop(ctx)
}

// detachServe takes r's serve_cmd out of r, ending its watchers; nil if none.
func (r *resource) detachServe() Process {
	p := r.serve.p
	if r.serve.cancel != nil {
		r.serve.cancel()
	}
	r.serve.p, r.serve.cancel = nil, nil
	return p
}

// stop ends whatever r runs; its worker's messages are then ignored.
func (l *loop) stop(r *resource, why string) {
	if r.worker.cancel != nil {
		r.worker.cancel()
		r.worker.cancel = nil
	}
	r.worker.live = false
	r.k8s.gate = nil
	r.stopFollow()
	if p := r.detachServe(); p != nil {
		l.e.goWorker(func() { stopNow(p) })
	}
	if r.current != nil {
		l.finish(r, "cancelled", why)
	}
	r.want = nil
	l.touch(r)
}

// finish ends r's current update with result.
func (l *loop) finish(r *resource, result, errText string) {
	u := *r.current
	u.End, u.Result, u.Error = l.e.cfg.Now(), result, errText
	l.e.log.Debug("update end", "resource", r.spec.Name, "id", u.ID, "result", result, "duration", u.End.Sub(u.Start))
	r.current = nil
	r.history = append([]Update{u}, r.history[:min(len(r.history), maxHistory-1)]...)
	l.touch(r)
}

// liveWorker returns the resource whose live worker is gen, or nil.
func (l *loop) liveWorker(name string, gen int) *resource {
	if r := l.res[name]; r != nil && r.worker.gen == gen && r.worker.live {
		return r
	}
	return nil
}

// onSwap hands the old serve_cmd to the worker that will replace it.
func (l *loop) onSwap(m swapMsg) {
	r := l.liveWorker(m.name, m.gen)
	if r == nil {
		m.reply <- nil
		return
	}
	m.reply <- r.detachServe()
	r.phase = PhaseDeploying
	l.touch(r)
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
	live := r.worker.live
	if r.worker.cancel != nil {
		r.worker.cancel()
	}
	r.worker.gen, r.worker.live, r.worker.cancel = 0, false, nil
	r.k8s.gate = nil
	switch {
	case !live:
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

// serving watches a started serve_cmd: its exit, and its readiness probe.
func (l *loop) serving(r *resource, p Process) {
	ctx, cancel := context.WithCancel(context.Background())
	r.serve.p, r.serve.cancel = p, cancel
	name, e := r.spec.Name, l.e
	e.goWorker(func() {
		select {
		case <-p.Done():
			e.send(serveExitMsg{name: name, p: p, err: p.Err()})
		case <-ctx.Done():
		}
	})
	pr := r.spec.Local.ReadinessProbe
	if pr == nil {
		r.phase = PhaseReady
		l.finish(r, "ok", "")
		return
	}
	r.phase, r.waiting = PhaseDeploying, "waiting for the readiness probe"
	dir := r.spec.Local.ServeDir
	probe := proc.Probe{
		InitialDelay: pr.InitialDelay, Period: pr.Period, StartPeriod: probeStartPeriod, Timeout: pr.Timeout,
		SuccessThreshold: pr.SuccessThreshold, FailureThreshold: pr.FailureThreshold,
		Check: e.cfg.Checker.Check(pr, dir, envList(l.model.Env, r.spec.Local.ServeEnv)),
	}
	e.goWorker(func() {
		probe.Run(ctx, func(ready bool, err error) {
			e.send(probeMsg{name: name, p: p, ready: ready, err: err})
		})
	})
}

func (l *loop) onServeExit(m serveExitMsg) {
	r := l.res[m.name]
	if r == nil || r.serve.p != m.p {
		return
	}
	r.detachServe()
	why := "serve_cmd exited with code 0"
	if m.err != nil {
		why = "serve_cmd: " + m.err.Error()
	}
	why += tail(l.e.logs.last(m.name, tailLines))
	if r.worker.gen != 0 {
		// An update is running; it starts a new serve_cmd.
		l.logf(m.name, "%s", why)
		return
	}
	r.phase, r.waiting, r.err = PhaseError, "", why
	if r.current != nil {
		l.finish(r, "error", r.err)
	}
	l.touch(r)
}

func (l *loop) onProbe(m probeMsg) {
	r := l.res[m.name]
	if r == nil || r.serve.p != m.p {
		return
	}
	if r.worker.gen != 0 || (r.current == nil && len(r.history) > 0 && r.history[0].Result == "error") {
		// An update is running, or the last one failed: its phase stands.
		return
	}
	switch {
	case m.ready:
		r.phase, r.err, r.waiting = PhaseReady, "", ""
		if r.current != nil {
			start := r.current.Start
			if n := len(r.current.Steps); n > 0 {
				start = r.current.Steps[n-1].End
			}
			r.current.Steps = append(r.current.Steps, Step{Name: "ready", Start: start, End: l.e.cfg.Now()})
			l.finish(r, "ok", "")
		}
	case r.current != nil:
		r.waiting = "waiting for the readiness probe: " + m.err.Error()
	default:
		r.phase, r.err = PhaseError, "readiness probe failing: "+m.err.Error()
	}
	l.touch(r)
}

// view returns r for a View, rebuilt only when r changed since the last.
func (r *resource) view() ResourceView {
	if r.cache.shown.Version == r.cache.version && r.cache.shown.Name != "" {
		return r.cache.shown
	}
	r.cache.shown = r.build()
	return r.cache.shown
}

// build copies r into a new ResourceView.
func (r *resource) build() ResourceView {
	v := ResourceView{
		Name:         r.spec.Name,
		Kind:         string(r.spec.Kind),
		Labels:       slices.Clone(r.spec.Labels),
		Links:        []Link{},
		ResourceDeps: slices.Clone(r.spec.ResourceDeps),
		Enabled:      r.enabled,
		TriggerMode:  string(r.spec.TriggerMode),
		Phase:        r.phase,
		Error:        r.err,
		Waiting:      r.waiting,
		Queued:       boundFiles(r.queued),
		Version:      r.cache.version,
	}
	if r.want != nil && len(r.want.files) > 0 {
		// Changes waiting for resource_deps, a slot, or the running update.
		v.Queued = boundFiles(mergeFiles(slices.Clone(r.queued), r.want.files))
	}
	if v.Labels == nil {
		v.Labels = []string{}
	}
	if v.ResourceDeps == nil {
		v.ResourceDeps = []string{}
	}
	if v.TriggerMode == "" {
		v.TriggerMode = string(devfile.TriggerAuto)
	}
	v.Links = append(v.Links, k8sLinks(r.spec)...)
	for _, lk := range r.spec.Links {
		v.Links = append(v.Links, Link{URL: lk.URL, Name: lk.Name})
	}
	if r.current != nil {
		u := copyUpdate(*r.current)
		v.Current = &u
	}
	if len(r.history) > 0 {
		v.History = make([]Update, len(r.history))
		for i, u := range r.history {
			v.History[i] = copyUpdate(u)
		}
		v.LastUpdate = &v.History[0]
	}
	return v
}

func copyUpdate(u Update) Update {
	u.Files = slices.Clone(u.Files)
	u.Steps = slices.Clone(u.Steps)
	return u
}
