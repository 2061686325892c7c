package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// debugWatchRun runs `devloop debug watch` in-process and hands out its
// output line by line.
type debugWatchRun struct {
	t      *testing.T
	lines  chan string
	cancel context.CancelFunc
	code   chan int
}

func startDebugWatch(t *testing.T, args ...string) *debugWatchRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	r := &debugWatchRun{t: t, lines: make(chan string, 100), cancel: cancel, code: make(chan int, 1)}
	var errb strings.Builder
	go func() {
		code := Main(ctx, append([]string{"debug", "watch"}, args...), Streams{In: strings.NewReader(""), Out: pw, Err: &errb})
		pw.Close()
		r.code <- code
	}()
	go func() {
		defer close(r.lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			r.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		cancel()
		for range r.lines {
		}
	})
	return r
}

// next returns the next line with want in it, and the lines skipped.
func (r *debugWatchRun) next(want string) (string, []string) {
	r.t.Helper()
	var skipped []string
	timeout := time.After(20 * time.Second)
	for {
		select {
		case l, ok := <-r.lines:
			if !ok {
				r.t.Fatalf("output ended before a line with %q; got %q", want, skipped)
			}
			if strings.Contains(l, want) {
				return l, skipped
			}
			skipped = append(skipped, l)
		case <-timeout:
			r.t.Fatalf("no line with %q after 20s; got %q", want, skipped)
		}
	}
}

func TestDebugWatch(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"src", "node_modules/pkg", "build/out"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, content := range map[string]string{".dockerignore": "node_modules\n", ".devloopignore": "build\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// src/main.go exists before the watch starts, so that its removal is
	// one (a file created and removed within one batch is not reported).
	if err := os.WriteFile(filepath.Join(dir, "src/main.go"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)

	r := startDebugWatch(t, "--quiet", "10ms")
	if l, _ := r.next("watching"); !strings.Contains(l, "2 inotify watches") {
		t.Errorf("devloop debug watch first line = %q, want 2 inotify watches (., src)", l)
	}

	for _, p := range []string{"node_modules/pkg/index.js", "build/out/app"} {
		if err := os.WriteFile(filepath.Join(dir, p), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Remove(filepath.Join(dir, "src/main.go")); err != nil {
		t.Fatal(err)
	}
	_, before := r.next("removed  src/main.go")
	if err := os.WriteFile(filepath.Join(dir, "sentinel"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, after := r.next("changed  sentinel")
	out := strings.Join(append(before, after...), "\n")
	for _, ignored := range []string{"node_modules", "build"} {
		if strings.Contains(out, ignored) {
			t.Errorf("devloop debug watch printed %q, want nothing about %s", out, ignored)
		}
	}

	r.cancel()
	if code := <-r.code; code != 0 {
		t.Errorf("devloop debug watch exit code after cancel = %d, want 0", code)
	}
}

func TestDebugWatchBadFlags(t *testing.T) {
	code, _, errOut := runCLI(t, "debug", "watch", "--quiet", "2s", "--max-wait", "1s", t.TempDir())
	if code != 1 || !strings.Contains(errOut, "shorter than the quiet period") {
		t.Errorf("devloop debug watch --quiet 2s --max-wait 1s = %d, %q; want 1 and the max wait error", code, errOut)
	}
}

func TestNewDebugWatchConfig(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		".devloopignore":    "tmp\n",
		"api/.dockerignore": "*.log\n!keep.log\n",
		"web/.dockerignore": "dist\n",
	} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name       string
		paths      []string
		wantRoots  string
		wantGlobal string
	}{
		{name: "current directory", paths: nil, wantRoots: dir + "[]", wantGlobal: "[tmp]"},
		{name: "relative paths read their .dockerignore", paths: []string{"api", "web/"},
			wantRoots: dir + "/api[*.log !keep.log] " + dir + "/web[dist]", wantGlobal: "[tmp]"},
		{name: "a file root has no .dockerignore", paths: []string{dir + "/api/.dockerignore"},
			wantRoots: dir + "/api/.dockerignore[]", wantGlobal: "[tmp]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := newDebugWatchConfig(dir, tt.paths, time.Millisecond, time.Second)
			if err != nil {
				t.Fatal(err)
			}
			var roots []string
			for _, r := range cfg.Watch.Roots {
				roots = append(roots, fmt.Sprintf("%s%v", r.Path, r.Ignore))
			}
			if got := strings.Join(roots, " "); got != tt.wantRoots || fmt.Sprint(cfg.Watch.Ignore) != tt.wantGlobal || cfg.Watch.GlobalBase != dir {
				t.Errorf("newDebugWatchConfig(%q) = roots %s, ignore %v, base %s; want roots %s, ignore %s, base %s",
					tt.paths, got, cfg.Watch.Ignore, cfg.Watch.GlobalBase, tt.wantRoots, tt.wantGlobal, dir)
			}
		})
	}
}
