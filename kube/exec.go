package kube

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"
)

// PodRef names a pod.
type PodRef struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

func (p PodRef) String() string { return p.Namespace + "/" + p.Name }

// ExecError is a command that ran in a container and exited non-zero.
type ExecError struct {
	Argv     []string
	ExitCode int
	// Output is the tail of the command's standard output and error.
	Output string
}

func (e *ExecError) Error() string {
	s := fmt.Sprintf("command %q exited with code %d", strings.Join(e.Argv, " "), e.ExitCode)
	if out := strings.TrimSpace(e.Output); out != "" {
		s += ": " + out
	}
	return s
}

// execOutputTail is how much of a failed command's output ExecError keeps:
// enough for a compiler error or a stack trace's top, small enough to show.
const execOutputTail = 4096

// Exec runs argv in container of pod through the exec subresource
// (WebSocket, falling back to SPDY for older API servers), streaming stdin,
// stdout and stderr (each may be nil). A command that exits non-zero
// returns *ExecError; a failure to run it at all returns another error.
func (c *Client) Exec(ctx context.Context, pod PodRef, container string, argv []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(argv) == 0 {
		return fmt.Errorf("exec in pod %s: empty command", pod)
	}
	req := c.cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(pod.Namespace).Name(pod.Name).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{
			Container: container, Command: argv,
			Stdin: stdin != nil, Stdout: true, Stderr: true,
		}, scheme.ParameterCodec)
	ws, err := remotecommand.NewWebSocketExecutor(c.rest, "GET", req.URL().String())
	if err != nil {
		return fmt.Errorf("exec in pod %s: %w", pod, err)
	}
	spdy, err := remotecommand.NewSPDYExecutor(c.rest, "POST", req.URL())
	if err != nil {
		return fmt.Errorf("exec in pod %s: %w", pod, err)
	}
	ex, err := remotecommand.NewFallbackExecutor(ws, spdy, shouldFallback)
	if err != nil {
		return fmt.Errorf("exec in pod %s: %w", pod, err)
	}
	tail := &tailBuffer{max: execOutputTail}
	opts := remotecommand.StreamOptions{Stdin: stdin, Stdout: tee(stdout, tail), Stderr: tee(stderr, tail)}
	err = ex.StreamWithContext(ctx, opts)
	var code utilexec.CodeExitError
	if errors.As(err, &code) {
		return &ExecError{Argv: argv, ExitCode: code.ExitStatus(), Output: tail.String()}
	}
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("exec %q in pod %s container %s: %w", argv[0], pod, container, ctx.Err())
		}
		return fmt.Errorf("exec %q in pod %s container %s: %w", argv[0], pod, container, err)
	}
	return nil
}

// shouldFallback is true when the WebSocket upgrade failed in a way SPDY
// may not (API servers before 1.29, proxies without WebSocket support).
func shouldFallback(err error) bool {
	return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
}

func tee(w io.Writer, tail io.Writer) io.Writer {
	if w == nil {
		return tail
	}
	return io.MultiWriter(w, tail)
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
