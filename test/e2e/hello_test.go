//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/devloop-dev/devloop/internal/testkit/testenv"
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

	x := newExample(ctx, t, goBin, "hello")
	appPort := testenv.FreePort(t)
	up, _ := x.up(ctx, t, "--port", strconv.Itoa(appPort))

	url := fmt.Sprintf("http://127.0.0.1:%d/", appPort)
	waitFor(ctx, t, "the first answer through the port-forward", helloUpTimeout, answers(url, "hello from devloop\n", up.exited))

	msg := filepath.Join(x.dir, "message.go")
	if err := os.WriteFile(msg, []byte("package main\n\nconst message = \"hello after an edit\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(ctx, t, "the edited answer", helloEditTimeout, answers(url, "hello after an edit\n", up.exited))
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
