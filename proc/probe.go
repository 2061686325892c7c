package proc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// Probe defaults, as in Kubernetes and Tilt: a probe every 10 seconds with a
// one-second timeout, ready after one success, not ready after three failures.
const (
	DefaultPeriod           = 10 * time.Second
	DefaultTimeout          = time.Second
	DefaultSuccessThreshold = 1
	DefaultFailureThreshold = 3
)

// Check is one probe attempt; nil means success.
type Check func(ctx context.Context) error

// Probe decides readiness with Kubernetes readiness-probe semantics: after
// InitialDelay, Check runs every Period with Timeout; SuccessThreshold
// consecutive successes make the target ready, FailureThreshold consecutive
// failures make it not ready. Zero fields take the defaults above.
type Probe struct {
	InitialDelay time.Duration
	Period       time.Duration
	// StartPeriod, if set and shorter than Period, is the interval until the
	// first success: a local server is usually up milliseconds after it
	// started, and waiting a whole Period for the second attempt would add
	// it to every restart.
	StartPeriod      time.Duration
	Timeout          time.Duration
	SuccessThreshold int
	FailureThreshold int
	Check            Check
}

// Run probes until ctx is done. report is called, from Run's goroutine, when
// the target becomes ready (err nil) and when it stops being ready or first
// reaches the failure threshold (err is the last failure).
func (p Probe) Run(ctx context.Context, report func(ready bool, err error)) {
	period := orDefault(p.Period, DefaultPeriod)
	timeout := orDefault(p.Timeout, DefaultTimeout)
	successes := max(p.SuccessThreshold, 0)
	if successes == 0 {
		successes = DefaultSuccessThreshold
	}
	failures := max(p.FailureThreshold, 0)
	if failures == 0 {
		failures = DefaultFailureThreshold
	}

	t := time.NewTimer(p.InitialDelay)
	defer t.Stop()
	var ready, everReady, reportedFailure bool
	var okRun, failRun int
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cctx, cancel := context.WithTimeout(ctx, timeout)
		err := p.Check(cctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			okRun, failRun = okRun+1, 0
			if !ready && okRun >= successes {
				ready, reportedFailure = true, false
				report(true, nil)
			}
		} else {
			okRun, failRun = 0, failRun+1
			if failRun >= failures && (ready || !reportedFailure) {
				ready, reportedFailure = false, true
				report(false, err)
			}
		}
		next := period
		if okRun == 0 && !ready && !everReady && p.StartPeriod > 0 && p.StartPeriod < period {
			next = p.StartPeriod
		}
		if ready {
			everReady = true
		}
		t.Reset(next)
	}
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// HTTPGet checks with an HTTP GET of scheme://host:port/path: any 2xx or 3xx
// status is success. Empty scheme means http, empty host localhost.
func HTTPGet(scheme, host string, port int, path string) Check {
	if scheme == "" {
		scheme = "http"
	}
	if host == "" {
		host = "localhost"
	}
	if path == "" || path[0] != '/' {
		path = "/" + path
	}
	url := scheme + "://" + net.JoinHostPort(host, strconv.Itoa(port)) + path
	client := &http.Client{
		// Redirects count as success, as in Kubernetes.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport:     &http.Transport{DisableKeepAlives: true},
	}
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("http_get probe: %w", err)
		}
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("http_get probe: %w", err)
		}
		resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode >= 400 {
			return fmt.Errorf("http_get probe: GET %s: status %s", url, resp.Status)
		}
		return nil
	}
}

// TCPSocket checks by opening a TCP connection to host:port (empty host:
// localhost).
func TCPSocket(host string, port int) Check {
	if host == "" {
		host = "localhost"
	}
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	return func(ctx context.Context) error {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return fmt.Errorf("tcp_socket probe: %w", err)
		}
		return c.Close()
	}
}

// Exec checks by running argv in dir with env added to devloop's; exit code
// 0 is success. The command runs in its own process group, killed as a whole
// on timeout.
func Exec(argv []string, dir string, env []string) Check {
	return func(ctx context.Context) error {
		if len(argv) == 0 {
			return errors.New("exec probe: empty command")
		}
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Dir = dir
		cmd.Env = append(cmd.Environ(), env...)
		attr, err := groupAttr(0) // 0: no Pdeathsig; the timeout kills the group
		if err != nil {
			return fmt.Errorf("exec probe %s: %w", quoteArgv(argv), err)
		}
		cmd.SysProcAttr = attr
		cmd.Cancel = func() error { return killGroup(cmd.Process.Pid, syscall.SIGKILL) }
		cmd.WaitDelay = waitDelay
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("exec probe %s: %w: %s", quoteArgv(argv), err, lastLine(out))
		}
		return nil
	}
}

func lastLine(b []byte) string {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == '\n' {
			return string(b[i+1:])
		}
	}
	return string(b)
}
