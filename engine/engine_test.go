package engine

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/devloop-dev/devloop/devfile"
	"github.com/devloop-dev/devloop/proc"
	"github.com/devloop-dev/devloop/watch"
)

// fakeProc is a process that runs until the test (or Stop) ends it.
type fakeProc struct {
	r       *fakeRunner
	argv    string
	spec    proc.Spec
	done    chan struct{}
	err     error
	stopped bool
}

func (p *fakeProc) Done() <-chan struct{} { return p.done }
func (p *fakeProc) Err() error            { <-p.done; return p.err }

func (p *fakeProc) Stop(ctx context.Context) error {
	p.r.mu.Lock()
	defer p.r.mu.Unlock()
	if !p.stopped {
		p.stopped = true
		p.r.events = append(p.r.events, "stop "+p.argv)
	}
	p.exitLocked(&proc.ExitError{ExitCode: 143})
	return nil
}

func (p *fakeProc) exitLocked(err error) {
	select {
	case <-p.done:
	default:
		p.err = err
		close(p.done)
	}
}

// fakeRunner records starts and stops. A command listed in exits ends at
// once with that result, after printing its output lines.
type fakeRunner struct {
	mu     sync.Mutex
	events []string
	procs  []*fakeProc
	exits  map[string]error
	output map[string][]string
}

func newFakeRunner() *fakeRunner {
	return &fakeRunner{exits: map[string]error{}, output: map[string][]string{}}
}

func (r *fakeRunner) Start(spec proc.Spec) (Process, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	argv := strings.Join(spec.Argv, " ")
	p := &fakeProc{r: r, argv: argv, spec: spec, done: make(chan struct{})}
	r.events = append(r.events, "start "+argv)
	r.procs = append(r.procs, p)
	for _, l := range r.output[argv] {
		spec.Output(l)
	}
	if err, ok := r.exits[argv]; ok {
		p.exitLocked(err)
	}
	return p, nil
}

// take returns the events since the last take.
func (r *fakeRunner) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	ev := r.events
	r.events = nil
	return ev
}

// running returns the argv of processes still running.
func (r *fakeRunner) running() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, p := range r.procs {
		select {
		case <-p.done:
		default:
			out = append(out, p.argv)
		}
	}
	return out
}

// exit ends the newest running process with argv.
func (r *fakeRunner) exit(t *testing.T, argv string, err error) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.procs) - 1; i >= 0; i-- {
		p := r.procs[i]
		if p.argv != argv {
			continue
		}
		select {
		case <-p.done:
		default:
			p.exitLocked(err)
			return
		}
	}
	t.Fatalf("exit(%q): no such running process", argv)
}

// fakeChecker's checks succeed once ready[dir] is set.
type fakeChecker struct {
	mu    sync.Mutex
	ready map[string]bool
}

func (c *fakeChecker) Check(p *devfile.Probe, dir string, env []string) proc.Check {
	return func(context.Context) error {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.ready[dir] {
			return nil
		}
		return errors.New("connection refused")
	}
}

func (c *fakeChecker) set(dir string, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ready[dir] = ok
}

// fakeWatcher forwards the test's batches and records each config; with
// fail set, Watch fails at once.
type fakeWatcher struct {
	in   chan watch.Batch
	mu   sync.Mutex
	cfgs []watch.Config
	fail error
}

func (w *fakeWatcher) Watch(ctx context.Context, cfg watch.Config, out chan<- watch.Batch) error {
	w.mu.Lock()
	w.cfgs = append(w.cfgs, cfg)
	fail := w.fail
	w.mu.Unlock()
	if fail != nil {
		return fail
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case b := <-w.in:
			select {
			case out <- b:
			case <-ctx.Done():
				return nil
			}
		}
	}
}

// fakeLoader returns the scripted results in order.
type fakeLoader struct {
	mu      sync.Mutex
	results []loadResult
	calls   int
}

type loadResult struct {
	m   *devfile.Model
	err error
}

