package liveupdate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	stdsync "sync"
	"testing"
	"time"

	"github.com/devloop-dev/devloop/kube"
)

// countingExec counts the execs of an Execer by argv[0].
type countingExec struct {
	Execer
	mu stdsync.Mutex
	n  map[string]int
}

func (c *countingExec) Exec(ctx context.Context, pod kube.PodRef, container string, argv []string, stdin io.Reader, stdout, stderr io.Writer) error {
	c.mu.Lock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[argv[0]]++
	c.mu.Unlock()
	return c.Execer.Exec(ctx, pod, container, argv, stdin, stdout, stderr)
}

func (c *countingExec) counts() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for k, v := range c.n {
		out[k] = v
	}
	return out
}

func stepNamesOf(rs []Result) []string {
	var out []string
	for _, r := range rs {
		for _, s := range r.Steps {
			out = append(out, s.Name)
		}
	}
	return out
}

// TestSessionUpdates runs updates through a session in a chroot standing in
// for a busybox container: files arrive, removed paths go, and every update
// after the first costs no exec at all (one sh, no tar or rm execs).
func TestSessionUpdates(t *testing.T) {
	croot := containerRoot(t, "sh", "tar", "rm", "base64")
	src, _ := srcTree(t)
	write(t, filepath.Join(croot, "app", "old.js"), "old", 0o644)
	write(t, filepath.Join(croot, "app", "it's.txt"), "quoted", 0o644)
	ex := &countingExec{Execer: localExec{croot}}
	u := newUpdater(t, Config{Session: true}, ex)
	defer u.Close()
	c := []Container{container("web-1")}

	rs, err := u.Update(t.Context(), Plan{
		Copy:   []Copy{{Local: filepath.Join(src, "main.js"), Remote: "/app/main.js", Root: src}, {Local: filepath.Join(src, "lib"), Remote: "/app/lib", Root: src}},
		Delete: []string{"/app/old.js", "/app/it's.txt"},
	}, c, nil)
	if err != nil {
		t.Fatalf("Update = %v", err)
	}
	if got, want := stepNamesOf(rs), []string{"copy files"}; !slices.Equal(got, want) {
		t.Errorf("steps = %q, want %q", got, want)
	}
	for p, want := range map[string]string{"app/main.js": "console.log(1)\n", "app/lib/deep/x.js": "x"} {
		if got := readFile(t, filepath.Join(croot, p)); got != want {
			t.Errorf("after the first update, %s = %q, want %q", p, got, want)
		}
	}
	for _, p := range []string{"app/old.js", "app/it's.txt"} {
		if _, err := os.Lstat(filepath.Join(croot, p)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("after the first update, %s: %v, want it removed", p, err)
		}
	}

	write(t, filepath.Join(src, "main.js"), "console.log(2)\n", 0o644)
	for i := range 3 {
		if _, err := u.Update(t.Context(), Plan{Copy: []Copy{{Local: filepath.Join(src, "main.js"), Remote: "/app/main.js", Root: src}}}, c, nil); err != nil {
			t.Fatalf("update %d = %v", i+2, err)
		}
	}
	rs, err = u.Update(t.Context(), Plan{Delete: []string{"/app/lib"}}, c, nil)
	if err != nil {
		t.Fatalf("delete-only update = %v", err)
	}
	if got, want := stepNamesOf(rs), []string{"remove files"}; !slices.Equal(got, want) {
		t.Errorf("delete-only steps = %q, want %q", got, want)
	}
	if got := readFile(t, filepath.Join(croot, "app", "main.js")); got != "console.log(2)\n" {
		t.Errorf("after the later updates, main.js = %q, want the new content", got)
	}
	if _, err := os.Lstat(filepath.Join(croot, "app", "lib")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after the delete-only update, app/lib: %v, want it removed", err)
	}
	if got, want := ex.counts(), map[string]int{"sh": 1}; !mapsEqual(got, want) {
		t.Errorf("execs over five updates = %v, want %v (one session)", got, want)
	}

	done := make(chan struct{})
	go func() { u.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not end the session in 10 s")
	}
}

