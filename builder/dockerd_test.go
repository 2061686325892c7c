package builder

import (
	"context"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/devloop-dev/devloop/builder/internal/registrytest"
	"github.com/devloop-dev/devloop/devfile"
	"github.com/devloop-dev/devloop/internal/testkit/testenv"
	"github.com/devloop-dev/devloop/kube/localregistry"
)

// TestDockerEmbeddedBuildKit builds with no BUILDKIT_HOST and a managed
// buildkitd image that cannot be pulled, so devloop falls back to the real
// dockerd's embedded BuildKit: a base image and an app FROM it (FROM
// scratch, nothing pulled) go into docker's image store and are pushed to a
// registry on 127.0.0.1, read back by digest. A restarted Builder then
// finds both unchanged without calling BuildKit.
func TestDockerEmbeddedBuildKit(t *testing.T) {
	docker := testenv.LookPath(t, "docker", "docker.io")
	if out, err := exec.Command(docker, "version", "--format", "{{.Server.Version}}").CombinedOutput(); err != nil {
		if testenv.Strict() {
			t.Fatalf("docker daemon not reachable: %v: %s", err, out)
		}
		t.Skipf("integration test skipped: docker daemon not reachable (%v): start dockerd (make e2e-env)", err)
	}
	reg := registrytest.Start(t)
	n := nonce(t)
	container := "devloop-buildkitd-test-" + n
	baseRef := "devloop-test-base-" + n // the name app's Dockerfile uses, tagged in docker by devloop
	baseDir, appDir, cache := t.TempDir(), t.TempDir(), t.TempDir()
	writeFiles(t, baseDir, map[string]string{"Dockerfile": "FROM scratch\nCOPY version /etc/version\n", "version": n})
	writeFiles(t, appDir, map[string]string{"Dockerfile": "FROM " + baseRef + "\nCOPY app.txt /\n", "app.txt": "app " + n})
	images := []devfile.Image{dockerImage("app", appDir), dockerImage(baseRef, baseDir)}

	var results map[string]Result
	t.Cleanup(func() {
		_ = exec.Command(docker, "rm", "-f", container).Run()
		args := []string{"rmi", "-f", baseRef}
		for _, r := range results {
			args = append(args, r.Image)
		}
		_ = exec.Command(docker, args...).Run()
	})
	build := func() (map[string]Result, []string, *countingSolver) {
		t.Helper()
		var mu sync.Mutex
		var messages []string
		solves := &countingSolver{}
		b, err := newBuilder(Config{
			Registry:      localregistry.Hosting{Host: reg.Host},
			CacheDir:      cache,
			Docker:        docker,
			BuildKitImage: "devloop-test/no-such-buildkit:" + n, // not local, and nothing can be pulled
			Getenv:        func(string) string { return "" },
			OnProgress: func(ref string, ev Progress) {
				if ev.Kind == ProgressMessage {
					mu.Lock()
					messages = append(messages, ev.Message)
					mu.Unlock()
				}
			},
		}, deps{container: container, wrap: func(s solver) solver { solves.inner = s; return solves }})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		res, err := b.BuildAll(context.Background(), images)
		if err != nil {
			t.Fatalf("BuildAll with docker's embedded BuildKit: %v", err)
		}
		return res, messages, solves
	}

	results, messages, solves := build()
	t.Logf("first progress message: %s", messages[0])
	if solves.calls() != 2 {
		t.Errorf("BuildKit solves = %d, want 2 (base, then app)", solves.calls())
	}
	want := "(no BuildKit address is configured and starting the buildkitd container " + container
	wantEmbedded := "using the embedded BuildKit of docker"
	if len(messages) == 0 || !strings.Contains(messages[0], want) || !strings.Contains(messages[0], wantEmbedded) {
		t.Errorf("progress messages = %q, want the first to contain %q and %q", messages, want, wantEmbedded)
	}
	for ref, res := range results {
		repo := strings.TrimPrefix(res.Image[:strings.LastIndex(res.Image, ":")], reg.Host+"/")
		if m := reg.Manifest(t, repo, res.Digest); m.Digest != res.Digest {
			t.Errorf("%s: registry digest of %s = %s, want %s", ref, res.Reference, m.Digest, res.Digest)
		}
		if tagged := reg.Manifest(t, repo, contentTag(res.InputHash)); tagged.Digest != res.Digest {
			t.Errorf("%s: registry digest of tag %s = %s, want %s", ref, contentTag(res.InputHash), tagged.Digest, res.Digest)
		}
		if last := res.Steps[len(res.Steps)-1]; !strings.Contains(last.Name, "docker push") {
			t.Errorf("%s: last step = %q, want the docker push", ref, last.Name)
		}
		if res.Reference != reg.Host+"/"+repo+"@"+res.Digest {
			t.Errorf("%s: Reference = %s, want the pushed digest", ref, res.Reference)
		}
	}
	// The app really is FROM the base devloop built: its image holds both files.
	out, err := exec.Command(docker, "image", "inspect", "--format", "{{len .RootFS.Layers}}", results["app"].Image).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "2" {
		t.Errorf("layers of app = %s (%v), want 2: the base's and its own", out, err)
	}

	again, _, solves := build()
	if solves.calls() != 0 {
		t.Errorf("BuildKit solves after a restart with unchanged inputs = %d, want 0", solves.calls())
	}
	for ref, res := range again {
		if !res.Unchanged || res.Digest != results[ref].Digest {
			t.Errorf("%s after a restart = %+v, want Unchanged with digest %s", ref, res, results[ref].Digest)
		}
	}
}
