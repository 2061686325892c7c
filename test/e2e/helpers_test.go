//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/kind/pkg/log"
)

// pollInterval is how often conditions are re-checked: short against the
// ~1 s it takes a pod to start, long enough not to load the 2-core CI machine.
const pollInterval = 250 * time.Millisecond

// waitFor polls cond until it reports true, returns an error, or timeout
// passes; on timeout the message names what was awaited and the last state.
func waitFor(ctx context.Context, t *testing.T, what string, timeout time.Duration, cond func(context.Context) (bool, string, error)) {
	t.Helper()
	start := time.Now()
	var last string
	err := wait.PollUntilContextTimeout(ctx, pollInterval, timeout, true, func(ctx context.Context) (bool, error) {
		ok, state, err := cond(ctx)
		if ctx.Err() == nil { // a poll cut short by the deadline says nothing new
			last = state
		}
		return ok, err
	})
	if err != nil {
		t.Fatalf("waiting %v for %s: %v; last state: %s", timeout, what, err, last)
	}
	t.Logf("%s after %.1f s", what, time.Since(start).Seconds())
}

// run runs a command and returns its combined output, failing the test with
// that output when it fails.
func run(ctx context.Context, t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// try runs a command and returns its output and error, for polling.
func try(ctx context.Context, name string, args ...string) (string, error) {
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

var forwardingRE = regexp.MustCompile(`Forwarding from 127\.0\.0\.1:(\d+) ->`)

// portForward starts `kubectl port-forward` to target's remote port on a
// random local port and returns that port once kubectl says it listens. The
// process ends with the test.
func portForward(ctx context.Context, t *testing.T, kubectl, kubeconfig, target string, remote int) string {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	cmd := exec.CommandContext(ctx, kubectl, "--kubeconfig", kubeconfig, "port-forward", target, fmt.Sprintf(":%d", remote))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting kubectl port-forward: %v", err)
	}
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })
	port := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := forwardingRE.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case port <- m[1]:
				default:
				}
			}
		}
		close(port)
	}()
	select {
	case p, ok := <-port:
		if !ok {
			t.Fatalf("kubectl port-forward %s exited before listening: %s", target, stderr.String())
		}
		return p
	case <-time.After(30 * time.Second):
		t.Fatalf("kubectl port-forward %s did not listen within 30 s: %s", target, stderr.String())
	}
	return ""
}

// kindLogger sends kind's progress to the test log.
type kindLogger struct{ t *testing.T }

func (l kindLogger) Warn(m string)                { l.t.Log("kind: " + m) }
func (l kindLogger) Warnf(f string, a ...any)     { l.t.Logf("kind: "+f, a...) }
func (l kindLogger) Error(m string)               { l.t.Log("kind: " + m) }
func (l kindLogger) Errorf(f string, a ...any)    { l.t.Logf("kind: "+f, a...) }
func (l kindLogger) V(v log.Level) log.InfoLogger { return kindInfo{l.t, v == 0} }
func (l kindLogger) Write(p []byte) (int, error)  { l.t.Log(string(p)); return len(p), nil }

var _ io.Writer = kindLogger{}

type kindInfo struct {
	t  *testing.T
	on bool
}

func (i kindInfo) Info(m string) {
	if i.on {
		i.t.Log("kind: " + m)
	}
}
func (i kindInfo) Infof(f string, a ...any) {
	if i.on {
		i.t.Logf("kind: "+f, a...)
	}
}
func (i kindInfo) Enabled() bool { return i.on }
