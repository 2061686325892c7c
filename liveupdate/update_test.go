package liveupdate

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	stdsync "sync"
	"testing"
	"time"

	"github.com/devloop-dev/devloop/kube"
)

// execCall is one command the fake ran.
type execCall struct {
	Container string // pod/container
	Argv      []string
	Stdin     []byte
}

// fakeExec records commands and replays scripted results. A script is
// keyed by argv[0] (or "pod/container argv[0]"), and gives the error to
// return and the output to write. It reads stdin to the end, as tar does,
// unless the script returns an error (a tar that is missing reads nothing).
type fakeExec struct {
	mu     stdsync.Mutex
	calls  []execCall
	script map[string]fakeResult
	// gate, when set, is called inside Exec before stdin is read.
	gate func(ctx context.Context)
}

type fakeResult struct {
	err    error
	output string
}

func (f *fakeExec) Exec(ctx context.Context, pod kube.PodRef, container string, argv []string, stdin io.Reader, stdout, stderr io.Writer) error {
	key := pod.String() + "/" + container
	f.mu.Lock()
	res, ok := f.script[key+" "+argv[0]]
	if !ok {
		res = f.script[argv[0]]
	}
	gate := f.gate
	f.mu.Unlock()
	if gate != nil {
		gate(ctx)
	}
	var in []byte
	if stdin != nil && res.err == nil {
		var err error
		if in, err = io.ReadAll(stdin); err != nil {
			return fmt.Errorf("fake exec reading stdin: %w", err)
		}
	}
	f.mu.Lock()
	f.calls = append(f.calls, execCall{Container: key, Argv: argv, Stdin: in})
	f.mu.Unlock()
	if res.output != "" && stdout != nil {
		_, _ = io.WriteString(stdout, res.output)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return res.err
}

func (f *fakeExec) callsOf(container string) []execCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []execCall
	for _, c := range f.calls {
		if c.Container == container {
			out = append(out, c)
		}
	}
	return out
}

// tickClock returns a clock that advances one millisecond per reading.
func tickClock() func() time.Time {
	var mu stdsync.Mutex
	t := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t = t.Add(time.Millisecond)
		return t
	}
}

func newUpdater(t *testing.T, cfg Config, ex Execer) *Updater {
	t.Helper()
	u, err := New(cfg, ex)
	if err != nil {
		t.Fatalf("New(%+v) = %v", cfg, err)
	}
	return u
}

func container(name string) Container {
	return Container{Pod: kube.PodRef{Namespace: "dev", Name: name}, Name: "app", ID: "containerd://" + name}
}

