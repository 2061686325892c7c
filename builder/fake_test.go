package builder

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/buildkit/client"
	digest "github.com/opencontainers/go-digest"

	"github.com/devloop-dev/devloop/devfile"
	"github.com/devloop-dev/devloop/kube/localregistry"
)

// fakeRegistry is the manifests a fakeSolver pushed, answering HEADs.
type fakeRegistry struct {
	mu        sync.Mutex
	manifests map[string]string // "repo:tag" → digest
	heads     int
}

func (r *fakeRegistry) Head(ctx context.Context, name, reference string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.heads++
	d, ok := r.manifests[name+":"+reference]
	if !ok {
		return "", errManifestNotFound
	}
	return d, nil
}

// fakeSolver "builds" by pushing a digest derived from the image name into
// its registry, reporting one step, and records every solve.
type fakeSolver struct {
	reg *fakeRegistry

	mu      sync.Mutex
	solves  []client.SolveOpt
	running int
	maxRun  int
	gate    chan struct{} // when set, each solve waits for a token
	started chan string   // when set, each solve sends its image name first
}

func (f *fakeSolver) Solve(ctx context.Context, opt client.SolveOpt, ch chan *client.SolveStatus) (*client.SolveResponse, error) {
	defer close(ch)
	f.mu.Lock()
	f.solves = append(f.solves, opt)
	f.running++
	f.maxRun = max(f.maxRun, f.running)
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.running--
		f.mu.Unlock()
	}()
	name := opt.Exports[0].Attrs["name"]
	if f.started != nil {
		f.started <- strings.SplitN(name, ":devloop-", 2)[0]
	}
	if f.gate != nil {
		select {
		case <-f.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	now := time.Now()
	select {
	case ch <- &client.SolveStatus{Vertexes: []*client.Vertex{{Digest: digest.FromString(name), Name: "[1/1] FROM scratch", Started: &now, Completed: &now}}}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	sum := sha256.Sum256([]byte(name))
	d := "sha256:" + hex.EncodeToString(sum[:])
	f.reg.mu.Lock()
	f.reg.manifests[name] = d
	f.reg.mu.Unlock()
	return &client.SolveResponse{ExporterResponse: map[string]string{"containerimage.digest": d}}, nil
}

func (f *fakeSolver) names() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, o := range f.solves {
		out = append(out, strings.SplitN(o.Exports[0].Attrs["name"], ":devloop-", 2)[0])
	}
	return out
}

func newFakeBuilder(t *testing.T, s *fakeSolver, cacheDir string, cfg Config) *Builder {
	t.Helper()
	cfg.CacheDir = cacheDir
	cfg.Registry = localregistry.Hosting{Host: "localhost:5001"}
	b, err := newBuilder(cfg, deps{solver: s, heads: s.reg})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// chain writes three images, app FROM base FROM root, plus an independent one.
func chain(t *testing.T) []devfile.Image {
	t.Helper()
	dir := t.TempDir()
	var images []devfile.Image
	for ref, df := range map[string]string{
		"root": "FROM scratch\nCOPY root.txt /\n",
		"base": "FROM root\nCOPY base.txt /\n",
		"app":  "ARG BASE=base\nFROM ${BASE}\nCOPY app.txt /\n",
		"solo": "FROM scratch\nCOPY solo.txt /\n",
	} {
		d := filepath.Join(dir, ref)
		writeFiles(t, d, map[string]string{"Dockerfile": df, ref + ".txt": ref})
		images = append(images, dockerImage(ref, d))
	}
	slices.SortFunc(images, func(a, b devfile.Image) int { return strings.Compare(a.Ref, b.Ref) })
	return images
}

func TestBuildAllOrderAndNamedContexts(t *testing.T) {
	s := &fakeSolver{reg: &fakeRegistry{manifests: map[string]string{}}}
	b := newFakeBuilder(t, s, t.TempDir(), Config{MaxParallel: 1})
	images := chain(t)
	res, err := b.BuildAll(context.Background(), images)
	if err != nil {
		t.Fatal(err)
	}
	got := s.names()
	pos := func(ref string) int { return slices.Index(got, "localhost:5001/"+ref) }
	if len(got) != 4 || pos("root") > pos("base") || pos("base") > pos("app") {
		t.Fatalf("BuildAll() solve order = %v, want root before base before app, 4 solves", got)
	}
	for _, o := range s.solves {
		name := o.Exports[0].Attrs["name"]
		var want map[string]string
		switch {
		case strings.HasPrefix(name, "localhost:5001/base:"):
			want = map[string]string{"context:root": "docker-image://" + res["root"].Reference}
		case strings.HasPrefix(name, "localhost:5001/app:"):
			want = map[string]string{"context:base": "docker-image://" + res["base"].Reference}
		}
		gotNamed := map[string]string{}
		for k, v := range o.FrontendAttrs {
			if strings.HasPrefix(k, "context:") {
				gotNamed[k] = v
			}
		}
		if len(want) > 0 && !maps.Equal(gotNamed, want) {
			t.Errorf("named contexts of %s = %v, want %v", name, gotNamed, want)
		}
	}
	for ref, r := range res {
		if r.Unchanged || r.Digest == "" || r.Reference != repository("localhost:5001", ref)+"@"+r.Digest || len(r.Steps) != 1 {
			t.Errorf("BuildAll()[%s] = %+v, want a fresh build referenced by digest with its step", ref, r)
		}
	}
}

func TestBuildAllNoOpAcrossRestart(t *testing.T) {
	reg := &fakeRegistry{manifests: map[string]string{}}
	cacheDir := t.TempDir()
	images := chain(t)
	first := &fakeSolver{reg: reg}
	if _, err := newFakeBuilder(t, first, cacheDir, Config{}).BuildAll(context.Background(), images); err != nil {
		t.Fatal(err)
	}

	// A new Builder is a restarted devloop: only the cache file carries over.
	tests := []struct {
		name   string
		change func(t *testing.T)
		want   []string // images rebuilt
	}{
		{name: "nothing changed", change: func(t *testing.T) {}},
		{
			name:   "root changed rebuilds its dependents once",
			change: func(t *testing.T) { writeFiles(t, images[2].Context, map[string]string{"root.txt": "root v2"}) },
			want:   []string{"root", "base", "app"},
		},
		{
			name:   "leaf changed rebuilds the leaf",
			change: func(t *testing.T) { writeFiles(t, images[0].Context, map[string]string{"app.txt": "app v2"}) },
			want:   []string{"app"},
		},
		{
			name:   "image gone from the registry is rebuilt",
			change: func(t *testing.T) { reg.mu.Lock(); clear(reg.manifests); reg.mu.Unlock() },
			want:   []string{"root", "base", "app", "solo"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.change(t)
			s := &fakeSolver{reg: reg}
			res, err := newFakeBuilder(t, s, cacheDir, Config{MaxParallel: 1}).BuildAll(context.Background(), images)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, r := range tt.want {
				want = append(want, "localhost:5001/"+r)
			}
			got := s.names()
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("BuildAll() after %q solved %v, want %v", tt.name, got, want)
			}
			for ref, r := range res {
				if r.Unchanged == slices.Contains(tt.want, ref) {
					t.Errorf("BuildAll()[%s].Unchanged = %v, want %v", ref, r.Unchanged, !r.Unchanged)
				}
			}
		})
	}
}

func TestBuildAllSubsetAndParallelism(t *testing.T) {
	reg := &fakeRegistry{manifests: map[string]string{}}
	gate, started := make(chan struct{}), make(chan string)
	s := &fakeSolver{reg: reg, gate: gate, started: started}
	b := newFakeBuilder(t, s, t.TempDir(), Config{MaxParallel: 2})
	images := chain(t)
	done := make(chan error, 1)
	var res map[string]Result
	go func() {
		var err error
		res, err = b.BuildAll(context.Background(), images, "base", "solo")
		done <- err
	}()
	// root and solo are independent: both solves start before either ends.
	first := []string{<-started, <-started}
	slices.Sort(first)
	if want := []string{"localhost:5001/root", "localhost:5001/solo"}; !slices.Equal(first, want) {
		t.Errorf("first concurrent solves = %v, want %v", first, want)
	}
	gate <- struct{}{}
	gate <- struct{}{}
	if got := <-started; got != "localhost:5001/base" {
		t.Errorf("third solve = %s, want base (after root)", got)
	}
	gate <- struct{}{}
	if got := <-started; got != "localhost:5001/app" {
		t.Errorf("fourth solve = %s, want app (after base)", got)
	}
	gate <- struct{}{}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if s.maxRun > 2 {
		t.Errorf("concurrent solves = %d, want at most MaxParallel 2", s.maxRun)
	}
	if got := slices.Sorted(maps.Keys(res)); !slices.Equal(got, []string{"app", "base", "root", "solo"}) {
		t.Errorf("BuildAll(base, solo) built %v, want base, its dependent app, its dependency root, and solo", got)
	}
}

func TestBuildAllErrors(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		images  func(t *testing.T) []devfile.Image
		refs    []string
		wantErr string
	}{
		{
			name:    "unknown ref",
			images:  chain,
			refs:    []string{"nope"},
			wantErr: `no image "nope" in the Devfile`,
		},
		{
			name: "missing context",
			images: func(t *testing.T) []devfile.Image {
				return []devfile.Image{{Ref: "x", Context: filepath.Join(t.TempDir(), "gone"), DockerfileContents: "FROM scratch\n"}}
			},
			wantErr: "build context of image x",
		},
		{
			name: "base fails, dependent reports it",
			images: func(t *testing.T) []devfile.Image {
				dir := t.TempDir()
				writeFiles(t, dir, map[string]string{"Dockerfile": "FROM base\n"})
				return []devfile.Image{dockerImage("app", dir), {Ref: "base", Context: filepath.Join(dir, "nope"), DockerfileContents: "FROM scratch\n"}}
			},
			wantErr: "image app not built: its base image base failed",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &fakeSolver{reg: &fakeRegistry{manifests: map[string]string{}}}
			b := newFakeBuilder(t, s, t.TempDir(), tt.cfg)
			_, err := b.BuildAll(context.Background(), tt.images(t), tt.refs...)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("BuildAll() error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestBuildAllBrokenDockerfileSparesTheOthers(t *testing.T) {
	s := &fakeSolver{reg: &fakeRegistry{manifests: map[string]string{}}}
	b := newFakeBuilder(t, s, t.TempDir(), Config{})
	images := chain(t)
	broken := images[1] // base: app depends on it (and fails), root and solo do not
	broken.Dockerfile = filepath.Join(broken.Context, "Missing.Dockerfile")
	images[1] = broken
	res, err := b.BuildAll(context.Background(), images)
	for _, want := range []string{"reading the Dockerfile of image base", "image app not built: its base image base failed"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("BuildAll() error = %v, want it to contain %q", err, want)
		}
	}
	if got := slices.Sorted(maps.Keys(res)); !slices.Equal(got, []string{"root", "solo"}) {
		t.Errorf("BuildAll() built %v, want root and solo despite base's Dockerfile", got)
	}
}

func TestNoRegistry(t *testing.T) {
	s := &fakeSolver{reg: &fakeRegistry{manifests: map[string]string{}}}
	b, err := newBuilder(Config{CacheDir: t.TempDir()}, deps{solver: s, heads: s.reg})
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.buildOne(context.Background(), chain(t)[3])
	if err == nil || !strings.Contains(err.Error(), "default_registry") {
		t.Errorf("buildOne() without a registry error = %v, want one naming default_registry()", err)
	}
	if len(s.solves) != 0 {
		t.Errorf("solves = %d, want 0", len(s.solves))
	}
}
