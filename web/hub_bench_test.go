package web

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/devloop-dev/devloop/engine"
	"github.com/devloop-dev/devloop/web/webtest"
)

// BenchmarkHubDelta measures one coalescing tick for one dashboard: a
// project of 300 resources where one changed and 200 log lines arrived,
// encoded as the websocket message. A hub pays this per client per tick.
func BenchmarkHubDelta(b *testing.B) {
	rs := make([]engine.ResourceView, 300)
	for i := range rs {
		rs[i] = engine.ResourceView{Name: "svc-" + strconv.Itoa(i), Kind: "k8s", Labels: []string{"backend"}, Enabled: true, Phase: engine.PhaseReady,
			Links: []engine.Link{{URL: "http://localhost:" + strconv.Itoa(8000+i)}}}
	}
	eng := webtest.New(rs...)
	h := newHub(eng, DefaultCoalesce, discard())
	c := &client{send: make(chan []byte, 1)}
	h.snapshot(c, eng.Snapshot())
	lines := make([]string, 200)
	for i := range lines {
		lines[i] = "GET /api/orders/12345 200 3.2ms user=42 trace=abcdef0123456789 " + strconv.Itoa(i)
	}
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		eng.SetPhase("svc-7", engine.PhaseBuilding, "")
		eng.AddLogs("svc-7", lines...)
		v := eng.Snapshot()
		b.StartTimer()
		m, _ := h.delta(c, v)
		more, ok := h.deliver(c, m, false)
		if !ok || more || len(m.Resources) != 1 || len(m.Logs) != 200 {
			b.Fatalf("delta = %d resources, %d lines (ok %v, more %v), want 1 and 200", len(m.Resources), len(m.Logs), ok, more)
		}
		<-c.send
	}
}

// BenchmarkWebsocketLogFlood measures the whole path from the engine's log
// to a dashboard's socket: 10,000 lines appended one view at a time, read
// by a real websocket client until the last one arrives. It reports the
// messages that carried them (coalescing) and the lines per second.
func BenchmarkWebsocketLogFlood(b *testing.B) {
	const lines = 10000
	eng := webtest.New(engine.ResourceView{Name: "api", Kind: "k8s", Enabled: true, Phase: engine.PhaseReady})
	s, err := New(Config{Port: EphemeralPort, Token: testToken}, eng)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx) }()
	defer func() { cancel(); <-served }()
	conn, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(s.URL(), "http")+"ws?token="+testToken, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	var m Message
	if err := conn.ReadJSON(&m); err != nil {
		b.Fatal(err)
	}
	text := "GET /api/orders/12345 200 3.2ms user=42 trace=abcdef0123456789"
	messages := 0
	b.ResetTimer()
	for b.Loop() {
		target := m.LogCursor + lines
		for range lines {
			eng.AddLogs("api", text)
		}
		for m.LogCursor < target {
			m = Message{}
			if err := conn.ReadJSON(&m); err != nil {
				b.Fatal(err)
			}
			messages++
		}
	}
	b.ReportMetric(float64(messages)/float64(b.N), "msgs/op")
	b.ReportMetric(float64(lines*b.N)/b.Elapsed().Seconds(), "lines/s")
}
