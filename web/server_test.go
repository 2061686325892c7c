package web

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/devloop-dev/devloop/engine"
	"github.com/devloop-dev/devloop/web/webtest"
)

// testToken is the token of every test server.
const testToken = "test-token-0123456789"

func testResources() []engine.ResourceView {
	return []engine.ResourceView{
		{Name: "db", Kind: "k8s", Labels: []string{"backend"}, Enabled: true, TriggerMode: "auto", Phase: engine.PhaseReady},
		{Name: "api", Kind: "k8s", Labels: []string{"backend"}, Enabled: true, TriggerMode: "auto", Phase: engine.PhaseBuilding,
			Links: []engine.Link{{URL: "http://localhost:8080", Name: "api"}}},
		{Name: "web", Kind: "local", Labels: []string{"frontend"}, Enabled: true, TriggerMode: "manual", Phase: engine.PhasePending},
	}
}

// startServer serves a new Server for eng on an ephemeral port until the
// test ends, and returns it.
func startServer(t *testing.T, eng Engine, cfg Config) *Server {
	t.Helper()
	if cfg.Port == 0 {
		cfg.Port = EphemeralPort
	}
	if cfg.Token == "" {
		cfg.Token = testToken
	}
	s, err := New(cfg, eng)
	if err != nil {
		t.Fatalf("New(%+v) = %v, want a server", cfg, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve() = %v, want nil after cancel", err)
		}
	})
	return s
}

func TestNewRefuses(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyPort := busy.Addr().(*net.TCPAddr).Port
	tests := []struct {
		name string
		cfg  Config
		want []string
	}{
		{"remote host without --allow-remote", Config{Host: "0.0.0.0", Port: EphemeralPort}, []string{"--allow-remote", "secrets"}},
		{"port in use", Config{Port: busyPort}, []string{strconv.Itoa(busyPort), "in use", "--port"}},
		{"port out of range", Config{Port: 70000}, []string{"70000", "--port"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(tt.cfg, webtest.New())
			if err == nil {
				s.Close()
				t.Fatalf("New(%+v) = nil error, want one containing %q", tt.cfg, tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("New(%+v) = %q, want it to contain %q", tt.cfg, err, w)
				}
			}
		})
	}
}

func TestNewDefaults(t *testing.T) {
	s, err := New(Config{Port: EphemeralPort}, webtest.New())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if len(s.Token()) != 32 {
		t.Errorf("Token() = %q, want 32 random hex digits", s.Token())
	}
	if want := "http://127.0.0.1:" + strconv.Itoa(s.Port()) + "/"; s.URL() != want {
		t.Errorf("URL() = %q, want %q", s.URL(), want)
	}
	s2, err := New(Config{Port: EphemeralPort}, webtest.New())
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if s2.Token() == s.Token() {
		t.Errorf("Token() = %q for two servers, want a fresh token per run", s.Token())
	}
}

type request struct {
	method, path string
	host         string // "" = the server's own
	origin       string
	fetchSite    string
	token        string
}