func (l *fakeLoader) Load(ctx context.Context) (*devfile.Model, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls++
	if len(l.results) == 0 {
		return nil, errors.New("fakeLoader: no scripted result")
	}
	r := l.results[0]
	l.results = l.results[1:]
	return r.m, r.err
}

const proj = "/proj"

// local is a local resource; cmd and serve are "sh -c" free argv strings.
func local(name, cmd, serve string, deps ...string) devfile.Resource {
	spec := &devfile.LocalSpec{Dir: proj + "/" + name, ServeDir: proj + "/" + name}
	if cmd != "" {
		spec.Cmd.Argv = strings.Fields(cmd)
	}
	if serve != "" {
		spec.ServeCmd.Argv = strings.Fields(serve)
	}
	for _, d := range deps {
		spec.Deps = append(spec.Deps, proj+"/"+d)
	}
	return devfile.Resource{Name: name, Kind: devfile.KindLocal, Enabled: true, AutoInit: true,
		TriggerMode: devfile.TriggerAuto, Local: spec}
}

func model(rs ...devfile.Resource) *devfile.Model {
	return &devfile.Model{Path: proj + "/Devfile", Resources: rs, Dependencies: []string{proj + "/Devfile"}}
}

// harness runs an engine inside a synctest bubble.
type harness struct {
	t       *testing.T
	e       *Engine
	run     *fakeRunner
	check   *fakeChecker
	watcher *fakeWatcher
	loader  *fakeLoader
	// conf, when set, adds to the Config (the Kubernetes fakes).
	conf   func(*Config)
	cancel context.CancelFunc
	done   chan error
}

func start(t *testing.T, m *devfile.Model) *harness {
	t.Helper()
	h := &harness{t: t, run: newFakeRunner(), check: &fakeChecker{ready: map[string]bool{}},
		watcher: &fakeWatcher{in: make(chan watch.Batch)}, loader: &fakeLoader{}, done: make(chan error, 1)}
	if m == nil {
		return h // the caller scripts the fakes, then calls with
	}
	return h.with(m)
}

// with creates and starts the engine; fakes may be scripted before.
func (h *harness) with(m *devfile.Model) *harness {
	cfg := Config{Model: m, Loader: h.loader, Watcher: h.watcher, Runner: h.run, Checker: h.check}
	if h.conf != nil {
		h.conf(&cfg)
	}
	e, err := New(cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	e.checkView = func(cached, fresh ResourceView) {
		fresh.Version = cached.Version
		if !reflect.DeepEqual(cached, fresh) {
			h.t.Errorf("resource %s changed without a new viewKey: shown %+v, now %+v", cached.Name, cached, fresh)
		}
	}
	h.e = e
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- e.Run(ctx) }()
	synctest.Wait()
	return h
}

func (h *harness) stop() {
	h.cancel()
	if err := <-h.done; err != nil {
		h.t.Errorf("Run() = %v, want nil", err)
	}
}

// batch sends a batch of changed paths; "-PATH" is a removed path and
// "overflow" marks the batch as an overflow.
func (h *harness) batch(paths ...string) {
	now := time.Now()
	b := watch.Batch{First: now, Last: now, Emitted: now}
	for _, p := range paths {
		switch {
		case p == "overflow":
			b.Overflow = true
		case strings.HasPrefix(p, "-"):
			b.Removed = append(b.Removed, p[1:])
		default:
			b.Changed = append(b.Changed, p)
		}
	}
	h.watcher.in <- b
	synctest.Wait()
}

func (h *harness) res(name string) ResourceView {
	h.t.Helper()
	for _, r := range h.e.Snapshot().Resources {
		if r.Name == name {
			return r
		}
	}
	h.t.Fatalf("no resource %q in the view", name)
	return ResourceView{}
}

func (h *harness) wantPhase(name string, want Phase) ResourceView {
	h.t.Helper()
	r := h.res(name)
	if r.Phase != want {
		h.t.Fatalf("resource %s: phase = %s (error %q, waiting %q), want %s", name, r.Phase, r.Error, r.Waiting, want)
	}
	return r
}

