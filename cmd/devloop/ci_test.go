package main

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/devloop-dev/devloop/devfile"
	"github.com/devloop-dev/devloop/internal/testkit/testenv"
	"github.com/devloop-dev/devloop/kindcluster"
)

// writeDevfile writes a Devfile with body into a new directory.
func writeDevfile(t *testing.T, body string) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "Devfile")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func exitCode(err error) int {
	var ee *exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	}
	return 1
}

func TestCIUsageErrors(t *testing.T) {
	good := writeDevfile(t, `local_resource("ok", cmd="true")`+"\n")
	bad := writeDevfile(t, "local_resource(\"ok\", cmd=\"true\"\n")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "unknown flag", args: []string{"ci", "-f", good, "--bogus"}, want: "unknown flag: --bogus"},
		{name: "bad duration", args: []string{"ci", "-f", good, "--timeout", "soon"}, want: "invalid argument \"soon\""},
		{name: "zero timeout", args: []string{"ci", "-f", good, "--readiness-timeout", "0s"}, want: "--readiness-timeout=0s: give a positive duration"},
		{name: "argument before --", args: []string{"ci", "-f", good, "extra"}, want: `unexpected arguments ["extra"]: put Devfile arguments after --`},
		{name: "bad namespace", args: []string{"ci", "-f", good, "--namespace", "Bad_Name"}, want: `--namespace "Bad_Name": a lowercase RFC 1123 label`},
		{name: "no Devfile", args: []string{"ci", "-f", filepath.Join(t.TempDir(), "missing")}, want: "check the -f path"},
		{name: "Devfile error", args: []string{"ci", "-f", bad}, want: bad + ":"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := runCLI(t, tt.args...)
			if code != exitCIUsage || !strings.Contains(errOut, tt.want) {
				t.Errorf("devloop %s = %d, %q; want %d and an error containing %q", strings.Join(tt.args, " "), code, errOut, exitCIUsage, tt.want)
			}
		})
	}
}

// fakeClusters records Ensure and Delete; ensure, when set, runs inside
// Ensure (to fail it or to interrupt the run). The clusters it "creates"
// are a kubeconfig context pointing at server.
type fakeClusters struct {
	mu      sync.Mutex
	ensured []devfile.Cluster
	deleted []string
	// deleteCtxErr is ctx.Err() as Delete saw it.
	deleteCtxErr error
	ensure       func() error
	server, dir  string
}

// notFoundAPI is an API server that has nothing: every request gets a
// Kubernetes 404 Status (no registry ConfigMap, no API groups).
func notFoundAPI(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}`)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func (f *fakeClusters) Ensure(ctx context.Context, c devfile.Cluster) (*kindcluster.Info, error) {
	f.mu.Lock()
	f.ensured = append(f.ensured, c)
	f.mu.Unlock()
	if f.ensure != nil {
		if err := f.ensure(); err != nil {
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("waiting for the API server: %w", err)
	}
	kc := filepath.Join(f.dir, "kubeconfig-"+c.Name)
	data := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: kind-%[1]s, cluster: {server: %[2]q}}]
users: [{name: kind-%[1]s, user: {}}]
contexts: [{name: kind-%[1]s, context: {cluster: kind-%[1]s, user: kind-%[1]s}}]
current-context: kind-%[1]s
`, c.Name, f.server)
	if err := os.WriteFile(kc, []byte(data), 0o600); err != nil {
		return nil, err
	}
	return &kindcluster.Info{Name: c.Name, Context: "kind-" + c.Name, Kubeconfig: kc, Created: true}, nil
}

func (f *fakeClusters) Delete(ctx context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deleted = append(f.deleted, name)
	f.deleteCtxErr = ctx.Err()
	return nil
}

// cancelOn is an output that cancels when a line contains needle.
type cancelOn struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	needle string
	cancel context.CancelFunc
}

func (w *cancelOn) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if w.needle != "" && strings.Contains(w.buf.String(), w.needle) {
		w.cancel()
	}
	return len(p), nil
}

func (w *cancelOn) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

var ephemeralRE = regexp.MustCompile(`^devloop-ci-[0-9a-f]{8}$`)

