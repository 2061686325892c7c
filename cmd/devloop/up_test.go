package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/devloop-dev/devloop/engine"
	"github.com/devloop-dev/devloop/internal/testkit/testenv"
)

// lineTimeout bounds each wait for a line of devloop's output. The first
// `go run`/`go build` of the example with a cold cache takes a few seconds on
// a loaded 2-core machine; a minute means "it is not coming".
const lineTimeout = 60 * time.Second

// upProc is a `devloop up` process under test, its output read line by line.
type upProc struct {
	t     *testing.T
	cmd   *exec.Cmd
	lines chan string
	mu    sync.Mutex
	out   []string
}

func (d *upProc) output() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return strings.Join(d.out, "\n")
}

// wait returns the first line from now on that matches re, or fails.
func (d *upProc) wait(re string) []string {
	d.t.Helper()
	rx := regexp.MustCompile(re)
	timer := time.NewTimer(lineTimeout)
	defer timer.Stop()
	for {
		select {
		case l, ok := <-d.lines:
			if !ok {
				d.t.Fatalf("devloop exited before printing a line matching %q; output:\n%s", re, d.output())
			}
			if m := rx.FindStringSubmatch(l); m != nil {
				return m
			}
		case <-timer.C:
			d.t.Fatalf("no line matching %q within %s; output:\n%s", re, lineTimeout, d.output())
		}
	}
}

// buildDevloop builds the devloop binary into a temporary directory.
func buildDevloop(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "devloop")
	cmd := exec.Command(goTool(t), "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build = %v\n%s", err, out)
	}
	return bin
}

func goTool(t *testing.T) string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// copyExample copies examples/local into a temporary directory.
func copyExample(t *testing.T) string {
	t.Helper()
	return copyDir(t, filepath.Join("..", "..", "examples", "local"))
}

// copyDir copies the regular files of src (not build outputs) into a new
// temporary directory.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			if d.Name() == "build" || d.Name() == ".bin" {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// startUp runs `devloop up` on the example in dir.
func startUp(t *testing.T, bin, dir string, port, appPort int, state string) *upProc {
	t.Helper()
	cmd := exec.Command(bin, "up", "-f", filepath.Join(dir, "Devfile"), "--port", strconv.Itoa(port), "--", "--port", strconv.Itoa(appPort))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+state,
		"PATH="+filepath.Dir(goTool(t))+string(os.PathListSeparator)+os.Getenv("PATH"))
	// If the test binary dies, devloop goes too (and its supervisors with it).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &upProc{t: t, cmd: cmd, lines: make(chan string, 10000)}
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			d.mu.Lock()
			d.out = append(d.out, sc.Text())
			d.mu.Unlock()
			d.lines <- sc.Text()
		}
		close(d.lines)
	}()
	go func() {
		_ = cmd.Wait()
		pw.Close()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
	})
	return d
}

func getView(t *testing.T, port int) engine.View {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/api/view", port))
	if err != nil {
		t.Fatalf("GET /api/view: %v", err)
	}
	defer resp.Body.Close()
	var v engine.View
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatalf("GET /api/view: decoding: %v", err)
	}
	return v
}

func resourceOf(t *testing.T, v engine.View, name string) engine.ResourceView {
	t.Helper()
	for _, r := range v.Resources {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("view has no resource %q: %+v", name, v)
	return engine.ResourceView{}
}

func getApp(t *testing.T, port int) string {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
	if err != nil {
		t.Fatalf("GET app: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return strings.TrimSpace(string(b))
}

// waitGone waits, on a pidfd, for pid to exit.
func waitGone(t *testing.T, pid int, what string) {
	t.Helper()
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return
	}
	if err != nil {
		t.Fatalf("PidfdOpen(%d) = %v", pid, err)
	}
	defer unix.Close(fd)
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, int(lineTimeout/time.Millisecond))
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || n == 0 {
			t.Fatalf("%s (pid %d) still running after devloop ended (poll = %d, %v)", what, pid, n, err)
		}
		return
	}
}

