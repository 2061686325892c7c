package watch

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// startBatcher runs a batcher inside the current synctest bubble.
func startBatcher(t *testing.T, quiet, maxWait time.Duration) (chan<- []change, <-chan Batch, *atomic.Uint64) {
	t.Helper()
	in := make(chan []change)
	out := make(chan Batch)
	var n atomic.Uint64
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		(&batcher{quiet: quiet, maxWait: maxWait, emitted: &n}).run(ctx, in, out)
	}()
	t.Cleanup(func() { cancel(); <-done })
	return in, out, &n
}

// tryRecv returns the batch out holds once every goroutine of the bubble is
// blocked, if any.
func tryRecv(out <-chan Batch) (Batch, bool) {
	synctest.Wait()
	select {
	case b := <-out:
		return b, true
	default:
		return Batch{}, false
	}
}

func changed(paths ...string) []change {
	cs := make([]change, len(paths))
	for i, p := range paths {
		cs[i] = change{Path: p, At: time.Now()}
	}
	return cs
}

func TestBatcherQuietPeriod(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		in, out, _ := startBatcher(t, 50*time.Millisecond, time.Second)
		start := time.Now()
		in <- changed("/r/b", "/r/a")
		time.Sleep(30 * time.Millisecond)
		in <- changed("/r/a", "/r/c") // resets the quiet period
		time.Sleep(49 * time.Millisecond)
		if b, ok := tryRecv(out); ok {
			t.Fatalf("batch %v emitted 79 ms after the first change, want none before 80 ms", b.Changed)
		}
		time.Sleep(time.Millisecond)
		b, ok := tryRecv(out)
		if !ok {
			t.Fatalf("no batch 50 ms after the last change")
		}
		if want := []string{"/r/a", "/r/b", "/r/c"}; !slices.Equal(b.Changed, want) {
			t.Errorf("batch.Changed = %v, want %v", b.Changed, want)
		}
		if got, want := b.First.Sub(start), time.Duration(0); got != want {
			t.Errorf("batch.First = start+%v, want start+%v", got, want)
		}
		if got, want := b.Last.Sub(start), 30*time.Millisecond; got != want {
			t.Errorf("batch.Last = start+%v, want start+%v", got, want)
		}
		if got, want := b.Emitted.Sub(b.Last), 50*time.Millisecond; got != want {
			t.Errorf("batch.Emitted - batch.Last = %v, want %v", got, want)
		}
	})
}

func TestBatcherMaxWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		in, out, n := startBatcher(t, 50*time.Millisecond, 200*time.Millisecond)
		start := time.Now()
		var batches []Batch
		// A change every 20 ms for a second never leaves 50 ms of quiet.
		for i := range 50 {
			in <- changed("/r/f")
			if i == 0 {
				in <- changed("/r/first")
			}
			time.Sleep(20 * time.Millisecond)
			if b, ok := tryRecv(out); ok {
				batches = append(batches, b)
			}
		}
		if len(batches) != 5 {
			t.Fatalf("a steady 1 s stream with max wait 200 ms gave %d batches, want 5", len(batches))
		}
		if got, want := batches[0].Emitted.Sub(start), 200*time.Millisecond; got != want {
			t.Errorf("first batch emitted at start+%v, want start+%v (the max wait)", got, want)
		}
		if want := []string{"/r/f", "/r/first"}; !slices.Equal(batches[0].Changed, want) {
			t.Errorf("first batch.Changed = %v, want %v", batches[0].Changed, want)
		}
		synctest.Wait()
		if got := n.Load(); got != 5 {
			t.Errorf("emitted counter = %d, want 5", got)
		}
	})
}

