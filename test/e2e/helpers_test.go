//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/kind/pkg/log"

	"github.com/devloop-dev/devloop/engine"
	"github.com/devloop-dev/devloop/internal/testkit/testenv"
	"github.com/devloop-dev/devloop/kindcluster"
	"github.com/devloop-dev/devloop/web"
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

// devloopBin builds devloop into dir and returns its path.
func devloopBin(ctx context.Context, t *testing.T, goBin, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "devloop")
	run(ctx, t, goBin, "build", "-o", bin, "../../cmd/devloop")
	return bin
}

// copyExample copies the example directory src to dst and replaces, in
// its Devfile, decl (which must be there) by repl. It returns the copy's
// Devfile.
func copyExample(ctx context.Context, t *testing.T, src, dst, decl, repl string) string {
	t.Helper()
	run(ctx, t, "cp", "-r", src, dst)
	devfile := filepath.Join(dst, "Devfile")
	replaceInFile(t, devfile, decl, repl)
	return devfile
}

// replaceInFile replaces old, which must be in file, by repl.
func replaceInFile(t *testing.T, file, old, repl string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s has no %s: update this test", file, old)
	}
	if err := os.WriteFile(file, []byte(strings.Replace(string(b), old, repl, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// devloopEnv is the environment devloop runs in: the test's, with its own
// kubeconfig, state and cache directories under tmp, and go on the PATH.
// Go keeps its build cache where it was (GOCACHE would otherwise follow
// XDG_CACHE_HOME): a cold cache costs each local go build of the examples
// 20-40 s of compiling the standard library on the 2-core machine.
func devloopEnv(tmp, kubeconfig, goBin string) []string {
	env := append(os.Environ(), "KUBECONFIG="+kubeconfig, "XDG_STATE_HOME="+filepath.Join(tmp, "state"),
		"XDG_CACHE_HOME="+filepath.Join(tmp, "cache"), "PATH="+filepath.Dir(goBin)+string(os.PathListSeparator)+os.Getenv("PATH"))
	if os.Getenv("GOCACHE") == "" {
		if out, err := exec.Command(goBin, "env", "GOCACHE").Output(); err == nil && strings.TrimSpace(string(out)) != "" {
			env = append(env, "GOCACHE="+strings.TrimSpace(string(out)))
		}
	}
	return env
}

// runDevloop runs devloop to its end (ctx bounds it) and returns its
// combined output and exit code; a devloop that cannot start or does not
// end fails the test.
func runDevloop(ctx context.Context, t *testing.T, bin, dir string, env []string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir, cmd.Env = dir, env
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("devloop %s did not end in time; output:\n%s", strings.Join(args, " "), out)
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &ee):
		return string(out), ee.ExitCode()
	}
	t.Fatalf("devloop %s: %v\n%s", strings.Join(args, " "), err, out)
	return "", 0
}

// containersOf returns the docker containers (any state) of the kind
// cluster name and of its registry.
func containersOf(ctx context.Context, t *testing.T, docker, name string) []string {
	t.Helper()
	var out []string
	for _, f := range []string{"label=io.x-k8s.kind.cluster=" + name, "name=" + name} {
		s := run(ctx, t, docker, "ps", "-a", "--filter", f, "--format", "{{.Names}}")
		for _, n := range strings.Fields(s) {
			if !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
	}
	return out
}

// deleteClusterAtEnd deletes the kind cluster name (and its registry) when
// the test ends, unless DEVLOOP_E2E_KEEP=1; a cluster already gone is fine.
func deleteClusterAtEnd(t *testing.T, name, kubeconfig string) {
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
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := m.Delete(ctx, name); err != nil {
			t.Errorf("deleting kind cluster %s: %v", name, err)
		}
	})
}

func resourceOf(v engine.View, name string) engine.ResourceView {
	for _, r := range v.Resources {
		if r.Name == name {
			return r
		}
	}
	return engine.ResourceView{Name: name}
}

// allReady polls the API until each named resource is ready.
func allReady(api *web.Client, names ...string) func(context.Context) (bool, string, error) {
	return func(ctx context.Context) (bool, string, error) {
		v, err := api.View(ctx)
		if err != nil {
			return false, err.Error(), nil
		}
		var state []string
		done := true
		for _, n := range names {
			r := resourceOf(v, n)
			done = done && r.Phase == engine.PhaseReady
			s := fmt.Sprintf("%s %s", n, r.Phase)
			if r.Waiting != "" {
				s += " (" + r.Waiting + ")"
			}
			if r.Error != "" {
				s += fmt.Sprintf(" %q", r.Error)
			}
			state = append(state, s)
		}
		return done, strings.Join(state, "; "), nil
	}
}

// logsOf returns the log of resource as the API serves it.
func logsOf(ctx context.Context, t *testing.T, api *web.Client, resource string) string {
	t.Helper()
	lr, err := api.Logs(ctx, resource, 0, 0)
	if err != nil {
		t.Fatalf("logs of %s: %v", resource, err)
	}
	var b strings.Builder
	for _, l := range lr.Lines {
		b.WriteString(l.Text + "\n")
	}
	return b.String()
}

