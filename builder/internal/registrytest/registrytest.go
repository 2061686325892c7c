// Package registrytest starts a real, throwaway container registry for
// tests: Debian's docker-registry (distribution v2) on a free 127.0.0.1
// port, with its storage in the test's temporary directory.
package registrytest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/devloop-dev/devloop/internal/testkit/testenv"
)

// Registry is a running registry.
type Registry struct {
	// Host is "127.0.0.1:PORT", the registry's address as image references use it.
	Host string
	// Dir holds the registry's storage.
	Dir string
}

// Start starts a registry that stops when the test ends. Without
// docker-registry installed the test is skipped (failed under make e2e).
func Start(t testing.TB) *Registry {
	t.Helper()
	bin := testenv.LookPath(t, "docker-registry", "docker-registry")
	dir := t.TempDir()
	host := freeAddr(t)
	conf := fmt.Sprintf(`version: 0.1
log:
  level: info
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
`, filepath.Join(dir, "data"), host)
	confPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "serve", confPath)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("starting %s: %v", bin, err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})
	// The registry logs "listening on ADDR" once it accepts connections:
	// wait for that line, then keep draining its log so it never blocks.
	lines := bufio.NewScanner(stderr)
	var log strings.Builder
	ready := false
	for lines.Scan() {
		log.WriteString(lines.Text() + "\n")
		if strings.Contains(lines.Text(), "listening on") {
			ready = true
			break
		}
	}
	if !ready {
		t.Fatalf("docker-registry on %s exited before listening:\n%s", host, log.String())
	}
	go func() { _, _ = io.Copy(io.Discard, stderr) }()
	return &Registry{Host: host, Dir: dir}
}

// freeAddr returns a loopback address with a port nothing listens on now.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// Manifest is a manifest read back from the registry.
type Manifest struct {
	Digest    string
	MediaType string
	Body      []byte
}

// Manifest GETs repo's manifest by tag or digest (repo without the host),
// accepting indexes and single manifests, and fails the test unless the
// registry has it.
func (r *Registry) Manifest(t testing.TB, repo, reference string) Manifest {
	t.Helper()
	m, status, err := r.get(repo, reference)
	if err != nil {
		t.Fatal(err)
	}
	if status != http.StatusOK {
		t.Fatalf("GET manifest %s/%s:%s = %d, want 200", r.Host, repo, reference, status)
	}
	return m
}

// Has reports whether the registry has repo's manifest reference.
func (r *Registry) Has(t testing.TB, repo, reference string) bool {
	t.Helper()
	_, status, err := r.get(repo, reference)
	if err != nil {
		t.Fatal(err)
	}
	return status == http.StatusOK
}

// Delete deletes repo's manifest by digest, as a registry garbage
// collection or a recreated registry would lose it.
func (r *Registry) Delete(t testing.TB, repo, digest string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodDelete, fmt.Sprintf("http://%s/v2/%s/manifests/%s", r.Host, repo, digest), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("DELETE manifest %s/%s@%s = %s, want 202", r.Host, repo, digest, resp.Status)
	}
}

// Tag points repo:tag at the manifest reference (a digest or another
// tag), as `docker tag` and `docker push` of an existing image would.
func (r *Registry) Tag(t testing.TB, repo, reference, tag string) {
	t.Helper()
	m := r.Manifest(t, repo, reference)
	req, err := http.NewRequest(http.MethodPut, fmt.Sprintf("http://%s/v2/%s/manifests/%s", r.Host, repo, tag), bytes.NewReader(m.Body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", m.MediaType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT manifest %s/%s:%s = %s, want 201", r.Host, repo, tag, resp.Status)
	}
}

func (r *Registry) get(repo, reference string) (Manifest, int, error) {
	req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("http://%s/v2/%s/manifests/%s", r.Host, repo, reference), nil)
	if err != nil {
		return Manifest{}, 0, err
	}
	req.Header.Set("Accept", strings.Join([]string{
		"application/vnd.oci.image.index.v1+json",
		"application/vnd.docker.distribution.manifest.list.v2+json",
		"application/vnd.oci.image.manifest.v1+json",
		"application/vnd.docker.distribution.manifest.v2+json",
	}, ", "))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return Manifest{}, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return Manifest{}, 0, err
	}
	return Manifest{Digest: resp.Header.Get("Docker-Content-Digest"), MediaType: resp.Header.Get("Content-Type"), Body: body}, resp.StatusCode, nil
}
