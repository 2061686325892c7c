package builder

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/moby/buildkit/client"

	"github.com/devloop-dev/devloop/builder/internal/registrytest"
	"github.com/devloop-dev/devloop/devfile"
	"github.com/devloop-dev/devloop/internal/testenv"
)

// countingSolver counts the solves that reach BuildKit.
type countingSolver struct {
	inner solver
	mu    sync.Mutex
	n     int
}

func (c *countingSolver) Solve(ctx context.Context, opt client.SolveOpt, ch chan *client.SolveStatus) (*client.SolveResponse, error) {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
	return c.inner.Solve(ctx, opt, ch)
}

func (c *countingSolver) calls() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// rig is a real BuildKit (BUILDKIT_HOST) and a registry of the test's own.
type rig struct {
	host    string
	reg     *registrytest.Registry
	solves  *countingSolver
	cache   string
	builder *Builder
}

func newRig(t *testing.T) *rig {
	t.Helper()
	host := testenv.Getenv(t, "BUILDKIT_HOST")
	r := &rig{host: host, reg: registrytest.Start(t), cache: t.TempDir()}
	r.builder = r.newBuilder(t, Config{})
	return r
}

// newBuilder returns a Builder on the rig, as a fresh devloop process
// would make it (same cache directory); cfg's zero fields are filled in.
func (r *rig) newBuilder(t *testing.T, cfg Config) *Builder {
	t.Helper()
	cfg.Getenv = func(k string) string {
		if k == "BUILDKIT_HOST" {
			return r.host
		}
		return ""
	}
	if cfg.Registry.Host == "" {
		cfg.Registry = Registry{Host: r.reg.Host}
	}
	if cfg.CacheDir == "" {
		cfg.CacheDir = r.cache
	}
	r.solves = &countingSolver{}
	b, err := newBuilder(cfg, deps{wrap: func(s solver) solver { r.solves.inner = s; return r.solves }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// busybox puts Debian's static busybox in dir, for a base image built FROM
// scratch: nothing is pulled.
func busybox(t *testing.T, dir string) {
	t.Helper()
	src := testenv.LookPath(t, "busybox", "busybox-static")
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "busybox"), data, 0o755); err != nil {
		t.Fatal(err)
	}
}

const busyboxDockerfile = `FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
`

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func dockerImage(ref, dir string) devfile.Image {
	return devfile.Image{Ref: ref, Kind: devfile.ImageDocker, Context: dir, Dockerfile: filepath.Join(dir, "Dockerfile")}
}

func repoPath(r *rig, res Result) string {
	return strings.TrimPrefix(strings.SplitN(res.Reference, "@", 2)[0], r.reg.Host+"/")
}

func TestBuildPushesByDigest(t *testing.T) {
	r := newRig(t)
	dir := t.TempDir()
	busybox(t, dir)
	writeFiles(t, dir, map[string]string{"Dockerfile": busyboxDockerfile})
	var mu sync.Mutex
	var events []Progress
	b := r.newBuilder(t, Config{OnProgress: func(ref string, ev Progress) {
		mu.Lock()
		events = append(events, ev)
		mu.Unlock()
	}})
	res, err := b.Build(context.Background(), dockerImage("busybox", dir))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", res)
	m := r.reg.Manifest(t, repoPath(r, res), res.Digest)
	if m.Digest != res.Digest {
		t.Errorf("registry digest = %s, want %s", m.Digest, res.Digest)
	}
	tagged := r.reg.Manifest(t, "busybox", Tag(res.InputHash))
	if tagged.Digest != res.Digest {
		t.Errorf("tag %s digest = %s, want %s", Tag(res.InputHash), tagged.Digest, res.Digest)
	}
	for _, e := range events {
		t.Logf("%+v", e)
	}
}
