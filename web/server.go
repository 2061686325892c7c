// Package web serves devloop's HTTP JSON API, the websocket that streams the
// engine's view to dashboards, and the embedded dashboard itself. It sees the
// engine read-only, except for the two user actions: trigger and enable.
package web

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"time"

	"github.com/devloop-dev/devloop/engine"
)

// Viewer is the read-only face of the engine that the server streams.
type Viewer interface {
	Snapshot() engine.View
	// Subscribe returns a latest-only channel of views (buffer 1, a newer
	// view replaces an unread one), closed when ctx is done or the engine stops.
	Subscribe(ctx context.Context) <-chan engine.View
	// Logs returns up to limit lines with Seq > after, oldest first;
	// resource "" means all resources.
	Logs(resource string, after uint64, limit int) []engine.LogLine
}

// Controller carries out the user's actions. An unknown name is an error
// wrapping engine.ErrNotFound.
type Controller interface {
	Trigger(ctx context.Context, name string) error
	SetEnabled(ctx context.Context, name string, enabled bool) error
}

// Engine is what the server needs from the engine.
type Engine interface {
	Viewer
	Controller
}

// Config configures a Server. The zero value serves 127.0.0.1:10350.
type Config struct {
	// Host is the address to bind; "" means 127.0.0.1. A host that is not
	// loopback requires AllowRemote, because logs may carry secrets.
	Host string
	// Port is the TCP port; 0 means DefaultPort. Tests use EphemeralPort.
	Port int
	// AllowRemote permits binding a non-loopback host (devloop up
	// --host 0.0.0.0 --allow-remote). Remote clients must then present the
	// token for every request, reads included.
	AllowRemote bool
	// AllowedHosts are extra host names accepted in the Host header (a DNS
	// name that points at this machine). Loopback names and the bind host are
	// always accepted.
	AllowedHosts []string
	// Token is the per-run secret; "" means a fresh random one.
	Token string
	// Logger receives debug logs; nil discards them.
	Logger *slog.Logger
	// Coalesce is how long the websocket hub gathers changes before it sends
	// a delta; 0 means DefaultCoalesce.
	Coalesce time.Duration
}

// EphemeralPort as Config.Port asks the kernel for a free port (tests).
const EphemeralPort = -1

// DefaultCoalesce is the websocket delta interval: 100 ms is below what a
// person perceives as lag, yet turns a log flood of thousands of lines per
// second into at most ten messages per second per dashboard. (Tilt uses 200 ms.)
const DefaultCoalesce = 100 * time.Millisecond

// Server serves the API, the websocket and the dashboard for one engine.
type Server struct {
	cfg     Config
	eng     Engine
	log     *slog.Logger
	token   string
	ln      net.Listener
	allowed map[string]bool
	handler http.Handler
	hub     *hub
}

// New validates cfg and binds the port, so that a port in use is reported
// before any work starts. Serve serves it; Close releases it if Serve is
// never called.
func New(cfg Config, eng Engine) (*Server, error) {
	if eng == nil {
		return nil, errors.New("web.New: nil engine")
	}
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	switch {
	case cfg.Port == 0:
		cfg.Port = DefaultPort
	case cfg.Port == EphemeralPort:
		cfg.Port = 0
	case cfg.Port < 0 || cfg.Port > 65535:
		return nil, fmt.Errorf("port %d is not a TCP port: pass --port between 1 and 65535", cfg.Port)
	}
	if !isLoopbackHost(cfg.Host) && !cfg.AllowRemote {
		return nil, fmt.Errorf("refusing to serve the dashboard on %s: logs may carry secrets; add --allow-remote to serve beyond this machine, or use --host 127.0.0.1", cfg.Host)
	}
	if cfg.Coalesce <= 0 {
		cfg.Coalesce = DefaultCoalesce
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	token := cfg.Token
	if token == "" {
		b := make([]byte, 16)
		if _, err := rand.Read(b); err != nil {
			return nil, fmt.Errorf("making the API token: %w", err)
		}
		token = hex.EncodeToString(b)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)))
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("port %d is in use (another devloop up?): stop that process or choose another port with --port", cfg.Port)
		}
		return nil, fmt.Errorf("listening on %s:%d: %w (choose another with --host/--port)", cfg.Host, cfg.Port, err)
	}
	cfg.Port = ln.Addr().(*net.TCPAddr).Port
	s := &Server{cfg: cfg, eng: eng, log: log, token: token, ln: ln}
	s.allowed = allowedHosts(cfg)
	s.hub = newHub(eng, cfg.Coalesce, log)
	s.handler = s.routes()
	return s, nil
}

// URL is the dashboard's address, e.g. http://127.0.0.1:10350/.
func (s *Server) URL() string {
	host := s.cfg.Host
	if host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, strconv.Itoa(s.cfg.Port)) + "/"
}

// Port is the port the server is bound to.
func (s *Server) Port() int { return s.cfg.Port }

// Token is the per-run secret that the websocket and mutating requests need.
func (s *Server) Token() string { return s.token }

// Handler is the server's HTTP handler, for tests that serve it with httptest.
// The websocket hub runs only while Serve (or RunHub) runs.
func (s *Server) Handler() http.Handler { return s.handler }

// Close releases the port of a server whose Serve was never called.
func (s *Server) Close() error { return s.ln.Close() }

// Timeouts of the HTTP server. Reads and headers are bounded so a stuck
// client cannot hold a connection; there is no write timeout because
// /api/logs?follow=1 and /ws stream for as long as the client stays.
const (
	readHeaderTimeout = 10 * time.Second
	idleTimeout       = 2 * time.Minute
	// shutdownTimeout bounds the graceful shutdown: long enough for a
	// request in flight, short enough that Ctrl-C feels immediate.
	shutdownTimeout = 2 * time.Second
)

// Serve serves until ctx is done, then shuts down gracefully: streaming
// requests and websockets end, requests in flight get shutdownTimeout.
func (s *Server) Serve(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	hubDone := make(chan struct{})
	go func() {
		defer close(hubDone)
		s.hub.run(ctx)
	}()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(s.ln) }()
	s.log.Debug("web: serving", "url", s.URL())
	var err error
	select {
	case err = <-errc:
		cancel()
	case <-ctx.Done():
		sctx, scancel := context.WithTimeout(context.Background(), shutdownTimeout)
		err = srv.Shutdown(sctx)
		scancel()
		if err != nil {
			srv.Close()
		}
		<-errc
	}
	<-hubDone
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving the dashboard on %s: %w", s.URL(), err)
	}
	return nil
}

// RunHub runs the websocket hub until ctx is done; Serve does this itself.
// Tests that serve Handler with httptest call it.
func (s *Server) RunHub(ctx context.Context) { s.hub.run(ctx) }
