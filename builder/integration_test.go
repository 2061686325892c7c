package builder

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/moby/buildkit/client"

	"github.com/devloop-dev/devloop/builder/internal/registrytest"
	"github.com/devloop-dev/devloop/devfile"
	"github.com/devloop-dev/devloop/internal/testkit/testenv"
	"github.com/devloop-dev/devloop/kube/localregistry"
)

// countingSolver counts the solves that reach BuildKit.
type countingSolver struct {
	inner solver
	// started and gate, when set, announce each solve and hold it until
	// gate is closed.
	started chan<- struct{}
	gate    <-chan struct{}

	mu sync.Mutex
	n  int
}

func (c *countingSolver) Solve(ctx context.Context, opt client.SolveOpt, ch chan *client.SolveStatus) (*client.SolveResponse, error) {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
	if c.started != nil {
		c.started <- struct{}{}
		select {
		case <-c.gate:
		case <-ctx.Done():
			close(ch)
			return nil, ctx.Err()
		}
	}
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
		cfg.Registry = localregistry.Hosting{Host: r.reg.Host}
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

// nonce returns fresh random text: BuildKit's cache outlives a test run,
// so content that must be new to it has to be unique.
func nonce(t *testing.T) string {
	t.Helper()
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

// baseImage builds the busybox base image into the rig's registry.
func baseImage(t *testing.T, r *rig) Result {
	t.Helper()
	dir := t.TempDir()
	busybox(t, dir)
	writeFiles(t, dir, map[string]string{"Dockerfile": busyboxDockerfile})
	res, err := r.newBuilder(t, Config{}).buildOne(context.Background(), dockerImage("busybox", dir))
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestBuildPushesByDigest(t *testing.T) {
	r := newRig(t)
	dir := t.TempDir()
	busybox(t, dir)
	writeFiles(t, dir, map[string]string{"Dockerfile": busyboxDockerfile, "ignored.txt": "x", ".dockerignore": "ignored.txt\n"})
	var mu sync.Mutex
	var events []Progress
	b := r.newBuilder(t, Config{OnProgress: func(ref string, ev Progress) {
		mu.Lock()
		events = append(events, ev)
		mu.Unlock()
	}})
	res, err := b.buildOne(context.Background(), dockerImage("tools/busybox", dir))
	if err != nil {
		t.Fatal(err)
	}
	if want := r.reg.Host + "/tools_busybox:" + contentTag(res.InputHash); res.Image != want {
		t.Errorf("buildOne().Image = %s, want %s", res.Image, want)
	}
	m := r.reg.Manifest(t, "tools_busybox", res.Digest)
	if m.Digest != res.Digest {
		t.Errorf("registry digest of %s = %s, want %s", res.Reference, m.Digest, res.Digest)
	}
	if tagged := r.reg.Manifest(t, "tools_busybox", contentTag(res.InputHash)); tagged.Digest != res.Digest {
		t.Errorf("registry digest of tag %s = %s, want %s", contentTag(res.InputHash), tagged.Digest, res.Digest)
	}
	if !strings.Contains(m.MediaType, "manifest") && !strings.Contains(m.MediaType, "index") {
		t.Errorf("manifest media type = %q, want an image manifest or index", m.MediaType)
	}
	var sawRun, sawDone bool
	for _, e := range events {
		if e.Kind == ProgressStep && strings.Contains(e.Step, "RUN") {
			sawRun = true
			sawDone = sawDone || e.Done
		}
	}
	if !sawRun || !sawDone {
		t.Errorf("progress events %v: want the RUN step started and done", events)
	}
	if len(res.Steps) == 0 || res.Unchanged {
		t.Errorf("buildOne() = %+v, want a fresh build with a timing trace", res)
	}
}

// stepCache maps step names containing each marker to whether BuildKit
// answered them from its cache.
func stepCache(t *testing.T, res Result, markers ...string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, m := range markers {
		found := false
		for _, s := range res.Steps {
			if strings.Contains(s.Name, m) {
				out[m], found = s.Cached, true
			}
		}
		if !found {
			t.Fatalf("no step contains %q in %+v", m, res.Steps)
		}
	}
	return out
}

const serviceDockerfile = `FROM %s
WORKDIR /src
COPY go.mod ./
RUN wc -c go.mod > /deps.txt
COPY main.go ./
RUN wc -c main.go > /size.txt
`

func TestOneFileChangeReusesLayers(t *testing.T) {
	r := newRig(t)
	base := baseImage(t, r)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"Dockerfile": fmt.Sprintf(serviceDockerfile, base.Reference),
		"go.mod":     "module svc\n",
		"main.go":    "package main // " + nonce(t) + "\n",
	})
	img := dockerImage("svc", dir)
	first, err := r.builder.buildOne(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	writeFiles(t, dir, map[string]string{"main.go": "package main // " + nonce(t) + "\n\nfunc main() {}\n"})
	before := r.solves.calls()
	second, err := r.builder.buildOne(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.solves.calls() - before; got != 1 {
		t.Errorf("BuildKit solves for a one-file change = %d, want 1", got)
	}
	if second.Digest == first.Digest || second.Unchanged {
		t.Errorf("rebuild = %+v, want a new image", second)
	}
	got := stepCache(t, second, "COPY go.mod", "RUN wc -c go.mod", "COPY main.go", "RUN wc -c main.go")
	want := map[string]bool{"COPY go.mod": true, "RUN wc -c go.mod": true, "COPY main.go": false, "RUN wc -c main.go": false}
	if !maps.Equal(got, want) {
		t.Errorf("cached steps after changing main.go = %v, want %v (all steps: %+v)", got, want, second.Steps)
	}
}

func TestUnchangedInputsMakeNoBuildKitCall(t *testing.T) {
	r := newRig(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"Dockerfile": "FROM scratch\nCOPY a.txt /\n", "a.txt": "a", "notes.md": "n", ".dockerignore": "*.md\n"})
	img := dockerImage("app", dir)
	first, err := r.builder.buildOne(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name       string
		change     func(t *testing.T)
		wantSolves int
	}{
		{name: "same process", change: func(t *testing.T) {}},
		{name: "ignored file edited", change: func(t *testing.T) { writeFiles(t, dir, map[string]string{"notes.md": "edited"}) }},
		{name: "image deleted from the registry", change: func(t *testing.T) { r.reg.Delete(t, "app", first.Digest) }, wantSolves: 1},
		{name: "after a rebuild", change: func(t *testing.T) {}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.change(t)
			// A new Builder on the same cache directory is a restarted devloop.
			b := r.newBuilder(t, Config{})
			res, err := b.buildOne(context.Background(), img)
			if err != nil {
				t.Fatal(err)
			}
			if got := r.solves.calls(); got != tt.wantSolves {
				t.Errorf("BuildKit solves = %d, want %d", got, tt.wantSolves)
			}
			if res.Unchanged != (tt.wantSolves == 0) || res.Image != first.Image {
				t.Errorf("buildOne() = %+v, want Unchanged %v and image %s", res, tt.wantSolves == 0, first.Image)
			}
			if !r.reg.Has(t, "app", res.Digest) {
				t.Errorf("registry lacks %s", res.Reference)
			}
		})
	}
}

func TestBaseImageChangeRebuildsDependentOnce(t *testing.T) {
	r := newRig(t)
	baseDir, appDir := t.TempDir(), t.TempDir()
	busybox(t, baseDir)
	writeFiles(t, baseDir, map[string]string{
		"Dockerfile": busyboxDockerfile + "COPY version /etc/version\n",
		"version":    nonce(t),
	})
	writeFiles(t, appDir, map[string]string{
		"Dockerfile": "FROM devloop-base\nCOPY app.txt /\nRUN cat /etc/version /app.txt > /out.txt\n",
		"app.txt":    "app",
	})
	images := []devfile.Image{dockerImage("app", appDir), dockerImage("devloop-base", baseDir)}
	first, err := r.builder.BuildAll(context.Background(), images)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.solves.calls(); got != 2 {
		t.Fatalf("first BuildAll solves = %d, want 2", got)
	}

	writeFiles(t, baseDir, map[string]string{"version": nonce(t)})
	second, err := r.builder.BuildAll(context.Background(), images)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.solves.calls(); got != 4 {
		t.Errorf("solves after a base change = %d, want 4 (base and app once each)", got)
	}
	if second["app"].Digest == first["app"].Digest || second["devloop-base"].Digest == first["devloop-base"].Digest {
		t.Errorf("after a base change: app %s → %s, base %s → %s; want both new", first["app"].Digest, second["app"].Digest, first["devloop-base"].Digest, second["devloop-base"].Digest)
	}
	// The app's RUN saw the new base: it is not cached.
	if got := stepCache(t, second["app"], "RUN cat"); got["RUN cat"] {
		t.Errorf("app's RUN after a base change was cached; want it rebuilt on the new base")
	}

	third, err := r.builder.BuildAll(context.Background(), images)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.solves.calls(); got != 4 {
		t.Errorf("solves after no change = %d, want still 4", got)
	}
	if third["app"].Digest != second["app"].Digest || !third["app"].Unchanged {
		t.Errorf("unchanged BuildAll()[app] = %+v, want the previous digest, Unchanged", third["app"])
	}
}

func TestBrokenDockerfileNamesItsLine(t *testing.T) {
	r := newRig(t)
	base := baseImage(t, r)
	tests := []struct {
		name       string
		dockerfile string
		wantLine   int
		wantStep   string
		wantOutput string
	}{
		{
			name:       "unknown instruction",
			dockerfile: "FROM scratch\nCOPY a.txt /\nBOGUS thing\n",
			wantLine:   3,
		},
		{
			name:       "failing command",
			dockerfile: "FROM " + base.Reference + "\nCOPY a.txt /\nRUN echo about to fail && cat /missing\n",
			wantLine:   3,
			wantStep:   "RUN echo about to fail",
			wantOutput: "about to fail",
		},
		{
			name:       "missing file",
			dockerfile: "FROM scratch\n\nCOPY nothere.txt /\n",
			wantLine:   3,
			wantStep:   "COPY nothere.txt",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, map[string]string{"Dockerfile": tt.dockerfile, "a.txt": "a"})
			_, err := r.builder.buildOne(context.Background(), dockerImage("broken", dir))
			var be *BuildError
			if !errors.As(err, &be) {
				t.Fatalf("buildOne() error = %v, want a *BuildError", err)
			}
			if be.Line != tt.wantLine || be.File != filepath.Join(dir, "Dockerfile") {
				t.Errorf("buildOne() error at %s:%d, want %s:%d (%v)", be.File, be.Line, filepath.Join(dir, "Dockerfile"), tt.wantLine, err)
			}
			if !strings.Contains(be.Step, tt.wantStep) || !strings.Contains(be.Output, tt.wantOutput) {
				t.Errorf("buildOne() error step %q output %q, want step containing %q and output containing %q", be.Step, be.Output, tt.wantStep, tt.wantOutput)
			}
			if want := fmt.Sprintf("Dockerfile:%d", tt.wantLine); !strings.Contains(err.Error(), want) {
				t.Errorf("buildOne() error = %q, want it to name %s", err, want)
			}
		})
	}
}

