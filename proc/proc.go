// Package proc runs local commands for devloop: each in its own process group,
// its output captured line by line, and always cleaned up, also when devloop
// itself is killed.
//
// Cleanup design. Pdeathsig only reaches a direct child, and a Devfile's
// command is usually `sh -c "..."` with grandchildren. So when Spec.Supervisor
// is set (devloop sets it to its own `internal supervise --`), the command runs
// under a small supervisor process: devloop starts the supervisor with
// Pdeathsig=SIGUSR1, the supervisor starts the command in a new process group
// and, when its parent dies, when it is told to stop (SIGTERM/SIGINT/SIGHUP),
// or when the command exits, signals that whole group (SIGTERM, then SIGKILL
// after the grace period). Pdeathsig fires when the thread that forked exits,
// which Go allows (a goroutine that ends while locked to its thread), so the
// supervisor treats SIGUSR1 as "check the parent", not as "stop", and also
// polls its parent PID. A descendant that leaves the group (setsid, a
// daemon's double fork) is still stopped: the supervisor is a child
// subreaper, so such orphans are reparented to it, and it signals its whole
// process tree (read from /proc) along with the group. Without a supervisor
// the command still gets its own group and Pdeathsig=SIGKILL, which covers
// the direct child only.
//
// Pdeathsig is Linux only (sysproc_linux.go). On other Unix systems the
// supervisor relies on its parent-PID poll alone, and an unsupervised command
// outlives a SIGKILLed devloop. Windows has no process groups: Start, Exec
// and Supervise fail there with errNoGroups.
package proc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// DefaultGrace is how long a stopped command has between SIGTERM and SIGKILL.
// Five seconds lets servers drain connections and flush, yet a restart after
// an edit never waits much longer than a user notices.
const DefaultGrace = 5 * time.Second

// waitDelay bounds how long Wait keeps reading output after the command
// exited, when something that escaped its process group still holds the
// pipe. One second: normal output is drained in microseconds.
const waitDelay = time.Second

// Spec describes one command to run.
type Spec struct {
	// Argv is the command; Argv[0] is looked up in PATH.
	Argv []string
	// Dir is the working directory; empty means devloop's.
	Dir string
	// Env are extra "KEY=VALUE" entries on top of devloop's environment.
	Env []string
	// Output receives each line of the command's stdout and stderr, without
	// the newline, from one goroutine at a time. Nil discards output.
	Output func(line string)
	// Supervisor is the argv prefix of the supervisor (see the package
	// comment), e.g. {"/usr/bin/devloop", "internal", "supervise"}. Empty runs
	// the command directly.
	Supervisor []string
	// Grace is the time between SIGTERM and SIGKILL; 0 means DefaultGrace.
	Grace time.Duration
}

// ExitError is a command's failure: its exit code (128+signal when killed).
type ExitError struct {
	Argv     []string
	ExitCode int
}

func (e *ExitError) Error() string {
	return fmt.Sprintf("%s exited with code %d", quoteArgv(e.Argv), e.ExitCode)
}

// Process is a started command.
type Process struct {
	cmd   *exec.Cmd
	argv  []string
	grace time.Duration
	// supervised tells whether cmd is the supervisor (which escalates by
	// itself) or the command (whose group Stop escalates on).
	supervised bool
	done       chan struct{}
	err        error // set before done is closed

	stopOnce sync.Once
}

// Start starts the command. The returned Process must be waited on (Done) or
// stopped; its resources are released once the command exited.
func Start(spec Spec) (*Process, error) {
	if len(spec.Argv) == 0 {
		return nil, errors.New("starting a command: empty argv")
	}
	grace := spec.Grace
	if grace <= 0 {
		grace = DefaultGrace
	}
	argv := spec.Argv
	supervised := len(spec.Supervisor) > 0
	if supervised {
		argv = append(append(append([]string(nil), spec.Supervisor...),
			"--grace", grace.String(), "--parent", strconv.Itoa(os.Getpid()), "--"), spec.Argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = spec.Dir
	cmd.Env = append(os.Environ(), spec.Env...)
	if spec.Output != nil {
		// One writer for both streams: os/exec then uses one pipe and calls
		// Write from one goroutine at a time, keeping lines in order.
		lw := &lineWriter{emit: spec.Output}
		cmd.Stdout, cmd.Stderr = lw, lw
	}
	sig := syscall.SIGKILL
	if supervised {
		// The supervisor catches it, checks that its parent is really gone
		// and cleans up its command's group.
		sig = deathSignal
	}
	attr, err := groupAttr(sig)
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w", quoteArgv(spec.Argv), err)
	}
	cmd.SysProcAttr = attr
	cmd.WaitDelay = waitDelay
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", quoteArgv(spec.Argv), err)
	}
	p := &Process{cmd: cmd, argv: spec.Argv, grace: grace, supervised: supervised, done: make(chan struct{})}
	go p.wait()
	return p, nil
}

func (p *Process) wait() {
	err := p.cmd.Wait()
	if !p.supervised {
		// Whatever the command left behind in its group goes with it.
		_ = killGroup(p.cmd.Process.Pid, syscall.SIGKILL)
	}
	if lw, ok := p.cmd.Stdout.(*lineWriter); ok {
		lw.flush()
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		err = &ExitError{Argv: p.argv, ExitCode: exitCode(err)}
	} else if errors.Is(err, exec.ErrWaitDelay) {
		err = nil
	}
	p.err = err
	close(p.done)
}

// Pid is the process ID of the started process (the supervisor's when supervised).
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed once the command exited and its output was delivered.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err is the command's result once Done is closed: nil for exit code 0, an
// *ExitError otherwise.
func (p *Process) Err() error {
	<-p.done
	return p.err
}

// Stop ends the command and everything in its process group: SIGTERM, then
// SIGKILL after the grace period. It returns once the command exited, or with
// ctx's error if ctx ends first; the group is SIGKILLed in that case.
func (p *Process) Stop(ctx context.Context) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	p.stopOnce.Do(func() {
		// The supervisor is alone in its group; otherwise the group is the
		// command's. Either way the negative pid reaches them.
		_ = killGroup(p.cmd.Process.Pid, syscall.SIGTERM)
	})
	grace := time.NewTimer(p.grace)
	defer grace.Stop()
	if p.supervised {
		// The supervisor escalates itself; give it a moment beyond its grace.
		grace.Reset(p.grace + time.Second)
	}
	select {
	case <-p.done:
		return nil
	case <-grace.C:
	case <-ctx.Done():
	}
	_ = killGroup(p.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stopping %s: %w (SIGKILL sent)", quoteArgv(p.argv), ctx.Err())
	}
}

func quoteArgv(argv []string) string {
	if len(argv) == 3 && argv[0] == "sh" && argv[1] == "-c" {
		return strconv.Quote(argv[2])
	}
	s := ""
	for i, a := range argv {
		if i > 0 {
			s += " "
		}
		s += strconv.Quote(a)
	}
	return s
}
