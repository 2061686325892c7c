package web

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/devloop-dev/devloop/internal/testkit/testenv"
)

// browser drives a headless Chromium over the DevTools protocol: a JSON
// request/response protocol on one websocket. The few methods the tests
// need (navigate, evaluate, screenshot) do not justify a dependency.
type browser struct {
	t    *testing.T
	cmd  *exec.Cmd
	conn *websocket.Conn

	mu         sync.Mutex
	nextID     int
	pending    map[int]chan cdpReply
	exceptions []string
	closed     bool
	session    string
	loaded     chan struct{} // closed by the next Page.loadEventFired
	readDone   chan struct{}
	stderrDone chan struct{}
}

type cdpReply struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Message string `json:"message"`
	} `json:"error"`
}

// closeTimeout bounds the polite Browser.close before the process is killed.
const closeTimeout = 5 * time.Second

var devtoolsRE = regexp.MustCompile(`DevTools listening on (ws://\S+)`)

// startBrowser starts Chromium with a fresh profile and opens one page.
// Without Chromium the test is skipped (failed under DEVLOOP_E2E=1).
func startBrowser(t *testing.T, ctx context.Context) *browser {
	t.Helper()
	exe := testenv.LookPath(t, "chromium", "chromium")
	profile := t.TempDir()
	cmd := exec.Command(exe,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run",
		"--disable-extensions", "--disable-dev-shm-usage", "--mute-audio",
		"--user-data-dir="+profile, "--remote-debugging-port=0", "--window-size=1280,860",
		"about:blank")
	dieWithParent(cmd)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", exe, err)
	}
	b := &browser{t: t, cmd: cmd, pending: make(map[int]chan cdpReply), readDone: make(chan struct{}), stderrDone: make(chan struct{})}
	t.Cleanup(b.close) // registered after TempDir: runs first, so the profile is free to remove
	found := make(chan string, 1)
	var tail []string
	var tailMu sync.Mutex
	go func() {
		defer close(b.stderrDone)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := devtoolsRE.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
			tailMu.Lock()
			tail = append(tail, sc.Text())
			if len(tail) > 20 {
				tail = tail[1:]
			}
			tailMu.Unlock()
		}
		close(found)
	}()
	var wsURL string
	select {
	case u, ok := <-found:
		if !ok {
			tailMu.Lock()
			defer tailMu.Unlock()
			t.Fatalf("chromium exited before its DevTools endpoint was up:\n%s", strings.Join(tail, "\n"))
		}
		wsURL = u
	case <-ctx.Done():
		t.Fatalf("waiting for chromium's DevTools endpoint: %v", ctx.Err())
	}
	conn, _, err := websocket.DefaultDialer.DialContext(ctx, wsURL, nil)
	if err != nil {
		t.Fatalf("connecting to chromium at %s: %v", wsURL, err)
	}
	conn.SetReadLimit(64 << 20) // screenshots
	b.conn = conn
	go b.read()

	var target struct {
		TargetID string `json:"targetId"`
	}
	b.must(t, ctx, "Target.createTarget", map[string]any{"url": "about:blank"}, &target)
	var att struct {
		SessionID string `json:"sessionId"`
	}
	b.must(t, ctx, "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &att)
	b.session = att.SessionID
	b.must(t, ctx, "Runtime.enable", nil, nil)
	b.must(t, ctx, "Page.enable", nil, nil)
	return b
}

func (b *browser) read() {
	defer close(b.readDone)
	for {
		var msg struct {
			ID     int             `json:"id"`
			Method string          `json:"method"`
			Params json.RawMessage `json:"params"`
			cdpReply
		}
		if err := b.conn.ReadJSON(&msg); err != nil {
			b.mu.Lock()
			b.closed = true
			for id, ch := range b.pending {
				close(ch)
				delete(b.pending, id)
			}
			b.mu.Unlock()
			return
		}
		if msg.ID != 0 {
			b.mu.Lock()
			ch := b.pending[msg.ID]
			delete(b.pending, msg.ID)
			b.mu.Unlock()
			if ch != nil {
				ch <- msg.cdpReply
			}
			continue
		}
		if msg.Method == "Page.loadEventFired" {
			b.mu.Lock()
			if b.loaded != nil {
				close(b.loaded)
				b.loaded = nil
			}
			b.mu.Unlock()
		}
		if msg.Method == "Runtime.exceptionThrown" {
			var p struct {
				ExceptionDetails struct {
					Text      string `json:"text"`
					Exception struct {
						Description string `json:"description"`
					} `json:"exception"`
				} `json:"exceptionDetails"`
			}
			json.Unmarshal(msg.Params, &p)
			b.mu.Lock()
			b.exceptions = append(b.exceptions, p.ExceptionDetails.Text+" "+p.ExceptionDetails.Exception.Description)
			b.mu.Unlock()
		}
	}
}

