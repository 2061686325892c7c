package web

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/devloop-dev/devloop/internal/testkit/testenv"
)

// daemonTimeout bounds the test against the real daemon: building devloop
// (cached after `go test` compiled the packages), then the example's two Go
// programs, then a change rippling through both.
const daemonTimeout = 4 * time.Minute

// TestDashboardWithDaemon runs the real `devloop up` on examples/local and
// drives its dashboard in Chromium: both resources become ready live, their
// logs stream, and an edit of gen/greeting.txt updates gen and then the
// server without a reload of the page.
func TestDashboardWithDaemon(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short mode: builds devloop and runs examples/local in Chromium")
	}
	goTool := testenv.LookPath(t, "go", "golang-go")
	ctx, cancel := context.WithTimeout(t.Context(), daemonTimeout)
	defer cancel()
	b := startBrowser(t, ctx)

	dir := t.TempDir()
	exe := filepath.Join(dir, "devloop")
	args := []string{"build", "-o", exe}
	if raceEnabled {
		args = append(args, "-race")
	}
	build := exec.CommandContext(ctx, goTool, append(args, "github.com/devloop-dev/devloop/cmd/devloop")...)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build devloop: %v\n%s", err, out)
	}
	example := filepath.Join(dir, "local")
	if err := os.CopyFS(example, os.DirFS("../examples/local")); err != nil {
		t.Fatalf("copying examples/local: %v", err)
	}

	port, appPort := testenv.FreePort(t), testenv.FreePort(t)
	up := exec.Command(exe, "up", "--port", strconv.Itoa(port), "--", "--port", strconv.Itoa(appPort))
	up.Dir = example
	dieWithParent(up)
	up.Env = append(os.Environ(), "XDG_STATE_HOME="+filepath.Join(dir, "state"))
	stdout, err := up.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(artifactDir(t), "devloop-up.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	up.Stderr = logFile
	if err := up.Start(); err != nil {
		t.Fatalf("starting devloop up: %v", err)
	}
	t.Logf("devloop up output: %s", logPath)
	urls := make(chan string, 1)
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			io.WriteString(logFile, sc.Text()+"\n")
			if m := dashboardRE.FindStringSubmatch(sc.Text()); m != nil {
				urls <- m[1]
			}
		}
	}()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		up.Process.Signal(syscall.SIGINT)
		<-copied
		if err := up.Wait(); err != nil {
			t.Errorf("devloop up after Ctrl-C: %v (see %s)", err, logPath)
		}
	}
	defer stop()
	var url string
	select {
	case url = <-urls:
	case <-copied:
		t.Fatalf("devloop up exited before serving the dashboard; see %s", logPath)
	case <-ctx.Done():
		t.Fatalf("waiting for devloop up to serve the dashboard: %v; see %s", ctx.Err(), logPath)
	}

	b.navigate(t, ctx, url)
	b.mustEval(t, ctx, `window.notReloaded = true`, nil)
	b.waitFor(t, ctx, "gen and server are listed", `document.querySelector('.res[data-resource="gen"]') && document.querySelector('.res[data-resource="server"]')`)
	b.waitFor(t, ctx, "both become ready", `document.querySelectorAll('.res[data-phase="ready"]').length === 2`)
	b.waitFor(t, ctx, "the server's log shows", `[...document.querySelectorAll("#log .log-line")].some(l => l.textContent.includes("server: listening on"))`)

	var genUpdate, serverUpdate int
	b.mustEval(t, ctx, `window.devloop.resources.get("gen").last_update.id`, &genUpdate)
	b.mustEval(t, ctx, `window.devloop.resources.get("server").last_update.id`, &serverUpdate)
	if err := os.WriteFile(filepath.Join(example, "gen", "greeting.txt"), []byte("hello from the browser test\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	b.waitFor(t, ctx, "gen and then the server update after the edit",
		`(() => { const g = window.devloop.resources.get("gen"), s = window.devloop.resources.get("server");
		  return g.phase === "ready" && s.phase === "ready" && g.last_update.id > `+strconv.Itoa(genUpdate)+` && s.last_update.id > `+strconv.Itoa(serverUpdate)+`; })()`)
	var reason string
	b.mustEval(t, ctx, `window.devloop.resources.get("gen").last_update.reason`, &reason)
	if reason != "files" {
		t.Errorf("gen's update after the edit has reason %q, want files", reason)
	}
	var same bool
	b.mustEval(t, ctx, `window.notReloaded === true`, &same)
	if !same {
		t.Errorf("the page reloaded, want live updates")
	}

	b.mustEval(t, ctx, `document.querySelector('.res[data-resource="server"]').click()`, nil)
	b.waitFor(t, ctx, "the server's trace shows", `document.querySelectorAll("#d-trace-bars .trace-row").length >= 2`)
	t.Logf("dashboard screenshot: %s", b.screenshot(t, ctx, "dashboard-daemon"))

	// The trigger button reaches the real engine: gen runs again.
	b.mustEval(t, ctx, `window.devloop.resources.get("gen").last_update.id`, &genUpdate)
	b.mustEval(t, ctx, `document.querySelector('.res[data-resource="gen"] button[data-action="trigger"]').click()`, nil)
	b.waitFor(t, ctx, "gen runs again after the trigger", `(() => { const g = window.devloop.resources.get("gen"); return g.phase === "ready" && g.last_update.id > `+strconv.Itoa(genUpdate)+` && g.last_update.reason === "trigger"; })()`)

	stop()
	b.waitFor(t, ctx, "the dashboard sees devloop go away", `document.body.dataset.conn !== "open"`)
	if ex := b.pageExceptions(); len(ex) > 0 {
		t.Errorf("the dashboard threw: %q", ex)
	}
}

var dashboardRE = regexp.MustCompile(`dashboard at (http://\S+?/)`)

// artifactDir is where tests leave files for people: DEVLOOP_ARTIFACTS, or
// the temporary directory.
func artifactDir(t *testing.T) string {
	dir := os.Getenv("DEVLOOP_ARTIFACTS")
	if dir == "" {
		dir = os.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(dir, "/")
}
