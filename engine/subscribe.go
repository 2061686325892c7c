package engine

import (
	"context"
	"sync"
)

// subscribers hands published Views to Subscribe channels, latest-only. Its
// lock guards the set of channels, not engine state.
type subscribers struct {
	mu     sync.Mutex
	chans  map[chan View]struct{}
	closed bool
}

func newSubscribers() *subscribers {
	return &subscribers{chans: map[chan View]struct{}{}}
}

// add registers a channel primed with cur and closes it once ctx or stopped
// is done.
func (s *subscribers) add(ctx context.Context, stopped <-chan struct{}, cur *View) <-chan View {
	ch := make(chan View, 1)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		close(ch)
		return ch
	}
	ch <- *cur
	s.chans[ch] = struct{}{}
	s.mu.Unlock()
	go func() {
		select {
		case <-ctx.Done():
		case <-stopped:
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if _, ok := s.chans[ch]; ok {
			delete(s.chans, ch)
			close(ch)
		}
	}()
	return ch
}

// publish offers v to every subscriber, replacing an unread older View.
// Only publish sends, so after the drain the send cannot block.
func (s *subscribers) publish(v View) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ch := range s.chans {
		select {
		case <-ch:
		default:
		}
		ch <- v
	}
}

// closeAll closes every channel; later adds get a closed channel.
func (s *subscribers) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for ch := range s.chans {
		delete(s.chans, ch)
		close(ch)
	}
}