func TestUpdate(t *testing.T) {
	root, _ := srcTree(t)
	plan := Plan{
		Delete: []string{"/app/old.js", "/app/gone"},
		Copy:   []Copy{{Local: filepath.Join(root, "main.js"), Remote: "/app/main.js", Root: root}, {Local: filepath.Join(root, "lib"), Remote: "/app/lib", Root: root}},
		Run:    []Run{{Argv: []string{"sh", "-c", "npm install"}}, {Argv: []string{"touch", "/tmp/reload"}, EchoOff: true}},
	}
	ex := &fakeExec{script: map[string]fakeResult{"sh": {output: "added 3 packages\n"}}}
	u := newUpdater(t, Config{Now: tickClock()}, ex)
	var out bytes.Buffer
	pods := []Container{container("web-1"), container("web-2")}
	results, err := u.Update(t.Context(), plan, pods, &out)
	if err != nil {
		t.Fatalf("Update = %v", err)
	}
	if len(results) != 2 || results[0].Container != pods[0] || results[1].Container != pods[1] {
		t.Fatalf("Update results = %+v, want one per container in order", results)
	}
	for _, c := range pods {
		calls := ex.callsOf(c.Pod.String() + "/app")
		var argvs [][]string
		for _, call := range calls {
			argvs = append(argvs, call.Argv)
		}
		want := [][]string{
			{"rm", "-rf", "--", "/app/old.js", "/app/gone"},
			{"tar", "-C", "/", "-x", "-f", "-"},
			{"sh", "-c", "npm install"},
			{"touch", "/tmp/reload"},
		}
		if !reflect.DeepEqual(argvs, want) {
			t.Fatalf("Update(%s) execs = %q, want %q", c, argvs, want)
		}
		got := readTar(t, bytes.NewReader(calls[1].Stdin))
		wantTar := map[string]tarEntry{
			"app/main.js":       {Type: tar.TypeReg, Mode: 0o644, Content: "console.log(1)\n"},
			"app/lib/":          {Type: tar.TypeDir, Mode: 0o755},
			"app/lib/deep/":     {Type: tar.TypeDir, Mode: 0o755},
			"app/lib/deep/x.js": {Type: tar.TypeReg, Mode: 0o640, Content: "x"},
		}
		if !reflect.DeepEqual(got, wantTar) {
			t.Errorf("Update(%s) tar = %v, want %v", c, got, wantTar)
		}
	}
	// Containers run in parallel: their lines interleave, each whole and
	// in order.
	for _, c := range pods {
		prefix := "[" + c.String() + "] "
		var got []string
		for line := range strings.Lines(out.String()) {
			if strings.HasPrefix(line, prefix) {
				got = append(got, line)
			}
		}
		if want := []string{prefix + "run: npm install\n", prefix + "added 3 packages\n"}; !reflect.DeepEqual(got, want) {
			t.Errorf("Update output = %q, want the lines %q", out.String(), want)
		}
	}
	if strings.Contains(out.String(), "touch") {
		t.Errorf("Update output = %q, want the echo_off step not shown", out.String())
	}
}

