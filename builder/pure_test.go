package builder

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/buildkit/session/secrets/secretsprovider"

	"github.com/devloop-dev/devloop/devfile"
	"github.com/devloop-dev/devloop/kube/localregistry"
)

func TestTagAndRepository(t *testing.T) {
	const d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	if got, want := contentTag(d), "devloop-0123456789abcdef"; got != want {
		t.Errorf("contentTag(%s) = %s, want %s", d, got, want)
	}
	tests := []struct {
		name, host, ref, want string
	}{
		{"plain name", "localhost:5001", "app", "localhost:5001/app"},
		{"tag dropped", "localhost:5001", "app:v1", "localhost:5001/app"},
		{"path flattened", "localhost:5001", "gcr.io/proj/app", "localhost:5001/gcr.io_proj_app"},
		{"registry with port in ref", "localhost:5001/", "registry:5000/app:v2", "localhost:5001/registry:5000_app"},
		{"digest dropped", "r.example.com/team", "app@sha256:abc", "r.example.com/team/app"},
		{"no registry", "", "app:v1", "app"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := repository(tt.host, tt.ref); got != tt.want {
				t.Errorf("repository(%q, %q) = %q, want %q", tt.host, tt.ref, got, tt.want)
			}
		})
	}
}

func TestResultReferences(t *testing.T) {
	reg := localregistry.Hosting{Host: "localhost:5001", HostFromContainerRuntime: "kind-registry:5000"}
	tests := []struct {
		name                         string
		p                            plan
		digest                       string
		wantReference, wantInCluster string
	}{
		{"pushed, seen from the cluster under another host", plan{repo: "localhost:5001/app", image: "localhost:5001/app:devloop-1", push: true}, "sha256:aa",
			"localhost:5001/app@sha256:aa", "kind-registry:5000/app@sha256:aa"},
		{"not pushed: by tag", plan{repo: "app", image: "app:dev"}, "", "app:dev", "app:dev"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := result(&tt.p, reg, tt.digest)
			if res.Reference != tt.wantReference || res.ClusterReference != tt.wantInCluster {
				t.Errorf("result(%s).Reference, ClusterReference = %s, %s, want %s, %s", tt.p.image, res.Reference, res.ClusterReference, tt.wantReference, tt.wantInCluster)
			}
		})
	}
}

func TestContextFiles(t *testing.T) {
	tree := map[string]string{
		"Dockerfile":        "FROM scratch\n",
		"main.go":           "package main\n",
		"go.mod":            "module x\n",
		"docs/readme.md":    "docs",
		"build/out.bin":     "bin",
		"build/keep.txt":    "keep",
		"node_modules/a.js": "js",
		"tmp.log":           "log",
	}
	tests := []struct {
		name         string
		dockerignore string
		ignore, only []string
		want         []string
	}{
		{
			name: "everything",
			want: []string{"Dockerfile", "build/keep.txt", "build/out.bin", "docs/readme.md", "go.mod", "main.go", "node_modules/a.js", "tmp.log"},
		},
		{
			name:         "dockerignore with exception",
			dockerignore: "build\n!build/keep.txt\n*.log\n",
			want:         []string{".dockerignore", "Dockerfile", "build/keep.txt", "docs/readme.md", "go.mod", "main.go", "node_modules/a.js"},
		},
		{
			name:   "ignore adds to dockerignore",
			ignore: []string{"node_modules", "docs/**"},
			want:   []string{"Dockerfile", "build/keep.txt", "build/out.bin", "go.mod", "main.go", "tmp.log"},
		},
		{
			name: "only",
			only: []string{"main.go", "go.mod", "docs"},
			want: []string{"docs/readme.md", "go.mod", "main.go"},
		},
		{
			name:   "only and ignore",
			only:   []string{"build"},
			ignore: []string{"build/*.bin"},
			want:   []string{"build/keep.txt"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, tree)
			if tt.dockerignore != "" {
				writeFiles(t, dir, map[string]string{".dockerignore": tt.dockerignore})
			}
			img := devfile.Image{Ref: "app", Context: dir, Dockerfile: filepath.Join(dir, "Dockerfile"), Ignore: tt.ignore, Only: tt.only}
			bc, err := newBuildContext(img)
			if err != nil {
				t.Fatal(err)
			}
			got, err := bc.files(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("files(ignore=%v, only=%v) = %v, want %v", tt.ignore, tt.only, got, tt.want)
			}
		})
	}
}