func TestCIEphemeral(t *testing.T) {
	const kindOK = `kind_cluster(name="dev", nodes=2)
local_resource("ok", cmd="true")
`
	tests := []struct {
		name    string
		devfile string
		ensure  func(cancel context.CancelFunc) error
		// cancelAt cancels the run when the output has this text (a signal).
		cancelAt string
		code     int
		// cluster is whether a cluster is created (and must be deleted).
		cluster bool
		// want is in the output.
		want string
	}{
		{name: "success", devfile: kindOK, code: 0, cluster: true},
		{name: "failure", devfile: "kind_cluster()\nlocal_resource(\"bad\", cmd=\"exit 4\")\n", code: exitCIFailed, cluster: true},
		{name: "creation fails", devfile: kindOK, ensure: func(context.CancelFunc) error { return errors.New("docker is not running") }, code: exitCIFailed, cluster: true},
		{name: "interrupted while creating", devfile: kindOK, ensure: func(cancel context.CancelFunc) error { cancel(); return nil }, code: exitCIInterrupted, cluster: true},
		{name: "interrupted while running", devfile: `kind_cluster()
local_resource("wait", serve_cmd="exec sleep 1000", readiness_probe=probe(period_secs=1, exec=exec_action(["false"])))
`, cancelAt: "waiting for the readiness probe", code: exitCIInterrupted, cluster: true},
		{name: "nothing for Kubernetes", devfile: `local_resource("ok", cmd="true")` + "\n", code: 0, cluster: false},
		{name: "k8s resource that cannot deploy", devfile: `k8s_yaml(blob("""
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx}]}
"""))
`, code: exitCIFailed, cluster: true, want: "resource web failed: apply failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			fc := &fakeClusters{server: notFoundAPI(t), dir: t.TempDir()}
			if tt.ensure != nil {
				fc.ensure = func() error { return tt.ensure(cancel) }
			}
			out := &cancelOn{needle: tt.cancelAt, cancel: cancel}
			cfg := ciConfig{file: writeDevfile(t, tt.devfile), ephemeral: true, clusters: fc, readinessTimeout: time.Minute}
			err := runCI(ctx, cfg, Streams{Out: out, Err: out})
			if got := exitCode(err); got != tt.code {
				t.Fatalf("runCI(%s) = %v (exit %d), want exit %d; output:\n%s", tt.name, err, got, tt.code, out)
			}
			if !strings.Contains(out.String(), tt.want) {
				t.Errorf("runCI(%s) output lacks %q:\n%s", tt.name, tt.want, out)
			}
			if !tt.cluster {
				if len(fc.ensured) != 0 || len(fc.deleted) != 0 {
					t.Fatalf("runCI(%s): Ensure %v, Delete %v; want no cluster", tt.name, fc.ensured, fc.deleted)
				}
				return
			}
			if len(fc.ensured) != 1 {
				t.Fatalf("runCI(%s): Ensure called %d times, want 1", tt.name, len(fc.ensured))
			}
			c := fc.ensured[0]
			if !ephemeralRE.MatchString(c.Name) || c.RegistryPort == 0 || !c.Registry {
				t.Errorf("runCI(%s): Ensure(%+v), want a devloop-ci-XXXXXXXX name and a registry on a chosen port", tt.name, c)
			}
			if len(fc.deleted) != 1 || fc.deleted[0] != c.Name {
				t.Errorf("runCI(%s): Delete(%v), want Delete(%s) once", tt.name, fc.deleted, c.Name)
			}
			if fc.deleteCtxErr != nil {
				t.Errorf("runCI(%s): Delete got a done context (%v), want a live one", tt.name, fc.deleteCtxErr)
			}
		})
	}
}

func TestCISettings(t *testing.T) {
	m := &devfile.Model{Settings: devfile.Settings{CITimeout: time.Hour, CIReadinessTimeout: time.Minute, CIK8sGracePeriod: 20 * time.Second}}
	tests := []struct {
		name                  string
		cfg                   ciConfig
		model                 *devfile.Model
		timeout, ready, grace time.Duration
	}{
		{name: "ci_settings", model: m, timeout: time.Hour, ready: time.Minute, grace: 20 * time.Second},
		{name: "flags win", cfg: ciConfig{timeout: 2 * time.Hour, readinessTimeout: 3 * time.Minute}, model: m, timeout: 2 * time.Hour, ready: 3 * time.Minute, grace: 20 * time.Second},
		{name: "neither: package ci's defaults", model: &devfile.Model{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ciSettings(tt.cfg, tt.model)
			if c.Timeout != tt.timeout || c.ReadinessTimeout != tt.ready || c.GracePeriod != tt.grace {
				t.Errorf("ciSettings() = %s, %s, %s; want %s, %s, %s", c.Timeout, c.ReadinessTimeout, c.GracePeriod, tt.timeout, tt.ready, tt.grace)
			}
		})
	}
}