// call sends one DevTools command to the page (or to the browser before a
// page is attached) and decodes its result into result.
func (b *browser) call(ctx context.Context, method string, params, result any) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return errors.New("chromium went away")
	}
	b.nextID++
	id := b.nextID
	ch := make(chan cdpReply, 1)
	b.pending[id] = ch
	req := map[string]any{"id": id, "method": method}
	if params != nil {
		req["params"] = params
	}
	if b.session != "" {
		req["sessionId"] = b.session
	}
	err := b.conn.WriteJSON(req)
	b.mu.Unlock()
	if err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	select {
	case r, ok := <-ch:
		if !ok {
			return fmt.Errorf("%s: chromium went away", method)
		}
		if r.Error != nil {
			return fmt.Errorf("%s: %s", method, r.Error.Message)
		}
		if result != nil {
			return json.Unmarshal(r.Result, result)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s: %w", method, ctx.Err())
	}
}

func (b *browser) must(t *testing.T, ctx context.Context, method string, params, result any) {
	t.Helper()
	if err := b.call(ctx, method, params, result); err != nil {
		t.Fatal(err)
	}
}

// eval evaluates a JavaScript expression in the page, awaiting a promise,
// and decodes its JSON value into result (if not nil).
func (b *browser) eval(ctx context.Context, expr string, result any) error {
	var r struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	if err := b.call(ctx, "Runtime.evaluate", map[string]any{
		"expression": expr, "awaitPromise": true, "returnByValue": true,
	}, &r); err != nil {
		return err
	}
	if e := r.ExceptionDetails; e != nil {
		return fmt.Errorf("evaluating %q: %s %s", expr, e.Text, e.Exception.Description)
	}
	if result != nil && r.Result.Value != nil {
		return json.Unmarshal(r.Result.Value, result)
	}
	return nil
}

func (b *browser) mustEval(t *testing.T, ctx context.Context, expr string, result any) {
	t.Helper()
	if err := b.eval(ctx, expr, result); err != nil {
		t.Fatal(err)
	}
}

// waitFor waits until the JavaScript condition cond is true in the page. The
// page re-checks it on every DOM change (a MutationObserver), so nothing
// polls; the test's context bounds the wait.
func (b *browser) waitFor(t *testing.T, ctx context.Context, what, cond string) {
	t.Helper()
	expr := `new Promise((resolve) => {
  const check = () => { try { return !!(` + cond + `); } catch (e) { return false; } };
  if (check()) { resolve(true); return; }
  const obs = new MutationObserver(() => { if (check()) { obs.disconnect(); resolve(true); } });
  obs.observe(document, { subtree: true, childList: true, attributes: true, characterData: true });
})`
	if err := b.eval(ctx, expr, nil); err != nil {
		t.Fatalf("waiting until %s (%s): %v", what, cond, err)
	}
}

// navigate opens url and waits for its load event.
func (b *browser) navigate(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	loaded := make(chan struct{})
	b.mu.Lock()
	b.loaded = loaded
	b.mu.Unlock()
	b.must(t, ctx, "Page.navigate", map[string]any{"url": url}, nil)
	select {
	case <-loaded:
	case <-ctx.Done():
		t.Fatalf("loading %s: %v", url, ctx.Err())
	}
}

// screenshot saves a PNG of the page under DEVLOOP_ARTIFACTS (or the
// temporary directory) and returns its path.
func (b *browser) screenshot(t *testing.T, ctx context.Context, name string) string {
	t.Helper()
	var shot struct {
		Data string `json:"data"`
	}
	b.must(t, ctx, "Page.captureScreenshot", map[string]any{"format": "png"}, &shot)
	png, err := base64.StdEncoding.DecodeString(shot.Data)
	if err != nil {
		t.Fatal(err)
	}
	dir := os.Getenv("DEVLOOP_ARTIFACTS")
	if dir == "" {
		dir = os.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := dir + "/" + name + ".png"
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// pageExceptions returns the uncaught JavaScript exceptions so far.
func (b *browser) pageExceptions() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.exceptions...)
}

func (b *browser) close() {
	if b.conn != nil {
		b.mu.Lock()
		b.session = ""
		b.mu.Unlock()
		// Browser.close answers, or the connection drops; the kill below
		// covers a browser that does neither within closeTimeout.
		ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		b.call(ctx, "Browser.close", nil, nil)
		cancel()
		b.conn.Close()
		<-b.readDone
	}
	b.cmd.Process.Kill()
	<-b.stderrDone
	b.cmd.Wait()
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