func (h *harness) wantEvents(want ...string) {
	h.t.Helper()
	if got := h.run.take(); !slices.Equal(got, want) {
		h.t.Fatalf("process events = %q, want %q", got, want)
	}
}

// wantEventSet is wantEvents for events of parallel workers, in any order.
func (h *harness) wantEventSet(want ...string) {
	h.t.Helper()
	got := h.run.take()
	slices.Sort(got)
	want = slices.Sorted(slices.Values(want))
	if !slices.Equal(got, want) {
		h.t.Fatalf("process events (sorted) = %q, want %q", got, want)
	}
}

func withProbe(r devfile.Resource) devfile.Resource {
	r.Local.ReadinessProbe = &devfile.Probe{Period: time.Second, SuccessThreshold: 1, FailureThreshold: 3,
		HTTPGet: &devfile.HTTPGetAction{Port: 8080}}
	return r
}

func withDeps(r devfile.Resource, deps ...string) devfile.Resource {
	r.ResourceDeps = deps
	return r
}

// TestStartup: a generator cmd, then a server waiting for it (resource_deps)
// whose build cmd runs, then serve_cmd until the probe passes.
func TestStartup(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := start(t, model(
			local("gen", "gen", "", "gen"),
			withProbe(withDeps(local("server", "build", "serve", "server"), "gen")),
		))
		defer h.stop()
		h.wantEvents("start gen")
		h.wantPhase("gen", PhaseBuilding)
		if r := h.wantPhase("server", PhasePending); r.Waiting != "waiting for resource_deps: gen" {
			t.Fatalf("server waiting = %q, want %q", r.Waiting, "waiting for resource_deps: gen")
		}

		h.run.exit(t, "gen", nil)
		synctest.Wait()
		h.wantPhase("gen", PhaseReady)
		h.wantEvents("start build")
		h.wantPhase("server", PhaseBuilding)

		h.run.exit(t, "build", nil)
		synctest.Wait()
		h.wantEvents("start serve")
		r := h.wantPhase("server", PhaseDeploying)
		if r.Current == nil || r.Waiting == "" {
			t.Fatalf("server while probing: current %v, waiting %q; want an update in progress waiting for the probe", r.Current, r.Waiting)
		}

		h.check.set(proj+"/server", true)
		time.Sleep(time.Second) // fake time: one probe period
		synctest.Wait()
		r = h.wantPhase("server", PhaseReady)
		if r.LastUpdate == nil || r.LastUpdate.Result != "ok" || r.LastUpdate.Reason != "initial" {
			t.Fatalf("server last update = %+v, want an ok initial update", r.LastUpdate)
		}
		if got, want := stepNames(r.LastUpdate.Steps), []string{"cmd", "serve_cmd start", "ready"}; !slices.Equal(got, want) {
			t.Errorf("server steps = %q, want %q", got, want)
		}
	})
}

func stepNames(steps []Step) []string {
	var out []string
	for _, s := range steps {
		out = append(out, s.Name)
	}
	return out
}

