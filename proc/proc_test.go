package proc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// TestMain lets the test binary play the supervisor (as devloop's hidden
// `internal supervise` does) and a parent that dies by SIGKILL.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "supervise":
			os.Exit(Supervise(os.Args[2:], os.Stderr))
		case "parent":
			os.Exit(parentMain(os.Args[2:]))
		}
	}
	os.Exit(m.Run())
}

// parentMain starts argv supervised, copies its output to stdout and waits
// to be killed.
func parentMain(argv []string) int {
	self, _ := os.Executable()
	var mu sync.Mutex
	_, err := Start(Spec{
		Argv:       argv,
		Supervisor: []string{self, "supervise"},
		Output: func(line string) {
			mu.Lock()
			defer mu.Unlock()
			fmt.Println(line)
		},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	select {}
}

func supervisor(t *testing.T) []string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return []string{self, "supervise"}
}

// lines collects output lines and signals each one.
type lines struct {
	mu  sync.Mutex
	all []string
	ch  chan string
}

func newLines() *lines { return &lines{ch: make(chan string, 100)} }

func (l *lines) add(s string) {
	l.mu.Lock()
	l.all = append(l.all, s)
	l.mu.Unlock()
	l.ch <- s
}

func (l *lines) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.all)
}

// next waits for the next line; the test's deadline bounds it.
func (l *lines) next(t *testing.T) string {
	t.Helper()
	select {
	case s := <-l.ch:
		return s
	case <-time.After(30 * time.Second):
		t.Fatal("no output line within 30s")
		return ""
	}
}

func TestStartExit(t *testing.T) {
	for _, sup := range []bool{false, true} {
		tests := []struct {
			name     string
			script   string
			wantOut  []string
			wantCode int
		}{
			{"ok", "echo one; echo two >&2", []string{"one", "two"}, 0},
			{"fails", "echo before; exit 3", []string{"before"}, 3},
			{"no final newline", "printf 'a\\nb'", []string{"a", "b"}, 0},
			{"env and dir", "echo $PROC_TEST_X; pwd", []string{"x1", "/"}, 0},
		}
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/supervised=%v", tt.name, sup), func(t *testing.T) {
				out := newLines()
				spec := Spec{Argv: []string{"sh", "-c", tt.script}, Dir: "/", Env: []string{"PROC_TEST_X=x1"}, Output: out.add}
				if sup {
					spec.Supervisor = supervisor(t)
				}
				p, err := Start(spec)
				if err != nil {
					t.Fatal(err)
				}
				err = p.Err()
				code := 0
				var ee *ExitError
				if errors.As(err, &ee) {
					code = ee.ExitCode
				} else if err != nil {
					t.Fatalf("Err() = %v, want nil or *ExitError", err)
				}
				if code != tt.wantCode || !slices.Equal(out.get(), tt.wantOut) {
					t.Errorf("Start(%q) = code %d, output %q; want %d, %q", tt.script, code, out.get(), tt.wantCode, tt.wantOut)
				}
			})
		}
	}
}

func TestStartMissingCommand(t *testing.T) {
	_, err := Start(Spec{Argv: []string{"/nonexistent/devloop-test"}})
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/devloop-test") {
		t.Errorf("Start(missing) = %v, want an error naming the command", err)
	}
}

// TestStopGroup: Stop ends the command and the background child it started.
func TestStopGroup(t *testing.T) {
	tests := []struct {
		name       string
		supervised bool
		script     string
	}{
		{"direct", false, "sleep 300 & echo $!; wait"},
		{"supervised", true, "sleep 300 & echo $!; wait"},
		{"supervised ignores TERM", true, "trap '' TERM; sleep 300 & echo $!; wait; wait"},
		// A child in a session of its own has left the group: the
		// supervisor finds it in its process tree.
		{"supervised setsid child", true, "setsid sh -c 'echo $$; exec sleep 300' & wait"},
		// The shell exits at once, its setsid child is reparented to the
		// supervisor (a subreaper) and goes when the command ends.
		{"supervised setsid orphan", true, "setsid sh -c 'echo $$ >pid; exec sleep 300' & until [ -s pid ]; do sleep 0.01; done; cat pid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := newLines()
			spec := Spec{Argv: []string{"sh", "-c", tt.script}, Dir: t.TempDir(), Output: out.add, Grace: 200 * time.Millisecond}
			if tt.supervised {
				spec.Supervisor = supervisor(t)
			}
			p, err := Start(spec)
			if err != nil {
				t.Fatal(err)
			}
			child, err := strconv.Atoi(out.next(t))
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Stop(context.Background()); err != nil {
				t.Fatalf("Stop() = %v", err)
			}
			select {
			case <-p.Done():
			default:
				t.Fatal("Stop() returned before the process exited")
			}
			waitGone(t, child)
		})
	}
}

