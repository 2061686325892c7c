package web

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"html"
	"io/fs"
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/websocket"

	"github.com/devloop-dev/devloop/engine"
)

//go:embed static
var staticFS embed.FS

// Bounds of /api/logs: a request returns at most maxLogsLimit lines (about
// 1 MB), the default is the same, and a client pages with after.
const maxLogsLimit = 10000

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(err) // the embed pattern guarantees the directory
	}
	files := http.FileServerFS(static)
	mux.HandleFunc("GET /{$}", s.guard(public, s.handleIndex))
	mux.Handle("GET /static/", s.guard(public, http.StripPrefix("/static/", files).ServeHTTP))
	mux.HandleFunc("GET /api/token", s.guard(public, s.handleToken))
	mux.HandleFunc("GET /api/view", s.guard(read, s.handleView))
	mux.HandleFunc("GET /api/resources/{name}", s.guard(read, s.handleResource))
	mux.HandleFunc("GET /api/logs", s.guard(read, s.handleLogs))
	mux.HandleFunc("POST /api/trigger/{name}", s.guard(mutate, s.handleTrigger))
	mux.HandleFunc("POST /api/resources/{name}/enable", s.guard(mutate, s.handleEnable(true)))
	mux.HandleFunc("POST /api/resources/{name}/disable", s.guard(mutate, s.handleEnable(false)))
	mux.HandleFunc("GET /ws", s.guard(mutate, s.handleWS))
	return mux
}

// tokenMeta is the placeholder in index.html that carries the token.
var tokenMeta = []byte(`<meta name="devloop-token" content="">`)

// handleIndex serves the dashboard with the token embedded, so the page can
// open the websocket; no other origin can read this response. Peers on other
// machines get no token: they open the URL with ?token= that devloop printed.
func (s *Server) handleIndex(w http.ResponseWriter, r *http.Request) {
	page, err := staticFS.ReadFile("static/index.html")
	if err != nil {
		httpError(w, http.StatusInternalServerError, err.Error())
		return
	}
	if fromLoopback(r) {
		page = bytes.Replace(page, tokenMeta,
			[]byte(`<meta name="devloop-token" content="`+html.EscapeString(s.token)+`">`), 1)
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'self'; connect-src 'self' ws://"+r.Host+"; img-src 'self' data:; frame-ancestors 'none'")
	h.Set("X-Frame-Options", "DENY")
	w.Write(page)
}

// handleToken gives the token to a same-origin page on this machine, so a
// dashboard left open across a restart of devloop picks up the new one.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	if !fromLoopback(r) || !sameOrigin(r) {
		httpError(w, http.StatusForbidden, "the token is only given to pages served to this machine")
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]string{"token": s.token})
}

func (s *Server) handleView(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.eng.Snapshot())
}

func (s *Server) handleResource(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	for _, res := range s.eng.Snapshot().Resources {
		if res.Name == name {
			writeJSON(w, http.StatusOK, res)
			return
		}
	}
	httpError(w, http.StatusNotFound, notFoundMessage(name))
}

// LogsResponse is the body of GET /api/logs without follow.
type LogsResponse struct {
	Lines []engine.LogLine `json:"lines"`
	// Next is the cursor to pass as after for the following lines.
	Next uint64 `json:"next"`
	// More says the limit cut the answer: ask again with after=Next.
	More bool `json:"more"`
}

func (s *Server) handleLogs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	resource := q.Get("resource")
	var after uint64
	if a := q.Get("after"); a != "" {
		v, err := strconv.ParseUint(a, 10, 64)
		if err != nil {
			httpError(w, http.StatusBadRequest, "after="+a+" is not a log sequence number")
			return
		}
		after = v
	}
	limit := maxLogsLimit
	if l := q.Get("limit"); l != "" {
		v, err := strconv.Atoi(l)
		if err != nil || v <= 0 {
			httpError(w, http.StatusBadRequest, "limit="+l+" is not a positive number")
			return
		}
		limit = min(v, maxLogsLimit)
	}
	if resource != "" && !s.known(resource) {
		httpError(w, http.StatusNotFound, notFoundMessage(resource))
		return
	}
	if q.Get("follow") != "1" {
		v := s.eng.Snapshot()
		lines := s.eng.Logs(resource, after, limit)
		resp := LogsResponse{Lines: lines, Next: after, More: len(lines) == limit}
		if n := len(lines); n > 0 {
			resp.Next = lines[n-1].Seq
		}
		if !resp.More {
			resp.Next = max(resp.Next, v.LogSeq)
		}
		if resp.Lines == nil {
			resp.Lines = []engine.LogLine{}
		}
		writeJSON(w, http.StatusOK, resp)
		return
	}
	s.followLogs(r.Context(), w, resource, after)
}