func TestUpdateSteps(t *testing.T) {
	root, _ := srcTree(t)
	plan := Plan{
		Delete: []string{"/app/old.js"},
		Copy:   []Copy{{Local: filepath.Join(root, "main.js"), Remote: "/app/main.js", Root: root}},
		Run:    []Run{{Argv: []string{"sh", "-c", "make"}}},
	}
	u := newUpdater(t, Config{Now: tickClock()}, &fakeExec{})
	results, err := u.Update(t.Context(), plan, []Container{container("web-1")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	at := func(ms int) time.Time { return time.Date(2026, 1, 2, 3, 4, 5, ms*int(time.Millisecond), time.UTC) }
	want := []Step{
		{Name: "remove files", Start: at(1), End: at(2)},
		{Name: "copy files", Start: at(3), End: at(4)},
		{Name: "run: make", Start: at(5), End: at(6)},
	}
	if got := results[0].Steps; !reflect.DeepEqual(got, want) {
		t.Errorf("Update steps = %+v, want %+v", got, want)
	}
}

func TestUpdateErrors(t *testing.T) {
	root, _ := srcTree(t)
	plan := Plan{
		Delete: []string{"/app/old.js"},
		Copy:   []Copy{{Local: filepath.Join(root, "main.js"), Remote: "/app/main.js", Root: root}},
		Run:    []Run{{Argv: []string{"sh", "-c", "make"}}, {Argv: []string{"touch", "/tmp/reload"}}},
	}
	execErr := func(argv0 string, code int, out string) error {
		return &kube.ExecError{Argv: []string{argv0}, ExitCode: code, Output: out}
	}
	tests := []struct {
		name   string
		script map[string]fakeResult
		// check inspects the error; wantRan is how many execs ran.
		check   func(error) string
		wantRan int
	}{
		{
			name:    "no tar in the image",
			script:  map[string]fakeResult{"tar": {err: execErr("tar", 127, "exec: tar: not found")}},
			check:   fallBack("the image has no usable tar (exit 127): add tar to the image"),
			wantRan: 2,
		},
		{
			name:    "tar not executable",
			script:  map[string]fakeResult{"tar": {err: execErr("tar", 126, "")}},
			check:   fallBack("the image has no usable tar (exit 126)"),
			wantRan: 2,
		},
		{
			name:    "tar cannot write",
			script:  map[string]fakeResult{"tar": {err: execErr("tar", 2, "tar: app/main.js: Cannot open: Permission denied")}},
			check:   fallBack("tar could not write the files (exit 2, permission denied?): sync to a directory the container's user owns"),
			wantRan: 2,
		},
		{
			name:    "exec refused",
			script:  map[string]fakeResult{"rm": {err: errors.New(`pods "web-1" is forbidden: cannot create pods/exec`)}},
			check:   fallBack("exec into the container failed"),
			wantRan: 1,
		},
		{
			name:    "rm fails",
			script:  map[string]fakeResult{"rm": {err: execErr("rm", 1, "rm: cannot remove '/app/old.js': Read-only file system")}},
			check:   fallBack("rm exited with code 1"),
			wantRan: 1,
		},
		{
			name:   "a user's run() fails",
			script: map[string]fakeResult{"sh": {err: execErr("sh", 2, "make: *** [all] Error 1")}},
			check: func(err error) string {
				var re *RunError
				if !errors.As(err, &re) || re.ExitCode != 2 || re.Output != "make: *** [all] Error 1" || re.Container != "app" || re.Pod.Name != "web-1" {
					return "a *RunError with exit code 2 and make's output"
				}
				var fb *FallBackError
				if errors.As(err, &fb) {
					return "no *FallBackError: a failing run() is not a reason to rebuild"
				}
				return ""
			},
			wantRan: 3,
		},
		{
			name:    "exec of a run step refused",
			script:  map[string]fakeResult{"sh": {err: errors.New("error dialing backend: EOF")}},
			check:   fallBack("exec of a run() step failed"),
			wantRan: 3,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ex := &fakeExec{script: tt.script}
			u := newUpdater(t, Config{}, ex)
			results, err := u.Update(t.Context(), plan, []Container{container("web-1")}, nil)
			if why := tt.check(err); why != "" {
				t.Errorf("Update() = %v, want %s", err, why)
			}
			if len(results) != 1 || results[0].Err == nil || !errors.Is(err, results[0].Err) {
				t.Errorf("Update() results = %+v, want the container's error in its Result", results)
			}
			if n := len(ex.callsOf("dev/web-1/app")); n != tt.wantRan {
				t.Errorf("Update() ran %d execs, want %d (it stops at the failure)", n, tt.wantRan)
			}
		})
	}
}

// fallBack checks for a *FallBackError whose message contains want.
func fallBack(want string) func(error) string {
	return func(err error) string {
		var fb *FallBackError
		if !errors.As(err, &fb) || !strings.Contains(fb.Error(), want) || fb.Container != "app" {
			return fmt.Sprintf("a *FallBackError for container app containing %q", want)
		}
		return ""
	}
}

func TestUpdateContainersAreIndependent(t *testing.T) {
	root, _ := srcTree(t)
	plan := Plan{Copy: []Copy{{Local: filepath.Join(root, "main.js"), Remote: "/app/main.js", Root: root}}}
	ex := &fakeExec{script: map[string]fakeResult{
		"dev/web-2/app tar": {err: &kube.ExecError{Argv: tarArgv, ExitCode: 127}},
	}}
	u := newUpdater(t, Config{}, ex)
	results, err := u.Update(t.Context(), plan, []Container{container("web-1"), container("web-2"), container("web-3")}, nil)
	var fb *FallBackError
	if !errors.As(err, &fb) || fb.Pod.Name != "web-2" {
		t.Fatalf("Update() = %v, want web-2's *FallBackError", err)
	}
	for i, want := range []bool{false, true, false} {
		if got := results[i].Err != nil; got != want {
			t.Errorf("Update() result %d (%s) failed = %v, want %v", i, results[i].Container, got, want)
		}
	}
}

func TestUpdateBatchesDeletes(t *testing.T) {
	var paths []string
	for i := range 1000 {
		paths = append(paths, fmt.Sprintf("/app/generated/some/deep/directory/file-%04d.js", i))
	}
	ex := &fakeExec{}
	u := newUpdater(t, Config{}, ex)
	if _, err := u.Update(t.Context(), Plan{Delete: paths}, []Container{container("web-1")}, nil); err != nil {
		t.Fatal(err)
	}
	calls := ex.callsOf("dev/web-1/app")
	if len(calls) < 2 {
		t.Fatalf("Update(1000 deletes) ran %d rm execs, want several bounded ones", len(calls))
	}
	var got []string
	for _, c := range calls {
		if n := len(strings.Join(c.Argv, " ")); n > maxArgBytes+len("rm -rf -- ") {
			t.Errorf("Update(1000 deletes) rm argv is %d bytes, want at most %d", n, maxArgBytes)
		}
		if !reflect.DeepEqual(c.Argv[:3], []string{"rm", "-rf", "--"}) {
			t.Errorf("Update(1000 deletes) argv = %q, want rm -rf -- ...", c.Argv[:3])
		}
		got = append(got, c.Argv[3:]...)
	}
	if !reflect.DeepEqual(got, paths) {
		t.Errorf("Update(1000 deletes) removed %d paths, want all %d in order", len(got), len(paths))
	}
}

func TestUpdateParallelLimit(t *testing.T) {
	const limit = 2
	var mu stdsync.Mutex
	inflight, peak := 0, 0
	full := make(chan struct{})
	ex := &fakeExec{gate: func(ctx context.Context) {
		mu.Lock()
		inflight++
		peak = max(peak, inflight)
		if inflight == limit {
			select {
			case <-full:
			default:
				close(full)
			}
		}
		mu.Unlock()
		// The first containers wait until limit of them run at once.
		select {
		case <-full:
		case <-ctx.Done():
		}
		mu.Lock()
		inflight--
		mu.Unlock()
	}}
	u := newUpdater(t, Config{Parallel: limit}, ex)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute) // a bound for a broken limiter, not a wait
	defer cancel()
	var pods []Container
	for i := range 6 {
		pods = append(pods, container(fmt.Sprintf("web-%d", i)))
	}
	if _, err := u.Update(ctx, Plan{Run: []Run{{Argv: []string{"true"}}}}, pods, nil); err != nil {
		t.Fatalf("Update() = %v, want %d containers updated %d at a time", err, len(pods), limit)
	}
	if peak != limit {
		t.Errorf("Update() ran %d containers at once, want %d", peak, limit)
	}
}

func TestUpdateCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	u := newUpdater(t, Config{}, &fakeExec{})
	_, err := u.Update(ctx, Plan{Run: []Run{{Argv: []string{"true"}}}}, []Container{container("web-1")}, nil)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Update(cancelled) = %v, want context.Canceled", err)
	}
	var fb *FallBackError
	if errors.As(err, &fb) {
		t.Errorf("Update(cancelled) = %v, want no fall back on cancellation", err)
	}
}

func TestUpdateLocalFileVanishes(t *testing.T) {
	root, _ := srcTree(t)
	main := filepath.Join(root, "main.js")
	// The file goes after the plan was checked, while the tar is streamed.
	ex := &fakeExec{gate: func(context.Context) {
		if err := os.Remove(main); err != nil {
			t.Error(err)
		}
	}}
	u := newUpdater(t, Config{}, ex)
	_, err := u.Update(t.Context(), Plan{Copy: []Copy{{Local: main, Remote: "/app/main.js", Root: root}}}, []Container{container("web-1")}, nil)
	var fb *FallBackError
	if !errors.As(err, &fb) || fb.Reason != "building the tar stream" || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Update(vanishing file) = %v, want a *FallBackError building the tar stream wrapping the missing file", err)
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ex   Execer
		want string
	}{
		{name: "nil execer", ex: nil, want: "sync.New: nil Execer"},
		{name: "negative parallel", cfg: Config{Parallel: -1}, ex: &fakeExec{}, want: "sync.New: Parallel -1 is negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.cfg, tt.ex); err == nil || err.Error() != tt.want {
				t.Errorf("New(%+v) = %v, want %q", tt.cfg, err, tt.want)
			}
		})
	}
}