// TestExternalBaseTagMoves: an image FROM a tag outside the Devfile (a
// base image in a registry) is unchanged while the tag points at the same
// digest, and rebuilds once when the tag moves.
func TestExternalBaseTagMoves(t *testing.T) {
	r := newRig(t)
	v1 := baseImage(t, r)
	// A second busybox image with other content, for the tag to move to.
	dir2 := t.TempDir()
	busybox(t, dir2)
	writeFiles(t, dir2, map[string]string{"Dockerfile": busyboxDockerfile + "RUN echo " + nonce(t) + " > /etc/release\n"})
	v2, err := r.newBuilder(t, Config{}).buildOne(context.Background(), dockerImage("busybox", dir2))
	if err != nil {
		t.Fatal(err)
	}
	r.reg.Tag(t, "busybox", v1.Digest, "stable")

	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"Dockerfile": "FROM " + r.reg.Host + "/busybox:stable\nCOPY app.txt /\nRUN cat /app.txt\n",
		"app.txt":    nonce(t),
	})
	img := dockerImage("app", dir)
	b := r.newBuilder(t, Config{})
	first, err := b.buildOne(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	same, err := b.buildOne(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.solves.calls(); got != 1 || !same.Unchanged {
		t.Errorf("rebuild with the base tag unmoved: %d solves, Unchanged %v; want 1 solve in all, Unchanged", got, same.Unchanged)
	}

	r.reg.Tag(t, "busybox", v2.Digest, "stable")
	moved, err := b.buildOne(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.solves.calls(); got != 2 || moved.Unchanged || moved.Image == first.Image {
		t.Errorf("rebuild after the base tag moved: %d solves, %+v; want 2 solves in all and a new tag", got, moved)
	}
}

// TestConcurrentBuildsOfOneImageSolveOnce: three resources that deploy one
// image ask for it at once after a change, as on examples/multi; BuildKit
// solves once and each caller gets the pushed image.
func TestConcurrentBuildsOfOneImageSolveOnce(t *testing.T) {
	r := newRig(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"Dockerfile": "FROM scratch\nCOPY a.txt /\n", "a.txt": nonce(t)})
	img := dockerImage("multi", dir)
	b := r.newBuilder(t, Config{})
	const callers = 3
	started, joined, gate := make(chan struct{}, callers), make(chan string, callers), make(chan struct{})
	r.solves.started, r.solves.gate = started, gate
	b.steps.(*shared).onJoin = func(image string) { joined <- image }

	results := make([]Result, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() { results[i], errs[i] = b.buildOne(context.Background(), img) })
	}
	// Every caller is either in a solve or waiting for one.
	for range callers {
		select {
		case <-started:
		case <-joined:
		}
	}
	close(gate)
	wg.Wait()
	if got := r.solves.calls(); got != 1 {
		t.Errorf("BuildKit solves for %d concurrent builds of one image = %d, want 1", callers, got)
	}
	for i, res := range results {
		if errs[i] != nil || res.Digest == "" || res.Reference != results[0].Reference {
			t.Errorf("buildOne() call %d = %+v, %v, want the one build's result", i, res, errs[i])
		}
	}
	if !r.reg.Has(t, "multi", results[0].Digest) {
		t.Errorf("registry lacks %s", results[0].Reference)
	}
}
