package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/devloop-dev/devloop/engine"
	"github.com/devloop-dev/devloop/web"
	"github.com/devloop-dev/devloop/web/webtest"
)

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func verbResources() []engine.ResourceView {
	return []engine.ResourceView{
		{Name: "db", Kind: "k8s", Enabled: true, Phase: engine.PhaseReady, TriggerMode: "auto", Links: []engine.Link{{URL: "http://localhost:5432"}},
			LastUpdate: &engine.Update{Reason: "files", Start: t0.Add(-3*time.Minute - 65*time.Millisecond), End: t0.Add(-3 * time.Minute), Result: "ok", LiveUpdate: true}},
		{Name: "api", Kind: "k8s", Enabled: true, Phase: engine.PhaseError, Error: "build failed: exit 1\nmore detail",
			LastUpdate: &engine.Update{Reason: "files", Start: t0.Add(-10 * time.Second), End: t0.Add(-8 * time.Second), Result: "error"}},
		{Name: "web", Kind: "local", Enabled: true, Phase: engine.PhasePending, Waiting: "resource_deps: api", Queued: []string{"main.go"}},
	}
}

// daemon serves a fake engine the way `devloop up` does, state file
// included, and returns its port.
func daemon(t *testing.T, eng *webtest.Engine) int {
	t.Helper()
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	s, err := web.New(web.Config{Port: web.EphemeralPort}, eng)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	if err := web.SaveState(web.State{Port: s.Port(), Token: s.Token(), PID: 1, Devfile: "Devfile"}); err != nil {
		t.Fatal(err)
	}
	return s.Port()
}

func TestGetTable(t *testing.T) {
	eng := webtest.New(verbResources()...)
	eng.SetDevfile(engine.DevfileStatus{Path: "Devfile", Error: "Devfile:4:1: undefined: foo"})
	port := daemon(t, eng)
	c, err := web.NewClient(web.ClientConfig{Port: port})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := runGet(context.Background(), getConfig{now: func() time.Time { return t0 }}, c, Streams{Out: &out}); err != nil {
		t.Fatalf("runGet() = %v", err)
	}
	want := `NAME  PHASE                                    LAST UPDATE            ERROR
db    ready                                    3m ago, live 65ms, ok
api   error                                    8s ago, 2s, error      build failed: exit 1 …
web   pending (resource_deps: api) [1 queued]  -

Devfile error (the last good Devfile keeps running): Devfile:4:1: undefined: foo
`
	if out.String() != want {
		t.Errorf("devloop get =\n%s\nwant\n%s", out.String(), want)
	}
}

func TestVerbs(t *testing.T) {
	eng := webtest.New(verbResources()...)
	eng.AddLogs("api", "api says hi")
	eng.AddLogs("db", "db says hi")
	port := strconv.Itoa(daemon(t, eng))
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  []string
		wantErr  string
		wantCall *webtest.Call
	}{
		{"get json", []string{"get", "-o", "json"}, 0, []string{`"resources": [`, `"name": "db"`, `"phase": "error"`}, "", nil},
		{"get one", []string{"get", "api"}, 0, []string{"api", "build failed"}, "", nil},
		{"get unknown", []string{"get", "nope"}, 1, nil, `resource "nope" not found`, nil},
		{"get yaml", []string{"get", "-o", "yaml"}, 0, []string{"resources:\n- ", "name: db", "phase: error", "trigger_mode: auto"}, "", nil},
		{"get wide", []string{"get", "-o", "wide"}, 0, []string{"NAME  KIND   PHASE", "TRIGGER", "ENDPOINTS", "\ndb    k8s    ready", " auto ", "http://localhost:5432", "web   local  pending"}, "", nil},
		{"get bad format", []string{"get", "-o", "xml"}, 1, nil, `unknown output format "xml": use -o json, -o yaml, -o wide`, nil},
		// The word being completed is the last: --port goes before it.
		{"complete names", []string{"__complete", "trigger", "--port", port, ""}, 0, []string{"db\tready\n", "api\terror\n", "web\tpending\n", ":4\n"}, "", nil},
		{"complete a prefix", []string{"__complete", "logs", "--port", port, "w"}, 0, []string{"web\tpending\n"}, "", nil},
		{"complete -o", []string{"__complete", "get", "--port", port, "-o", ""}, 0, []string{"json\n", "yaml\n", "wide\n"}, "", nil},
		{"logs of all", []string{"logs"}, 0, []string{"api │ api says hi\n", "db │ db says hi\n"}, "", nil},
		{"logs of one", []string{"logs", "db"}, 0, []string{"db says hi\n"}, "", nil},
		{"logs unknown", []string{"logs", "nope"}, 1, nil, "not found", nil},
		{"trigger", []string{"trigger", "api"}, 0, []string{"triggered api\n"}, "", &webtest.Call{Op: "trigger", Name: "api"}},
		{"trigger unknown", []string{"trigger", "nope"}, 1, nil, `resource "nope" not found`, nil},
		{"trigger without name", []string{"trigger"}, 1, nil, "accepts 1 arg", nil},
		{"disable", []string{"disable", "web"}, 0, []string{"disabled web\n"}, "", &webtest.Call{Op: "disable", Name: "web"}},
		{"enable", []string{"enable", "web"}, 0, []string{"enabled web\n"}, "", &webtest.Call{Op: "enable", Name: "web"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(eng.Calls())
			args := tt.args
			if args[0] != "__complete" {
				args = append(args, "--port", port)
			}
			code, out, errOut := runCLI(t, args...)
			if code != tt.wantCode || !strings.Contains(errOut, tt.wantErr) {
				t.Fatalf("devloop %s = %d, %q, want %d and an error containing %q", strings.Join(tt.args, " "), code, errOut, tt.wantCode, tt.wantErr)
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(out, w) {
					t.Errorf("devloop %s printed %q, want it to contain %q", strings.Join(tt.args, " "), out, w)
				}
			}
			calls := eng.Calls()[before:]
			switch {
			case tt.wantCall == nil && len(calls) != 0:
				t.Errorf("devloop %s made engine calls %v, want none", strings.Join(tt.args, " "), calls)
			case tt.wantCall != nil && (len(calls) != 1 || calls[0] != *tt.wantCall):
				t.Errorf("devloop %s made engine calls %v, want [%v]", strings.Join(tt.args, " "), calls, *tt.wantCall)
			}
		})
	}
}

