package builder

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/devloop-dev/devloop/devfile"
)

// gatedStep is an inner step whose builds wait for release (or for their
// context) and that records how each ended.
type gatedStep struct {
	release chan struct{}

	mu        sync.Mutex
	started   []string
	cancelled int
}

func (g *gatedStep) build(ctx context.Context, p *plan) (Result, error) {
	g.mu.Lock()
	g.started = append(g.started, p.image)
	g.mu.Unlock()
	select {
	case <-g.release:
		return Result{Ref: p.img.Ref, Image: p.image, InputHash: p.hash}, nil
	case <-ctx.Done():
		g.mu.Lock()
		g.cancelled++
		g.mu.Unlock()
		return Result{}, ctx.Err()
	}
}

func (g *gatedStep) counts() (started, cancelled int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.started), g.cancelled
}

func sharedPlan(ref, hash string) *plan {
	return &plan{img: devfile.Image{Ref: ref}, hash: hash, image: "localhost:5001/" + ref + ":" + contentTag(hash)}
}

type sharedCall struct {
	res Result
	err error
}

func TestSharedBuild(t *testing.T) {
	same, other := sharedPlan("app", "sha256:aaaa"), sharedPlan("app", "sha256:bbbb")
	tests := []struct {
		name  string
		plans []*plan
		// cancel is how many of the callers (the first ones) give up
		// while the build runs.
		cancel        int
		wantStarted   int
		wantCancelled int
	}{
		{name: "three callers of the same inputs share one build", plans: []*plan{same, same, same}, wantStarted: 1},
		{name: "other inputs build on their own", plans: []*plan{same, other}, wantStarted: 2},
		{name: "the build goes on while one caller waits", plans: []*plan{same, same, same}, cancel: 2, wantStarted: 1},
		{name: "the build stops when every caller gave up", plans: []*plan{same, same}, cancel: 2, wantStarted: 1, wantCancelled: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				inner := &gatedStep{release: make(chan struct{})}
				s := newShared(inner, slog.New(slog.DiscardHandler))
				calls := make([]sharedCall, len(tt.plans))
				cancels := make([]context.CancelFunc, len(tt.plans))
				var wg sync.WaitGroup
				for i, p := range tt.plans {
					ctx, cancel := context.WithCancel(t.Context())
					cancels[i] = cancel
					wg.Go(func() { calls[i].res, calls[i].err = s.build(ctx, p) })
				}
				synctest.Wait() // every caller waits, every build is blocked
				if started, _ := inner.counts(); started != tt.wantStarted {
					t.Errorf("inner builds started = %d, want %d", started, tt.wantStarted)
				}
				for _, cancel := range cancels[:tt.cancel] {
					cancel()
				}
				synctest.Wait()
				if tt.cancel < len(tt.plans) {
					close(inner.release)
				}
				wg.Wait()
				synctest.Wait() // the cancelled build has returned
				if _, cancelled := inner.counts(); cancelled != tt.wantCancelled {
					t.Errorf("inner builds cancelled = %d, want %d", cancelled, tt.wantCancelled)
				}
				for i, c := range calls {
					if i < tt.cancel {
						if !errors.Is(c.err, context.Canceled) {
							t.Errorf("build (caller %d, cancelled) = %+v, %v, want context.Canceled", i, c.res, c.err)
						}
						continue
					}
					if p := tt.plans[i]; c.err != nil || c.res.Image != p.image || c.res.InputHash != p.hash {
						t.Errorf("build (caller %d) = %+v, %v, want the result for %s", i, c.res, c.err, p.image)
					}
				}
				for _, cancel := range cancels {
					cancel()
				}
				s.mu.Lock()
				n := len(s.flights)
				s.mu.Unlock()
				if n != 0 {
					t.Errorf("flights after every build ended = %d, want 0", n)
				}
			})
		})
	}
}

// TestSharedBuildAfterCancel: a caller that comes after every earlier one
// gave up gets a build of its own, not the cancelled one.
func TestSharedBuildAfterCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		inner := &gatedStep{release: make(chan struct{})}
		s := newShared(inner, slog.New(slog.DiscardHandler))
		p := sharedPlan("app", "sha256:aaaa")
		ctx, cancel := context.WithCancel(t.Context())
		var first sharedCall
		var wg sync.WaitGroup
		wg.Go(func() { first.res, first.err = s.build(ctx, p) })
		synctest.Wait()
		cancel()
		wg.Wait()
		synctest.Wait() // the cancelled build has returned
		close(inner.release)
		res, err := s.build(t.Context(), p)
		if err != nil || res.Image != p.image {
			t.Errorf("build after a cancelled one = %+v, %v, want the result for %s", res, err, p.image)
		}
		if started, cancelled := inner.counts(); started != 2 || cancelled != 1 {
			t.Errorf("inner builds started, cancelled = %d, %d, want 2, 1", started, cancelled)
		}
	})
}

// TestBuildAllSharesConcurrentBuilds: three resources that deploy one image
// ask for it at once, as the engine does; BuildKit solves once, and the
// solve's progress is reported once.
func TestBuildAllSharesConcurrentBuilds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &fakeSolver{reg: &fakeRegistry{manifests: map[string]string{}}, gate: make(chan struct{})}
		var mu sync.Mutex
		var done []string // steps reported done
		b := newFakeBuilder(t, s, t.TempDir(), Config{OnProgress: func(ref string, ev Progress) {
			if ev.Kind == ProgressStep && ev.Done {
				mu.Lock()
				done = append(done, ref+": "+ev.Step)
				mu.Unlock()
			}
		}})
		dir := t.TempDir()
		writeFiles(t, dir, map[string]string{"Dockerfile": "FROM scratch\nCOPY app.txt /\n", "app.txt": "app"})
		images := []devfile.Image{dockerImage("app", dir)}
		results := make([]map[string]Result, 3)
		errs := make([]error, 3)
		var wg sync.WaitGroup
		for i := range results {
			wg.Go(func() { results[i], errs[i] = b.BuildAll(t.Context(), images, "app") })
		}
		synctest.Wait() // one solve waits at the gate, the other callers for it
		close(s.gate)
		wg.Wait()
		if n := len(s.names()); n != 1 {
			t.Errorf("solves for three concurrent BuildAll(app) = %d, want 1", n)
		}
		for i := range results {
			if errs[i] != nil || results[i]["app"].Digest == "" || results[i]["app"].Digest != results[0]["app"].Digest {
				t.Errorf("BuildAll(app) call %d = %+v, %v, want the one build's result", i, results[i], errs[i])
			}
		}
		if len(done) != 1 {
			t.Errorf("steps reported done = %q, want the solve's one step once", done)
		}
	})
}