// tryGet returns the body of a GET of url that answered 200.
func tryGet(ctx context.Context, url string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s: %q", url, resp.Status, body)
	}
	return string(body), nil
}

// get returns the body of a GET of url, failing the test unless it answers 200.
func get(ctx context.Context, t *testing.T, url string) string {
	t.Helper()
	body, err := tryGet(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// devloopProc is a running `devloop up`.
type devloopProc struct {
	cmd     *exec.Cmd
	out     *lines
	exited  chan error
	stopped bool
}

// startDevloop starts devloop with args; it is stopped (Ctrl-C) when the
// test ends if stop was not called, and its output is logged if the test
// failed.
func startDevloop(t *testing.T, bin, dir string, env []string, args ...string) *devloopProc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir, cmd.Env = dir, env
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p := &devloopProc{cmd: cmd, out: &lines{}, exited: make(chan error, 1)}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go p.out.read(pr)
	go func() {
		p.exited <- cmd.Wait()
		pw.Close()
	}()
	t.Cleanup(func() {
		if !p.stopped {
			p.stop(t)
		}
	})
	return p
}

// stop interrupts devloop as Ctrl-C does and waits for it to exit.
func (p *devloopProc) stop(t *testing.T) {
	t.Helper()
	p.stopped = true
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-p.exited:
		if err != nil {
			t.Errorf("devloop after Ctrl-C: %v", err)
		}
	case <-time.After(helloStopTimeout):
		_ = p.cmd.Process.Kill()
		t.Errorf("devloop still running %v after Ctrl-C", helloStopTimeout)
	}
	if t.Failed() {
		t.Logf("devloop output:\n%s", p.out.String())
	}
}

// apiClient waits for the daemon on port to write its state file under
// stateDir and returns a client with its token.
func apiClient(ctx context.Context, t *testing.T, stateDir string, port int, exited <-chan error) *web.Client {
	t.Helper()
	path := filepath.Join(stateDir, "devloop", "daemon-"+strconv.Itoa(port)+".json")
	var st web.State
	waitFor(ctx, t, "devloop's state file", multiStepTimeout, func(ctx context.Context) (bool, string, error) {
		select {
		case err := <-exited:
			return false, "", fmt.Errorf("devloop exited: %v", err)
		default:
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return false, err.Error(), nil
		}
		return json.Unmarshal(b, &st) == nil && st.Token != "", string(b), nil
	})
	c, err := web.NewClient(web.ClientConfig{Host: "127.0.0.1", Port: port, Token: st.Token})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// example is a copy of examples/NAME whose kind cluster has a unique name
// and a free registry port, so that it starts from no cluster and meets no
// other run; the cluster is deleted when the test ends.
type example struct {
	tmp, dir, devfile string
	// cluster is the kind cluster's name; kubeconfig the file devloop
	// adds its context to; env the environment to run devloop in.
	cluster, kubeconfig string
	regPort             int
	env                 []string
	bin                 string
}

func newExample(ctx context.Context, t *testing.T, goBin, name string) *example {
	t.Helper()
	x := &example{tmp: t.TempDir()}
	x.bin = devloopBin(ctx, t, goBin, x.tmp)
	x.cluster = "devloop-" + name + "-" + randHex(t)
	x.regPort = testenv.FreePort(t)
	x.dir = filepath.Join(x.tmp, name)
	x.devfile = copyExample(ctx, t, "../../examples/"+name, x.dir, fmt.Sprintf("kind_cluster(name = %q)", "devloop-"+name),
		fmt.Sprintf("kind_cluster(name = %q, registry_port = %d)", x.cluster, x.regPort))
	x.kubeconfig = filepath.Join(x.tmp, "kubeconfig")
	x.env = devloopEnv(x.tmp, x.kubeconfig, goBin)
	deleteClusterAtEnd(t, x.cluster, x.kubeconfig)
	return x
}

// kubectl returns a runner of kubectl against the example's cluster.
func (x *example) kubectl(kubectl string) func(context.Context, ...string) (string, error) {
	return func(ctx context.Context, args ...string) (string, error) {
		return try(ctx, kubectl, append([]string{"--kubeconfig", x.kubeconfig, "--context", "kind-" + x.cluster}, args...)...)
	}
}

// up starts `devloop up` on the example with its dashboard on a free port
// and the Devfile's args, and returns it with a client of its API.
func (x *example) up(ctx context.Context, t *testing.T, args ...string) (*devloopProc, *web.Client) {
	t.Helper()
	port := testenv.FreePort(t)
	p := startDevloop(t, x.bin, x.dir, x.env, append([]string{"up", "-f", x.devfile, "--port", strconv.Itoa(port), "--"}, args...)...)
	return p, apiClient(ctx, t, filepath.Join(x.tmp, "state"), port, p.exited)
}
