package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/devloop-dev/devloop/devfile"
	"github.com/devloop-dev/devloop/internal/testkit/testenv"
	"github.com/devloop-dev/devloop/kindcluster"
)

func TestClusterSpec(t *testing.T) {
	dir := t.TempDir()
	withCluster := filepath.Join(dir, "Devfile")
	if err := os.WriteFile(withCluster, []byte("kind_cluster(name='shop', registry_port=6001)\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	without := filepath.Join(dir, "plain.star")
	if err := os.WriteFile(without, []byte("print('hi')\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		cfg     clusterConfig
		want    devfile.Cluster
		wantErr string
	}{
		{name: "name alone needs no Devfile", cfg: clusterConfig{name: "x"}, want: devfile.Cluster{Name: "x", Registry: true}},
		{name: "flags on --name", cfg: clusterConfig{name: "x", nodes: 2, registryPort: 7000, noRegistry: true},
			want: devfile.Cluster{Name: "x", Nodes: 2, RegistryPort: 7000}},
		{name: "from the Devfile", cfg: clusterConfig{file: withCluster},
			want: devfile.Cluster{Name: "shop", Nodes: 1, Registry: true, RegistryPort: 6001}},
		{name: "flags override the Devfile", cfg: clusterConfig{file: withCluster, name: "other", nodeImage: "img"},
			want: devfile.Cluster{Name: "other", Nodes: 1, Registry: true, RegistryPort: 6001, NodeImage: "img"}},
		{name: "Devfile without kind_cluster", cfg: clusterConfig{file: without}, wantErr: "declares no kind_cluster()"},
		{name: "missing Devfile", cfg: clusterConfig{file: filepath.Join(dir, "nope")}, wantErr: "or name the cluster with --name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := clusterSpec(t.Context(), tt.cfg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("clusterSpec(%+v) = %v, want an error containing %q", tt.cfg, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("clusterSpec(%+v) = %+v, %v; want %+v", tt.cfg, got, err, tt.want)
			}
		})
	}
}

func TestClusterStatusText(t *testing.T) {
	tests := []struct {
		name    string
		st      kindcluster.Status
		want    string
		wantErr string
	}{
		{name: "missing", st: kindcluster.Status{Name: "dev"}, want: "cluster  dev: does not exist (devloop cluster create)\nregistry: none\n",
			wantErr: `kind cluster "dev" does not exist`},
		{name: "stopped", st: kindcluster.Status{Name: "dev", Exists: true, Devloop: true, Nodes: []string{"dev-control-plane"}, Context: "kind-dev"},
			want: "cluster  dev: stopped, 1 node(s), context kind-dev (devloop)\nregistry: none\n", wantErr: `kind cluster "dev" is stopped`},
		{name: "running", st: kindcluster.Status{Name: "dev", Exists: true, Devloop: true, Running: true, Nodes: []string{"dev-control-plane"}, Context: "kind-dev",
			Registry: &kindcluster.RegistryStatus{Container: "devloop-dev-registry", Host: "localhost:5005", Running: true, Devloop: true}},
			want: "cluster  dev: running, 1 node(s), context kind-dev (devloop)\nregistry devloop-dev-registry: running on localhost:5005\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := clusterStatusText(&tt.st); got != tt.want {
				t.Errorf("clusterStatusText(%+v) = %q, want %q", tt.st, got, tt.want)
			}
			err := clusterStatusErr(&tt.st)
			if (err != nil) != (tt.wantErr != "") || err != nil && !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("clusterStatusErr(%+v) = %v, want an error containing %q", tt.st, err, tt.wantErr)
			}
		})
	}
}

// TestClusterStatusMissing runs `devloop cluster status` against the real
// docker: a cluster that does not exist prints so and exits 1, in both
// output formats.
func TestClusterStatusMissing(t *testing.T) {
	testenv.Getenv(t, "DEVLOOP_KIND_NODE_IMAGE") // the test environment's docker runs
	for _, args := range [][]string{{}, {"-o", "json"}} {
		code, out, errOut := runCLI(t, append([]string{"cluster", "status", "--name", "devloop-nope"}, args...)...)
		if code != 1 || !strings.Contains(out, "devloop-nope") || !strings.Contains(errOut, `kind cluster "devloop-nope" does not exist`) {
			t.Errorf("devloop cluster status --name devloop-nope %v = %d, %q, %q; want 1, the status and the error", args, code, out, errOut)
		}
	}
}