func TestBatcherCollapse(t *testing.T) {
	tests := []struct {
		name                  string
		changes               []change
		wantChanged, wantGone []string
		wantOverflow          bool
	}{
		{
			name:        "duplicates collapse",
			changes:     []change{{Path: "/r/a"}, {Path: "/r/a"}, {Path: "/r/b"}, {Path: "/r/a"}},
			wantChanged: []string{"/r/a", "/r/b"},
		},
		{
			name:     "changed then removed is removed",
			changes:  []change{{Path: "/r/a"}, {Path: "/r/a", Removed: true}},
			wantGone: []string{"/r/a"},
		},
		{
			name:        "created then removed in one batch is nothing (sed -i's temporary file)",
			changes:     []change{{Path: "/r/a.tmp", Created: true}, {Path: "/r/a.tmp"}, {Path: "/r/a.tmp", Removed: true}, {Path: "/r/a", Created: true}},
			wantChanged: []string{"/r/a"},
		},
		{
			name:     "removed, created and removed again is removed",
			changes:  []change{{Path: "/r/a", Removed: true}, {Path: "/r/a", Created: true}, {Path: "/r/a", Removed: true}},
			wantGone: []string{"/r/a"},
		},
		{
			name:        "removed then created is changed",
			changes:     []change{{Path: "/r/a", Removed: true}, {Path: "/r/a"}},
			wantChanged: []string{"/r/a"},
		},
		{
			name: "a removed directory covers what was below it",
			changes: []change{
				{Path: "/r/d/x", Removed: true}, {Path: "/r/d/sub/y"}, {Path: "/r/d/sub", Removed: true, Dir: true},
				{Path: "/r/d", Removed: true, Dir: true}, {Path: "/r/dd"},
			},
			wantChanged: []string{"/r/dd"},
			wantGone:    []string{"/r/d"},
		},
		{
			name: "a directory recreated after its removal keeps its new content",
			changes: []change{
				{Path: "/r/d/x"}, {Path: "/r/d", Removed: true, Dir: true}, {Path: "/r/d"}, {Path: "/r/d/y"},
			},
			wantChanged: []string{"/r/d", "/r/d/y"},
		},
		{
			name:         "overflow marks the batch",
			changes:      []change{{Path: "/r/a"}, {Overflow: true}},
			wantChanged:  []string{"/r/a"},
			wantOverflow: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				in, out, _ := startBatcher(t, 50*time.Millisecond, time.Second)
				in <- tt.changes
				time.Sleep(50 * time.Millisecond)
				b, ok := tryRecv(out)
				if !ok {
					t.Fatalf("no batch after the quiet period")
				}
				if !slices.Equal(b.Changed, tt.wantChanged) || !slices.Equal(b.Removed, tt.wantGone) || b.Overflow != tt.wantOverflow {
					t.Errorf("batch of %v = changed %v removed %v overflow %v, want changed %v removed %v overflow %v",
						tt.changes, b.Changed, b.Removed, b.Overflow, tt.wantChanged, tt.wantGone, tt.wantOverflow)
				}
			})
		})
	}
}

// TestBatcherSlowConsumer checks that a batch the consumer has not taken is
// frozen, and that everything after it is merged into one next batch.
func TestBatcherSlowConsumer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		in, out, _ := startBatcher(t, 50*time.Millisecond, 200*time.Millisecond)
		in <- changed("/r/1")
		time.Sleep(100 * time.Millisecond) // batch 1 is due; nobody takes it
		in <- changed("/r/2")
		time.Sleep(100 * time.Millisecond) // batch 2 is due too
		in <- changed("/r/3")
		time.Sleep(time.Second) // batch 2 keeps growing while batch 1 waits
		in <- changed("/r/4")
		synctest.Wait()

		first, ok := tryRecv(out)
		if !ok || !slices.Equal(first.Changed, []string{"/r/1"}) {
			t.Fatalf("first batch = %v (received %v), want [/r/1]", first.Changed, ok)
		}
		second, ok := tryRecv(out)
		if want := []string{"/r/2", "/r/3", "/r/4"}; !ok || !slices.Equal(second.Changed, want) {
			t.Fatalf("second batch = %v (received %v), want %v", second.Changed, ok, want)
		}
		time.Sleep(time.Second)
		if b, ok := tryRecv(out); ok {
			t.Errorf("third batch %v, want none", b.Changed)
		}
	})
}

func TestBatcherStopsOnCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		in := make(chan []change)
		out := make(chan Batch)
		done := make(chan struct{})
		go func() {
			defer close(done)
			(&batcher{quiet: time.Millisecond, maxWait: time.Second, emitted: new(atomic.Uint64)}).run(ctx, in, out)
		}()
		in <- changed("/r/a")
		time.Sleep(time.Second) // the batch is due, nobody reads it
		cancel()
		synctest.Wait()
		select {
		case <-done:
		default:
			t.Fatal("batcher.run still running after its context was cancelled with a batch pending")
		}
	})
}

// TestBatcherDropsEmptyBatch: a batch whose paths all came and went is not
// sent; the next change makes a batch of its own.
func TestBatcherDropsEmptyBatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		in, out, n := startBatcher(t, 50*time.Millisecond, time.Second)
		in <- []change{{Path: "/r/x.tmp", Created: true, At: time.Now()}, {Path: "/r/x.tmp", Removed: true, At: time.Now()}}
		time.Sleep(time.Second)
		if b, ok := tryRecv(out); ok {
			t.Fatalf("batch %+v sent for a file that came and went, want none", b)
		}
		in <- changed("/r/a")
		time.Sleep(50 * time.Millisecond)
		b, ok := tryRecv(out)
		if !ok || !slices.Equal(b.Changed, []string{"/r/a"}) {
			t.Fatalf("next batch = %+v, %v; want /r/a changed", b, ok)
		}
		synctest.Wait()
		if got := n.Load(); got != 1 {
			t.Errorf("batches emitted = %d, want 1", got)
		}
	})
}