// junitReport is the part of a JUnit report the tests read back.
type junitReport struct {
	Suites []struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Cases    []struct {
			Name    string `xml:"name,attr"`
			Failure *struct {
				Message string `xml:"message,attr"`
				Text    string `xml:",chardata"`
			} `xml:"failure"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

func readJUnit(t *testing.T, path string) junitReport {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading the JUnit report: %v", err)
	}
	var r junitReport
	if err := xml.Unmarshal(b, &r); err != nil {
		t.Fatalf("parsing the JUnit report: %v\n%s", err, b)
	}
	if len(r.Suites) != 1 {
		t.Fatalf("JUnit report has %d testsuites, want 1:\n%s", len(r.Suites), b)
	}
	return r
}

// runCIBinary runs the devloop binary's ci in dir and returns its exit code
// and output. ciRunTimeout bounds it: `devloop ci` must end by itself.
func runCIBinary(t *testing.T, bin, dir string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), ciRunTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"ci"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(goTool(t))+string(os.PathListSeparator)+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("devloop ci %s did not end within %s; output:\n%s", strings.Join(args, " "), ciRunTimeout, out)
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("running devloop ci: %v", err)
	}
	return cmd.ProcessState.ExitCode(), string(out)
}

// ciRunTimeout bounds one `devloop ci` run in the integration tests: a cold
// `go build` of examples/local on a loaded 2-core machine takes under a
// minute; twice that means devloop hangs.
const ciRunTimeout = 2 * time.Minute

// TestCIExample is the integration test of `devloop ci` on a copy of
// examples/local: exit 0 and a JUnit report that parses, no process left.
func TestCIExample(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test skipped in -short mode: it builds devloop and runs go builds of examples/local")
	}
	bin := buildDevloop(t)
	dir := copyExample(t)
	report := filepath.Join(t.TempDir(), "junit.xml")
	code, out := runCIBinary(t, bin, dir, "-f", filepath.Join(dir, "Devfile"), "--junit", report, "--", "--port", strconv.Itoa(testenv.FreePort(t)))
	if code != 0 || !strings.Contains(out, "devloop: ci: SUCCESS") {
		t.Fatalf("devloop ci on examples/local = exit %d, want 0 and SUCCESS; output:\n%s", code, out)
	}
	r := readJUnit(t, report)
	s := r.Suites[0]
	if s.Tests != 2 || s.Failures != 0 || s.Cases[0].Name != "gen" || s.Cases[1].Name != "server" {
		t.Errorf("JUnit report = %+v, want 2 passing test cases gen and server", s)
	}
	m := regexp.MustCompile(`listening on .* \(pid (\d+)\)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("devloop ci output has no server pid; output:\n%s", out)
	}
	pid, _ := strconv.Atoi(m[1])
	waitGone(t, pid, "the example server")
}

