package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/devloop-dev/devloop/internal/testkit/testenv"
)

// kindRunTimeout bounds `devloop ci --ephemeral` on examples/hello: kind
// creates a cluster in about 35 s on 2 cores, the build and rollout take
// seconds, the deletion a few more; ten minutes means it hangs.
const kindRunTimeout = 10 * time.Minute

// TestCIEphemeralKind runs `devloop ci --ephemeral` on a copy of
// examples/hello against the test environment (make e2e-env): a fresh kind
// cluster and registry, the image built with BuildKit and deployed, exit 0
// with a JUnit report, and nothing of the cluster left afterwards.
func TestCIEphemeralKind(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test skipped in -short mode: it creates a kind cluster")
	}
	testenv.Getenv(t, "DEVLOOP_KIND_NODE_IMAGE")
	testenv.Getenv(t, "DEVLOOP_REGISTRY_IMAGE")
	testenv.Getenv(t, "BUILDKIT_HOST")
	docker := testenv.LookPath(t, "docker", "docker.io")
	bin := buildDevloop(t)
	dir := copyDir(t, filepath.Join("..", "..", "examples", "hello"))
	// No binary is built first: hello's image waits for hello-bin, the
	// local resource_dep that builds what it copies.

	tests := []struct {
		name string
		args []string
		want []string
	}{
		{name: "ephemeral", args: []string{"--ephemeral"}, want: []string{"in namespace default"}},
		{name: "ephemeral with a namespace", args: []string{"--ephemeral", "--namespace", "ci-run"},
			want: []string{"creating namespace ci-run", "deployment/hello in namespace ci-run", "deleting namespace ci-run"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			report := filepath.Join(t.TempDir(), "junit.xml")
			ctx, cancel := context.WithTimeout(t.Context(), kindRunTimeout)
			defer cancel()
			args := append(append([]string{"ci", "--junit", report}, tt.args...), "--", "--port", strconv.Itoa(testenv.FreePort(t)))
			cmd := exec.CommandContext(ctx, bin, args...)
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "KUBECONFIG="+filepath.Join(t.TempDir(), "kubeconfig"),
				"PATH="+filepath.Dir(goTool(t))+string(os.PathListSeparator)+os.Getenv("PATH"))
			b, err := cmd.CombinedOutput()
			out := string(b)
			if ctx.Err() != nil {
				t.Fatalf("devloop %s did not end within %s; output:\n%s", strings.Join(args, " "), kindRunTimeout, out)
			}
			if err != nil || !strings.Contains(out, "devloop: ci: SUCCESS") {
				t.Fatalf("devloop %s on examples/hello = %v, want exit 0 and SUCCESS; output:\n%s", strings.Join(args, " "), err, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("devloop %s output lacks %q; output:\n%s", strings.Join(args, " "), w, out)
				}
			}
			r := readJUnit(t, report)
			if s := r.Suites[0]; s.Tests != 2 || s.Failures != 0 {
				t.Errorf("JUnit report = %+v, want 2 passing test cases", s)
			}
			m := regexp.MustCompile(`creating kind cluster (devloop-ci-[0-9a-f]{8})`).FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("devloop ci --ephemeral names no cluster; output:\n%s", out)
			}
			left, err := exec.Command(docker, "ps", "-a", "--filter", "name="+m[1], "--format", "{{.Names}}").Output()
			if err != nil {
				t.Fatalf("docker ps: %v", err)
			}
			if s := strings.TrimSpace(string(left)); s != "" {
				t.Errorf("containers of the ephemeral cluster %s left after devloop ci: %s", m[1], s)
			}
		})
	}
}
