package liveupdate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	stdsync "sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/devloop-dev/devloop/kube"
)

// Execer runs a command in a container (*kube.Client).
type Execer interface {
	Exec(ctx context.Context, pod kube.PodRef, container string, argv []string, stdin io.Reader, stdout, stderr io.Writer) error
}

var _ Execer = (*kube.Client)(nil)

// Container is one running container of the image.
type Container struct {
	Pod  kube.PodRef
	Name string
	// ID is the runtime's container ID (kube.ContainerStatus.ID), the key
	// of a Tracker.
	ID string
}

func (c Container) String() string { return c.Pod.String() + " " + c.Name }

// Step is one timed step of a container's update, in the shape of the
// engine's Update.Steps.
type Step struct {
	Name       string
	Start, End time.Time
}

// Result is the outcome of one container's update.
type Result struct {
	Container Container
	Steps     []Step
	// Err is nil, a *RunError, a *FallBackError, or ctx's error.
	Err error
}

// Config configures an Updater; the zero value means the defaults.
type Config struct {
	// Parallel bounds how many containers are updated at once; 0 means
	// DefaultParallel.
	Parallel int
	// Now is the clock of the step timestamps; nil means time.Now.
	Now func() time.Time
	// Session keeps a shell open in each container updated and sends the
	// files of later updates through it, without a new exec each (see
	// session.go): about 100 ms less per update. It needs sh, base64 and
	// tar in the image; without them, or when the session fails, updates
	// use their own execs. Close the Updater to end the sessions.
	Session bool
}

// DefaultParallel is 4 containers at a time: each holds one exec stream to
// the API server, and a live update is mostly waiting on it, so a few
// overlap well; more would queue behind the machine's other work.
const DefaultParallel = 4

// maxArgBytes bounds the paths of one rm exec: argv travels in the exec
// URL's query (command=...), and proxies in front of API servers commonly cap
// request lines at 8-16 KiB (Skaffold #4821 is the unbounded version).
const maxArgBytes = 6 << 10

// Updater applies plans to containers through an Execer.
type Updater struct {
	ex         Execer
	parallel   int
	now        func() time.Time
	useSession bool
	sess       sessions
}

// New returns an Updater that runs its commands through ex.
func New(cfg Config, ex Execer) (*Updater, error) {
	if ex == nil {
		return nil, errors.New("sync.New: nil Execer")
	}
	if cfg.Parallel < 0 {
		return nil, fmt.Errorf("sync.New: Parallel %d is negative", cfg.Parallel)
	}
	u := &Updater{ex: ex, parallel: cfg.Parallel, now: cfg.Now, useSession: cfg.Session}
	if u.parallel == 0 {
		u.parallel = DefaultParallel
	}
	if u.now == nil {
		u.now = time.Now
	}
	return u, nil
}

// tarArgv extracts the stream relative to the container's root; owners are
// not restored (--no-same-owner is GNU-only, and the entries say root).
var tarArgv = []string{"tar", "-C", "/", "-x", "-f", "-"}

// Update applies plan to every container, Parallel at a time: remove
// plan.Delete, stream plan.Copy as one tar, then run plan.Run in order. Each
// container's outcome is in its Result; the error joins them (find them with
// errors.As). Output of run steps goes to out (nil discards it), each line
// prefixed with its pod and container.
func (u *Updater) Update(ctx context.Context, plan Plan, containers []Container, out io.Writer) ([]Result, error) {
	p, err := prepare(plan)
	if err != nil {
		var fb *FallBackError
		if !errors.As(err, &fb) {
			err = &FallBackError{Reason: "reading the files to send", Err: err}
		}
		return nil, err
	}
	var mu stdsync.Mutex
	results := make([]Result, len(containers))
	var g errgroup.Group
	g.SetLimit(u.parallel)
	for i, c := range containers {
		g.Go(func() error {
			w := &lineWriter{mu: &mu, out: out, prefix: "[" + c.String() + "] "}
			steps, err := u.one(ctx, p, c, w)
			w.flush()
			results[i] = Result{Container: c, Steps: steps, Err: err}
			return nil
		})
	}
	_ = g.Wait()
	var errs []error
	for _, r := range results {
		if r.Err != nil {
			errs = append(errs, r.Err)
		}
	}
	return results, errors.Join(errs...)
}

