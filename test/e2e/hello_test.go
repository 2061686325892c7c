//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/devloop-dev/devloop/internal/testenv"
	"github.com/devloop-dev/devloop/kindcluster"
)

// Deadlines of the hello test, measured on the 2-core machine: cluster
// ~35 s, the binary ~20 s cold, image ~1 s, rollout ~3 s; an edit shows in
// ~3 s. Each allows for a loaded machine several times over.
const (
	helloUpTimeout   = 8 * time.Minute
	helloEditTimeout = 2 * time.Minute
	helloStopTimeout = 30 * time.Second
)

// TestHello runs examples/hello as a user does: `devloop up` from no
// cluster creates the kind cluster and its registry, builds the binary
// and the image, deploys and port-forwards; a GET through the forward
// answers the message; editing message.go answers the new one. The
// cluster is deleted at the end.
func TestHello(t *testing.T) {
	testenv.Getenv(t, "DEVLOOP_KIND_NODE_IMAGE")
	testenv.Getenv(t, "DEVLOOP_REGISTRY_IMAGE")
	testenv.LookPath(t, "docker", "docker.io")
	goBin := testenv.LookPath(t, "go", "golang (or Go from go.dev)")
	ctx := t.Context()

	tmp := t.TempDir()
	bin := filepath.Join(tmp, "devloop")
	run(ctx, t, goBin, "build", "-o", bin, "../../cmd/devloop")

	// A copy of the example under a unique cluster name and registry port,
	// so that it starts from no cluster and meets no other run.
	dir := filepath.Join(tmp, "hello")
	run(ctx, t, "cp", "-r", "../../examples/hello", dir)
	name := "devloop-hello-" + randHex(t)
	regPort := freePort(t)
	devfile := filepath.Join(dir, "Devfile")
	src, err := os.ReadFile(devfile)
	if err != nil {
		t.Fatal(err)
	}
	decl := `kind_cluster(name = "devloop-hello")`
	if !strings.Contains(string(src), decl) {
		t.Fatalf("examples/hello/Devfile has no %s: update this test", decl)
	}
	src = []byte(strings.Replace(string(src), decl, fmt.Sprintf("kind_cluster(name = %q, registry_port = %d)", name, regPort), 1))
	if err := os.WriteFile(devfile, src, 0o644); err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(tmp, "kubeconfig")
	t.Cleanup(func() {
		if os.Getenv("DEVLOOP_E2E_KEEP") == "1" {
			t.Logf("DEVLOOP_E2E_KEEP=1: keeping kind cluster %s (kubeconfig %s)", name, kubeconfig)
			return
		}
		m, err := kindcluster.New(kindcluster.Config{Kubeconfig: kubeconfig})
		if err != nil {
			t.Errorf("deleting kind cluster %s: %v", name, err)
			return
		}
		dctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := m.Delete(dctx, name); err != nil {
			t.Errorf("deleting kind cluster %s: %v", name, err)
		}
	})

	webPort, appPort := freePort(t), freePort(t)
	cmd := exec.Command(bin, "up", "-f", devfile, "--port", strconv.Itoa(webPort), "--", "--port", strconv.Itoa(appPort))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig, "XDG_STATE_HOME="+filepath.Join(tmp, "state"),
		"XDG_CACHE_HOME="+filepath.Join(tmp, "cache"), "PATH="+filepath.Dir(goBin)+string(os.PathListSeparator)+os.Getenv("PATH"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out := &lines{}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go out.read(pr)
	exited := make(chan error, 1)
	go func() {
		exited <- cmd.Wait()
		pw.Close()
	}()
	// Registered after the cluster's deletion, so it runs first: devloop
	// stops (Ctrl-C) before its cluster goes.
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("devloop up after Ctrl-C: %v", err)
			}
		case <-time.After(helloStopTimeout):
			_ = cmd.Process.Kill()
			t.Errorf("devloop up still running %v after Ctrl-C", helloStopTimeout)
		}
		if t.Failed() {
			t.Logf("devloop up output:\n%s", out.String())
		}
	})

	url := fmt.Sprintf("http://127.0.0.1:%d/", appPort)
	waitFor(ctx, t, "the first answer through the port-forward", helloUpTimeout, answers(url, "hello from devloop\n", exited))

	msg := filepath.Join(dir, "message.go")
	if err := os.WriteFile(msg, []byte("package main\n\nconst message = \"hello after an edit\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(ctx, t, "the edited answer", helloEditTimeout, answers(url, "hello after an edit\n", exited))
}

// answers polls url until it returns want; a devloop that exited is an error.
func answers(url, want string, exited <-chan error) func(context.Context) (bool, string, error) {
	return func(ctx context.Context) (bool, string, error) {
		select {
		case err := <-exited:
			return false, "", fmt.Errorf("devloop up exited: %v", err)
		default:
		}
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(rctx, http.MethodGet, url, nil)
		if err != nil {
			return false, "", err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false, err.Error(), nil
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return false, err.Error(), nil
		}
		return resp.StatusCode == http.StatusOK && string(body) == want, fmt.Sprintf("%s: %q", resp.Status, body), nil
	}
}

// lines collects a process's output.
type lines struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lines) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		l.mu.Lock()
		l.b.WriteString(sc.Text() + "\n")
		l.mu.Unlock()
	}
}

func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
