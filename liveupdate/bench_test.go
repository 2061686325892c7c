package liveupdate

import (
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/devloop-dev/devloop/devfile"
)

// BenchmarkPlanAndTar measures the local half of a live update: Decide,
// the path checks and the tar stream of n changed 4 KiB source files (no
// cluster, the tar goes to io.Discard).
func BenchmarkPlanAndTar(b *testing.B) {
	for _, n := range []int{1, 100} {
		b.Run(fmt.Sprintf("files=%d", n), func(b *testing.B) {
			src := b.TempDir()
			content := strings.Repeat("x", 4<<10)
			var changed []string
			for i := range n {
				p := filepath.Join(src, "pkg", fmt.Sprintf("d%d", i%10), fmt.Sprintf("f%03d.js", i))
				write(b, p, content, 0o644)
				changed = append(changed, p)
			}
			img := &devfile.Image{LiveUpdate: []devfile.LiveUpdateStep{
				{Type: devfile.StepFallBackOn, Paths: []string{filepath.Join(src, "package.json")}},
				{Type: devfile.StepSync, Local: src, Remote: "/app"},
				{Type: devfile.StepRun, Cmd: sh("npm install"), Trigger: []string{filepath.Join(src, "package-lock.json")}},
			}}
			b.SetBytes(int64(n * len(content)))
			b.ReportAllocs()
			for b.Loop() {
				d := Decide(Input{Image: img, Running: true, Changed: changed})
				if d.Action != Update || len(d.Plan.Copy) != n {
					b.Fatalf("Decide = %v with %d copies, want an update of %d files", d.Action, len(d.Plan.Copy), n)
				}
				p, err := prepare(d.Plan)
				if err != nil {
					b.Fatal(err)
				}
				if err := writeTar(io.Discard, p.Copy); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkTrackerMassDelete: `rm -rf` of a tree of n tracked files arrives
// as one batch removing all of them (and their directories); Add must not
// compare every removed path with every tracked one.
func BenchmarkTrackerMassDelete(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 30_000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			var files, removed []string
			for i := range n {
				dir := fmt.Sprintf("/src/app/d%03d", i%100)
				files = append(files, fmt.Sprintf("%s/f%05d.txt", dir, i))
			}
			for i := range 100 {
				removed = append(removed, fmt.Sprintf("/src/app/d%03d", i))
			}
			removed = append(removed, files...)
			for b.Loop() {
				t := NewTracker()
				t.Add(files, nil)
				t.Add(nil, removed)
			}
		})
	}
}
