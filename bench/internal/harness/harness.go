// Package harness has what the benchmark harnesses under bench/ share:
// a free local port, and a client of a starting `devloop up` once its API
// answers.
package harness

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/devloop-dev/devloop/web"
)

// FreePort returns a TCP port free on 127.0.0.1 now.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// WaitAPI returns a client of the devloop up listening on port once its
// API answers, or an error after timeout. The client reads the state file
// under $XDG_STATE_HOME, as the CLI does.
func WaitAPI(ctx context.Context, port int, timeout time.Duration) (*web.Client, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if c, err := web.NewClient(web.ClientConfig{Port: port}); err == nil {
			if _, err := c.View(ctx); err == nil {
				return c, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	return nil, fmt.Errorf("devloop's API on port %d did not answer in %s", port, timeout)
}