func (u *Updater) one(ctx context.Context, p Plan, c Container, out io.Writer) ([]Step, error) {
	var steps []Step
	step := func(name string, start time.Time) {
		steps = append(steps, Step{Name: name, Start: start, End: u.now()})
	}

	if u.useSession && len(p.Delete)+len(p.Copy) > 0 {
		start := u.now()
		if err := u.viaSession(ctx, p, c); err == nil {
			name := "copy files"
			if len(p.Copy) == 0 {
				name = "remove files"
			}
			step(name, start)
			p.Delete, p.Copy = nil, nil
		} else if ctx.Err() != nil {
			return steps, fmt.Errorf("live update of %s: %w", c, ctx.Err())
		}
	}
	if len(p.Delete) > 0 {
		start := u.now()
		for _, batch := range batches(p.Delete, maxArgBytes) {
			argv := append([]string{"rm", "-rf", "--"}, batch...)
			if err := u.ex.Exec(ctx, c.Pod, c.Name, argv, nil, nil, nil); err != nil {
				return steps, infraError(ctx, c, "rm", err)
			}
		}
		step("remove files", start)
	}
	if len(p.Copy) > 0 {
		start := u.now()
		if err := u.copy(ctx, p.Copy, c); err != nil {
			return steps, err
		}
		step("copy files", start)
	}
	for _, r := range p.Run {
		start := u.now()
		if !r.EchoOff {
			fmt.Fprintf(out, "run: %s\n", shellQuote(r.Argv))
		}
		handled, err := false, error(nil)
		if u.useSession {
			handled, err = u.runViaSession(ctx, c, r.Argv, out)
		}
		if !handled {
			err = u.ex.Exec(ctx, c.Pod, c.Name, r.Argv, nil, out, out)
		}
		step("run: "+shellQuote(r.Argv), start)
		var fb *FallBackError
		if errors.As(err, &fb) {
			return steps, err
		}
		var ee *kube.ExecError
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return steps, fmt.Errorf("live update of %s: %w", c, ctx.Err())
		case errors.As(err, &ee):
			return steps, &RunError{Pod: c.Pod, Container: c.Name, Argv: r.Argv, ExitCode: ee.ExitCode, Output: ee.Output}
		default:
			return steps, &FallBackError{Pod: c.Pod, Container: c.Name, Reason: "exec of a run() step failed", Err: err}
		}
	}
	return steps, nil
}

// copy streams copies into c as one tar built in-process through a pipe.
func (u *Updater) copy(ctx context.Context, copies []Copy, c Container) error {
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := writeTar(pw, copies)
		pw.CloseWithError(err)
		done <- err
	}()
	err := u.ex.Exec(ctx, c.Pod, c.Name, tarArgv, pr, nil, nil)
	// Unblock the writer when the exec stopped reading early. A tar that
	// exited 0 without reading the archive's trailing zero blocks has
	// extracted everything.
	pr.CloseWithError(errExecEnded)
	if tarErr := <-done; tarErr != nil && !errors.Is(tarErr, errExecEnded) {
		// A local read failure cuts the stream; it is the cause of any exec error.
		return &FallBackError{Pod: c.Pod, Container: c.Name, Reason: "building the tar stream", Err: tarErr}
	}
	if err != nil {
		return infraError(ctx, c, "tar", err)
	}
	return nil
}

var errExecEnded = errors.New("the tar exec ended before reading the whole stream")

// infraError explains a failed rm or tar exec, with the remedy.
func infraError(ctx context.Context, c Container, prog string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("live update of %s: %w", c, ctx.Err())
	}
	fb := &FallBackError{Pod: c.Pod, Container: c.Name, Err: err}
	var ee *kube.ExecError
	switch {
	case !errors.As(err, &ee):
		fb.Reason = "exec into the container failed (is it running, and may you exec into it?)"
	case ee.ExitCode == 126 || ee.ExitCode == 127:
		fb.Reason = fmt.Sprintf("the image has no usable %s (exit %d): add %s to the image (busybox has it) to live update", prog, ee.ExitCode, prog)
	case prog == "tar" && ee.ExitCode == 2:
		fb.Reason = "tar could not write the files (exit 2, permission denied?): sync to a directory the container's user owns, or set securityContext.runAsUser to one that may write there"
	default:
		fb.Reason = fmt.Sprintf("%s exited with code %d", prog, ee.ExitCode)
	}
	return fb
}

// batches splits paths so that each batch's bytes stay within max (a single
// longer path is a batch of its own).
func batches(paths []string, max int) [][]string {
	var out [][]string
	var cur []string
	n := 0
	for _, p := range paths {
		if len(cur) > 0 && n+len(p)+1 > max {
			out = append(out, cur)
			cur, n = nil, 0
		}
		cur = append(cur, p)
		n += len(p) + 1
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// shellQuote shows argv as one line; sh -c SCRIPT shows only SCRIPT.
func shellQuote(argv []string) string {
	if len(argv) == 3 && argv[0] == "sh" && argv[1] == "-c" {
		return argv[2]
	}
	var b bytes.Buffer
	for i, a := range argv {
		if i > 0 {
			b.WriteByte(' ')
		}
		if a == "" || bytes.ContainsAny([]byte(a), " \t\n'\"\\$`") {
			fmt.Fprintf(&b, "%q", a)
		} else {
			b.WriteString(a)
		}
	}
	return b.String()
}

// lineWriter prefixes each line it passes to out, under a lock shared by
// the containers updated at once, so their lines never interleave.
type lineWriter struct {
	mu     *stdsync.Mutex
	out    io.Writer
	prefix string
	buf    []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	if w.out == nil {
		return len(p), nil
	}
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		w.emit(w.buf[:i+1])
		w.buf = w.buf[i+1:]
	}
}

func (w *lineWriter) flush() {
	if w.out != nil && len(w.buf) > 0 {
		w.emit(append(w.buf, '\n'))
		w.buf = nil
	}
}

func (w *lineWriter) emit(line []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	// One write per line: writers that log per write see whole lines.
	_, _ = w.out.Write(append([]byte(w.prefix), line...))
}
