package builder

import (
	"context"
	"os/exec"
	"strings"
	"testing"

	"github.com/devloop-dev/devloop/builder/internal/registrytest"
	"github.com/devloop-dev/devloop/internal/testkit/testenv"
	"github.com/devloop-dev/devloop/kube/localregistry"
)

// TestManagedContainer starts buildkitd as a docker container from
// DEVLOOP_BUILDKIT_IMAGE (no BUILDKIT_HOST), builds and pushes through it
// to a registry on this host, then reuses the running container.
func TestManagedContainer(t *testing.T) {
	docker := testenv.LookPath(t, "docker", "docker.io")
	image := testenv.Getenv(t, "DEVLOOP_BUILDKIT_IMAGE")
	if out, err := exec.Command(docker, "version", "--format", "{{.Server.Version}}").CombinedOutput(); err != nil {
		if testenv.Strict() {
			t.Fatalf("docker daemon not reachable: %v: %s", err, out)
		}
		t.Skipf("integration test skipped: docker daemon not reachable (%v): start dockerd (make e2e-env)", err)
	}
	name := "devloop-buildkitd-test-" + nonce(t)
	t.Cleanup(func() { _ = exec.Command(docker, "rm", "-f", name).Run() })
	reg := registrytest.Start(t)
	dir := t.TempDir()
	busybox(t, dir)
	writeFiles(t, dir, map[string]string{"Dockerfile": busyboxDockerfile + "RUN echo " + nonce(t) + " > /n\n"})

	for i, wantHow := range []string{"started", "reused"} {
		var messages []string
		b, err := newBuilder(Config{
			Registry:      localregistry.Hosting{Host: reg.Host},
			CacheDir:      t.TempDir(),
			BuildKitImage: image,
			Getenv:        func(string) string { return "" },
			OnProgress: func(ref string, ev Progress) {
				if ev.Kind == ProgressMessage {
					messages = append(messages, ev.Message)
				}
			},
		}, deps{container: name})
		if err != nil {
			t.Fatal(err)
		}
		res, err := b.buildOne(context.Background(), dockerImage("managed", dir))
		b.Close()
		if err != nil {
			out, _ := exec.Command(docker, "logs", "--tail", "20", name).CombinedOutput()
			t.Fatalf("build %d through the managed container: %v\ncontainer log:\n%s", i, err, out)
		}
		if !reg.Has(t, "managed", res.Digest) {
			t.Errorf("build %d: registry lacks %s", i, res.Reference)
		}
		want := "docker-container://" + name + " (no BuildKit address is configured: " + wantHow + " the devloop-managed container"
		if len(messages) == 0 || !strings.Contains(messages[0], want) {
			t.Errorf("build %d progress messages = %q, want one containing %q", i, messages, want)
		}
	}
}