// TestSessionFallsBack: an image without base64 cannot hold a session, so
// updates use their own execs (and do not try a session again); a command
// failing in a session is redone through execs, which name the failure.
func TestSessionFallsBack(t *testing.T) {
	src, _ := srcTree(t)
	copyMain := Plan{Copy: []Copy{{Local: filepath.Join(src, "main.js"), Remote: "/app/main.js", Root: src}}}
	t.Run("no base64", func(t *testing.T) {
		croot := containerRoot(t, "sh", "tar", "rm")
		ex := &countingExec{Execer: localExec{croot}}
		u := newUpdater(t, Config{Session: true}, ex)
		defer u.Close()
		for i := range 2 {
			if _, err := u.Update(t.Context(), copyMain, []Container{container("web-1")}, nil); err != nil {
				t.Fatalf("update %d = %v", i+1, err)
			}
		}
		if got := readFile(t, filepath.Join(croot, "app", "main.js")); got != "console.log(1)\n" {
			t.Errorf("main.js = %q, want it copied through execs", got)
		}
		if got, want := ex.counts(), map[string]int{"sh": 1, "tar": 2}; !mapsEqual(got, want) {
			t.Errorf("execs = %v, want %v (one failed session, then a tar per update)", got, want)
		}
	})
	t.Run("tar cannot write", func(t *testing.T) {
		croot := containerRoot(t, "sh", "tar", "rm", "base64")
		write(t, filepath.Join(croot, "app"), "not a directory", 0o644)
		u := newUpdater(t, Config{Session: true}, localExec{croot})
		defer u.Close()
		_, err := u.Update(t.Context(), copyMain, []Container{container("web-1")}, nil)
		if why := fallBack("tar exited with code 1")(err); why != "" {
			t.Errorf("Update(unwritable) = %v, want %s", err, why)
		}
	})
	t.Run("too big for a session", func(t *testing.T) {
		croot := containerRoot(t, "sh", "tar", "rm", "base64")
		big := filepath.Join(src, "big.bin")
		write(t, big, strings.Repeat("x", sessionMaxBytes+1), 0o644)
		ex := &countingExec{Execer: localExec{croot}}
		u := newUpdater(t, Config{Session: true}, ex)
		defer u.Close()
		if _, err := u.Update(t.Context(), Plan{Copy: []Copy{{Local: big, Remote: "/app/big.bin", Root: src}}}, []Container{container("web-1")}, nil); err != nil {
			t.Fatalf("Update = %v", err)
		}
		if got, want := ex.counts(), map[string]int{"tar": 1}; !mapsEqual(got, want) {
			t.Errorf("execs = %v, want %v (no session for a big archive)", got, want)
		}
	})
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestSessionRunSteps: run() steps go through the session too: their output
// (stderr merged, a last line without a newline included) reaches the
// writer, a failing step is a *RunError with its output, a step that reads
// stdin does not eat the session's script, and no step costs an exec.
func TestSessionRunSteps(t *testing.T) {
	croot := containerRoot(t, "sh", "tar", "rm", "base64", "cat")
	src, _ := srcTree(t)
	ex := &countingExec{Execer: localExec{croot}}
	u := newUpdater(t, Config{Session: true}, ex)
	defer u.Close()
	c := []Container{container("web-1")}
	var out strings.Builder
	rs, err := u.Update(t.Context(), Plan{
		Copy: []Copy{{Local: filepath.Join(src, "main.js"), Remote: "/app/main.js", Root: src}},
		Run: []Run{
			{Argv: []string{"sh", "-c", "cat /app/main.js; echo to-stderr >&2; printf 'no newline'"}},
			{Argv: []string{"cat"}, EchoOff: true}, // stdin is empty: it ends at once
			{Argv: []string{"echo", "it's", "quoted"}},
		},
	}, c, &out)
	if err != nil {
		t.Fatalf("Update = %v (output %q)", err, out.String())
	}
	want := "[dev/web-1 app] run: cat /app/main.js; echo to-stderr >&2; printf 'no newline'\n" +
		"[dev/web-1 app] console.log(1)\n[dev/web-1 app] to-stderr\n[dev/web-1 app] no newline\n" +
		"[dev/web-1 app] run: echo \"it's\" quoted\n[dev/web-1 app] it's quoted\n"
	if out.String() != want {
		t.Errorf("output = %q, want %q", out.String(), want)
	}
	if got, want := stepNamesOf(rs), []string{"copy files", "run: cat /app/main.js; echo to-stderr >&2; printf 'no newline'", "run: cat", `run: echo "it's" quoted`}; !slices.Equal(got, want) {
		t.Errorf("steps = %q, want %q", got, want)
	}

	_, err = u.Update(t.Context(), Plan{Run: []Run{{Argv: []string{"sh", "-c", "echo broken; exit 4"}}}}, c, nil)
	var re *RunError
	if !errors.As(err, &re) || re.ExitCode != 4 || !strings.Contains(re.Output, "broken") {
		t.Errorf("Update(exit 4) = %v, want a *RunError with code 4 and its output", err)
	}
	if got, want := ex.counts(), map[string]int{"sh": 1}; !mapsEqual(got, want) {
		t.Errorf("execs = %v, want %v (everything through the session)", got, want)
	}
}

// TestSessionLongLines: a run() line over sessionMaxLine (70,000 bytes, and
// 300,000 with no newline before the session's marker) neither ends the
// session nor falls back: it arrives cut visibly, head and tail kept, the
// step's status intact, and later steps still go through the same session.
func TestSessionLongLines(t *testing.T) {
	croot := containerRoot(t, "sh", "tar", "rm", "base64")
	ex := &countingExec{Execer: localExec{croot}}
	u := newUpdater(t, Config{Session: true}, ex)
	defer u.Close()
	c := []Container{container("web-1")}
	var out strings.Builder
	_, err := u.Update(t.Context(), Plan{Run: []Run{
		{Argv: []string{"sh", "-c", "printf 'A%069998dZ\\n' 0; printf 'B%0299998dY' 0"}},
		{Argv: []string{"echo", "after"}},
	}}, c, &out)
	if err != nil {
		t.Fatalf("Update = %v", err)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
		if !strings.Contains(l, "run: ") {
			lines = append(lines, strings.TrimPrefix(l, "[dev/web-1 app] "))
		}
	}
	if len(lines) != 3 {
		t.Fatalf("output has %d lines besides the run: headers, want 3 (two long ones, then after): %.300q", len(lines), out.String())
	}
	// Nothing is lost silently: head + the bytes the note says were cut +
	// tail add up to the line printed. The second line's tail is shorter by
	// the session's marker, which followed it on the same line.
	for i, tt := range []struct {
		first, last string
		n           int
	}{{"A", "Z", 70_000}, {"B", "Y", 300_000}} {
		l := lines[i]
		head, rest, ok := strings.Cut(l, " [devloop: ")
		num, tail, ok2 := strings.Cut(rest, " bytes of this line cut] ")
		cut, err := strconv.Atoi(num)
		if !ok || !ok2 || err != nil {
			t.Errorf("line %d (%d bytes, %.40q...) has no cut note", i+1, len(l), l)
			continue
		}
		if len(head) != sessionMaxLine || len(tail) > sessionLineTail || len(tail) < sessionLineTail-64 {
			t.Errorf("line %d keeps a head of %d bytes and a tail of %d, want %d and at most %d", i+1, len(head), len(tail), sessionMaxLine, sessionLineTail)
		}
		if !strings.HasPrefix(head, tt.first) || !strings.HasSuffix(tail, tt.last) || len(head)+cut+len(tail) != tt.n {
			t.Errorf("line %d = %.10q... %d cut ...%.10q, want %s...%s adding up to %d bytes", i+1, head, cut, tail[max(0, len(tail)-10):], tt.first, tt.last, tt.n)
		}
	}
	if lines[2] != "after" {
		t.Errorf("third line = %q, want after", lines[2])
	}
	if _, err := u.Update(t.Context(), Plan{Run: []Run{{Argv: []string{"sh", "-c", "exit 3"}}}}, c, nil); !errors.As(err, new(*RunError)) {
		t.Errorf("a later failing step = %v, want a *RunError through the same session", err)
	}
	if got, want := ex.counts(), map[string]int{"sh": 1}; !mapsEqual(got, want) {
		t.Errorf("execs = %v, want %v (the long lines kept the session)", got, want)
	}
}

// TestReadLines: lines up to sessionMaxLine pass whole, empty lines and a
// last line without a newline included; longer ones keep head and tail.
func TestReadLines(t *testing.T) {
	long := strings.Repeat("x", sessionMaxLine)
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"plain", "a\n\nb\r\nc", []string{"a", "", "b", "c"}},
		{"at the limit", long[:sessionMaxLine-1] + "\nnext\n", []string{long[:sessionMaxLine-1], "next"}},
		{"just over, nothing cut", long + "tail\n", []string{long + "tail"}},
		{"cut", "h" + long + long + "END", []string{"h" + long[1:] + fmt.Sprintf(" [devloop: %d bytes of this line cut] ", sessionMaxLine+1-sessionLineTail+3) + long[:sessionLineTail-3] + "END"}},
		{"cut, crlf", long + long + "\r\n", []string{long + fmt.Sprintf(" [devloop: %d bytes of this line cut] ", sessionMaxLine-sessionLineTail) + long[:sessionLineTail]}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			if err := readLines(strings.NewReader(tt.in), func(l string) bool { got = append(got, l); return true }); err != nil {
				t.Fatalf("readLines = %v", err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("readLines(%.40q) = %d lines %.80q, want %d lines %.80q", tt.in, len(got), got, len(tt.want), tt.want)
			}
		})
	}
}