// TestFileChange maps batch paths to resources with deps and ignore.
func TestFileChange(t *testing.T) {
	tests := []struct {
		name    string
		paths   []string
		events  []string
		files   []string
		ignored bool
	}{
		{
			name:   "dep change reruns cmd, then restarts serve_cmd",
			paths:  []string{proj + "/server/main.go"},
			events: []string{"start build", "stop serve", "start serve"},
			files:  []string{"server/main.go"},
		},
		{name: "ignored file", paths: []string{proj + "/server/out.log"}, ignored: true},
		{
			name:   "removed parent of the dep",
			paths:  []string{"-" + proj},
			events: []string{"start build", "stop serve", "start serve"},
			files:  []string{"."},
		},
		{
			name:   "overflow",
			paths:  []string{"overflow"},
			events: []string{"start build", "stop serve", "start serve"},
			files:  []string{"(file events were dropped; rescanned)"},
		},
		{name: "git internals", paths: []string{proj + "/server/.git/index"}, ignored: true},
		{name: "outside deps", paths: []string{proj + "/docs/README.md"}, ignored: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv := local("server", "build", "serve", "server")
				srv.Local.Ignore = []string{"server/*.log"}
				h := start(t, nil)
				h.run.exits["build"] = nil
				h.with(model(srv))
				defer h.stop()
				h.wantEvents("start build", "start serve")
				h.wantPhase("server", PhaseReady)

				h.batch(tt.paths...)
				if tt.ignored {
					h.wantEvents()
					if r := h.res("server"); len(r.History) != 1 {
						t.Fatalf("Batch(%q): server has %d updates, want 1 (no new one)", tt.paths, len(r.History))
					}
					return
				}
				h.wantEvents(tt.events...)
				r := h.wantPhase("server", PhaseReady)
				u := r.LastUpdate
				if u == nil || u.Reason != "files" || !slices.Equal(u.Files, tt.files) || len(r.History) != 2 {
					t.Fatalf("Batch(%q): last update %+v (history %d), want reason files with %q", tt.paths, u, len(r.History), tt.files)
				}
				if got := stepNames(u.Steps); !slices.Equal(got[:2], []string{"file events", "batch"}) {
					t.Errorf("Batch(%q): steps = %q, want file events and batch first", tt.paths, got)
				}
			})
		})
	}
}

func TestCmdFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := start(t, nil)
		h.run.exits["build"] = &proc.ExitError{Argv: []string{"build"}, ExitCode: 3}
		h.run.output["build"] = []string{"compiling", "main.go:3: syntax error"}
		h.with(model(local("server", "build", "serve", "server")))
		defer h.stop()
		h.wantEvents("start build")
		r := h.wantPhase("server", PhaseError)
		if !strings.Contains(r.Error, "code 3") || !strings.Contains(r.Error, "main.go:3: syntax error") {
			t.Fatalf("server error = %q, want the exit code and the last lines", r.Error)
		}
		if r.LastUpdate == nil || r.LastUpdate.Result != "error" {
			t.Fatalf("server last update = %+v, want result error", r.LastUpdate)
		}
		// The next change tries again.
		h.run.exits["build"] = nil
		h.batch(proj + "/server/main.go")
		h.wantEvents("start build", "start serve")
		if r := h.wantPhase("server", PhaseReady); r.Error != "" {
			t.Errorf("server error after a good build = %q, want none", r.Error)
		}
	})
}

// TestCmdFailureKeepsServing: a failed build leaves the last good
// serve_cmd running; the next good build replaces it.
func TestCmdFailureKeepsServing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := start(t, nil)
		h.run.exits["build"] = nil
		h.with(model(withProbe(local("server", "build", "serve", "server"))))
		defer h.stop()
		h.check.set(proj+"/server", true)
		time.Sleep(time.Second)
		synctest.Wait()
		h.wantPhase("server", PhaseReady)
		h.run.take()

		h.run.exits["build"] = &proc.ExitError{ExitCode: 1}
		h.batch(proj + "/server/main.go")
		h.wantEvents("start build")
		h.wantPhase("server", PhaseError)
		if got := h.run.running(); !slices.Equal(got, []string{"serve"}) {
			t.Fatalf("after a failed build: running %q, want the old serve", got)
		}
		time.Sleep(5 * time.Second) // probes keep passing; the error stays
		synctest.Wait()
		h.wantPhase("server", PhaseError)

		h.run.exits["build"] = nil
		h.batch(proj + "/server/main.go")
		h.wantEvents("start build", "stop serve", "start serve")
		time.Sleep(time.Second)
		synctest.Wait()
		h.wantPhase("server", PhaseReady)
	})
}

func TestServeExit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := start(t, model(local("server", "", "serve", "server")))
		defer h.stop()
		h.wantPhase("server", PhaseReady)
		h.run.exit(t, "serve", &proc.ExitError{Argv: []string{"serve"}, ExitCode: 2})
		synctest.Wait()
		if r := h.wantPhase("server", PhaseError); !strings.Contains(r.Error, "code 2") {
			t.Errorf("server error = %q, want the exit code", r.Error)
		}
	})
}

