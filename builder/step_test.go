package builder

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/devloop-dev/devloop/devfile"
	"github.com/devloop-dev/devloop/internal/testkit/testenv"
	"github.com/devloop-dev/devloop/kube/localregistry"
)

// fakeStep is the inner step of a noopCache: it records the plans it
// builds and replays a scripted result.
type fakeStep struct {
	digest string
	err    error
	built  []string
}

func (f *fakeStep) build(ctx context.Context, p *plan) (Result, error) {
	f.built = append(f.built, p.image)
	if f.err != nil {
		return Result{}, f.err
	}
	return result(p, localregistry.Hosting{Host: "localhost:5001"}, f.digest), nil
}

// TestNoopCache builds a plan, then builds it again through a new cache on
// the same file, as a restarted devloop would, after the world changes.
func TestNoopCache(t *testing.T) {
	const d1, d2 = "sha256:" + "11", "sha256:" + "22"
	pushed := plan{img: devfile.Image{Ref: "app"}, hash: "sha256:aaaa", repo: "localhost:5001/app", tag: "devloop-aaaa", image: "localhost:5001/app:devloop-aaaa", push: true}
	local := plan{img: devfile.Image{Ref: "gen"}, hash: "sha256:bbbb", repo: "gen", tag: "dev", image: "gen:dev"}
	tests := []struct {
		name string
		p    plan
		// before the first and second build: what the registry and docker hold
		regFirst, regThen map[string]string // "repo:tag" → digest
		idFirst, idThen   string            // docker's ID of the image; "" for none
		innerErr          error
		// the second build's plan hashes differently
		newInputs bool
		wantRuns  int
	}{
		{name: "pushed, still in the registry", p: pushed, regThen: map[string]string{"localhost:5001/app:devloop-aaaa": d1}, wantRuns: 1},
		{name: "pushed, gone from the registry", p: pushed, regThen: map[string]string{}, wantRuns: 2},
		{name: "pushed, the tag now names another image", p: pushed, regThen: map[string]string{"localhost:5001/app:devloop-aaaa": d2}, wantRuns: 2},
		{name: "same tag, new inputs", p: local, idFirst: "sha256:1d", idThen: "sha256:1d", newInputs: true, wantRuns: 2},
		{name: "not pushed, still in docker", p: local, idFirst: "sha256:1d", idThen: "sha256:1d", wantRuns: 1},
		{name: "not pushed, docker has another image", p: local, idFirst: "sha256:1d", idThen: "sha256:2d", wantRuns: 2},
		{name: "not pushed, docker removed it", p: local, idFirst: "sha256:1d", wantRuns: 2},
		{name: "not pushed, never in docker: the inputs vouch", p: local, wantRuns: 1},
		{name: "a failed build is not remembered", p: pushed, innerErr: errors.New("boom"), wantRuns: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			inner := &fakeStep{digest: d1, err: tt.innerErr}
			reg := &fakeRegistry{manifests: map[string]string{}}
			id := tt.idFirst
			newCache := func() *noopCache {
				return &noopCache{inner: inner, file: newBuildCache(dir), reg: reg, registry: localregistry.Hosting{Host: "localhost:5001"},
					log: slog.New(slog.DiscardHandler), progress: func(string, Progress) {},
					localID: func(ctx context.Context, image string) (string, error) {
						if id == "" {
							return "", errors.New("No such image: " + image)
						}
						return id, nil
					}}
			}
			p := tt.p
			first, err := newCache().build(context.Background(), &p)
			if (err != nil) != (tt.innerErr != nil) || first.Unchanged {
				t.Fatalf("first build = %+v, %v, want a fresh build (error %v)", first, err, tt.innerErr)
			}
			reg.manifests, id = tt.regThen, tt.idThen
			if reg.manifests == nil {
				reg.manifests = map[string]string{}
			}
			if tt.newInputs {
				p.hash = "sha256:cccc"
			}
			again, _ := newCache().build(context.Background(), &p)
			if len(inner.built) != tt.wantRuns {
				t.Errorf("builds that ran = %d, want %d", len(inner.built), tt.wantRuns)
			}
			if tt.wantRuns == 1 && (!again.Unchanged || again.Image != p.image || again.Digest != first.Digest || again.ClusterReference != first.ClusterReference) {
				t.Errorf("second build = %+v, want Unchanged like %+v", again, first)
			}
		})
	}
}

// TestCustomBuildDisablePushCache runs a real custom_build that builds
// into the real docker (legacy builder, FROM scratch) with disable_push:
// a restarted Builder with unchanged deps runs no command; once docker no
// longer has the image, the command runs again.
func TestCustomBuildDisablePushCache(t *testing.T) {
	docker := testenv.LookPath(t, "docker", "docker.io")
	if out, err := exec.Command(docker, "version", "--format", "{{.Server.Version}}").CombinedOutput(); err != nil {
		if testenv.Strict() {
			t.Fatalf("docker daemon not reachable: %v: %s", err, out)
		}
		t.Skipf("integration test skipped: docker daemon not reachable (%v): start dockerd (make e2e-env)", err)
	}
	dir := t.TempDir()
	cache := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"src/Dockerfile": "FROM scratch\nCOPY n.txt /n.txt\n",
		"src/n.txt":      nonce(t),
	})
	ref := "devloop-test/disable-push-" + nonce(t)
	img := devfile.Image{Ref: ref, Kind: devfile.ImageCustom, Context: dir, Deps: []string{filepath.Join(dir, "src")}, DisablePush: true,
		Command: devfile.Cmd{Argv: []string{"sh", "-c", `echo run >> runs.txt && DOCKER_BUILDKIT=0 docker build -q -t "$EXPECTED_REF" src`}}}
	runs := func() int {
		data, _ := os.ReadFile(filepath.Join(dir, "runs.txt"))
		return strings.Count(string(data), "run")
	}
	build := func() Result {
		t.Helper()
		b, err := New(Config{CacheDir: cache, Docker: docker}) // no registry: disable_push needs none
		if err != nil {
			t.Fatal(err)
		}
		res, err := b.buildOne(context.Background(), img)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	first := build()
	t.Cleanup(func() { _ = exec.Command(docker, "rmi", "-f", first.Image).Run() })
	if runs() != 1 || first.Unchanged || first.ClusterReference != first.Image || !strings.HasPrefix(first.Image, ref+":"+tagPrefix) {
		t.Fatalf("first buildOne(disable_push) = %+v after %d runs, want one run and the image deployed by its content tag", first, runs())
	}
	if again := build(); runs() != 1 || !again.Unchanged || again.Image != first.Image {
		t.Errorf("Build after a restart with unchanged deps = %+v after %d runs, want Unchanged and no new run", again, runs())
	}
	if out, err := exec.Command(docker, "rmi", first.Image).CombinedOutput(); err != nil {
		t.Fatalf("docker rmi: %v: %s", err, out)
	}
	if gone := build(); runs() != 2 || gone.Unchanged {
		t.Errorf("Build once docker lost the image = %+v after %d runs, want the command run again", gone, runs())
	}
}
