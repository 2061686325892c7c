package web

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gorilla/websocket"

	"github.com/devloop-dev/devloop/engine"
	"github.com/devloop-dev/devloop/web/webtest"
)

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// pending decodes the messages queued for c without waiting.
func pending(t *testing.T, c *client) []Message {
	t.Helper()
	var ms []Message
	for {
		select {
		case b, ok := <-c.send:
			if !ok {
				return ms
			}
			var m Message
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			ms = append(ms, m)
		default:
			return ms
		}
	}
}

func TestHubCoalesces(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const interval = 100 * time.Millisecond
		eng := webtest.New(testResources()...)
		h := newHub(eng, interval, discard())
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go h.run(ctx)
		c := &client{send: make(chan []byte, sendBuffer)}
		h.register <- c
		synctest.Wait()
		if ms := pending(t, c); len(ms) != 1 || ms[0].Type != "snapshot" {
			t.Fatalf("after register = %+v, want one snapshot", ms)
		}

		// A flood of 12,000 views, one log line each, within one interval.
		for i := range 12000 {
			eng.AddLogs("api", "line "+strconv.Itoa(i))
		}
		eng.SetPhase("api", engine.PhaseError, "boom")
		eng.SetPhase("api", engine.PhaseReady, "")
		synctest.Wait()
		if ms := pending(t, c); len(ms) != 0 {
			t.Fatalf("messages before the interval passed = %d, want 0", len(ms))
		}
		time.Sleep(interval)
		synctest.Wait()
		ms := pending(t, c)
		if len(ms) != 1 {
			t.Fatalf("messages after one interval = %d, want 1", len(ms))
		}
		if m := ms[0]; len(m.Logs) != maxLogsPerMessage || len(m.Resources) != 1 || m.Resources[0].Phase != engine.PhaseReady {
			t.Errorf("first delta = %d lines, resources %+v, want %d lines and only api, ready", len(m.Logs), m.Resources, maxLogsPerMessage)
		}
		// The rest follows one bounded message per interval.
		lines := maxLogsPerMessage
		for range 2 {
			time.Sleep(interval)
			synctest.Wait()
			for _, m := range pending(t, c) {
				lines += len(m.Logs)
			}
		}
		if lines != 12000 {
			t.Errorf("log lines after three intervals = %d, want 12000", lines)
		}
		time.Sleep(10 * interval)
		synctest.Wait()
		if ms := pending(t, c); len(ms) != 0 {
			t.Errorf("messages while idle = %+v, want none", ms)
		}
	})
}

func TestHubDropsSlowClient(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const interval = 100 * time.Millisecond
		eng := webtest.New(testResources()...)
		h := newHub(eng, interval, discard())
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go h.run(ctx)
		slow := &client{send: make(chan []byte, sendBuffer)}
		fast := &client{send: make(chan []byte, sendBuffer)}
		h.register <- slow
		h.register <- fast
		for i := range sendBuffer + 1 {
			eng.SetPhase("api", engine.PhaseBuilding, strconv.Itoa(i))
			time.Sleep(interval)
			synctest.Wait()
			pending(t, fast)
		}
		n := 0
		for range slow.send { // closed by the hub
			n++
		}
		if n != sendBuffer {
			t.Errorf("slow client got %d messages before being dropped, want %d (its buffer)", n, sendBuffer)
		}
		eng.SetPhase("api", engine.PhaseReady, "")
		time.Sleep(interval)
		synctest.Wait()
		if ms := pending(t, fast); len(ms) != 1 {
			t.Errorf("fast client after the slow one was dropped got %d messages, want 1", len(ms))
		}
	})
}

// pipeListener hands out in-memory connections, so that a whole HTTP
// server and websocket run inside a synctest bubble.
type pipeListener struct {
	conns chan net.Conn
	once  sync.Once
	done  chan struct{}
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error { l.once.Do(func() { close(l.done) }); return nil }
func (l *pipeListener) Addr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 10350}
}

func (l *pipeListener) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case l.conns <- loopbackConn{server}:
		return client, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// loopbackConn reports a loopback peer, as a local dashboard has.
type loopbackConn struct{ net.Conn }

func (loopbackConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
}

// serveInBubble serves s's handler and hub over a pipeListener until the
// returned stop is called.
func serveInBubble(t *testing.T, s *Server) (l *pipeListener, stop func()) {
	l = newPipeListener()
	ctx, cancel := context.WithCancel(context.Background())
	srv := &http.Server{Handler: s.Handler()}
	var wg sync.WaitGroup
	wg.Go(func() { s.RunHub(ctx) })
	wg.Go(func() { srv.Serve(l) })
	return l, func() {
		cancel()
		srv.Close()
		wg.Wait()
	}
}

func TestWebsocketPing(t *testing.T) {
	tests := []struct {
		name      string
		read      bool // whether the dashboard reads (and so answers pings)
		wantPings int
		wantAlive bool
	}{
		// Pings every 54 s keep a healthy connection open for good.
		{"healthy dashboard", true, int(5 * time.Minute / pingPeriod), true},
		// A dashboard that reads nothing blocks the writer; after writeWait
		// the server gives up on it.
		{"stuck dashboard", false, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s, err := New(Config{Port: EphemeralPort, Token: testToken}, webtest.New(testResources()...))
				if err != nil {
					t.Fatal(err)
				}
				s.Close() // served over pipes instead
				l, stop := serveInBubble(t, s)
				defer stop()
				d := websocket.Dialer{NetDialContext: l.dial}
				conn, _, err := d.Dial("ws://127.0.0.1:10350/ws?token="+testToken, http.Header{"Origin": {"http://127.0.0.1:10350"}})
				if err != nil {
					t.Fatalf("dialing the websocket over a pipe: %v", err)
				}
				defer conn.Close()
				pings := 0
				conn.SetPingHandler(func(data string) error {
					pings++
					return conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
				})
				readErr := make(chan error, 1)
				if tt.read {
					go func() {
						for {
							if _, _, err := conn.ReadMessage(); err != nil {
								readErr <- err
								return
							}
						}
					}()
				}
				time.Sleep(5 * time.Minute)
				synctest.Wait()
				if !tt.read {
					_, _, err := conn.ReadMessage()
					readErr <- err
				}
				alive := true
				select {
				case err := <-readErr:
					alive = err == nil
				default:
				}
				if alive != tt.wantAlive || pings != tt.wantPings {
					t.Errorf("after 5 minutes: alive %v with %d pings, want alive %v with %d pings", alive, pings, tt.wantAlive, tt.wantPings)
				}
				conn.Close()
				synctest.Wait()
			})
		})
	}
}