func TestManualTrigger(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := local("server", "build", "", "server")
		srv.TriggerMode = devfile.TriggerManual
		h := start(t, nil)
		h.run.exits["build"] = nil
		h.with(model(srv))
		defer h.stop()
		h.wantEvents("start build")

		h.batch(proj+"/server/a.go", proj+"/server/b.go")
		h.wantEvents()
		if r := h.res("server"); !slices.Equal(r.Queued, []string{"server/a.go", "server/b.go"}) {
			t.Fatalf("server queued = %q, want both files", r.Queued)
		}
		if err := h.e.Trigger(context.Background(), "server"); err != nil {
			t.Fatalf("Trigger(server) = %v", err)
		}
		synctest.Wait()
		h.wantEvents("start build")
		r := h.wantPhase("server", PhaseReady)
		if len(r.Queued) != 0 || r.LastUpdate.Reason != "trigger" || len(r.LastUpdate.Files) != 2 {
			t.Errorf("after Trigger: queued %q, last update %+v; want nothing queued and a trigger update with 2 files", r.Queued, r.LastUpdate)
		}
		if err := h.e.Trigger(context.Background(), "nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Trigger(nope) = %v, want ErrNotFound", err)
		}
	})
}

func TestAutoInitFalse(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := local("seed", "seed", "", "seed")
		r.AutoInit = false
		h := start(t, nil)
		h.run.exits["seed"] = nil
		h.with(model(r))
		defer h.stop()
		h.wantEvents()
		if v := h.wantPhase("seed", PhasePending); !strings.Contains(v.Waiting, "trigger") {
			t.Fatalf("seed waiting = %q, want it to say a trigger is needed", v.Waiting)
		}
		if err := h.e.Trigger(context.Background(), "seed"); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		h.wantEvents("start seed")
		h.wantPhase("seed", PhaseReady)
	})
}

func TestParallelUpdates(t *testing.T) {
	parallel := func(r devfile.Resource) devfile.Resource {
		r.Local.AllowParallel = true
		return r
	}
	tests := []struct {
		name        string
		a, b, c     devfile.Resource
		max         int
		first       []string
		waitingC    string
		afterAExits []string
	}{
		{
			name: "max_parallel_updates bounds parallel resources",
			a:    parallel(local("a", "a", "")), b: parallel(local("b", "b", "")), c: parallel(local("c", "c", "")),
			max: 2, first: []string{"start a", "start b"}, waitingC: "max_parallel_updates=2",
			afterAExits: []string{"start c"},
		},
		{
			name: "default bound is 3",
			a:    parallel(local("a", "a", "")), b: parallel(local("b", "b", "")), c: parallel(local("c", "c", "")),
			first: []string{"start a", "start b", "start c"},
		},
		{
			name: "without allow_parallel a local update runs alone",
			a:    local("a", "a", ""), b: parallel(local("b", "b", "")), c: local("c", "c", ""),
			first: []string{"start a"}, waitingC: "allow_parallel=False",
			afterAExits: []string{"start b"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				m := model(tt.a, tt.b, tt.c)
				m.Settings.MaxParallelUpdates = tt.max
				h := start(t, m)
				defer h.stop()
				h.wantEventSet(tt.first...)
				if tt.waitingC == "" {
					return
				}
				if r := h.wantPhase("c", PhasePending); !strings.Contains(r.Waiting, tt.waitingC) {
					t.Fatalf("c waiting = %q, want it to name %s", r.Waiting, tt.waitingC)
				}
				h.run.exit(t, "a", nil)
				synctest.Wait()
				h.wantEvents(tt.afterAExits...)
			})
		})
	}
}

