package builder

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/devloop-dev/devloop/devfile"
	"github.com/devloop-dev/devloop/kube/localregistry"
)

func TestUnreachableBuildKitNamesTheAddress(t *testing.T) {
	tests := []struct {
		name, addr string
	}{
		{"unix socket missing", "unix://" + filepath.Join(t.TempDir(), "no-buildkitd.sock")},
		{"tcp port closed", "tcp://" + closedAddr(t)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, map[string]string{"Dockerfile": "FROM scratch\n"})
			b, err := New(Config{
				CacheDir: t.TempDir(),
				Registry: localregistry.Hosting{Host: "127.0.0.1:1"},
				Getenv:   func(k string) string { return map[string]string{"BUILDKIT_HOST": tt.addr}[k] },
			})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			_, err = b.buildOne(context.Background(), dockerImage("app", dir))
			for _, want := range []string{tt.addr, "BUILDKIT_HOST is set", "unreachable", "start buildkitd"} {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("buildOne() with BuildKit down: error = %v, want it to contain %q", err, want)
				}
			}
		})
	}
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// TestCustomBuild runs real commands that record $EXPECTED_REF in ref.txt;
// the fake registry then has that image when the case says it was pushed.
func TestCustomBuild(t *testing.T) {
	tests := []struct {
		name        string
		img         func(dir string) devfile.Image
		push        bool // the command's image lands in the registry
		docker      map[string]fakeAnswer
		wantErr     string
		wantDocker  []string
		wantDigest  bool
		wantTagPart string
		noRegistry  bool
	}{
		{
			name: "skips_local_docker: the command pushes",
			img: func(dir string) devfile.Image {
				return devfile.Image{Ref: "gen", Kind: devfile.ImageCustom, Context: dir, Deps: []string{filepath.Join(dir, "src")},
					Command: devfile.Cmd{Argv: []string{"sh", "-c", `echo "$EXPECTED_REF" > ref.txt`}}, SkipsLocalDocker: true}
			},
			push:        true,
			wantDigest:  true,
			wantTagPart: ":devloop-",
		},
		{
			name: "default: devloop pushes with docker",
			img: func(dir string) devfile.Image {
				return devfile.Image{Ref: "gen", Kind: devfile.ImageCustom, Context: dir, Deps: []string{filepath.Join(dir, "src")},
					Command: devfile.Cmd{Argv: []string{"sh", "-c", `echo "$EXPECTED_REF" > ref.txt`}}}
			},
			push:        true,
			docker:      map[string]fakeAnswer{"push": {}},
			wantDocker:  []string{"push"},
			wantDigest:  true,
			wantTagPart: ":devloop-",
		},
		{
			name: "disable_push deploys by tag",
			img: func(dir string) devfile.Image {
				return devfile.Image{Ref: "gen", Kind: devfile.ImageCustom, Context: dir, Tag: "dev", Deps: []string{filepath.Join(dir, "src")},
					Command: devfile.Cmd{Argv: []string{"sh", "-c", `echo "$EXPECTED_REF" > ref.txt`}}, DisablePush: true}
			},
			docker:      map[string]fakeAnswer{"image": {out: "sha256:0123456789abcdef0123\n"}},
			wantDocker:  []string{"image"},
			wantTagPart: ":dev",
		},
		{
			name: "disable_push needs no registry",
			img: func(dir string) devfile.Image {
				return devfile.Image{Ref: "gen", Kind: devfile.ImageCustom, Context: dir, Deps: []string{filepath.Join(dir, "src")},
					Command: devfile.Cmd{Argv: []string{"sh", "-c", `echo "$EXPECTED_REF" > ref.txt`}}, DisablePush: true}
			},
			docker:      map[string]fakeAnswer{"image": {err: errors.New("No such image")}},
			wantDocker:  []string{"image"},
			noRegistry:  true,
			wantTagPart: ":devloop-",
		},
		{
			name: "skips_local_docker but nothing pushed",
			img: func(dir string) devfile.Image {
				return devfile.Image{Ref: "gen", Kind: devfile.ImageCustom, Context: dir,
					Command: devfile.Cmd{Argv: []string{"sh", "-c", `echo "$EXPECTED_REF" > ref.txt`}}, SkipsLocalDocker: true}
			},
			wantErr: "the command must build $EXPECTED_REF, and with skips_local_docker=True also push it",
		},
		{
			name: "no docker to push",
			img: func(dir string) devfile.Image {
				return devfile.Image{Ref: "gen", Kind: devfile.ImageCustom, Context: dir,
					Command: devfile.Cmd{Argv: []string{"sh", "-c", `echo "$EXPECTED_REF" > ref.txt`}}}
			},
			docker:     map[string]fakeAnswer{"push": {err: errors.New("docker: not found")}},
			wantDocker: []string{"push"},
			wantErr:    "set skips_local_docker=True",
		},
		{
			name: "failing command shows its output",
			img: func(dir string) devfile.Image {
				return devfile.Image{Ref: "gen", Kind: devfile.ImageCustom, Context: dir,
					Command: devfile.Cmd{Argv: []string{"sh", "-c", "echo compiling; echo boom >&2; exit 3"}}}
			},
			wantErr: "exit status 3\ncompiling\nboom",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, map[string]string{"src/a.txt": "a"})
			reg := &fakeRegistry{manifests: map[string]string{}}
			run := &fakeRunner{answers: tt.docker}
			heads := pushOnHead{reg: reg, dir: dir, push: tt.push}
			registry := localregistry.Hosting{Host: "localhost:5001"}
			if tt.noRegistry {
				registry = localregistry.Hosting{}
			}
			b, err := newBuilder(Config{CacheDir: t.TempDir(), Registry: registry}, deps{runner: run, heads: heads})
			if err != nil {
				t.Fatal(err)
			}
			res, err := b.buildOne(context.Background(), tt.img(dir))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("buildOne(custom) error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(filepath.Join(dir, "ref.txt"))
			wantPrefix := repository(registry.Host, "gen") + tt.wantTagPart
			if strings.TrimSpace(string(got)) != res.Image || !strings.HasPrefix(res.Image, wantPrefix) {
				t.Errorf("EXPECTED_REF = %q, Result.Image = %q, want the same, %s...", got, res.Image, wantPrefix)
			}
			if (res.Digest != "") != tt.wantDigest {
				t.Errorf("buildOne(custom).Digest = %q, want a digest: %v", res.Digest, tt.wantDigest)
			}
			if !slices.Equal(run.verbs(), tt.wantDocker) {
				t.Errorf("docker verbs = %v, want %v", run.verbs(), tt.wantDocker)
			}
			// Unchanged deps: the command does not run again.
			os.Remove(filepath.Join(dir, "ref.txt"))
			again, err := b.buildOne(context.Background(), tt.img(dir))
			if err != nil || !again.Unchanged || again.Digest != res.Digest || again.ClusterReference != res.ClusterReference {
				t.Errorf("second buildOne(custom) = %+v, %v, want Unchanged with digest %s", again, err, res.Digest)
			}
			if _, err := os.Stat(filepath.Join(dir, "ref.txt")); err == nil {
				t.Errorf("the command ran again with unchanged deps")
			}
			writeFiles(t, dir, map[string]string{"src/a.txt": "changed"})
			changed, err := b.buildOne(context.Background(), tt.img(dir))
			if err != nil || changed.Unchanged || (changed.Image == res.Image) != (tt.img(dir).Tag != "") {
				t.Errorf("buildOne(custom) after a deps change = %+v, %v, want a new build (and a new tag unless tag= is fixed)", changed, err)
			}
		})
	}
}

// pushOnHead is a fake registry in which the image a custom command wrote
// to ref.txt exists, when push is set.
type pushOnHead struct {
	reg  *fakeRegistry
	dir  string
	push bool
}

func (p pushOnHead) Head(ctx context.Context, name, reference string) (string, error) {
	if ref, err := os.ReadFile(filepath.Join(p.dir, "ref.txt")); err == nil && p.push {
		p.reg.mu.Lock()
		p.reg.manifests[strings.TrimSpace(string(ref))] = "sha256:" + strings.Repeat("ab", 32)
		p.reg.mu.Unlock()
	}
	return p.reg.Head(ctx, name, reference)
}
