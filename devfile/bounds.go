package devfile

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
	"time"

	"go.starlark.net/starlark"
)

// DefaultMaxSteps is the evaluation bound when Options.MaxSteps is 0. Real
// Devfiles (hundreds of lines, YAML loops over a few hundred objects) take
// well under a million steps; 100 million is about ten seconds of CPU, enough
// headroom for generated configuration while an accidental infinite loop still
// fails fast enough for a user to notice.
const DefaultMaxSteps = 100_000_000

// DefaultMaxMemory is the memory bound when Options.MaxMemory is 0: how far
// the heap may grow while a Devfile evaluates. Real Devfiles, big rendered
// charts included, stay under a hundred MiB; a loop that doubles a list
// reaches 1 GiB in about thirty steps, far below the step bound, and would
// otherwise take the machine's memory and devloop with it.
const DefaultMaxMemory = 1 << 30

// memoryPoll is how often the heap is read while a Devfile evaluates.
// Reading it costs about a microsecond; between two reads an evaluation
// allocates at most a few tens of MiB, and one Starlark step at most 1 GiB
// (the interpreter's own cap on one repetition), so the heap stays within
// about twice the bound.
const memoryPoll = 5 * time.Millisecond

// heapMetric is the bytes of heap objects, live or not yet swept.
const heapMetric = "/memory/classes/heap/objects:bytes"

// bounds are what stops one evaluation thread: ctx, the step bound and the
// memory bound.
type bounds struct {
	steps, memory uint64
	// overMemory is set when the memory bound cancelled the thread.
	overMemory atomic.Bool
	done       chan struct{}
}

// bound applies opts' bounds and ctx to thread until stop is called.
func bound(ctx context.Context, thread *starlark.Thread, opts Options) *bounds {
	b := &bounds{steps: opts.MaxSteps, memory: opts.MaxMemory, done: make(chan struct{})}
	if b.steps == 0 {
		b.steps = DefaultMaxSteps
	}
	if b.memory == 0 {
		b.memory = DefaultMaxMemory
	}
	thread.SetMaxExecutionSteps(b.steps)
	sample := []metrics.Sample{{Name: heapMetric}}
	heap := func() uint64 {
		metrics.Read(sample)
		return sample[0].Value.Uint64()
	}
	base := heap()
	go func() {
		tick := time.NewTicker(memoryPoll)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				thread.Cancel(ctx.Err().Error())
				return
			case <-b.done:
				return
			case <-tick.C:
				if h := heap(); h > base && h-base > b.memory {
					b.overMemory.Store(true)
					thread.Cancel("memory bound")
					return
				}
			}
		}
	}()
	return b
}

// stop ends the watch. After an evaluation the memory bound stopped, it
// gives the garbage back to the system, so that a running devloop up is
// as small as before the bad edit.
func (b *bounds) stop() {
	close(b.done)
	if b.overMemory.Load() {
		runtime.GC()
		debug.FreeOSMemory()
	}
}

// reason says which bound stopped thread, or "" if none did.
func (b *bounds) reason(thread *starlark.Thread) string {
	switch {
	case b.overMemory.Load():
		return fmt.Sprintf("evaluation used more than %d MiB of memory: look for a loop that grows a list, dict or string without end", b.memory>>20)
	case thread.ExecutionSteps() >= b.steps:
		return fmt.Sprintf("evaluation exceeded the limit of %d Starlark execution steps: look for an infinite loop or recursion", b.steps)
	}
	return ""
}
