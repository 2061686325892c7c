package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/devloop-dev/devloop/devfile"
	"github.com/devloop-dev/devloop/proc"
)

// Runner starts local processes.
type Runner interface {
	Start(spec proc.Spec) (Process, error)
}

// Process is a started local process (*proc.Process).
type Process interface {
	Done() <-chan struct{}
	Err() error
	Stop(ctx context.Context) error
}

// Checker turns a readiness probe into its check.
type Checker interface {
	Check(p *devfile.Probe, dir string, env []string) proc.Check
}

// ProcRunner runs processes with package proc. Supervisor is passed on as
// proc.Spec.Supervisor when the spec has none.
type ProcRunner struct {
	Supervisor []string
}

// Start starts spec.
func (r ProcRunner) Start(spec proc.Spec) (Process, error) {
	if len(spec.Supervisor) == 0 {
		spec.Supervisor = r.Supervisor
	}
	p, err := proc.Start(spec)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// ProbeChecker makes the real checks of package proc.
type ProbeChecker struct{}

// Check returns p's check; exec probes run in dir with env.
func (ProbeChecker) Check(p *devfile.Probe, dir string, env []string) proc.Check {
	switch {
	case p.HTTPGet != nil:
		return proc.HTTPGet(p.HTTPGet.Scheme, p.HTTPGet.Host, p.HTTPGet.Port, p.HTTPGet.Path)
	case p.TCPSocket != nil:
		return proc.TCPSocket(p.TCPSocket.Host, p.TCPSocket.Port)
	case p.Exec != nil:
		return proc.Exec(p.Exec.Command, dir, env)
	}
	return func(context.Context) error { return errors.New("readiness probe has no action") }
}

// stopTimeout bounds how long shutdown waits for one process to stop: the
// process's grace period (proc.DefaultGrace) plus slack for the supervisor.
const stopTimeout = proc.DefaultGrace + 2*time.Second

// tailLines is how many of a failed command's last lines go into the error:
// enough for a compiler's message with its context, few enough for a status
// line and `devloop get`; the full log is a click away.
const tailLines = 5

// probeStartPeriod is how often a readiness probe runs until its first
// success. A local server binds its port within milliseconds of starting;
// with Kubernetes' period (10 s by default) the second attempt would come
// seconds later, on every restart. Ten attempts a second cost nothing.
const probeStartPeriod = 100 * time.Millisecond

// swapMsg asks for the old serve_cmd, which the worker of gen stops
// before it starts the new one; the loop replies at once (nil: none).
type swapMsg struct {
	work
	reply chan Process
}

// serveExitMsg says the serve_cmd p exited.
type serveExitMsg struct {
	name string
	p    Process
	err  error
}

// probeMsg is a readiness result of the serve_cmd p.
type probeMsg struct {
	name  string
	p     Process
	ready bool
	err   error
}

// job is what an update's worker needs, copied out of loop state.
type job struct {
	work
	local devfile.LocalSpec
	env   []string // of cmd
	senv  []string // of serve_cmd
}

// startLocal runs u, a local resource's update, in a worker (runJob).
func (l *loop) startLocal(r *resource, u *Update) {
	j := job{
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
	l.begin(r, u, func(ctx context.Context, w work) {
		j.work = w
		l.e.runJob(ctx, j)
	})
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
	done := func(serve Process, err error) {
		m := workerDoneMsg{work: j.work, serve: serve, err: err}
		if !e.send(m) && serve != nil {
			stopNow(serve)
		}
	}
	if !j.local.Cmd.Empty() {
		t := e.cfg.Now()
		err := e.runCmd(ctx, j.name, j.local.Cmd.Argv, j.local.Dir, j.env)
		e.step(j.work, "cmd", t)
		if err != nil {
			done(nil, err)
			return
		}
	}
	if j.local.ServeCmd.Empty() {
		done(nil, nil)
		return
	}
	swap := swapMsg{work: j.work, reply: make(chan Process, 1)}
	if !e.send(swap) {
		return
	}
	// The loop always replies at once; a nil reply means no old serve_cmd.
	if old := <-swap.reply; old != nil {
		t := e.cfg.Now()
		stopNow(old)
		e.step(j.work, "stop serve_cmd", t)
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
	e.step(j.work, "serve_cmd start", t)
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

// onSwap hands the old serve_cmd to the worker that will replace it.
func (l *loop) onSwap(m swapMsg) {
	r := l.owner(m.work)
	if r == nil {
		m.reply <- nil
		return
	}
	m.reply <- r.detachServe()
	r.phase = PhaseDeploying
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
	l.fail(r, why)
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
		l.ready(r)
	case r.current != nil:
		r.waiting = "waiting for the readiness probe: " + m.err.Error()
	default:
		r.phase, r.err = PhaseError, "readiness probe failing: "+m.err.Error()
	}
}
