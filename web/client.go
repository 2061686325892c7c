package web

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/devloop-dev/devloop/engine"
)

// ClientConfig says how to reach a daemon. The zero value means the one
// running daemon, else the daemon on DefaultPort, found through its state
// file.
type ClientConfig struct {
	// Host is the daemon's address; "" means the state file's, or 127.0.0.1.
	Host string
	// Port is the daemon's port; 0 means the port of the one daemon whose
	// state file is in the state directory and whose process runs (the
	// daemon on DefaultPort when it is one of several), else DefaultPort.
	Port int
	// Token authenticates mutating requests; "" means the state file's.
	Token string
	// HTTPClient is used for requests; nil means a new http.Client.
	HTTPClient *http.Client
}

// Client talks to a running daemon's API; the CLI verbs use it.
type Client struct {
	base  string
	port  int
	token string
	// noState is set when no state file was found for the port: reads from
	// loopback still work, mutating requests cannot authenticate.
	noState bool
	http    *http.Client
}

// requestTimeout bounds every request except following logs: the API
// answers from memory, so 30 s means the daemon is stuck.
const requestTimeout = 30 * time.Second

// NewClient returns a client for the daemon cfg names. Without a token it
// reads the daemon's state file. Several running daemons and no port is an
// error that lists their ports. A missing state file is not an error here
// (a devloop up started with another XDG_STATE_HOME still answers reads);
// when nothing listens, requests fail with an error wrapping ErrNoDaemon.
func NewClient(cfg ClientConfig) (*Client, error) {
	if cfg.Port == 0 {
		port, err := discoverPort()
		if err != nil {
			return nil, err
		}
		cfg.Port = port
	}
	noState := false
	if cfg.Token == "" {
		st, err := LoadState(cfg.Port)
		switch {
		case errors.Is(err, ErrNoDaemon):
			noState = true
		case err != nil:
			return nil, err
		default:
			cfg.Token = st.Token
			if cfg.Host == "" {
				cfg.Host = st.Host
			}
		}
	}
	if cfg.Host == "" || cfg.Host == "0.0.0.0" || cfg.Host == "::" {
		cfg.Host = "127.0.0.1"
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{}
	}
	return &Client{
		base:    "http://" + net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)),
		port:    cfg.Port,
		token:   cfg.Token,
		noState: noState,
		http:    hc,
	}, nil
}

// discoverPort finds the port of the daemon a verb without --port means.
func discoverPort() (int, error) {
	running := RunningStates()
	switch len(running) {
	case 0:
		return DefaultPort, nil
	case 1:
		return running[0].Port, nil
	}
	ports := make([]string, len(running))
	for i, st := range running {
		if st.Port == DefaultPort {
			return DefaultPort, nil
		}
		ports[i] = strconv.Itoa(st.Port)
		if st.Devfile != "" {
			ports[i] += " (" + st.Devfile + ")"
		}
	}
	return 0, fmt.Errorf("%d devloop up are running, on ports %s: say which with --port or DEVLOOP_PORT", len(running), strings.Join(ports, ", "))
}

// APIError is an error answer from the daemon.
type APIError struct {
	Status  int
	Message string
}

func (e *APIError) Error() string { return e.Message }

// Unwrap makes a 404 match engine.ErrNotFound.
func (e *APIError) Unwrap() error {
	if e.Status == http.StatusNotFound {
		return engine.ErrNotFound
	}
	return nil
}

func (c *Client) do(ctx context.Context, method, path string, q url.Values) (*http.Response, error) {
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set(TokenHeader, c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			if c.noState {
				return nil, noDaemonError(c.port)
			}
			return nil, fmt.Errorf("%w (nothing listens there; a stale state file %s was left behind)", noDaemonError(c.port), StatePath(c.port))
		}
		return nil, fmt.Errorf("talking to devloop on port %d: %w", c.port, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		var e ErrorResponse
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = fmt.Sprintf("devloop on port %d answered %s", c.port, resp.Status)
		}
		if resp.StatusCode == http.StatusUnauthorized {
			if c.noState {
				e.Error += fmt.Sprintf(" (devloop on port %d answers, but its state file with the token is not at %s: run this command with the XDG_STATE_HOME of that `devloop up`)", c.port, StatePath(c.port))
			} else {
				e.Error += " (is the state file from another run? restart `devloop up`)"
			}
		}
		return nil, &APIError{Status: resp.StatusCode, Message: e.Error}
	}
	return resp, nil
}

func (c *Client) getJSON(ctx context.Context, method, path string, q url.Values, v any) error {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	resp, err := c.do(ctx, method, path, q)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("reading devloop's answer to %s %s: %w", method, path, err)
	}
	return nil
}

// View returns the engine's view (GET /api/view).
func (c *Client) View(ctx context.Context) (engine.View, error) {
	var v engine.View
	err := c.getJSON(ctx, "GET", "/api/view", nil, &v)
	return v, err
}

// Resource returns one resource (GET /api/resources/NAME); an unknown name
// is an error wrapping engine.ErrNotFound.
func (c *Client) Resource(ctx context.Context, name string) (engine.ResourceView, error) {
	var r engine.ResourceView
	err := c.getJSON(ctx, "GET", "/api/resources/"+url.PathEscape(name), nil, &r)
	return r, err
}

// Logs returns up to limit (0: the server's maximum) log lines of resource
// ("" = all) after the cursor.
func (c *Client) Logs(ctx context.Context, resource string, after uint64, limit int) (LogsResponse, error) {
	q := url.Values{"after": {strconv.FormatUint(after, 10)}}
	if resource != "" {
		q.Set("resource", resource)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var lr LogsResponse
	err := c.getJSON(ctx, "GET", "/api/logs", q, &lr)
	return lr, err
}

// FollowLogs calls fn for each log line of resource ("" = all) after the
// cursor, then for each new line, until ctx is done (returns nil), fn fails,
// or the daemon goes away.
func (c *Client) FollowLogs(ctx context.Context, resource string, after uint64, fn func(engine.LogLine) error) error {
	q := url.Values{"after": {strconv.FormatUint(after, 10)}, "follow": {"1"}}
	if resource != "" {
		q.Set("resource", resource)
	}
	resp, err := c.do(ctx, "GET", "/api/logs", q)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		var l engine.LogLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return fmt.Errorf("reading devloop's log stream: %w", err)
		}
		if err := fn(l); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading devloop's log stream: %w", err)
	}
	return fmt.Errorf("devloop on port %d stopped", c.port)
}

// Trigger asks for an update of resource name (POST /api/trigger/NAME).
func (c *Client) Trigger(ctx context.Context, name string) error {
	var v map[string]string
	return c.getJSON(ctx, "POST", "/api/trigger/"+url.PathEscape(name), nil, &v)
}

// SetEnabled enables or disables resource name.
func (c *Client) SetEnabled(ctx context.Context, name string, enabled bool) error {
	verb := "disable"
	if enabled {
		verb = "enable"
	}
	var v map[string]string
	return c.getJSON(ctx, "POST", "/api/resources/"+url.PathEscape(name)+"/"+verb, nil, &v)
}
