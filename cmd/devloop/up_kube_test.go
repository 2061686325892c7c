package main

import (
	"bufio"
	"context"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/devloop-dev/devloop/internal/testkit/testenv"
)

const k8sOnlyDevfile = `k8s_yaml(blob("""
apiVersion: v1
kind: ConfigMap
metadata:
  name: api
"""))
k8s_resource(new_name = "api", objects = ["api:configmap"])
`

// TestUpKubeUnavailable: when the cluster cannot be used, `devloop up`
// exits with the reason if nothing else could run, and otherwise runs the
// local resources and shows the reason on the Kubernetes ones.
func TestUpKubeUnavailable(t *testing.T) {
	dir := t.TempDir()
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	remote := `apiVersion: v1
kind: Config
current-context: prod
clusters: [{name: prod, cluster: {server: "https://k8s.example.com"}}]
contexts: [{name: prod, context: {cluster: prod, user: u}}]
users: [{name: u, user: {}}]
`
	if err := os.WriteFile(kubeconfig, []byte(remote), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBECONFIG", kubeconfig)
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	const reason = `add allow_k8s_contexts("prod") to the Devfile`

	t.Run("only Kubernetes resources", func(t *testing.T) {
		path := filepath.Join(dir, "Only")
		if err := os.WriteFile(path, []byte(k8sOnlyDevfile), 0o644); err != nil {
			t.Fatal(err)
		}
		code, _, errOut := runCLI(t, "up", "-f", path, "--port", "0")
		if code != 1 || !strings.Contains(errOut, reason) {
			t.Errorf("devloop up (k8s only, remote context) = exit %d, stderr %q; want 1 and %q", code, errOut, reason)
		}
	})

	t.Run("with a local resource", func(t *testing.T) {
		path := filepath.Join(dir, "Mixed")
		if err := os.WriteFile(path, []byte(k8sOnlyDevfile+"local_resource('gen', cmd = 'true')\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		// The bound only ends a failing test: on success the lines come in
		// well under a second.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		pr, pw := io.Pipe()
		done := make(chan error, 1)
		go func() {
			done <- runUp(ctx, upConfig{file: path, host: "127.0.0.1", port: testenv.FreePort(t), stream: true}, Streams{Out: pw, Err: pw})
			pw.Close()
		}()
		// Lines read "NAME  │ TEXT", names padded to the widest.
		want := map[string]bool{
			"devloop: the Kubernetes resources cannot deploy, the local ones run": false,
			"api|✗ error: Kubernetes is not available":                            false,
			"gen|● ready": false,
		}
		var out []string
		sc := bufio.NewScanner(pr)
		for slices.Contains(slices.Collect(maps.Values(want)), false) && sc.Scan() {
			line := sc.Text()
			out = append(out, line)
			name, text, _ := strings.Cut(line, "│")
			for w := range want {
				wn, wt, ok := strings.Cut(w, "|")
				if (ok && strings.TrimSpace(name) == wn && strings.Contains(text, wt)) || (!ok && strings.Contains(line, w)) {
					want[w] = true
				}
			}
		}
		cancel()
		go io.Copy(io.Discard, pr)
		if err := <-done; err != nil {
			t.Errorf("runUp() after cancel = %v, want nil", err)
		}
		for w, seen := range want {
			if !seen {
				t.Errorf("devloop up output has no line with %q:\n%s", w, strings.Join(out, "\n"))
			}
		}
	})
}
