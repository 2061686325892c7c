package watch

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// The full-size benchmark (250k files) is bench/watch, run by make bench;
// these are its quick versions on a small tree.

// benchTree writes dirs directories of files files each under src, and the
// same under node_modules, which the root ignores.
func benchTree(b *testing.B, dirs, files int) Root {
	b.Helper()
	root := b.TempDir()
	for _, top := range []string{"src", "node_modules"} {
		for d := range dirs {
			for f := range files {
				p := filepath.Join(root, top, fmt.Sprintf("d%03d", d/10), fmt.Sprintf("d%03d", d), fmt.Sprintf("f%d.go", f))
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					b.Fatal(err)
				}
				if err := os.WriteFile(p, nil, 0o644); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	return Root{Path: root, Ignore: []string{"node_modules"}}
}

// BenchmarkStartup measures New → Ready on 2,000 watched files in 200
// directories beside an ignored tree of the same size.
func BenchmarkStartup(b *testing.B) {
	root := benchTree(b, 200, 10)
	var watches int
	for b.Loop() {
		w, err := New(Config{Roots: []Root{root}})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() { errc <- w.Run(ctx) }()
		select {
		case <-w.Ready():
		case err := <-errc:
			b.Fatal(err)
		}
		watches = w.Stats().Watches
		cancel()
		if err := <-errc; err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(watches), "watches")
}

// BenchmarkEditToBatch measures one file write until its batch arrives, with
// a 1 ms quiet period; the time beyond it is the watcher's own latency.
func BenchmarkEditToBatch(b *testing.B) {
	root := benchTree(b, 20, 10)
	const quiet = time.Millisecond
	w, err := New(Config{Roots: []Root{root}, Quiet: quiet})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- w.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-errc; err != nil {
			b.Error(err)
		}
	}()
	<-w.Ready()
	p := filepath.Join(root.Path, "src", "d000", "d000", "f0.go")
	for b.Loop() {
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			b.Fatal(err)
		}
		for batch := range w.Batches() {
			if slices.Contains(batch.Changed, p) {
				break
			}
		}
	}
}
