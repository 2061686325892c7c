package builder

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/devloop-dev/devloop/devfile"
)

// BenchmarkContextHash measures what every build pays before deciding
// whether BuildKit must run: walking and hashing a filtered context of
// 5,000 files of 4 KiB (20 MiB) in 100 directories, plus 5,000 files that
// .dockerignore excludes (node_modules), from the page cache: "cold" reads
// every file (a fresh devloop), "warm" reuses the digests of files whose
// size and modification time did not change (every later build).
func BenchmarkContextHash(b *testing.B) {
	for _, tt := range []struct {
		name string
		sums *sumCache
	}{{"cold", nil}, {"warm", newSumCache()}} {
		b.Run(tt.name, func(b *testing.B) { benchmarkContextHash(b, tt.sums) })
	}
}

func benchmarkContextHash(b *testing.B, sums *sumCache) {
	dir := b.TempDir()
	chunk := make([]byte, 4<<10)
	for i := range chunk {
		chunk[i] = byte(i)
	}
	for d := range 100 {
		for _, top := range []string{"src", "node_modules"} {
			sub := filepath.Join(dir, top, fmt.Sprintf("d%03d", d))
			if err := os.MkdirAll(sub, 0o755); err != nil {
				b.Fatal(err)
			}
			for f := range 50 {
				if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("f%02d.txt", f)), chunk, 0o644); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	writeFilesTB(b, dir, map[string]string{".dockerignore": "node_modules\n", "Dockerfile": "FROM scratch\n"})
	bc, err := newBuildContext(devfile.Image{Ref: "big", Context: dir})
	if err != nil {
		b.Fatal(err)
	}
	bc.sums = sums
	// Files just written are within the racy window: date them back, as a
	// source tree's files are.
	old := time.Now().Add(-time.Hour)
	if err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Chtimes(p, old, old)
	}); err != nil {
		b.Fatal(err)
	}
	if err := bc.hash(context.Background(), sha256.New()); err != nil { // fills a warm cache
		b.Fatal(err)
	}
	b.SetBytes(5000 * 4 << 10)
	b.ResetTimer()
	for range b.N {
		if err := bc.hash(context.Background(), sha256.New()); err != nil {
			b.Fatal(err)
		}
	}
}
