package builder

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/solver/errdefs"
	digest "github.com/opencontainers/go-digest"
	"golang.org/x/sync/errgroup"
)

// stepLogTail is how much of a step's output is kept for error messages:
// the end of a failing command's output is where its reason is.
const stepLogTail = 4 << 10

type stepState struct {
	name      string
	started   *time.Time
	completed *time.Time
	cached    bool
	err       string
	log       []byte
	announced bool
	finished  bool
	// statuses are the step's byte counts by status ID (a layer being
	// pushed, an image being exported); reported is when the last
	// "still running" line went out.
	statuses map[string]byteStatus
	latest   string
	reported time.Time
}

type byteStatus struct{ current, total int64 }

// progressEvery is how often a step that runs long says how far it got
// (bytes pushed, exported, pulled): the first time after it ran that long,
// then at that pace. Shorter steps stay one line each.
const progressEvery = 2 * time.Second

// steps tracks BuildKit vertices in the order they first appear.
type steps struct {
	order []digest.Digest
	by    map[digest.Digest]*stepState
}

func (s *steps) get(d digest.Digest) *stepState {
	if s.by == nil {
		s.by = map[digest.Digest]*stepState{}
	}
	st := s.by[d]
	if st == nil {
		st = &stepState{}
		s.by[d] = st
		s.order = append(s.order, d)
	}
	return st
}

func (s *steps) trace() []Step {
	var out []Step
	for _, d := range s.order {
		st := s.by[d]
		if !st.finished {
			continue
		}
		out = append(out, Step{Name: st.name, Cached: st.cached, Duration: st.duration(), Error: st.err})
	}
	return out
}

// bytes says how far the step's byte counts got: "pushing layers: 120 MB
// of 300 MB", or "… 12 MB" when BuildKit gives no total; "" without any.
func (st *stepState) bytes() string {
	var cur, tot int64
	for _, b := range st.statuses {
		cur += b.current
		tot += b.total
	}
	switch {
	case tot > 0:
		return fmt.Sprintf("%s: %s of %s", st.latest, megabytes(min(cur, tot)), megabytes(tot))
	case cur > 0:
		return fmt.Sprintf("%s: %s", st.latest, megabytes(cur))
	}
	return ""
}

// megabytes formats n bytes as "12.3 MB" (decimal, as docker prints sizes).
func megabytes(n int64) string {
	return fmt.Sprintf("%.1f MB", float64(n)/1e6)
}

func (st *stepState) duration() time.Duration {
	if st.started == nil || st.completed == nil {
		return 0
	}
	return st.completed.Sub(*st.started)
}

// failed returns the first step that reported an error.
func (s *steps) failed() *stepState {
	for _, d := range s.order {
		if st := s.by[d]; st.err != "" {
			return st
		}
	}
	return nil
}

// update applies one status message and reports each change to emit.
func (s *steps) update(ss *client.SolveStatus, emit func(Progress)) {
	for _, v := range ss.Vertexes {
		st := s.get(v.Digest)
		st.name = v.Name
		st.cached = st.cached || v.Cached
		if v.Started != nil {
			st.started = v.Started
		}
		if v.Completed != nil {
			st.completed = v.Completed
		}
		if v.Error != "" {
			st.err = v.Error
		}
		if !st.announced && st.started != nil && st.completed == nil {
			st.announced = true
			emit(Progress{Kind: ProgressStep, Step: st.name})
		}
		if !st.finished && st.completed != nil {
			st.finished = true
			emit(Progress{Kind: ProgressStep, Step: st.name, Done: true, Cached: st.cached, Duration: st.duration(), Error: st.err})
		}
	}
	for _, vs := range ss.Statuses {
		st := s.get(vs.Vertex)
		if st.statuses == nil {
			st.statuses = map[string]byteStatus{}
		}
		st.statuses[vs.ID] = byteStatus{current: vs.Current, total: vs.Total}
		st.latest = vs.ID
		if st.finished || st.started == nil || vs.Timestamp.Sub(*st.started) < progressEvery || vs.Timestamp.Sub(st.reported) < progressEvery {
			continue
		}
		if msg := st.bytes(); msg != "" {
			st.reported = vs.Timestamp
			emit(Progress{Kind: ProgressStep, Step: st.name, Message: msg})
		}
	}
	for _, l := range ss.Logs {
		st := s.get(l.Vertex)
		st.log = append(st.log, l.Data...)
		if over := len(st.log) - stepLogTail; over > 0 {
			st.log = st.log[over:]
		}
		emit(Progress{Kind: ProgressLog, Step: st.name, Log: l.Data})
	}
}

// solve runs one BuildKit solve, streaming progress, and returns the steps seen.
func (b *Builder) solve(ctx context.Context, s solver, ref string, opt client.SolveOpt) (*steps, *client.SolveResponse, error) {
	ch := make(chan *client.SolveStatus)
	st := &steps{}
	var resp *client.SolveResponse
	eg, ctx := errgroup.WithContext(ctx)
	eg.Go(func() error {
		var err error
		resp, err = s.Solve(ctx, opt, ch)
		return err
	})
	eg.Go(func() error {
		// BuildKit's client closes ch when the solve ends.
		for ss := range ch {
			st.update(ss, func(p Progress) { b.progress(ref, p) })
		}
		return nil
	})
	err := eg.Wait()
	return st, resp, err
}

// BuildError is a failed build: the Dockerfile line BuildKit blames, the
// failing step and the end of its output.
type BuildError struct {
	Ref string
	// File and Line locate the failing instruction; Line is 0 when BuildKit
	// gave no source location.
	File string
	Line int
	// Step is the failing BuildKit step, e.g. "[2/3] RUN make".
	Step string
	// Output is the end of the failing step's output.
	Output string
	Err    error
}

func (e *BuildError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "building image %s: ", e.Ref)
	if e.Line > 0 {
		fmt.Fprintf(&b, "%s:%d: ", e.File, e.Line)
	}
	if e.Step != "" {
		fmt.Fprintf(&b, "%s: ", e.Step)
	}
	b.WriteString(e.Err.Error())
	if e.Output != "" {
		b.WriteString("\n")
		b.WriteString(e.Output)
	}
	return b.String()
}

func (e *BuildError) Unwrap() error { return e.Err }

// outputLines is how many lines of a failing step's output the error shows.
const outputLines = 20

func buildError(ref, dfName string, st *steps, err error) error {
	be := &BuildError{Ref: ref, File: dfName, Err: err}
	if srcs := errdefs.Sources(err); len(srcs) > 0 {
		src := srcs[len(srcs)-1]
		if len(src.Ranges) > 0 && src.Ranges[0].Start != nil {
			be.Line = int(src.Ranges[0].Start.Line)
		}
	}
	if f := st.failed(); f != nil {
		be.Step = f.name
		lines := strings.Split(strings.TrimRight(string(bytes.ToValidUTF8(f.log, nil)), "\n"), "\n")
		if len(lines) > outputLines {
			lines = lines[len(lines)-outputLines:]
		}
		be.Output = strings.TrimSpace(strings.Join(lines, "\n"))
	}
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("building image %s: %w", ref, err)
	}
	return be
}
