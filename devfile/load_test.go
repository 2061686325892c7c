package devfile

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
)

// writeDevfile writes src as dir/Devfile (plus any extra files) and returns its path.
func writeDevfile(t *testing.T, src string, extra map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range extra {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := filepath.Join(dir, "Devfile")
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadCancelled(t *testing.T) {
	// The Devfile loops until cancelled; the context is cancelled from
	// print(), i.e. once evaluation is known to be running.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	path := writeDevfile(t, "print('started')\nwhile True:\n    pass\n", nil)
	w := &cancelOnWrite{cancel: cancel}
	_, err := Load(ctx, path, Options{Stdout: w, MaxSteps: 1 << 62})
	if err == nil {
		t.Fatalf("Load(cancelled) = nil error, want a cancellation error")
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Load(cancelled) = %v, want an error wrapping context.Canceled", err)
	}
	var de *Error
	if !errors.As(err, &de) || de.Pos.Line == 0 || !strings.Contains(err.Error(), "evaluation cancelled") {
		t.Errorf("Load(cancelled) = %v, want *Error at a Devfile line saying evaluation cancelled", err)
	}
}

// cancelOnWrite cancels a context on the first write.
type cancelOnWrite struct{ cancel context.CancelFunc }

func (c *cancelOnWrite) Write(p []byte) (int, error) {
	c.cancel()
	return len(p), nil
}

func TestLoadAlreadyCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	path := writeDevfile(t, "local_resource('a', cmd='true')\n", nil)
	if _, err := Load(ctx, path, Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Load(cancelled ctx) = %v, want context.Canceled", err)
	}
}

func TestLoadStepBound(t *testing.T) {
	tests := []struct {
		name string
		src  string
	}{
		{"while", "x = 0\nwhile True:\n    x += 1\n"},
		{"recursion", "def f(n):\n    return f(n + 1)\nf(0)\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeDevfile(t, tt.src, nil)
			_, err := Load(context.Background(), path, Options{MaxSteps: 10000})
			if err == nil || !strings.Contains(err.Error(), "limit of 10000 Starlark execution steps") {
				t.Fatalf("Load(%q) = %v, want an error naming the step limit", tt.src, err)
			}
			if !strings.HasPrefix(err.Error(), path+":") {
				t.Errorf("Load(%q) = %v, want it to start with %s:LINE:COL", tt.src, err, path)
			}
		})
	}
}

// TestLoadMemoryBound: a Devfile whose values grow without end (each step
// doubles a list, so the step bound never fires) stops at the memory bound
// with PATH:LINE:COL, the heap is given back, and a good Devfile loads after.
func TestLoadMemoryBound(t *testing.T) {
	tests := []struct {
		name, src string
		line      int32
	}{
		{"list doubling", "l = [0]\nfor i in range(100):\n    l = l + l\n", 3},
		// The loop notices the bound between two instructions; which line
		// holds it then varies (0: any).
		{"dict growth", "d = {}\ni = 0\nwhile True:\n    d[i] = 'x' * 1000\n    i += 1\n", 0},
		{"in workload_to_resource_function", "def name(w):\n    l = [0]\n    for i in range(100):\n        l = l + l\n    return 'x'\nworkload_to_resource_function(name)\nk8s_yaml(blob('apiVersion: v1\\nkind: Pod\\nmetadata: {name: p}\\nspec: {containers: [{name: c, image: busybox}]}\\n'))\n", 6},
	}
	const limit = 64 << 20
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeDevfile(t, tt.src, nil)
			_, err := Load(context.Background(), path, Options{MaxMemory: limit})
			var de *Error
			if !errors.As(err, &de) || !strings.Contains(err.Error(), "evaluation used more than 64 MiB of memory") {
				t.Fatalf("Load(%q) = %v, want an *Error naming the memory bound", tt.name, err)
			}
			if !strings.HasPrefix(err.Error(), path+":") || de.Pos.Line == 0 || tt.line != 0 && de.Pos.Line != tt.line {
				t.Errorf("Load(%q) = %v (line %d), want it to start with %s:%d:COL", tt.name, err, de.Pos.Line, path, tt.line)
			}
		})
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if ms.HeapInuse > 16*limit {
		t.Errorf("heap in use after the bounded loads = %d MiB, want it given back (under %d MiB)", ms.HeapInuse>>20, 16*limit>>20)
	}
	good := writeDevfile(t, "local_resource('a', cmd='true')\n", nil)
	if _, err := Load(context.Background(), good, Options{MaxMemory: limit}); err != nil {
		t.Errorf("Load(good Devfile) after the bounded ones = %v", err)
	}
}

