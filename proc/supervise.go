package proc

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"
)

// parentPoll is how often the supervisor checks that devloop is still its
// parent, in case Pdeathsig did not fire (it is tied to the thread that forked,
// not the process). Once a second costs nothing and bounds an orphan's life.
const parentPoll = time.Second

// Supervise is the supervisor's main function (`devloop internal supervise`):
// args are "[--grace DURATION] [--parent PID] -- ARGV...". It runs ARGV in a
// new process group and ends that group when the command exits, when the
// supervisor receives SIGTERM, SIGINT or SIGHUP, or when its parent PID
// changes (the parent died). It returns the command's exit code (128+signal
// when the command was killed); 127 when the command could not start.
func Supervise(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("supervise", flag.ContinueOnError)
	fs.SetOutput(stderr)
	grace := fs.Duration("grace", DefaultGrace, "time between SIGTERM and SIGKILL")
	parent := fs.Int("parent", 0, "PID of the parent; its death stops the command")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	argv := fs.Args()
	if len(argv) == 0 {
		fmt.Fprintln(stderr, "devloop supervise: no command given (usage: supervise [--grace D] [--parent PID] -- ARGV...)")
		return 2
	}

	// If the supervisor itself is SIGKILLed, at least its direct child goes too
	// (on Linux; see groupAttr).
	attr, err := groupAttr(syscall.SIGKILL)
	if err != nil {
		fmt.Fprintf(stderr, "devloop supervise: %v\n", err)
		return 127
	}

	// Descendants that leave the command's group (setsid, a daemon's double
	// fork) stay in the supervisor's tree: orphans are reparented to it.
	// Without it (an old kernel) the group alone is stopped.
	_ = becomeSubreaper()

	// Subscribe before looking at the parent, so a Pdeathsig between the two
	// is seen.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, deathSignal)
	parentGone := func() bool { return *parent != 0 && os.Getppid() != *parent }
	if parentGone() {
		return 128 + int(syscall.SIGTERM)
	}

	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = attr
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(stderr, "devloop supervise: %v\n", err)
		return 127
	}
	pgid := cmd.Process.Pid
	// stop signals the command's group and every other descendant.
	self := os.Getpid()
	stop := func(sig syscall.Signal) {
		_ = killGroup(pgid, sig)
		killTree(self, sig)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()

	poll := time.NewTicker(parentPoll)
	defer poll.Stop()
	var kill <-chan time.Time
	terminate := func() {
		if kill != nil {
			return
		}
		stop(syscall.SIGTERM)
		kill = time.After(*grace)
	}
	for {
		select {
		case sig := <-sigs:
			if sig != deathSignal || parentGone() {
				terminate()
			}
		case <-poll.C:
			if parentGone() {
				terminate()
			}
		case <-kill:
			stop(syscall.SIGKILL)
		case err := <-waited:
			// Whatever the command left behind, in its group or not, goes with it.
			stop(syscall.SIGKILL)
			reapOrphans()
			return exitCode(err)
		}
	}
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		if err != nil {
			return 1
		}
		return 0
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ee.ExitCode()
}