// TestCIFailures runs `devloop ci` on Devfiles that fail: it exits 1, names
// the resource, its reason and last lines, and leaves no process behind
// (the serve_cmds write their PID to a file first).
func TestCIFailures(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test skipped in -short mode: it builds devloop and runs local commands")
	}
	bin := buildDevloop(t)
	b, err := os.ReadFile(filepath.Join("..", "..", "examples", "ci-fail", "Devfile"))
	if err != nil {
		t.Fatal(err)
	}
	exampleCIFail := string(b)
	// bystander is ready once it wrote its PID, so the PID is there to check
	// whatever the outcome.
	const bystanderProbe = `probe(period_secs=1, exec=exec_action(["test", "-s", "bystander.pid"]))`
	tests := []struct {
		name    string
		devfile string
		args    []string
		want    []string
		// junitFailure is the test case that must carry a <failure>.
		junitFailure string
		// noPID: the Devfile writes no bystander.pid.
		noPID bool
	}{
		{
			name: "failing cmd",
			devfile: `local_resource("bystander", serve_cmd="echo $$ > bystander.pid; exec sleep 1000", readiness_probe=bystanderProbe)
local_resource("broken", cmd="echo compiling; echo 'main.go:3: undefined: x' >&2; exit 3", resource_deps=["bystander"])
`,
			want: []string{
				"devloop: ci: FAILED",
				"✗ broken: cmd failed:",
				"exited with code 3",
				"last lines of broken:",
				"│ main.go:3: undefined: x",
			},
			junitFailure: "broken",
		},
		{
			name: "probe never succeeds",
			devfile: `local_resource("bystander", serve_cmd="echo $$ > bystander.pid; exec sleep 1000", readiness_probe=bystanderProbe)
local_resource("never", serve_cmd="exec sleep 1000", readiness_probe=probe(period_secs=1, exec=exec_action(["sh", "-c", "echo not yet; exit 1"])))
local_resource("later", cmd="true", resource_deps=["never"])
`,
			args: []string{"--readiness-timeout", "3s"},
			want: []string{
				"resource never failed: not ready within the readiness timeout (3s)",
				"waiting for the readiness probe",
				"○ later still waiting: pending, waiting for resource_deps: never",
			},
			junitFailure: "never",
		},
		{
			name:    "examples/ci-fail",
			devfile: exampleCIFail,
			want: []string{
				"resource unit-tests failed: cmd failed:",
				"last lines of unit-tests:",
				"│ FAIL TestCheckout: want 200, got 500",
			},
			junitFailure: "unit-tests",
			noPID:        true,
		},
		{
			name:    "timeout",
			devfile: `local_resource("slow", cmd="echo $$ > bystander.pid; exec sleep 1000")` + "\n",
			args:    []string{"--timeout", "3s"},
			want: []string{
				"FAILED after 3",
				"timed out after 3s waiting for slow",
				"○ slow still waiting: building",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeDevfile(t, "bystanderProbe = "+bystanderProbe+"\n"+tt.devfile)
			dir := filepath.Dir(path)
			report := filepath.Join(dir, "junit.xml")
			code, out := runCIBinary(t, bin, dir, append([]string{"-f", path, "--junit", report}, tt.args...)...)
			if code != exitCIFailed {
				t.Fatalf("devloop ci (%s) = exit %d, want %d; output:\n%s", tt.name, code, exitCIFailed, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("devloop ci (%s) output lacks %q; output:\n%s", tt.name, w, out)
				}
			}
			r := readJUnit(t, report)
			if tt.junitFailure != "" {
				found := false
				for _, c := range r.Suites[0].Cases {
					if c.Name == tt.junitFailure && c.Failure != nil && c.Failure.Message != "" {
						found = true
					}
				}
				if !found {
					t.Errorf("JUnit report of %s has no <failure> for %s: %+v", tt.name, tt.junitFailure, r.Suites[0])
				}
			}
			if tt.noPID {
				return
			}
			b, err := os.ReadFile(filepath.Join(dir, "bystander.pid"))
			if err != nil {
				t.Fatalf("the bystander wrote no pid: %v; output:\n%s", err, out)
			}
			pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
			waitGone(t, pid, "a local process of devloop ci")
		})
	}
}

// TestCIInterrupt sends SIGINT or SIGTERM to `devloop ci` while a resource
// waits: it exits 130 and stops its processes.
func TestCIInterrupt(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test skipped in -short mode: it builds devloop and runs local commands")
	}
	bin := buildDevloop(t)
	for _, tt := range []struct {
		name string
		sig  syscall.Signal
	}{
		{name: "SIGINT", sig: syscall.SIGINT},
		{name: "SIGTERM", sig: syscall.SIGTERM},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := writeDevfile(t, `local_resource("wait", serve_cmd="echo $$ > wait.pid; echo started; exec sleep 1000", readiness_probe=probe(period_secs=1, exec=exec_action(["false"])))`+"\n")
			dir := filepath.Dir(path)
			d := startCI(t, bin, dir, "-f", path)
			d.wait(`^wait +│ started`)
			if err := d.cmd.Process.Signal(tt.sig); err != nil {
				t.Fatal(err)
			}
			d.wait(`devloop: ci: INTERRUPTED`)
			for range d.lines {
			}
			if code := d.cmd.ProcessState.ExitCode(); code != exitCIInterrupted {
				t.Errorf("devloop ci after %s = exit %d, want %d; output:\n%s", tt.name, code, exitCIInterrupted, d.output())
			}
			b, err := os.ReadFile(filepath.Join(dir, "wait.pid"))
			if err != nil {
				t.Fatalf("the serve_cmd wrote no pid: %v", err)
			}
			pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
			waitGone(t, pid, "the serve_cmd")
		})
	}
}

// startCI starts `devloop ci` with its output read line by line (the
// upProc of up_test.go).
func startCI(t *testing.T, bin, dir string, args ...string) *upProc {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"ci"}, args...)...)
	cmd.Dir = dir
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	d := &upProc{t: t, cmd: cmd, lines: make(chan string, 10000)}
	go func() {
		buf := make([]byte, 0, 4096)
		tmp := make([]byte, 4096)
		for {
			n, err := pr.Read(tmp)
			buf = append(buf, tmp[:n]...)
			for {
				i := bytes.IndexByte(buf, '\n')
				if i < 0 {
					break
				}
				line := string(buf[:i])
				buf = buf[i+1:]
				d.mu.Lock()
				d.out = append(d.out, line)
				d.mu.Unlock()
				d.lines <- line
			}
			if err != nil {
				break
			}
		}
		_ = cmd.Wait()
		close(d.lines)
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return d
}