func TestGetJSONContract(t *testing.T) {
	port := strconv.Itoa(daemon(t, webtest.New(verbResources()...)))
	code, out, errOut := runCLI(t, "get", "-o", "json", "--port", port)
	if code != 0 {
		t.Fatalf("devloop get -o json = %d, %q", code, errOut)
	}
	var v struct {
		Resources []struct {
			Name  string `json:"name"`
			Phase string `json:"phase"`
		} `json:"resources"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("devloop get -o json printed %q: %v", out, err)
	}
	var got []string
	for _, r := range v.Resources {
		got = append(got, r.Name+"="+r.Phase)
	}
	if want := "db=ready,api=error,web=pending"; strings.Join(got, ",") != want {
		t.Errorf("devloop get -o json resources = %q, want %q", strings.Join(got, ","), want)
	}
}

// TestVerbsFindTheDaemon: without --port, a verb reaches the devloop up
// that DEVLOOP_PORT names, else the one running; a bad DEVLOOP_PORT is an
// error naming it.
func TestVerbsFindTheDaemon(t *testing.T) {
	port := strconv.Itoa(daemon(t, webtest.New(verbResources()...)))
	t.Run("discovered", func(t *testing.T) {
		t.Setenv("DEVLOOP_PORT", "")
		if code, out, errOut := runCLI(t, "get"); code != 0 || !strings.Contains(out, "resource_deps: api") {
			t.Errorf("devloop get with one daemon on port %s and no --port = %d, %q, %q; want its table", port, code, out, errOut)
		}
	})
	t.Run("DEVLOOP_PORT", func(t *testing.T) {
		t.Setenv("DEVLOOP_PORT", port)
		if code, out, errOut := runCLI(t, "get", "-o", "json"); code != 0 || !strings.Contains(out, `"resources"`) {
			t.Errorf("DEVLOOP_PORT=%s devloop get -o json = %d, %q, %q; want the view", port, code, out, errOut)
		}
	})
	t.Run("DEVLOOP_PORT wrong", func(t *testing.T) {
		t.Setenv("DEVLOOP_PORT", "tilt")
		if code, _, errOut := runCLI(t, "get"); code != 1 || !strings.Contains(errOut, `DEVLOOP_PORT="tilt" is not a port number`) {
			t.Errorf("DEVLOOP_PORT=tilt devloop get = %d, %q; want 1 and an error naming DEVLOOP_PORT", code, errOut)
		}
	})
	t.Run("--port wins", func(t *testing.T) {
		t.Setenv("DEVLOOP_PORT", "tilt")
		if code, _, errOut := runCLI(t, "get", "--port", port); code != 0 {
			t.Errorf("devloop get --port %s with a bad DEVLOOP_PORT = %d, %q; want 0", port, code, errOut)
		}
	})
}

func TestVerbsWithoutDaemon(t *testing.T) {
	// A port nothing listens on, with and without a stale state file.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	p := strconv.Itoa(port)
	want := "no devloop is running on port " + p + ": start one with `devloop up`"
	for _, stale := range []bool{false, true} {
		for _, args := range [][]string{{"get"}, {"logs"}, {"logs", "-f"}, {"trigger", "api"}, {"enable", "api"}, {"disable", "api"}} {
			t.Run(strings.Join(args, " ")+" stale="+strconv.FormatBool(stale), func(t *testing.T) {
				t.Setenv("XDG_STATE_HOME", t.TempDir())
				if stale {
					if err := web.SaveState(web.State{Port: port, Token: "old"}); err != nil {
						t.Fatal(err)
					}
				}
				code, _, errOut := runCLI(t, append(args, "--port", p)...)
				if code != 1 || !strings.Contains(errOut, want) {
					t.Errorf("devloop %s without a daemon = %d, %q, want 1 and %q", strings.Join(args, " "), code, errOut, want)
				}
			})
		}
	}
}

// lineWriter is an io.Writer that reports each write to a channel.
type lineWriter struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes chan string
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	w.writes <- string(p)
	return len(p), nil
}

func TestLogsFollow(t *testing.T) {
	eng := webtest.New(verbResources()...)
	eng.AddLogs("api", "first")
	port := strconv.Itoa(daemon(t, eng))
	out := &lineWriter{writes: make(chan string, 10)}
	var errb bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"logs", "-f", "api", "--port", port}, Streams{In: strings.NewReader(""), Out: out, Err: &errb})
	}()
	if got := <-out.writes; got != "first\n" {
		t.Fatalf("devloop logs -f api first wrote %q, want %q", got, "first\n")
	}
	eng.AddLogs("db", "not mine")
	eng.AddLogs("api", "second")
	if got := <-out.writes; got != "second\n" {
		t.Fatalf("devloop logs -f api then wrote %q, want %q", got, "second\n")
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("devloop logs -f after interrupt = %d, %q, want 0", code, errb.String())
	}
}

// TestLogsFlags: --tail, --since, --timestamps and -o json, as kubectl logs
// has them, over a daemon's real API.
func TestLogsFlags(t *testing.T) {
	eng := webtest.New(verbResources()...)
	clock := t0.Add(-time.Hour)
	eng.Clock = func() time.Time { return clock }
	eng.AddLogs("api", "old 1", "old 2")
	clock = t0.Add(-time.Minute)
	eng.AddLogs("api", "new 1", "new 2", "new 3")
	eng.AddLogs("db", "db new")
	port := daemon(t, eng)
	c, err := web.NewClient(web.ClientConfig{Port: port})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  logsConfig
		want string
	}{
		{"all", logsConfig{tail: -1}, "api │ old 1\napi │ old 2\napi │ new 1\napi │ new 2\napi │ new 3\ndb │ db new\n"},
		{"tail", logsConfig{name: "api", tail: 2}, "new 2\nnew 3\n"},
		{"tail 0", logsConfig{name: "api", tail: 0}, ""},
		{"since", logsConfig{tail: -1, since: 10 * time.Minute}, "api │ new 1\napi │ new 2\napi │ new 3\ndb │ db new\n"},
		{"since and tail", logsConfig{name: "api", tail: 4, since: 10 * time.Minute}, "new 1\nnew 2\nnew 3\n"},
		{"timestamps", logsConfig{name: "db", tail: -1, timestamps: true}, "2026-11-22T09:59:00Z db new\n"},
		{"json", logsConfig{name: "db", tail: -1, output: "json"}, `{"seq":6,"resource":"db","time":"2026-11-22T09:59:00Z","text":"db new"}` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			tt.cfg.now = func() time.Time { return t0 }
			if err := runLogs(context.Background(), tt.cfg, c, Streams{Out: &out}); err != nil {
				t.Fatalf("runLogs = %v", err)
			}
			if out.String() != tt.want {
				t.Errorf("devloop logs (%s) =\n%q\nwant\n%q", tt.name, out.String(), tt.want)
			}
		})
	}
	for _, args := range [][]string{{"logs", "-o", "yaml"}, {"logs", "--since", "-5m"}} {
		if code, _, errOut := runCLI(t, append(args, "--port", strconv.Itoa(port))...); code != 1 || !strings.Contains(errOut, "Error: ") {
			t.Errorf("devloop %v = %d, %q; want 1 and an error", args, code, errOut)
		}
	}
}

// TestLogsDroppedMarker: the marker of dropped lines names its resource.
func TestLogsDroppedMarker(t *testing.T) {
	var out bytes.Buffer
	l := engine.LogLine{Resource: "api", Dropped: 120, Text: "[devloop: 120 older lines dropped to bound memory]"}
	if err := printLogLine(&out, logsConfig{}, l); err != nil {
		t.Fatal(err)
	}
	if want := "api │ … 120 older lines of api dropped …\n"; out.String() != want {
		t.Errorf("marker = %q, want %q", out.String(), want)
	}
}