func TestLoadMissingFile(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, path, want string
	}{
		{"missing", filepath.Join(dir, "Devfile"), "no such file: create a Devfile there or pass -f PATH"},
		{"directory", dir, "is a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Load(context.Background(), tt.path, Options{}); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Load(%s) = %v, want an error containing %q", tt.path, err, tt.want)
			}
		})
	}
}

func TestLoadDependencies(t *testing.T) {
	path := writeDevfile(t, `
load("lib/a.star", "x")
read_file("data.txt")
read_yaml("missing.yaml", default={})
watch_file("watched")
listdir("dir")
`, map[string]string{
		"lib/a.star":  "x = read_json('../conf.json')\n",
		"conf.json":   "{}",
		"data.txt":    "hi",
		"dir/one.txt": "1",
	})
	m, err := Load(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(path)
	var want []string
	for _, p := range []string{"Devfile", "conf.json", "data.txt", "dir", "lib/a.star", "missing.yaml", "watched"} {
		want = append(want, filepath.Join(dir, p))
	}
	if strings.Join(m.Dependencies, "\n") != strings.Join(want, "\n") {
		t.Errorf("Load().Dependencies = %q, want %q", m.Dependencies, want)
	}
}

func TestLoadTiltfile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "Tiltfile")
	if err := os.WriteFile(path, []byte("local_resource('a', cmd='true')\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := Load(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Path != path || len(m.Resources) != 1 || m.Resources[0].Name != "a" {
		t.Errorf("Load(Tiltfile) = path %s, resources %v; want %s and one resource a", m.Path, m.Resources, path)
	}
}

func TestLoadEnvIsolated(t *testing.T) {
	path := writeDevfile(t, `
os.putenv("DEVLOOP_TEST_PUT", "1")
os.environ["DEVLOOP_TEST_SET"] = "2"
out = str(local("echo $DEVLOOP_TEST_PUT$DEVLOOP_TEST_SET$FROM_OPTS", quiet=True, echo_off=True)).strip()
if out != "12x":
    fail("local saw " + out)
`, nil)
	m, err := Load(context.Background(), path, Options{Environ: []string{"FROM_OPTS=x", "PATH=" + os.Getenv("PATH")}})
	if err != nil {
		t.Fatal(err)
	}
	if m.Env["DEVLOOP_TEST_PUT"] != "1" || m.Env["DEVLOOP_TEST_SET"] != "2" {
		t.Errorf("Load().Env = %v, want DEVLOOP_TEST_PUT=1 and DEVLOOP_TEST_SET=2", m.Env)
	}
	if v, ok := os.LookupEnv("DEVLOOP_TEST_PUT"); ok {
		t.Errorf("os.putenv changed the process environment: DEVLOOP_TEST_PUT=%q", v)
	}
}

func TestLoadCancelKillsLocal(t *testing.T) {
	// The command signals through a FIFO that it is running, then sleeps;
	// cancelling must kill it and end Load promptly.
	dir := t.TempDir()
	fifo := filepath.Join(dir, "started")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	path := writeDevfile(t, "local('echo started > "+fifo+"; exec sleep 600', quiet=True, echo_off=True)\n", nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		f, err := os.Open(fifo) // blocks until the command opens it for writing
		if err == nil {
			io.ReadAll(f)
			f.Close()
		}
		cancel()
	}()
	_, err := Load(ctx, path, Options{Environ: []string{"PATH=/usr/local/bin:/usr/bin:/bin"}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Load(local sleep, cancelled) = %v, want context.Canceled", err)
	}
	if !strings.HasPrefix(err.Error(), path+":1:6: ") {
		t.Errorf("Load(local sleep, cancelled) = %q, want it at %s:1:6", err, path)
	}
}