const (
	readyServer = `^server +│ ● ready \(update (\d+)`
	serverPID   = `^server +│ .*listening on .* \(pid (\d+)\)`
)

// TestUpExample is the integration test of `devloop up` on examples/local:
// ready through the API, a dep edit reruns gen and restarts the server, a
// broken Devfile shows its error and keeps the server up, and SIGKILL of
// devloop leaves no process behind.
func TestUpExample(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test skipped in -short mode: it builds devloop and runs go builds of examples/local")
	}
	bin := buildDevloop(t)
	dir := copyExample(t)
	state := t.TempDir()
	port, appPort := testenv.FreePort(t), testenv.FreePort(t)

	// Broken at start: devloop runs anyway, shows the error and waits for
	// the fix, as Tilt does.
	devfilePath := filepath.Join(dir, "Devfile")
	good, err := os.ReadFile(devfilePath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(devfilePath, []byte("x = 1\nlocal_resource(\"a\", cmd=undefined_name)\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d := startUp(t, bin, dir, port, appPort, state)
	d.wait(`^devloop: waiting for a fix`)
	d.wait(`dashboard at http`)
	if v := getView(t, port); !strings.HasPrefix(v.Devfile.Error, devfilePath+":2:") || len(v.Resources) != 0 {
		t.Fatalf("GET /api/view with a Devfile broken at start: error %q, %d resources; want %s:2:... and none", v.Devfile.Error, len(v.Resources), devfilePath)
	}
	if err := os.WriteFile(devfilePath, good, 0o644); err != nil {
		t.Fatal(err)
	}

	pid1, _ := strconv.Atoi(d.wait(serverPID)[1])
	d.wait(readyServer)
	v := getView(t, port)
	for _, name := range []string{"gen", "server"} {
		if r := resourceOf(t, v, name); r.Phase != engine.PhaseReady {
			t.Fatalf("GET /api/view: %s phase = %s (error %q), want ready", name, r.Phase, r.Error)
		}
	}
	if got := getApp(t, appPort); got != "Hello from devloop" {
		t.Fatalf("GET app = %q, want the generated greeting", got)
	}
	if _, err := os.Stat(filepath.Join(state, "devloop", fmt.Sprintf("daemon-%d.json", port))); err != nil {
		t.Errorf("state file while running: %v", err)
	}

	// Editing gen's dep reruns gen, which rewrites the server's source: the
	// server rebuilds and restarts with the new greeting.
	if err := os.WriteFile(filepath.Join(dir, "gen", "greeting.txt"), []byte("Edited greeting\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d.wait(`^gen +│ gen: wrote server/greeting_gen.go`)
	pid2, _ := strconv.Atoi(d.wait(serverPID)[1])
	d.wait(readyServer)
	if pid2 == pid1 {
		t.Fatalf("server pid after the edit = %d, want a new process", pid2)
	}
	waitGone(t, pid1, "the old server")
	if got := getApp(t, appPort); got != "Edited greeting" {
		t.Fatalf("GET app after the edit = %q, want %q", got, "Edited greeting")
	}
	r := resourceOf(t, getView(t, port), "server")
	if r.LastUpdate == nil || r.LastUpdate.Reason != "files" || len(r.LastUpdate.Steps) == 0 {
		t.Errorf("server last update = %+v, want a files update with its steps", r.LastUpdate)
	}

	// A broken Devfile: the error shows, the last good model keeps running.
	if err := os.WriteFile(devfilePath, append(good, []byte("\nlocal_resource(\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	d.wait(`Devfile error`)
	v = getView(t, port)
	if !strings.Contains(v.Devfile.Error, "Devfile:") {
		t.Errorf("GET /api/view: devfile error = %q, want PATH:LINE:COL", v.Devfile.Error)
	}
	if r := resourceOf(t, v, "server"); r.Phase != engine.PhaseReady {
		t.Errorf("server after a broken Devfile: phase %s, want ready (kept running)", r.Phase)
	}
	if got := getApp(t, appPort); got != "Edited greeting" {
		t.Errorf("GET app after a broken Devfile = %q, want it still served", got)
	}

	// SIGKILL: no cleanup code runs in devloop; the supervisors still end
	// the server.
	if err := d.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitGone(t, pid2, "the server")
	if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", appPort)); err == nil {
		c.Close()
		t.Errorf("the app port %d still accepts connections after devloop was killed", appPort)
	}
}

// TestUpInterrupt: Ctrl-C (SIGINT) or SIGTERM stops the processes, removes
// the state file and exits 0.
func TestUpInterrupt(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test skipped in -short mode: it builds devloop and runs go builds of examples/local")
	}
	bin := buildDevloop(t)
	for _, sig := range []os.Signal{os.Interrupt, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			dir := copyExample(t)
			state := t.TempDir()
			port, appPort := testenv.FreePort(t), testenv.FreePort(t)
			d := startUp(t, bin, dir, port, appPort, state)
			pid, _ := strconv.Atoi(d.wait(serverPID)[1])
			d.wait(readyServer)
			if err := d.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			d.wait(`^devloop: stopped`)
			for range d.lines {
			}
			if code := d.cmd.ProcessState.ExitCode(); code != 0 {
				t.Errorf("devloop up after %v exited %d, want 0; output:\n%s", sig, code, d.output())
			}
			waitGone(t, pid, "the server")
			if _, err := os.Stat(filepath.Join(state, "devloop", fmt.Sprintf("daemon-%d.json", port))); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("state file after %v: %v, want it removed", sig, err)
			}
		})
	}
}

// TestUpErrors: startup errors exit 1 with a message that says what to do.
func TestUpErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyPort := busy.Addr().(*net.TCPAddr).Port

	dir := t.TempDir()
	ok := filepath.Join(dir, "Devfile")
	if err := os.WriteFile(ok, []byte("print('hi')\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"port in use", []string{"up", "-f", ok, "--port", strconv.Itoa(busyPort)}, []string{strconv.Itoa(busyPort), "--port"}},
		{"missing Devfile", []string{"up", "-f", filepath.Join(dir, "nope")}, []string{"nope", "-f"}},
		{"directory without a Devfile", []string{"up", "-f", t.TempDir()}, []string{"no Devfile or Tiltfile in", "-f PATH"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := runCLI(t, tt.args...)
			if code != 1 {
				t.Errorf("devloop %q = exit %d, want 1 (stderr %q)", tt.args, code, errOut)
			}
			for _, w := range tt.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("devloop %q: stderr = %q, want it to contain %q", tt.args, errOut, w)
				}
			}
		})
	}
}

