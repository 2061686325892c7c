package builder

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/devloop-dev/devloop/builder/internal/registrytest"
	"github.com/devloop-dev/devloop/internal/testkit/testenv"
	"github.com/devloop-dev/devloop/kube/localregistry"
)

// The benchmarks build a small Go service: a static HTTP server binary
// (compiled once, on the host, outside the timer) on the busybox base
// image, with a config directory and a RUN step that checks the binary
// runs. See BENCHMARKS.md, "## Builder".
const serverSource = `package main

import (
	"fmt"
	"net/http"
	"os"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-check" {
		fmt.Println("ok")
		return
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "hello") })
	http.ListenAndServe(":8080", nil)
}
`

const serviceBenchDockerfile = `FROM %s
COPY config/ /etc/svc/
COPY server /usr/local/bin/server
RUN ["/usr/local/bin/server", "-check"]
ENTRYPOINT ["/usr/local/bin/server"]
`

type benchRig struct {
	r      *rig
	base   Result
	server []byte
}

func newBenchRig(b *testing.B) *benchRig {
	b.Helper()
	host := testenv.Getenv(b, "BUILDKIT_HOST")
	gobin := testenv.LookPath(b, "go", "golang-go")
	r := &rig{host: host, reg: registrytest.Start(b), cache: b.TempDir()}
	src := b.TempDir()
	writeFilesTB(b, src, map[string]string{"go.mod": "module server\n\ngo 1.22\n", "main.go": serverSource})
	cmd := exec.Command(gobin, "build", "-trimpath", "-ldflags=-s -w", "-o", "server", ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("building the benchmark server: %v\n%s", err, out)
	}
	server, err := os.ReadFile(filepath.Join(src, "server"))
	if err != nil {
		b.Fatal(err)
	}
	// The busybox base, built FROM scratch: nothing is pulled.
	baseDir := b.TempDir()
	bb, err := os.ReadFile(testenv.LookPath(b, "busybox", "busybox-static"))
	if err != nil {
		b.Fatal(err)
	}
	writeFilesTB(b, baseDir, map[string]string{"Dockerfile": busyboxDockerfile})
	if err := os.WriteFile(filepath.Join(baseDir, "busybox"), bb, 0o755); err != nil {
		b.Fatal(err)
	}
	base, err := r.benchBuilder(b).buildOne(context.Background(), dockerImage("busybox", baseDir))
	if err != nil {
		b.Fatal(err)
	}
	return &benchRig{r: r, base: base, server: server}
}

func (r *rig) benchBuilder(b *testing.B) *Builder {
	b.Helper()
	bl, err := newBuilder(Config{
		Getenv:   func(k string) string { return map[string]string{"BUILDKIT_HOST": r.host}[k] },
		Registry: localregistry.Hosting{Host: r.reg.Host},
		CacheDir: r.cache,
	}, deps{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { bl.Close() })
	return bl
}

// service writes the service's context; a fresh salt makes every layer
// new to BuildKit's cache.
func (br *benchRig) service(b *testing.B, dir string) {
	b.Helper()
	writeFilesTB(b, dir, map[string]string{
		"Dockerfile":        fmt.Sprintf(serviceBenchDockerfile, br.base.Reference),
		"config/app.yaml":   "port: 8080\nsalt: " + rand.Text() + "\n",
		"config/extra.yaml": "debug: false\n",
	})
	br.writeServer(b, dir)
}

// writeServer writes the server binary with 26 fresh bytes appended: a
// stand-in for recompiling after a source edit (same size, new content),
// without timing the Go compiler.
func (br *benchRig) writeServer(b *testing.B, dir string) {
	b.Helper()
	data := append(append([]byte(nil), br.server...), rand.Text()...)
	if err := os.WriteFile(filepath.Join(dir, "server"), data, 0o755); err != nil {
		b.Fatal(err)
	}
}

func writeFilesTB(tb testing.TB, dir string, files map[string]string) {
	tb.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkNoOpRebuild: nothing changed since the last build, in a freshly
// started devloop (a new Builder reading the cache file): context hash plus
// one registry HEAD, no BuildKit call.
func BenchmarkNoOpRebuild(b *testing.B) {
	br := newBenchRig(b)
	dir := b.TempDir()
	br.service(b, dir)
	img := dockerImage("svc", dir)
	if _, err := br.r.benchBuilder(b).buildOne(context.Background(), img); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		bl, err := newBuilder(Config{
			Getenv:   func(k string) string { return map[string]string{"BUILDKIT_HOST": br.r.host}[k] },
			Registry: localregistry.Hosting{Host: br.r.reg.Host},
			CacheDir: br.r.cache,
		}, deps{solver: failingSolver{}})
		if err != nil {
			b.Fatal(err)
		}
		res, err := bl.buildOne(context.Background(), img)
		if err != nil || !res.Unchanged {
			b.Fatalf("no-op buildOne() = %+v, %v, want Unchanged", res, err)
		}
	}
}

// failingSolver proves the no-op benchmark never reaches BuildKit.
type failingSolver struct{ solver }

// BenchmarkOneFileRebuild: the service binary changed (one file); the base
// and config layers come from BuildKit's cache; the new binary layer is
// built, the RUN check runs, and the image is pushed.
func BenchmarkOneFileRebuild(b *testing.B) {
	br := newBenchRig(b)
	dir := b.TempDir()
	br.service(b, dir)
	bl := br.r.benchBuilder(b)
	img := dockerImage("svc", dir)
	if _, err := bl.buildOne(context.Background(), img); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	var t stepTimes
	for range b.N {
		b.StopTimer()
		br.writeServer(b, dir)
		b.StartTimer()
		res, err := bl.buildOne(context.Background(), img)
		if err != nil || res.Unchanged {
			b.Fatalf("one-file buildOne() = %+v, %v, want a rebuild", res, err)
		}
		t.add(res)
	}
	t.report(b)
}

// stepTimes sums a build's trace into the phases worth reporting.
type stepTimes struct {
	n, cached                    int
	copyBinary, run, export, all time.Duration
}

func (t *stepTimes) add(res Result) {
	t.n++
	t.cached += res.CachedSteps()
	t.all += res.Duration
	for _, s := range res.Steps {
		switch {
		case strings.Contains(s.Name, "COPY server"):
			t.copyBinary += s.Duration
		case strings.Contains(s.Name, "RUN"):
			t.run += s.Duration
		case strings.HasPrefix(s.Name, "exporting"):
			t.export += s.Duration
		}
	}
}

func (t *stepTimes) report(b *testing.B) {
	n := float64(t.n)
	b.ReportMetric(float64(t.cached)/n, "cached-steps/op")
	b.ReportMetric(float64(t.copyBinary.Milliseconds())/n, "copy-ms/op")
	b.ReportMetric(float64(t.run.Milliseconds())/n, "run-ms/op")
	b.ReportMetric(float64(t.export.Milliseconds())/n, "export+push-ms/op")
}

// BenchmarkColdBuild: every layer of the service is new to BuildKit (fresh
// config and binary content); only the base image is already in BuildKit's
// store (nothing can be pulled here).
func BenchmarkColdBuild(b *testing.B) {
	br := newBenchRig(b)
	bl := br.r.benchBuilder(b)
	b.ResetTimer()
	var t stepTimes
	for range b.N {
		b.StopTimer()
		dir := b.TempDir()
		br.service(b, dir)
		b.StartTimer()
		res, err := bl.buildOne(context.Background(), dockerImage("svc", dir))
		if err != nil {
			b.Fatal(err)
		}
		t.add(res)
	}
	t.report(b)
}
