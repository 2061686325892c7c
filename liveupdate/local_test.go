package liveupdate

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/devloop-dev/devloop/devfile"
	"github.com/devloop-dev/devloop/internal/testkit/testenv"
	"github.com/devloop-dev/devloop/kube"
)

// localExec is the real seam test's Execer: it runs each command chrooted
// into a directory that stands in for the container's root filesystem,
// holding a static busybox as the only program (like the e2e busybox image).
// Like a container runtime, a program missing from /bin exits 127.
type localExec struct{ root string }

func (l localExec) Exec(ctx context.Context, pod kube.PodRef, container string, argv []string, stdin io.Reader, stdout, stderr io.Writer) error {
	bin := "/bin/" + argv[0]
	if _, err := os.Lstat(filepath.Join(l.root, bin)); err != nil {
		return &kube.ExecError{Argv: argv, ExitCode: 127, Output: "exec: " + argv[0] + ": not found"}
	}
	cmd := exec.CommandContext(ctx, bin)
	cmd.Args = argv
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: l.root}
	tail := &lockedTail{max: 1 << 20} // stdout and stderr are copied by two goroutines
	cmd.Stdin = stdin
	cmd.Stdout = io.MultiWriter(orDiscard(stdout), tail)
	cmd.Stderr = io.MultiWriter(orDiscard(stderr), tail)
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return &kube.ExecError{Argv: argv, ExitCode: ee.ExitCode(), Output: tail.String()}
	}
	return err
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// containerRoot makes a chroot with busybox linked as the given programs.
func containerRoot(t *testing.T, programs ...string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		why := "the local exec test chroots into a directory standing in for the container, which needs root"
		if testenv.Strict() {
			t.Fatalf("integration prerequisite missing (DEVLOOP_E2E=1): %s", why)
		}
		t.Skipf("integration test skipped: %s", why)
	}
	busybox := testenv.LookPath(t, "busybox", "busybox-static")
	root := t.TempDir()
	data, err := os.ReadFile(busybox)
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(root, "bin", "busybox"), string(data), 0o755)
	for _, p := range programs {
		if err := os.Symlink("busybox", filepath.Join(root, "bin", p)); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := (localExec{root}).run("busybox", "true"); err != nil {
		t.Skipf("integration test skipped: %s does not run in a chroot (it must be static: apt-get install -y busybox-static): %v %s", busybox, err, out)
	}
	return root
}

func (l localExec) run(argv ...string) (string, error) {
	var out strings.Builder
	err := l.Exec(context.Background(), kube.PodRef{}, "", argv, nil, &out, &out)
	return out.String(), err
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("reading %s: %v", p, err)
	}
	return string(b)
}