func do(t *testing.T, s *Server, rq request) (int, string) {
	t.Helper()
	req, err := http.NewRequest(rq.method, strings.TrimSuffix(s.URL(), "/")+rq.path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rq.host != "" {
		req.Host = rq.host
	}
	if rq.origin != "" {
		req.Header.Set("Origin", rq.origin)
	}
	if rq.fetchSite != "" {
		req.Header.Set("Sec-Fetch-Site", rq.fetchSite)
	}
	if rq.token != "" {
		req.Header.Set(TokenHeader, rq.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", rq.method, rq.path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAPI(t *testing.T) {
	eng := webtest.New(testResources()...)
	eng.AddLogs("api", "api line 1", "api line 2")
	eng.AddLogs("db", "db line 1")
	eng.FailNext("trigger", "web", errors.New("web is disabled: enable it first"))
	s := startServer(t, eng, Config{})
	self := strings.TrimSuffix(s.URL(), "/")
	tests := []struct {
		name     string
		req      request
		wantCode int
		wantBody []string
	}{
		{"view", request{method: "GET", path: "/api/view"}, 200, []string{`"name": "db"`, `"phase": "building"`, `"log_seq": 3`}},
		{"resource", request{method: "GET", path: "/api/resources/api"}, 200, []string{`"name": "api"`, `"url": "http://localhost:8080"`}},
		{"unknown resource", request{method: "GET", path: "/api/resources/nope"}, 404, []string{`resource \"nope\" not found`, "devloop get"}},
		{"all logs", request{method: "GET", path: "/api/logs"}, 200, []string{"api line 1", "db line 1", `"next": 3`}},
		{"one resource's logs", request{method: "GET", path: "/api/logs?resource=api&after=1"}, 200, []string{"api line 2", `"next": 3`}},
		{"logs limit", request{method: "GET", path: "/api/logs?limit=1"}, 200, []string{"api line 1", `"next": 1`, `"more": true`}},
		{"logs of unknown resource", request{method: "GET", path: "/api/logs?resource=nope"}, 404, []string{"not found"}},
		{"bad after", request{method: "GET", path: "/api/logs?after=x"}, 400, []string{"after=x"}},
		{"bad limit", request{method: "GET", path: "/api/logs?limit=-3"}, 400, []string{"limit=-3"}},
		{"trigger", request{method: "POST", path: "/api/trigger/api", token: testToken}, 200, []string{`"resource": "api"`}},
		{"trigger same origin", request{method: "POST", path: "/api/trigger/api", token: testToken, origin: self, fetchSite: "same-origin"}, 200, nil},
		{"trigger unknown", request{method: "POST", path: "/api/trigger/nope", token: testToken}, 404, []string{"not found"}},
		{"trigger refused by engine", request{method: "POST", path: "/api/trigger/web", token: testToken}, 409, []string{"enable it first"}},
		{"trigger without token", request{method: "POST", path: "/api/trigger/api"}, 401, []string{TokenHeader}},
		{"trigger wrong token", request{method: "POST", path: "/api/trigger/api", token: "guess"}, 401, nil},
		{"trigger from another origin", request{method: "POST", path: "/api/trigger/api", token: testToken, origin: "http://127.0.0.1:1"}, 403, []string{"cross-origin"}},
		{"trigger cross-site fetch", request{method: "POST", path: "/api/trigger/api", token: testToken, fetchSite: "same-site"}, 403, nil},
		{"trigger with GET", request{method: "GET", path: "/api/trigger/api", token: testToken}, 405, nil},
		{"disable", request{method: "POST", path: "/api/resources/db/disable", token: testToken}, 200, nil},
		{"enable", request{method: "POST", path: "/api/resources/db/enable", token: testToken}, 200, nil},
		{"enable without token", request{method: "POST", path: "/api/resources/db/enable"}, 401, nil},
		{"rebinding host", request{method: "GET", path: "/api/view", host: "evil.example:" + strconv.Itoa(s.Port())}, 403, []string{"evil.example", "not allowed"}},
		{"rebinding host on the page", request{method: "GET", path: "/", host: "evil.example"}, 403, nil},
		{"localhost host", request{method: "GET", path: "/api/view", host: "localhost:" + strconv.Itoa(s.Port())}, 200, nil},
		{"ipv6 loopback host", request{method: "GET", path: "/api/view", host: "[::1]:" + strconv.Itoa(s.Port())}, 200, nil},
		{"token same origin", request{method: "GET", path: "/api/token", origin: self, fetchSite: "same-origin"}, 200, []string{testToken}},
		{"token cross site", request{method: "GET", path: "/api/token", fetchSite: "cross-site"}, 403, nil},
		{"token other origin", request{method: "GET", path: "/api/token", origin: "http://localhost:3000"}, 403, nil},
		{"page embeds the token", request{method: "GET", path: "/"}, 200, []string{`content="` + testToken + `"`}},
		{"static file", request{method: "GET", path: "/static/app.js"}, 200, nil},
		{"unknown path", request{method: "GET", path: "/api/nope"}, 404, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := do(t, s, tt.req)
			if code != tt.wantCode {
				t.Fatalf("%s %s = %d %s, want %d", tt.req.method, tt.req.path, code, body, tt.wantCode)
			}
			for _, w := range tt.wantBody {
				if !strings.Contains(body, w) {
					t.Errorf("%s %s = %s, want it to contain %s", tt.req.method, tt.req.path, body, w)
				}
			}
		})
	}
	want := []webtest.Call{{Op: "trigger", Name: "api"}, {Op: "trigger", Name: "api"}, {Op: "trigger", Name: "web"}, {Op: "disable", Name: "db"}, {Op: "enable", Name: "db"}}
	if got := eng.Calls(); !equalCalls(got, want) {
		t.Errorf("engine calls = %v, want %v (refused requests must not reach the engine)", got, want)
	}
}

func equalCalls(a, b []webtest.Call) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestFollowLogs(t *testing.T) {
	eng := webtest.New(testResources()...)
	eng.AddLogs("api", "before")
	s := startServer(t, eng, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.URL()+"api/logs?follow=1&resource=api", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/x-ndjson" {
		t.Errorf("Content-Type = %q, want application/x-ndjson", ct)
	}
	dec := json.NewDecoder(resp.Body)
	next := func() engine.LogLine {
		t.Helper()
		var l engine.LogLine
		if err := dec.Decode(&l); err != nil {
			t.Fatalf("reading the followed log: %v", err)
		}
		return l
	}
	if l := next(); l.Text != "before" {
		t.Errorf("first followed line = %q, want %q", l.Text, "before")
	}
	eng.AddLogs("db", "other resource")
	eng.AddLogs("api", "after")
	if l := next(); l.Text != "after" || l.Seq != 3 {
		t.Errorf("next followed line = %d %q, want 3 %q (lines of db filtered out)", l.Seq, l.Text, "after")
	}
}

func TestStateFile(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_STATE_HOME", dir)
	const port = 10399
	if _, err := LoadState(port); !errors.Is(err, ErrNoDaemon) || !strings.Contains(err.Error(), "devloop up") || !strings.Contains(err.Error(), "10399") {
		t.Errorf("LoadState(%d) before SaveState = %v, want ErrNoDaemon naming the port and `devloop up`", port, err)
	}
	want := State{Port: port, Token: "secret", PID: 42, Devfile: "/src/Devfile"}
	if err := SaveState(want); err != nil {
		t.Fatalf("SaveState(%+v) = %v", want, err)
	}
	path := StatePath(port)
	if wantPath := dir + "/devloop/daemon-10399.json"; path != wantPath {
		t.Errorf("StatePath(%d) = %q, want %q", port, path, wantPath)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("state file mode = %v, want 0600 (it holds the token)", fi.Mode().Perm())
	}
	got, err := LoadState(port)
	if err != nil || got != want {
		t.Errorf("LoadState(%d) = %+v, %v, want %+v", port, got, err, want)
	}
	if err := RemoveState(port); err != nil {
		t.Errorf("RemoveState(%d) = %v", port, err)
	}
	if err := RemoveState(port); err != nil {
		t.Errorf("RemoveState(%d) twice = %v, want nil", port, err)
	}
	if _, err := LoadState(port); !errors.Is(err, ErrNoDaemon) {
		t.Errorf("LoadState(%d) after RemoveState = %v, want ErrNoDaemon", port, err)
	}
}

// TestRemoteClients checks what a client on another machine gets when
// devloop serves beyond loopback (--allow-remote), and that a server without
// it refuses other hosts.
func TestRemoteClients(t *testing.T) {
	remote, err := New(Config{Port: EphemeralPort, Token: testToken, AllowRemote: true}, webtest.New(testResources()...))
	if err != nil {
		t.Fatal(err)
	}
	defer remote.Close()
	local, err := New(Config{Port: EphemeralPort, Token: testToken}, webtest.New(testResources()...))
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	tests := []struct {
		name     string
		s        *Server
		method   string
		path     string
		host     string
		token    string
		wantCode int
		wantBody string
		notBody  string
	}{
		{"page without the token in it", remote, "GET", "/", "192.0.2.10:10350", "", 200, `content=""`, testToken},
		{"page files", remote, "GET", "/static/app.js", "192.0.2.10:10350", "", 200, "", ""},
		{"view without the token", remote, "GET", "/api/view", "192.0.2.10:10350", "", 401, "", ""},
		{"view with the token", remote, "GET", "/api/view", "192.0.2.10:10350", testToken, 200, `"name": "api"`, ""},
		{"logs without the token", remote, "GET", "/api/logs", "192.0.2.10:10350", "", 401, "", ""},
		{"the token itself", remote, "GET", "/api/token", "192.0.2.10:10350", "", 403, "", testToken},
		{"trigger with the token", remote, "POST", "/api/trigger/api", "192.0.2.10:10350", testToken, 200, "", ""},
		{"a DNS name", remote, "GET", "/", "evil.example:10350", "", 403, "", ""},
		{"an IP without --allow-remote", local, "GET", "/", "192.0.2.10:10350", "", 403, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, "http://"+tt.host+tt.path, nil)
			req.RemoteAddr = "192.0.2.99:40000"
			if tt.token != "" {
				req.Header.Set(TokenHeader, tt.token)
			}
			rec := httptest.NewRecorder()
			tt.s.Handler().ServeHTTP(rec, req)
			body := rec.Body.String()
			if rec.Code != tt.wantCode || !strings.Contains(body, tt.wantBody) || (tt.notBody != "" && strings.Contains(body, tt.notBody)) {
				t.Errorf("%s %s from another machine = %d %.200q, want %d containing %q and not %q", tt.method, tt.path, rec.Code, body, tt.wantCode, tt.wantBody, tt.notBody)
			}
		})
	}
}