// TestParentKilled: when the process that started a supervised command is
// SIGKILLed, the command's whole group goes too, and so does a child that
// left the group with setsid (issue #20: a serve_cmd's setsid child outlived
// devloop).
func TestParentKilled(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// The child prints its own PID once it is in its session.
	for _, script := range []string{"sleep 300 & echo $!; wait", "setsid sh -c 'echo $$; exec sleep 300' & wait"} {
		t.Run(script, func(t *testing.T) {
			parent := exec.Command(self, "parent", "sh", "-c", script)
			stdout, err := parent.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			parent.Stderr = os.Stderr
			if err := parent.Start(); err != nil {
				t.Fatal(err)
			}
			sc := bufio.NewScanner(stdout)
			if !sc.Scan() {
				t.Fatalf("parent printed nothing: %v", sc.Err())
			}
			child, err := strconv.Atoi(sc.Text())
			if err != nil {
				t.Fatal(err)
			}
			if err := parent.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			_ = parent.Wait()
			waitGone(t, child)
		})
	}
}

func TestChecks(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/bad" {
			http.Error(w, "no", http.StatusServiceUnavailable)
			return
		}
		if r.URL.Path == "/moved" {
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
			return
		}
	}))
	defer ok.Close()
	host, portStr, _ := net.SplitHostPort(ok.Listener.Addr().String())
	port, _ := strconv.Atoi(portStr)

	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := closed.Addr().(*net.TCPAddr).Port
	closed.Close()

	tests := []struct {
		name    string
		check   Check
		wantErr string
	}{
		{"http ok", HTTPGet("", host, port, "/"), ""},
		{"http redirect", HTTPGet("http", host, port, "moved"), ""},
		{"http 503", HTTPGet("", host, port, "/bad"), "503"},
		{"http refused", HTTPGet("", "127.0.0.1", closedPort, "/"), "refused"},
		{"tcp ok", TCPSocket(host, port), ""},
		{"tcp refused", TCPSocket("127.0.0.1", closedPort), "refused"},
		{"exec ok", Exec([]string{"true"}, "", nil), ""},
		{"exec fails", Exec([]string{"sh", "-c", "echo why; exit 1"}, "", nil), "why"},
		{"exec env", Exec([]string{"sh", "-c", "test \"$PROBE_X\" = y"}, "", []string{"PROBE_X=y"}), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.check(context.Background())
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("check() = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestExecProbeTimeout(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := Exec([]string{"sh", "-c", "sleep 300 & wait"}, "", nil)(ctx)
	if err == nil {
		t.Fatal("Exec(sleep 300) with a 100ms timeout = nil, want an error")
	}
}

// TestProbeRun drives the thresholds with a scripted check under synctest.
func TestProbeRun(t *testing.T) {
	type report struct {
		at    time.Duration
		ready bool
	}
	tests := []struct {
		name    string
		probe   Probe
		results []bool // check results in order; then the check blocks
		want    []report
	}{
		{
			name:    "ready after initial delay",
			probe:   Probe{InitialDelay: 2 * time.Second, Period: time.Second},
			results: []bool{true},
			want:    []report{{2 * time.Second, true}},
		},
		{
			name:    "success threshold",
			probe:   Probe{Period: time.Second, SuccessThreshold: 2},
			results: []bool{false, true, true},
			want:    []report{{2 * time.Second, true}},
		},
		{
			name:    "failure threshold reported once, then ready, then not",
			probe:   Probe{Period: time.Second, FailureThreshold: 2},
			results: []bool{false, false, false, true, false, false},
			want:    []report{{time.Second, false}, {3 * time.Second, true}, {5 * time.Second, false}},
		},
		{
			name:    "start period until the first success",
			probe:   Probe{Period: 10 * time.Second, StartPeriod: 100 * time.Millisecond, FailureThreshold: 5},
			results: []bool{false, false, true, false, false, false, false, false},
			want:    []report{{200 * time.Millisecond, true}, {200*time.Millisecond + 50*time.Second, false}},
		},
		{
			name:    "default period",
			probe:   Probe{},
			results: []bool{false, true},
			want:    []report{{DefaultPeriod, true}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx, cancel := context.WithCancel(context.Background())
				start := time.Now()
				i := 0
				done := make(chan struct{})
				p := tt.probe
				p.Check = func(ctx context.Context) error {
					if i == len(tt.results) {
						close(done)
						<-ctx.Done()
						return ctx.Err()
					}
					i++
					if tt.results[i-1] {
						return nil
					}
					return errors.New("down")
				}
				var got []report
				finished := make(chan struct{})
				go func() {
					p.Run(ctx, func(ready bool, err error) {
						if ready != (err == nil) {
							t.Errorf("report(%v, %v): ready and err disagree", ready, err)
						}
						got = append(got, report{time.Since(start), ready})
					})
					close(finished)
				}()
				<-done
				cancel()
				<-finished
				if !slices.Equal(got, tt.want) {
					t.Errorf("Run(%v) reports = %v, want %v", tt.results, got, tt.want)
				}
			})
		})
	}
}
