package web

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/devloop-dev/devloop/engine"
	"github.com/devloop-dev/devloop/web/webtest"
)

func wsURL(s *Server, query string) string {
	return "ws" + strings.TrimPrefix(s.URL(), "http") + "ws" + query
}

// dialWS opens the websocket as the dashboard does: token in the query,
// Origin of the page.
func dialWS(t *testing.T, s *Server, query string) *websocket.Conn {
	t.Helper()
	h := http.Header{"Origin": {strings.TrimSuffix(s.URL(), "/")}}
	conn, resp, err := websocket.DefaultDialer.Dial(wsURL(s, query), h)
	if err != nil {
		t.Fatalf("dialing the websocket: %v (response %v)", err, resp)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func readMessage(t *testing.T, conn *websocket.Conn) Message {
	t.Helper()
	var m Message
	if err := conn.ReadJSON(&m); err != nil {
		t.Fatalf("reading a websocket message: %v", err)
	}
	return m
}

func TestWebsocketSnapshotThenDeltas(t *testing.T) {
	eng := webtest.New(testResources()...)
	eng.AddLogs("api", "old line")
	s := startServer(t, eng, Config{})
	conn := dialWS(t, s, "?token="+testToken)

	snap := readMessage(t, conn)
	if snap.Type != "snapshot" || snap.View == nil || len(snap.View.Resources) != 3 {
		t.Fatalf("first message = %+v, want a snapshot with 3 resources", snap)
	}
	if len(snap.Logs) != 1 || snap.Logs[0].Text != "old line" || snap.LogCursor != 1 {
		t.Errorf("snapshot logs = %+v cursor %d, want [old line] cursor 1", snap.Logs, snap.LogCursor)
	}

	eng.SetPhase("api", engine.PhaseReady, "")
	d := readMessage(t, conn)
	if d.Type != "delta" || len(d.Resources) != 1 || d.Resources[0].Name != "api" || d.Resources[0].Phase != engine.PhaseReady {
		t.Fatalf("message after api became ready = %+v, want a delta with only api, ready", d)
	}
	if d.Names != nil || d.Devfile != nil || d.Logs != nil {
		t.Errorf("delta = %+v, want no names, devfile or logs (unchanged)", d)
	}

	eng.SetDevfile(engine.DevfileStatus{Path: "Devfile", Error: "Devfile:3:1: undefined: foo"})
	eng.AddLogs("db", "new line")
	d = readMessage(t, conn)
	for d.Devfile == nil || d.Logs == nil { // the two changes may straddle an interval
		if d.Resources != nil {
			t.Fatalf("delta = %+v, want no resources (none changed)", d)
		}
		d2 := readMessage(t, conn)
		if d.Devfile != nil {
			d2.Devfile = d.Devfile
		}
		if d.Logs != nil {
			d2.Logs = append(d.Logs, d2.Logs...)
		}
		d = d2
	}
	if d.Devfile.Error != "Devfile:3:1: undefined: foo" || len(d.Logs) != 1 || d.Logs[0].Text != "new line" {
		t.Errorf("deltas = devfile %+v logs %+v, want the Devfile error and [new line]", d.Devfile, d.Logs)
	}

	eng.SetCluster(&engine.ClusterStatus{Error: "connection refused"})
	d = readMessage(t, conn)
	if d.Cluster == nil || d.Cluster.Error != "connection refused" || d.Resources != nil || d.Devfile != nil {
		t.Errorf("delta after the cluster stopped answering = %+v, want only the cluster's error", d)
	}
	eng.SetCluster(nil)
	d = readMessage(t, conn)
	if d.Cluster == nil || d.Cluster.Error != "" {
		t.Errorf("delta after the cluster answers again = %+v, want a cluster status without error", d)
	}

	eng.SetResources(testResources()[:1]...)
	d = readMessage(t, conn)
	if got := strings.Join(d.Names, ","); got != "db" {
		t.Errorf("delta after a reload dropped api and web: names = %q, want %q", got, "db")
	}
}

func TestWebsocketResumesLogCursor(t *testing.T) {
	tests := []struct {
		name      string
		query     string
		wantLogs  []string
		wantReset bool
	}{
		{"from the start", "", []string{"one", "two", "three"}, false},
		{"after a cursor", "&log_after=2", []string{"three"}, false},
		{"cursor from a previous run", "&log_after=99", []string{"one", "two", "three"}, true},
	}
	eng := webtest.New(testResources()...)
	eng.AddLogs("api", "one", "two", "three")
	s := startServer(t, eng, Config{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := readMessage(t, dialWS(t, s, "?token="+testToken+tt.query))
			var got []string
			for _, l := range m.Logs {
				got = append(got, l.Text)
			}
			if strings.Join(got, ",") != strings.Join(tt.wantLogs, ",") || m.LogReset != tt.wantReset || m.LogCursor != 3 {
				t.Errorf("snapshot for %q = logs %q reset %v cursor %d, want %q reset %v cursor 3", tt.query, got, m.LogReset, m.LogCursor, tt.wantLogs, tt.wantReset)
			}
		})
	}
}

func TestWebsocketLogFloodArrivesCoalesced(t *testing.T) {
	const lines = 5000
	eng := webtest.New(testResources()...)
	s := startServer(t, eng, Config{})
	conn := dialWS(t, s, "?token="+testToken)
	readMessage(t, conn) // snapshot
	for i := range lines {
		eng.AddLogs("api", "line "+strconv.Itoa(i)) // one view per line
	}
	messages, got := 0, 0
	for got < lines {
		m := readMessage(t, conn)
		messages++
		for _, l := range m.Logs {
			if want := "line " + strconv.Itoa(got); l.Text != want {
				t.Fatalf("log line %d = %q, want %q (in order, none lost)", got, l.Text, want)
			}
			got++
		}
	}
	// Without coalescing there would be one message per line. The exact
	// count depends on scheduling; TestHubCoalesces pins it under synctest.
	if messages > lines/10 {
		t.Errorf("%d log lines arrived in %d messages, want them coalesced into far fewer", lines, messages)
	}
}

func TestWebsocketRefused(t *testing.T) {
	eng := webtest.New(testResources()...)
	s := startServer(t, eng, Config{})
	self := strings.TrimSuffix(s.URL(), "/")
	port := strconv.Itoa(s.Port())
	tests := []struct {
		name     string
		query    string
		origin   string
		host     string
		wantCode int
	}{
		{"no token", "", self, "", http.StatusUnauthorized},
		{"wrong token", "?token=guess", self, "", http.StatusUnauthorized},
		{"page from another origin", "?token=" + testToken, "http://127.0.0.1:1", "", http.StatusForbidden},
		{"page from another port on localhost", "?token=" + testToken, "http://localhost:3000", "", http.StatusForbidden},
		{"rebinding host", "?token=" + testToken, "http://evil.example:" + port, "evil.example:" + port, http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{"Origin": {tt.origin}}
			if tt.host != "" {
				h.Set("Host", tt.host)
			}
			conn, resp, err := websocket.DefaultDialer.Dial(wsURL(s, tt.query), h)
			if err == nil {
				conn.Close()
				t.Fatalf("Dial(%s, Origin %s) succeeded, want %d", tt.query, tt.origin, tt.wantCode)
			}
			if resp == nil || resp.StatusCode != tt.wantCode {
				t.Fatalf("Dial(%s, Origin %s) = %v, %v, want status %d", tt.query, tt.origin, resp, err, tt.wantCode)
			}
		})
	}
}

// TestWebsocketEndsOnShutdown checks that Serve returns while a dashboard
// is connected, and that the dashboard sees the connection close.
func TestWebsocketEndsOnShutdown(t *testing.T) {
	eng := webtest.New(testResources()...)
	s, err := New(Config{Port: EphemeralPort, Token: testToken}, eng)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	conn := dialWS(t, s, "?token="+testToken)
	readMessage(t, conn)
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve() after cancel = %v, want nil", err)
	}
	for {
		if _, _, err := conn.ReadMessage(); err != nil {
			break // closed, as wanted
		}
	}
}

func TestMessageJSON(t *testing.T) {
	b, err := json.Marshal(Message{Type: "delta", Seq: 7, LogSeq: 9, LogCursor: 9})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"type":"delta","seq":7,"log_seq":9,"log_cursor":9}`; string(b) != want {
		t.Errorf("json.Marshal(empty delta) = %s, want %s (docs/api.md)", b, want)
	}
}