func TestK8sResourceWithoutCluster(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := start(t, model(devfile.Resource{Name: "api", Kind: devfile.KindK8s, Enabled: true, AutoInit: true}))
		defer h.stop()
		if r := h.wantPhase("api", PhaseError); !strings.Contains(r.Error, "no Kubernetes cluster") {
			t.Errorf("api error = %q, want it to say there is no cluster", r.Error)
		}
		if err := h.e.Trigger(context.Background(), "api"); err == nil || !strings.Contains(err.Error(), "no Kubernetes cluster") {
			t.Errorf("Trigger(api) = %v, want the no-cluster error", err)
		}
		h.wantEvents()
	})
}

func TestSetEnabled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := start(t, model(local("server", "", "serve", "server")))
		defer h.stop()
		h.wantEvents("start serve")
		if err := h.e.SetEnabled(context.Background(), "server", false); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		h.wantEvents("stop serve")
		h.wantPhase("server", PhaseDisabled)
		h.batch(proj + "/server/main.go")
		h.wantEvents()
		if err := h.e.SetEnabled(context.Background(), "server", true); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		h.wantEvents("start serve")
		h.wantPhase("server", PhaseReady)
	})
}

// TestReload: a changed Devfile applies only what changed; a broken one
// keeps the last good model running and shows the error until fixed.
func TestReload(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gen := local("gen", "gen", "", "gen")
		old := local("old", "", "old-serve")
		srv := local("server", "", "serve", "server")
		h := start(t, nil)
		h.run.exits["gen"] = nil
		h.with(model(gen, old, srv))
		defer h.stop()
		h.run.take()

		srv2 := local("server", "", "serve --v2", "server")
		added := local("added", "", "added-serve")
		h.loader.results = []loadResult{
			{m: model(gen, srv2, added)},
			{err: errors.New("/proj/Devfile:3:1: undefined: locl_resource")},
			{m: model(gen, srv2, added)},
		}
		h.batch(proj + "/Devfile")
		got := h.run.take()
		slices.Sort(got)
		want := []string{"start added-serve", "start serve --v2", "stop old-serve", "stop serve"}
		if !slices.Equal(got, want) {
			t.Fatalf("after reload: process events = %q, want %q (gen untouched)", got, want)
		}
		v := h.e.Snapshot()
		var names []string
		for _, r := range v.Resources {
			names = append(names, r.Name)
		}
		if !slices.Equal(names, []string{"gen", "server", "added"}) || v.Devfile.Error != "" {
			t.Fatalf("after reload: resources %q, devfile error %q; want gen, server, added and no error", names, v.Devfile.Error)
		}
		if r := h.res("gen"); len(r.History) != 1 {
			t.Errorf("gen updates after reload = %d, want 1 (unchanged resources keep running)", len(r.History))
		}

		h.batch(proj + "/Devfile")
		h.wantEvents()
		if v := h.e.Snapshot(); !strings.Contains(v.Devfile.Error, "Devfile:3:1") {
			t.Fatalf("after a broken reload: devfile error = %q, want the load error", v.Devfile.Error)
		}
		h.wantPhase("server", PhaseReady)

		h.batch(proj + "/Devfile")
		if v := h.e.Snapshot(); v.Devfile.Error != "" {
			t.Errorf("after a good reload: devfile error = %q, want it cleared", v.Devfile.Error)
		}
		h.wantEvents()
	})
}

// TestShutdown: ending Run stops every process and closes subscriptions.
func TestShutdown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := start(t, model(local("a", "", "a-serve"), local("b", "b-build", "")))
		sub := h.e.Subscribe(context.Background())
		h.stop()
		if got := h.run.running(); len(got) != 0 {
			t.Errorf("after Run returned: still running %q", got)
		}
		for range sub {
		}
	})
}

// TestProbeAfterReady: a probe failing past its threshold after the server
// was ready is an error; passing again makes it ready.
func TestProbeAfterReady(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := start(t, nil)
		h.check.set(proj+"/server", true)
		h.with(model(withProbe(local("server", "", "serve", "server"))))
		defer h.stop()
		h.wantPhase("server", PhaseReady)

		h.check.set(proj+"/server", false)
		time.Sleep(3 * time.Second) // fake time: failure threshold 3, period 1s
		synctest.Wait()
		if r := h.wantPhase("server", PhaseError); !strings.Contains(r.Error, "connection refused") {
			t.Fatalf("server error = %q, want the probe's failure", r.Error)
		}
		h.check.set(proj+"/server", true)
		time.Sleep(time.Second)
		synctest.Wait()
		h.wantPhase("server", PhaseReady)
		h.wantEvents("start serve")
	})
}