func contextHash(t *testing.T, img devfile.Image) string {
	t.Helper()
	bc, err := newBuildContext(img)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	if err := bc.hash(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func TestContextHash(t *testing.T) {
	tests := []struct {
		name   string
		change func(t *testing.T, dir string)
		same   bool
	}{
		{"nothing", func(t *testing.T, dir string) {}, true},
		{"edit a file", func(t *testing.T, dir string) {
			writeFiles(t, dir, map[string]string{"main.go": "package main // edited\n"})
		}, false},
		{"add a file", func(t *testing.T, dir string) { writeFiles(t, dir, map[string]string{"new.go": "x"}) }, false},
		{"remove a file", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, "main.go")) }, false},
		{"rename a file", func(t *testing.T, dir string) {
			os.Rename(filepath.Join(dir, "main.go"), filepath.Join(dir, "main2.go"))
		}, false},
		{"make executable", func(t *testing.T, dir string) { os.Chmod(filepath.Join(dir, "main.go"), 0o755) }, false},
		{"touch only", func(t *testing.T, dir string) {
			future := time.Now().Add(time.Hour)
			os.Chtimes(filepath.Join(dir, "main.go"), future, future)
		}, true},
		{"edit a dockerignored file", func(t *testing.T, dir string) { writeFiles(t, dir, map[string]string{"out/x.bin": "changed"}) }, true},
		{"edit an ignore= file", func(t *testing.T, dir string) { writeFiles(t, dir, map[string]string{"scratch.txt": "changed"}) }, true},
		{"add a file outside only", func(t *testing.T, dir string) { writeFiles(t, dir, map[string]string{"elsewhere/y": "y"}) }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, map[string]string{
				"Dockerfile": "FROM scratch\n", "main.go": "package main\n", ".dockerignore": "out\n",
				"out/x.bin": "bin", "scratch.txt": "s", "elsewhere/x": "x",
			})
			img := devfile.Image{Ref: "app", Context: dir, Ignore: []string{"scratch.txt"}, Only: []string{"Dockerfile", "main.go", "main2.go", "new.go", "out", "scratch.txt", ".dockerignore"}}
			before := contextHash(t, img)
			tt.change(t, dir)
			after := contextHash(t, img)
			if (before == after) != tt.same {
				t.Errorf("hash after %q: same = %v, want %v", tt.name, before == after, tt.same)
			}
		})
	}
}

