package engine

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/devloop-dev/devloop/devfile"
	"github.com/devloop-dev/devloop/proc"
	"github.com/devloop-dev/devloop/watch"
)

// startRunner signals each start; its processes exit at once.
type startRunner struct{ started chan string }

func (r startRunner) Start(spec proc.Spec) (Process, error) {
	p := &fakeProc{r: &fakeRunner{}, done: make(chan struct{})}
	close(p.done)
	r.started <- spec.Argv[0]
	return p, nil
}

// BenchmarkBatchToStart measures the engine's own share of the inner loop:
// from a batch arriving to the changed resource's cmd starting, with 100
// local resources (the loop maps paths, schedules, publishes a View).
func BenchmarkBatchToStart(b *testing.B) {
	const n = 100
	var rs []devfile.Resource
	for i := range n {
		rs = append(rs, local(fmt.Sprintf("r%d", i), fmt.Sprintf("cmd%d", i), "", fmt.Sprintf("r%d", i)))
	}
	run := startRunner{started: make(chan string, n)}
	w := &fakeWatcher{in: make(chan watch.Batch)}
	e, err := New(Config{Model: model(rs...), Watcher: w, Runner: run, Checker: &fakeChecker{ready: map[string]bool{}}})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	for range n {
		<-run.started
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		k := i % n
		now := time.Now()
		w.in <- watch.Batch{Changed: []string{fmt.Sprintf("%s/r%d/main.go", proj, k)}, First: now, Last: now, Emitted: now}
		if got := <-run.started; got != fmt.Sprintf("cmd%d", k) {
			b.Fatalf("started %s, want cmd%d", got, k)
		}
	}
	b.StopTimer()
	cancel()
	<-done
}