// TestLocalUpdate runs a decided plan's real commands (rm, busybox tar, sh)
// against a directory standing in for the container: the tar extracts with
// contents, modes and symlinks, removed paths go, other files stay, and run
// steps see the new files.
func TestLocalUpdate(t *testing.T) {
	croot := containerRoot(t, "sh", "tar", "rm", "cat")
	src, _ := srcTree(t)
	write(t, filepath.Join(croot, "app", "old.js"), "old", 0o644)
	write(t, filepath.Join(croot, "app", "gone", "dir", "x"), "old", 0o644)
	write(t, filepath.Join(croot, "app", "keep.txt"), "kept", 0o644)
	write(t, filepath.Join(croot, "app", "main.js"), "stale", 0o600)

	img := &devfile.Image{LiveUpdate: []devfile.LiveUpdateStep{
		{Type: devfile.StepSync, Local: src, Remote: "/app"},
		{Type: devfile.StepRun, Cmd: sh("cat /app/main.js /app/lib/deep/x.js > /app/ran.txt && echo built")},
	}}
	d := Decide(Input{Image: img, Running: true,
		Changed: []string{filepath.Join(src, "main.js"), filepath.Join(src, "lib"), filepath.Join(src, "link.js"), filepath.Join(src, "run.sh")},
		Removed: []string{filepath.Join(src, "old.js"), filepath.Join(src, "gone")}})
	if d.Action != Update {
		t.Fatalf("Decide = %+v, want an update", d)
	}
	u := newUpdater(t, Config{}, localExec{croot})
	var out strings.Builder
	if _, err := u.Update(t.Context(), d.Plan, []Container{container("web-1")}, &out); err != nil {
		t.Fatalf("Update = %v (output %q)", err, out.String())
	}

	for p, want := range map[string]string{
		"app/main.js":       "console.log(1)\n",
		"app/lib/deep/x.js": "x",
		"app/keep.txt":      "kept",
		"app/ran.txt":       "console.log(1)\nx",
	} {
		if got := readFile(t, filepath.Join(croot, p)); got != want {
			t.Errorf("after Update, %s = %q, want %q", p, got, want)
		}
	}
	for p, want := range map[string]os.FileMode{"app/main.js": 0o644, "app/run.sh": 0o755, "app/lib/deep/x.js": 0o640} {
		if fi, err := os.Stat(filepath.Join(croot, p)); err != nil || fi.Mode().Perm() != want {
			t.Errorf("after Update, mode of %s = %v (%v), want %v", p, fi.Mode().Perm(), err, want)
		}
	}
	if got, err := os.Readlink(filepath.Join(croot, "app", "link.js")); err != nil || got != "main.js" {
		t.Errorf("after Update, link.js -> %q (%v), want a symlink to main.js", got, err)
	}
	for _, p := range []string{"app/old.js", "app/gone"} {
		if _, err := os.Lstat(filepath.Join(croot, p)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("after Update, %s: %v, want it removed", p, err)
		}
	}
	if want := "[dev/web-1 app] built\n"; !strings.Contains(out.String(), want) {
		t.Errorf("Update output = %q, want %q", out.String(), want)
	}
}

// TestLocalUpdateErrors checks the typed errors against real failures.
func TestLocalUpdateErrors(t *testing.T) {
	src, _ := srcTree(t)
	copyMain := []Copy{{Local: filepath.Join(src, "main.js"), Remote: "/app/main.js", Root: src}}
	t.Run("image without tar", func(t *testing.T) {
		croot := containerRoot(t, "sh", "rm")
		u := newUpdater(t, Config{}, localExec{croot})
		_, err := u.Update(t.Context(), Plan{Copy: copyMain}, []Container{container("web-1")}, nil)
		if why := fallBack("the image has no usable tar (exit 127)")(err); why != "" {
			t.Errorf("Update(no tar) = %v, want %s", err, why)
		}
	})
	t.Run("failing run step", func(t *testing.T) {
		croot := containerRoot(t, "sh", "tar", "rm")
		u := newUpdater(t, Config{}, localExec{croot})
		_, err := u.Update(t.Context(), Plan{Copy: copyMain, Run: []Run{{Argv: []string{"sh", "-c", "echo boom >&2; exit 3"}}}}, []Container{container("web-1")}, nil)
		var re *RunError
		if !errors.As(err, &re) || re.ExitCode != 3 || !strings.Contains(re.Output, "boom") {
			t.Errorf("Update(failing run) = %v, want a *RunError with exit code 3 and its output", err)
		}
		if got := readFile(t, filepath.Join(croot, "app", "main.js")); got != "console.log(1)\n" {
			t.Errorf("after a failing run, main.js = %q, want the synced file kept", got)
		}
	})
	t.Run("tar cannot write", func(t *testing.T) {
		croot := containerRoot(t, "sh", "tar", "rm")
		// A regular file where the sync's directory should be: tar cannot
		// create /app/main.js below it.
		write(t, filepath.Join(croot, "app"), "not a directory", 0o644)
		u := newUpdater(t, Config{}, localExec{croot})
		_, err := u.Update(t.Context(), Plan{Copy: copyMain}, []Container{container("web-1")}, nil)
		if why := fallBack("tar exited with code 1")(err); why != "" {
			t.Errorf("Update(unwritable) = %v, want %s", err, why)
		}
	})
}