func TestNewGraph(t *testing.T) {
	img := func(ref, dockerfile string, args map[string]string) devfile.Image {
		return devfile.Image{Ref: ref, Kind: devfile.ImageDocker, DockerfileContents: dockerfile, BuildArgs: args, Context: "/ctx"}
	}
	tests := []struct {
		name      string
		images    []devfile.Image
		wantDeps  map[string][]string
		wantOrder []string
		wantCycle []string
	}{
		{
			name: "chain declared backwards",
			images: []devfile.Image{
				img("app", "FROM base:dev\n", nil),
				img("base", "FROM tools\n", nil),
				img("tools", "FROM busybox\n", nil),
			},
			wantDeps:  map[string][]string{"app": {"base"}, "base": {"tools"}, "tools": nil},
			wantOrder: []string{"tools", "base", "app"},
		},
		{
			name: "build arg and copy --from",
			images: []devfile.Image{
				img("web", "ARG BASE\nFROM $BASE\nCOPY --from=assets /a /a\n", map[string]string{"BASE": "runtime"}),
				img("assets", "FROM scratch\n", nil),
				img("runtime", "FROM scratch\n", nil),
				img("other", "FROM scratch\n", nil),
			},
			wantDeps:  map[string][]string{"web": {"assets", "runtime"}, "assets": nil, "runtime": nil, "other": nil},
			wantOrder: []string{"assets", "runtime", "web", "other"},
		},
		{
			name: "custom_build has no Dockerfile",
			images: []devfile.Image{
				img("app", "FROM gen\n", nil),
				{Ref: "gen", Kind: devfile.ImageCustom, Command: devfile.Cmd{Argv: []string{"true"}}},
			},
			wantDeps:  map[string][]string{"app": {"gen"}, "gen": nil},
			wantOrder: []string{"gen", "app"},
		},
		{
			name: "cycle",
			images: []devfile.Image{
				img("a", "FROM b\n", nil),
				img("b", "FROM c\n", nil),
				img("c", "FROM a\n", nil),
			},
			wantCycle: []string{"a", "b", "c", "a"},
		},
		{
			name:      "own name is the upstream image",
			images:    []devfile.Image{img("nginx", "FROM nginx:1.27\n", nil)},
			wantDeps:  map[string][]string{"nginx": nil},
			wantOrder: []string{"nginx"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := NewGraph(tt.images)
			if tt.wantCycle != nil {
				var ce *CycleError
				if !errors.As(err, &ce) {
					t.Fatalf("NewGraph() error = %v, want a *CycleError", err)
				}
				if !slices.Equal(ce.Cycle, tt.wantCycle) {
					t.Errorf("NewGraph() cycle = %v, want %v", ce.Cycle, tt.wantCycle)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for ref, want := range tt.wantDeps {
				if got := g.Deps[ref]; !slices.Equal(got, want) {
					t.Errorf("NewGraph().Deps[%s] = %v, want %v", ref, got, want)
				}
			}
			if got := g.inOrder(); !slices.Equal(got, tt.wantOrder) {
				t.Errorf("NewGraph().inOrder() = %v, want %v", got, tt.wantOrder)
			}
		})
	}
}

func TestGraphDependents(t *testing.T) {
	g, err := NewGraph([]devfile.Image{
		{Ref: "app", DockerfileContents: "FROM base\n", Context: "/c"},
		{Ref: "worker", DockerfileContents: "FROM base\n", Context: "/c"},
		{Ref: "base", DockerfileContents: "FROM root\n", Context: "/c"},
		{Ref: "root", DockerfileContents: "FROM scratch\n", Context: "/c"},
		{Ref: "lonely", DockerfileContents: "FROM scratch\n", Context: "/c"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := g.dependents("root"), []string{"base", "app", "worker"}; !slices.Equal(got, want) {
		t.Errorf("dependents(root) = %v, want %v", got, want)
	}
	if got := g.dependents("lonely"); len(got) != 0 {
		t.Errorf("dependents(lonely) = %v, want none", got)
	}
}

func TestParseSecret(t *testing.T) {
	tests := []struct {
		name, spec string
		want       secretsprovider.Source
		wantErr    string
	}{
		{name: "file", spec: "id=npm,src=/home/me/.npmrc", want: secretsprovider.Source{ID: "npm", FilePath: "/home/me/.npmrc"}},
		{name: "env", spec: "id=tok,env=GITHUB_TOKEN", want: secretsprovider.Source{ID: "tok", Env: "GITHUB_TOKEN"}},
		{name: "type env", spec: "type=env,id=TOKEN", want: secretsprovider.Source{ID: "TOKEN", Env: "TOKEN"}},
		{name: "id only", spec: "id=TOKEN", want: secretsprovider.Source{ID: "TOKEN", Env: "TOKEN", FilePath: "TOKEN"}},
		{name: "no id", spec: "src=/x", wantErr: "has no id"},
		{name: "not key value", spec: "id=a,oops", wantErr: "is not key=value"},
		{name: "unknown key", spec: "id=a,colour=red", wantErr: "unknown key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseSecret(tt.spec)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseSecret(%q) error = %v, want one containing %q", tt.spec, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("parseSecret(%q) = %+v, %v, want %+v", tt.spec, got, err, tt.want)
			}
		})
	}
}

func TestParseSSH(t *testing.T) {
	tests := []struct {
		name, spec string
		wantID     string
		wantPaths  []string
	}{
		{"default agent", "default", "default", nil},
		{"keys", "github=/k/a,/k/b", "github", []string{"/k/a", "/k/b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseSSH(tt.spec)
			if err != nil || got.ID != tt.wantID || !slices.Equal(got.Paths, tt.wantPaths) {
				t.Errorf("parseSSH(%q) = %+v, %v, want ID %s paths %v", tt.spec, got, err, tt.wantID, tt.wantPaths)
			}
		})
	}
}

func TestSumCache(t *testing.T) {
	old := time.Now().Add(-time.Hour)
	tests := []struct {
		name    string
		mtime   time.Time // of both versions of the file
		rewrite string    // same size as "aaaa"
		touch   bool      // give the rewrite a new modification time
		want    string    // "new" or "old": which content the second sum reflects
	}{
		{name: "edited file with a new time", mtime: old, rewrite: "bbbb", touch: true, want: "new"},
		{name: "recent file is never trusted", mtime: time.Now(), rewrite: "cccc", want: "new"},
		{name: "old file with the same size and time is trusted", mtime: old, rewrite: "dddd", want: "old"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := filepath.Join(t.TempDir(), "f")
			write := func(content string, mtime time.Time) {
				if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.Chtimes(name, mtime, mtime); err != nil {
					t.Fatal(err)
				}
			}
			c := newSumCache()
			sum := func() string {
				fi, err := os.Stat(name)
				if err != nil {
					t.Fatal(err)
				}
				s, err := c.sum(name, fi.Size(), fi.ModTime())
				if err != nil {
					t.Fatal(err)
				}
				return s
			}
			write("aaaa", tt.mtime)
			first := sum()
			mtime := tt.mtime
			if tt.touch {
				mtime = mtime.Add(time.Second)
			}
			write(tt.rewrite, mtime)
			want := first
			if tt.want == "new" {
				want, _ = fileSHA256(name)
			}
			if got := sum(); got != want {
				t.Errorf("sum after rewriting %q = %s, want the %s content's %s", tt.rewrite, got, tt.want, want)
			}
		})
	}
}