func TestStatusText(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		r    engine.ResourceView
		want string
	}{
		{"ready with an update", engine.ResourceView{Phase: engine.PhaseReady,
			LastUpdate: &engine.Update{ID: 4, Reason: "files", Start: start, End: start.Add(1500 * time.Millisecond)}},
			"● ready (update 4, files, 1.5s)"},
		{"ready after a live update", engine.ResourceView{Phase: engine.PhaseReady,
			LastUpdate: &engine.Update{ID: 5, Reason: "files", Start: start, End: start.Add(65 * time.Millisecond), LiveUpdate: true}},
			"● ready (update 5, files, live update in 65ms)"},
		{"ready without one", engine.ResourceView{Phase: engine.PhaseReady}, "● ready"},
		{"error keeps the first part", engine.ResourceView{Phase: engine.PhaseError,
			Error: `cmd failed: "make" exited with code 2; last lines:` + "\nmake: *** no rule"},
			`✗ error: cmd failed: "make" exited with code 2`},
		{"pending with a reason", engine.ResourceView{Phase: engine.PhasePending, Waiting: "waiting for resource_deps: db"},
			"○ pending: waiting for resource_deps: db"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := statusText(tt.r); got != tt.want {
				t.Errorf("statusText(%+v) = %q, want %q", tt.r, got, tt.want)
			}
		})
	}
}