func TestResourceDepsWaiting(t *testing.T) {
	tests := []struct {
		name    string
		dep     devfile.Resource
		waiting string
	}{
		{"disabled dep", func() devfile.Resource { r := local("db", "", "db"); r.Enabled = false; return r }(), "resource_deps: db (disabled)"},
		{"failing dep", local("db", "db-init", ""), "resource_deps: db"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := start(t, nil)
				h.run.exits["db-init"] = &proc.ExitError{ExitCode: 1}
				h.with(model(tt.dep, withDeps(local("api", "", "api", "api"), "db")))
				defer h.stop()
				if r := h.wantPhase("api", PhasePending); r.Waiting != "waiting for "+tt.waiting {
					t.Errorf("api waiting = %q, want %q", r.Waiting, "waiting for "+tt.waiting)
				}
				h.batch(proj + "/api/main.go")
				if r := h.res("api"); !slices.Equal(r.Queued, []string{"api/main.go"}) {
					t.Errorf("api queued = %q, want the change waiting for its dependency", r.Queued)
				}
				for _, ev := range h.run.take() {
					if ev == "start api" {
						t.Errorf("api started while its dependency is not ready")
					}
				}
			})
		})
	}
}

// TestDisableDuringCmd: disabling a resource whose cmd runs stops the cmd,
// and no serve_cmd starts afterwards.
func TestDisableDuringCmd(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := start(t, model(local("server", "build", "serve", "server")))
		defer h.stop()
		h.wantEvents("start build")
		if err := h.e.SetEnabled(context.Background(), "server", false); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		h.wantEvents("stop build")
		r := h.wantPhase("server", PhaseDisabled)
		if r.LastUpdate == nil || r.LastUpdate.Result != "cancelled" {
			t.Errorf("server last update = %+v, want it cancelled", r.LastUpdate)
		}
		if got := h.run.running(); len(got) != 0 {
			t.Errorf("running after disable = %q, want nothing", got)
		}
	})
}

// TestBrokenAtStart: a Devfile that fails its first load leaves the engine
// running with the error shown and nothing started; a change to a file it
// had read loads it again, and the fixed Devfile runs.
func TestBrokenAtStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := start(t, nil)
		h.conf = func(c *Config) { c.LoadErr = errors.New("/proj/Devfile:2:1: undefined: locl_resource") }
		h.with(&devfile.Model{Path: proj + "/Devfile", Dependencies: []string{proj + "/Devfile"}})
		defer h.stop()
		v := h.e.Snapshot()
		if !strings.Contains(v.Devfile.Error, "Devfile:2:1: undefined") || len(v.Resources) != 0 {
			t.Fatalf("at start: devfile error %q, %d resources; want the load error and none", v.Devfile.Error, len(v.Resources))
		}
		if lines := h.e.Logs("", 0, 0); len(lines) == 0 || !strings.Contains(lines[len(lines)-1].Text, "devloop waits for a fix") {
			t.Errorf("log = %v, want a line saying devloop waits for a fix", lines)
		}
		h.loader.results = []loadResult{{m: model(local("server", "", "serve", "server"))}}
		h.batch(proj + "/Devfile")
		if got := h.run.take(); !slices.Equal(got, []string{"start serve"}) {
			t.Fatalf("after the fix: process events = %q, want the server started", got)
		}
		if v := h.e.Snapshot(); v.Devfile.Error != "" || len(v.Resources) != 1 {
			t.Errorf("after the fix: devfile error %q, %d resources; want none and the server", v.Devfile.Error, len(v.Resources))
		}
	})
}
