package builder

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
)

// shared is a step that runs one build for all concurrent callers of the
// same plan: an image that several resources deploy changes for all of
// them at once, and each asks for it. A caller that arrives while the
// build runs waits for it and gets its result; BuildKit solves once, and
// its progress is reported once (for the image's ref, which every
// resource using the image shows).
//
// The build runs for as long as one caller still waits: it is cancelled
// when the last one gives up, and not before.
type shared struct {
	inner step
	log   *slog.Logger

	// onJoin, when set, is called when a caller joins a running build
	// (tests wait on it).
	onJoin func(image string)

	mu      sync.Mutex
	flights map[string]*flight // by flightKey
}

// flight is one build that callers share.
type flight struct {
	done chan struct{} // closed once res and err are set
	res  Result
	err  error

	waiters int                // callers still waiting; guarded by shared.mu
	cancel  context.CancelFunc // cancels the build
}

func newShared(inner step, log *slog.Logger) *shared {
	return &shared{inner: inner, log: log, flights: map[string]*flight{}}
}

// flightKey is what makes two plans the same build: the image they
// produce and the hash of every input.
func flightKey(p *plan) string { return p.image + "\x00" + p.hash }

func (s *shared) build(ctx context.Context, p *plan) (Result, error) {
	key := flightKey(p)
	s.mu.Lock()
	f := s.flights[key]
	if f == nil {
		// The build is no single caller's: it must outlive the one that
		// started it while others wait.
		bctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		f = &flight{done: make(chan struct{}), cancel: cancel}
		s.flights[key] = f
		go s.run(bctx, key, f, p)
	}
	joined := f.waiters > 0
	f.waiters++
	s.mu.Unlock()
	if joined {
		s.log.Debug("joining a build of the same inputs already running", "image", p.image)
		if s.onJoin != nil {
			s.onJoin(p.image)
		}
	}

	select {
	case <-f.done:
		return f.res, f.err
	case <-ctx.Done():
		s.leave(key, f)
		return Result{}, fmt.Errorf("image %s: %w", p.img.Ref, ctx.Err())
	}
}

// run builds p for f's callers; it ends when the inner step returns.
func (s *shared) run(ctx context.Context, key string, f *flight, p *plan) {
	defer f.cancel()
	res, err := s.inner.build(ctx, p)
	s.mu.Lock()
	f.res, f.err = res, err
	s.forget(key, f)
	s.mu.Unlock()
	close(f.done)
}

// leave drops a caller that gave up, and cancels the build when it was the last.
func (s *shared) leave(key string, f *flight) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f.waiters--
	if f.waiters == 0 {
		f.cancel()
		// A caller that comes next starts afresh rather than joining a
		// build that is being cancelled.
		s.forget(key, f)
	}
}

// forget removes f from the flights, unless a newer flight took its key.
// s.mu must be held.
func (s *shared) forget(key string, f *flight) {
	if s.flights[key] == f {
		delete(s.flights, key)
	}
}