// followLogs streams log lines as NDJSON until the client goes away or the
// server shuts down. It wakes on every engine view whose LogSeq moved.
func (s *Server) followLogs(ctx context.Context, w http.ResponseWriter, resource string, after uint64) {
	flusher, _ := w.(http.Flusher)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if flusher != nil {
		flusher.Flush()
	}
	enc := json.NewEncoder(w)
	sub := s.eng.Subscribe(ctx)
	v := s.eng.Snapshot()
	for {
		for {
			lines := s.eng.Logs(resource, after, maxLogsLimit)
			for _, l := range lines {
				if err := enc.Encode(l); err != nil {
					return // the client went away
				}
			}
			if n := len(lines); n > 0 {
				after = lines[n-1].Seq
			}
			if len(lines) < maxLogsLimit {
				after = max(after, v.LogSeq)
				break
			}
		}
		if flusher != nil {
			flusher.Flush()
		}
		for v.LogSeq <= after {
			select {
			case <-ctx.Done():
				return
			case nv, ok := <-sub:
				if !ok {
					return // the engine stopped
				}
				v = nv
			}
		}
	}
}

func (s *Server) handleTrigger(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	s.act(w, r, name, s.eng.Trigger(r.Context(), name))
}

func (s *Server) handleEnable(enabled bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		s.act(w, r, name, s.eng.SetEnabled(r.Context(), name, enabled))
	}
}

func (s *Server) act(w http.ResponseWriter, r *http.Request, name string, err error) {
	switch {
	case err == nil:
		s.log.Debug("web: action", "path", r.URL.Path)
		writeJSON(w, http.StatusOK, map[string]string{"resource": name})
	case errors.Is(err, engine.ErrNotFound):
		httpError(w, http.StatusNotFound, notFoundMessage(name))
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		httpError(w, http.StatusServiceUnavailable, err.Error())
	default:
		httpError(w, http.StatusConflict, err.Error())
	}
}

func (s *Server) known(name string) bool {
	for _, r := range s.eng.Snapshot().Resources {
		if r.Name == name {
			return true
		}
	}
	return false
}

func notFoundMessage(name string) string {
	return "resource " + strconv.Quote(name) + " not found: `devloop get` lists the resources"
}

var upgrader = websocket.Upgrader{
	HandshakeTimeout: writeWait,
	// guard has checked Origin against Host already; gorilla's own check
	// would refuse requests without Origin, which the CLI may send.
	CheckOrigin: func(*http.Request) bool { return true },
}

// handleWS upgrades to a websocket and serves it: a read pump here, a write
// pump in its own goroutine, the hub in between.
func (s *Server) handleWS(w http.ResponseWriter, r *http.Request) {
	var after uint64
	if a := r.URL.Query().Get("log_after"); a != "" {
		v, err := strconv.ParseUint(a, 10, 64)
		if err != nil {
			httpError(w, http.StatusBadRequest, "log_after="+a+" is not a log sequence number")
			return
		}
		after = v
	}
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // Upgrade has answered the client
	}
	c := &client{send: make(chan []byte, sendBuffer), logAfter: after}
	select {
	case s.hub.register <- c:
	case <-s.hub.done:
		conn.Close()
		return
	case <-r.Context().Done():
		conn.Close()
		return
	}
	writeDone := make(chan struct{})
	go func() {
		defer close(writeDone)
		writePump(conn, c.send)
	}()
	readPump(conn)
	select {
	case s.hub.unregister <- c:
	case <-s.hub.done:
	}
	<-writeDone
}

// readPump reads until the connection fails; it exists to process pongs
// and close frames. Dashboards send nothing else.
func readPump(conn *websocket.Conn) {
	defer conn.Close()
	conn.SetReadLimit(maxClientMessage)
	conn.SetReadDeadline(time.Now().Add(pongWait))
	conn.SetPongHandler(func(string) error {
		return conn.SetReadDeadline(time.Now().Add(pongWait))
	})
	for {
		if _, _, err := conn.ReadMessage(); err != nil {
			return
		}
	}
}

// writePump writes the hub's messages and pings until send is closed (the
// hub dropped the client or stopped) or a write fails.
func writePump(conn *websocket.Conn, send <-chan []byte) {
	ticker := time.NewTicker(pingPeriod)
	defer func() {
		ticker.Stop()
		conn.Close()
	}()
	for {
		select {
		case msg, ok := <-send:
			conn.SetWriteDeadline(time.Now().Add(writeWait))
			if !ok {
				conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, ""))
				return
			}
			if err := conn.WriteMessage(websocket.TextMessage, msg); err != nil {
				return
			}
		case <-ticker.C:
			conn.SetWriteDeadline(time.Now().Add(writeWait))
			if err := conn.WriteMessage(websocket.PingMessage, nil); err != nil {
				return
			}
		}
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// ErrorResponse is the body of every API error.
type ErrorResponse struct {
	Error string `json:"error"`
}

func httpError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, ErrorResponse{Error: msg})
}
