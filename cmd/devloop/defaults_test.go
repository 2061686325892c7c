package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/devloop-dev/devloop/devfile"
	"github.com/devloop-dev/devloop/kindcluster"
)

// TestRegistryPortDefaultsAgree keeps the Devfile's default registry port (what
// `devloop config` shows) equal to the port kindcluster uses by default.
func TestRegistryPortDefaultsAgree(t *testing.T) {
	path := filepath.Join(t.TempDir(), "Devfile")
	if err := os.WriteFile(path, []byte("kind_cluster(name='dev')\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := devfile.Load(context.Background(), path, devfile.Options{})
	if err != nil {
		t.Fatalf("devfile.Load(%s) = %v", path, err)
	}
	if m.Cluster == nil || m.Cluster.RegistryPort != kindcluster.DefaultRegistryPort {
		t.Fatalf("kind_cluster(name='dev') registry port = %+v, want %d (kindcluster.DefaultRegistryPort)", m.Cluster, kindcluster.DefaultRegistryPort)
	}
}
