package kube

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// TestPing against an httptest API server: ready, not ready, and gone.
func TestPing(t *testing.T) {
	var ready atomic.Bool
	ready.Store(true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		if !ready.Load() {
			http.Error(w, "[+]ping ok\n[-]poststarthook/rbac/bootstrap-roles failed: reason withheld\n[+]etcd ok\nreadyz check failed", http.StatusInternalServerError)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	kubeconfig := filepath.Join(t.TempDir(), "config")
	cfg := "apiVersion: v1\nkind: Config\ncurrent-context: test\nclusters:\n- name: test\n  cluster: {server: " + srv.URL +
		"}\ncontexts:\n- name: test\n  context: {cluster: test, user: test}\nusers:\n- name: test\n  user: {}\n"
	if err := os.WriteFile(kubeconfig, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := New(Config{Kubeconfig: kubeconfig})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Ping(t.Context()); err != nil {
		t.Errorf("Ping(ready) = %v, want nil", err)
	}
	ready.Store(false)
	want := "is not ready: poststarthook/rbac/bootstrap-roles failing"
	if err := c.Ping(t.Context()); err == nil || !strings.Contains(err.Error(), "kube context test") || !strings.HasSuffix(err.Error(), want) {
		t.Errorf("Ping(not ready) = %v, want an error naming the context and ending %q", err, want)
	}
	srv.Close()
	if err := c.Ping(t.Context()); err == nil || !strings.Contains(err.Error(), srv.URL[len("http://"):]) {
		t.Errorf("Ping(gone) = %v, want an error naming the server", err)
	}
}
