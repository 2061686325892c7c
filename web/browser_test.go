package web

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/devloop-dev/devloop/engine"
	"github.com/devloop-dev/devloop/web/webtest"
)

// browserTimeout bounds each browser test. Chromium starts in about a
// second and the test takes about ten on an idle machine (100k log lines
// under -race dominate); the margin is for CI machines shared with other
// builds, where we have seen load averages of 20 on two cores.
const browserTimeout = 3 * time.Minute

// demoResources look like a small real project, so the screenshot shows a
// realistic dashboard.
func demoResources(now time.Time) []engine.ResourceView {
	at := func(d time.Duration) time.Time { return now.Add(d) }
	return []engine.ResourceView{
		{Name: "postgres", Kind: "k8s", Labels: []string{"backend"}, Enabled: true, TriggerMode: "auto", Phase: engine.PhaseReady,
			Links: []engine.Link{{URL: "http://localhost:5432", Name: "pg:5432"}},
			LastUpdate: &engine.Update{ID: 1, Reason: "initial", Start: at(-5 * time.Minute), End: at(-5*time.Minute + 4200*time.Millisecond), Result: "ok",
				Steps: []engine.Step{{Name: "deploy", Start: at(-5 * time.Minute), End: at(-5*time.Minute + 900*time.Millisecond)},
					{Name: "ready", Start: at(-5*time.Minute + 900*time.Millisecond), End: at(-5*time.Minute + 4200*time.Millisecond)}}}},
		{Name: "api", Kind: "k8s", Labels: []string{"backend"}, Enabled: true, TriggerMode: "auto", Phase: engine.PhaseBuilding,
			Links: []engine.Link{{URL: "http://localhost:8080", Name: "api:8080"}},
			LastUpdate: &engine.Update{ID: 3, Reason: "files", Files: []string{"api/main.go", "api/handlers.go"}, Start: at(-40 * time.Second), End: at(-40*time.Second + 1830*time.Millisecond), Result: "ok",
				Steps: []engine.Step{
					{Name: "file event", Start: at(-40 * time.Second), End: at(-40*time.Second + 210*time.Millisecond)},
					{Name: "build", Start: at(-40*time.Second + 210*time.Millisecond), End: at(-40*time.Second + 1100*time.Millisecond)},
					{Name: "push", Start: at(-40*time.Second + 1100*time.Millisecond), End: at(-40*time.Second + 1300*time.Millisecond)},
					{Name: "deploy", Start: at(-40*time.Second + 1300*time.Millisecond), End: at(-40*time.Second + 1500*time.Millisecond)},
					{Name: "ready", Start: at(-40*time.Second + 1500*time.Millisecond), End: at(-40*time.Second + 1830*time.Millisecond)}}}},
		{Name: "worker", Kind: "k8s", Labels: []string{"backend"}, Enabled: true, TriggerMode: "auto", Phase: engine.PhaseError,
			Error:      "build failed: step 4/7 RUN go build ./...: exit code 1\n./main.go:12:2: undefined: frobnicate",
			LastUpdate: &engine.Update{ID: 2, Reason: "files", Files: []string{"worker/main.go"}, Start: at(-2 * time.Minute), End: at(-2*time.Minute + 2600*time.Millisecond), Result: "error"}},
		{Name: "frontend", Kind: "local", Labels: []string{"frontend"}, Enabled: true, TriggerMode: "manual", Phase: engine.PhasePending,
			Waiting: "resource_deps: api", Queued: []string{"web/src/App.tsx"}},
		{Name: "docs", Kind: "local", Labels: []string{"frontend"}, Enabled: false, TriggerMode: "auto", Phase: engine.PhaseDisabled},
	}
}

// TestDashboard drives the real dashboard in headless Chromium against the
// fake engine: the list, live phase changes, logs and their filter, the
// trigger button, 100k log lines, and reconnecting to a restarted devloop.
func TestDashboard(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode: it starts Chromium")
	}
	ctx, cancel := context.WithTimeout(t.Context(), browserTimeout)
	defer cancel()
	b := startBrowser(t, ctx)

	eng := webtest.New(demoResources(time.Now())...)
	eng.SetDevfile(engine.DevfileStatus{Path: "/src/shop/Devfile", LoadedAt: time.Now()})
	eng.AddLogs("postgres", "database system is ready to accept connections")
	s, err := New(Config{Port: EphemeralPort}, eng)
	if err != nil {
		t.Fatal(err)
	}
	port := s.Port()
	srvCtx, stopSrv := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- s.Serve(srvCtx) }()
	stop := sync.OnceValue(func() error { stopSrv(); return <-served })
	defer stop()

	b.navigate(t, ctx, s.URL()+"#r=api")
	b.waitFor(t, ctx, "the dashboard is live", `document.body.dataset.conn === "open"`)

	t.Run("lists the resources by label", func(t *testing.T) {
		b.waitFor(t, ctx, "five resources are listed", `document.querySelectorAll("#groups .res").length === 5`)
		var groups []string
		b.mustEval(t, ctx, `[...document.querySelectorAll("#groups .group")].map(g => g.querySelector("h3").textContent + ":" + [...g.querySelectorAll(".res")].map(r => r.dataset.resource + "=" + r.dataset.phase).join(","))`, &groups)
		want := "backend:postgres=ready,api=building,worker=error | frontend:frontend=pending,docs=disabled"
		if got := strings.Join(groups, " | "); got != want {
			t.Errorf("dashboard groups = %q, want %q", got, want)
		}
		var linkHref string
		b.mustEval(t, ctx, `document.querySelector('.res[data-resource="api"] .meta a').href`, &linkHref)
		if linkHref != "http://localhost:8080/" {
			t.Errorf("api's link = %q, want http://localhost:8080/", linkHref)
		}
		var errText string
		b.mustEval(t, ctx, `document.querySelector('.res[data-resource="worker"] .err').textContent`, &errText)
		if !strings.Contains(errText, "build failed") {
			t.Errorf("worker's error = %q, want the build failure", errText)
		}
		var steps []string
		b.mustEval(t, ctx, `[...document.querySelectorAll("#d-trace-bars .trace-row")].map(r => r.dataset.step)`, &steps)
		if got := strings.Join(steps, ","); got != "file event,build,push,deploy,ready,total" {
			t.Errorf("api's timing trace steps = %q, want file event,build,push,deploy,ready,total", got)
		}
	})

	t.Run("a phase change appears without reload", func(t *testing.T) {
		b.mustEval(t, ctx, `window.notReloaded = true`, nil)
		eng.SetPhase("api", engine.PhaseReady, "")
		b.waitFor(t, ctx, "api turns ready", `document.querySelector('.res[data-resource="api"]').dataset.phase === "ready"`)
		var same bool
		b.mustEval(t, ctx, `window.notReloaded === true`, &same)
		if !same {
			t.Errorf("the page reloaded to show the phase change, want a live update")
		}
	})

	t.Run("log lines appear and the filter works", func(t *testing.T) {
		b.mustEval(t, ctx, `document.getElementById("all").click()`, nil)
		eng.AddLogs("api", "listening on :8080", "GET /healthz \x1b[32m200\x1b[0m 1.2ms", "GET /orders \x1b[1;31m500\x1b[0m 3.4ms")
		eng.AddLogs("worker", "GET /healthz 200 0.4ms")
		b.waitFor(t, ctx, "the new lines show", `[...document.querySelectorAll("#log .log-line")].some(l => l.textContent.includes("GET /orders 500"))`)
		b.mustEval(t, ctx, `(() => { const f = document.getElementById("log-filter"); f.value = "healthz"; f.dispatchEvent(new Event("input")); })()`, nil)
		b.waitFor(t, ctx, "only matching lines show", `document.querySelectorAll("#log .log-line").length === 2`)
		var lines []string
		b.mustEval(t, ctx, `[...document.querySelectorAll("#log .log-line")].map(l => l.textContent)`, &lines)
		for _, l := range lines {
			if !strings.Contains(l, "healthz") {
				t.Errorf("filtered log shows %q, want only lines with healthz", l)
			}
		}
		// The same filter on one resource's log.
		b.mustEval(t, ctx, `document.querySelector('.res[data-resource="worker"]').click()`, nil)
		b.waitFor(t, ctx, "worker's matching line alone shows", `document.querySelectorAll("#log .log-line").length === 1 && document.querySelector("#log .log-line").textContent === "GET /healthz 200 0.4ms"`)
		b.mustEval(t, ctx, `(() => { const f = document.getElementById("log-filter"); f.value = ""; f.dispatchEvent(new Event("input")); document.getElementById("all").click(); })()`, nil)
	})

	t.Run("ANSI colours render in logs and are stripped elsewhere", func(t *testing.T) {
		eng.AddLogs("worker", "\x1b[31mFAIL\x1b[0m pkg \x1b[1;38;5;82mok\x1b[0m\x1b[2K\x1b]0;title\x07 done")
		b.waitFor(t, ctx, "the coloured line shows", `[...document.querySelectorAll("#log .log-line")].some(l => l.textContent.includes("FAIL pkg ok done"))`)
		var got struct {
			Text, Red, Bold, BoldStyle string
			Esc                        bool
		}
		b.mustEval(t, ctx, `(() => {
			const l = [...document.querySelectorAll("#log .log-line")].find(l => l.textContent.includes("FAIL pkg"));
			const red = l.querySelector("span.a-fg1"), bold = l.querySelector("span.a-b");
			return {Text: l.textContent, Red: red ? red.textContent : "", Bold: bold ? bold.textContent : "",
				BoldStyle: bold ? bold.style.color : "", Esc: l.textContent.includes("\x1b")};
		})()`, &got)
		if got.Red != "FAIL" || got.Bold != "ok" || got.BoldStyle != "rgb(95, 255, 0)" || got.Esc || !strings.HasSuffix(got.Text, "FAIL pkg ok done") {
			t.Errorf("coloured line = %+v, want FAIL in red (a-fg1), ok bold in 256-colour 82 (rgb(95, 255, 0)), no escape left", got)
		}
		// The filter and the search see the text without escapes.
		b.mustEval(t, ctx, `(() => { const f = document.getElementById("log-filter"); f.value = "fail pkg ok"; f.dispatchEvent(new Event("input")); })()`, nil)
		b.waitFor(t, ctx, "the filter matches across colours", `document.querySelectorAll("#log .log-line").length === 1`)
		b.mustEval(t, ctx, `(() => { const f = document.getElementById("log-filter"); f.value = ""; f.dispatchEvent(new Event("input")); })()`, nil)
		// An error box shows plain text.
		eng.SetPhase("worker", engine.PhaseError, "\x1b[31merror:\x1b[0m build failed")
		b.waitFor(t, ctx, "the list shows the plain error", `document.querySelector('.res[data-resource="worker"] .err').textContent === "error: build failed"`)
	})

	t.Run("Times shows each line's time", func(t *testing.T) {
		b.mustEval(t, ctx, `document.getElementById("all").click()`, nil)
		b.mustEval(t, ctx, `document.getElementById("log-times").click()`, nil)
		b.waitFor(t, ctx, "times show", `document.querySelectorAll("#log .log-line .ts").length > 0`)
		var got struct {
			Shown, Title, Text string
			On, Stored         bool
		}
		b.mustEval(t, ctx, `(() => {
			const l = [...document.querySelectorAll("#log .log-line")].find(l => l.textContent.includes("ready to accept connections"));
			const ts = l.querySelector(".ts");
			return {Shown: ts.textContent, Title: ts.title, Text: l.textContent, On: document.getElementById("log-times").classList.contains("on"),
				Stored: localStorage.getItem("devloop.times") === "1"};
		})()`, &got)
		if !regexp.MustCompile(`^\d\d:\d\d:\d\d\.\d{3}$`).MatchString(got.Shown) || !strings.HasPrefix(got.Title, time.Now().UTC().Format("2006-")) || !got.On || !got.Stored {
			t.Errorf("time of a line = %+v, want HH:MM:SS.mmm with the full time as its title, the button on and the choice kept", got)
		}
		// The filter still sees only the line's text.
		b.mustEval(t, ctx, `(() => { const f = document.getElementById("log-filter"); f.value = "ready to accept"; f.dispatchEvent(new Event("input")); })()`, nil)
		b.waitFor(t, ctx, "the filter ignores the times", `document.querySelectorAll("#log .log-line").length === 1`)
		b.mustEval(t, ctx, `(() => { const f = document.getElementById("log-filter"); f.value = ""; f.dispatchEvent(new Event("input")); document.getElementById("log-times").click(); })()`, nil)
		b.waitFor(t, ctx, "times hide again", `document.querySelectorAll("#log .log-line .ts").length === 0 && localStorage.getItem("devloop.times") === "0"`)
	})

	t.Run("the table view lists every resource with its actions", func(t *testing.T) {
		b.mustEval(t, ctx, `document.getElementById("view-mode").click()`, nil)
		b.waitFor(t, ctx, "the table shows", `!document.getElementById("overview").hidden && document.getElementById("main").hidden`)
		var rows []string
		b.mustEval(t, ctx, `[...document.querySelectorAll("#res-table tbody tr")].map(r => [...r.cells].slice(0, 3).map(c => c.textContent.trim()).join("|"))`, &rows)
		if len(rows) != len(demoResources(time.Now())) || !slices.ContainsFunc(rows, func(r string) bool { return strings.HasPrefix(r, "api|k8s|") }) {
			t.Errorf("table rows = %q, want one per resource, api a k8s resource", rows)
		}
		t.Logf("table screenshot: %s", b.screenshot(t, ctx, "dashboard-table"))
		b.mustEval(t, ctx, `document.querySelector('#res-table tr[data-resource="frontend"] button[data-action="trigger"]').click()`, nil)
		select {
		case c := <-eng.Called():
			if c != (webtest.Call{Op: "trigger", Name: "frontend"}) {
				t.Errorf("engine call after the table's trigger = %v, want trigger frontend", c)
			}
		case <-ctx.Done():
			t.Fatalf("no engine call after the table's trigger: %v", ctx.Err())
		}
		// The name opens the resource in the list view, with its logs.
		b.mustEval(t, ctx, `document.querySelector('#res-table tr[data-resource="postgres"] a[data-action="open"]').click()`, nil)
		b.waitFor(t, ctx, "postgres opens in the list", `document.getElementById("overview").hidden && !document.getElementById("main").hidden && document.getElementById("d-name").textContent === "postgres" && localStorage.getItem("devloop.view") === "list"`)
		b.mustEval(t, ctx, `document.getElementById("all").click()`, nil)
	})

	t.Run("the log toolbar fits an 800 px window", func(t *testing.T) {
		b.must(t, ctx, "Emulation.setDeviceMetricsOverride", map[string]any{"width": 800, "height": 600, "deviceScaleFactor": 1, "mobile": false}, nil)
		defer b.must(t, ctx, "Emulation.clearDeviceMetricsOverride", map[string]any{}, nil)
		var got struct {
			Width    int
			Overflow []string
		}
		b.mustEval(t, ctx, `(() => {
			const w = window.innerWidth;
			const out = [...document.querySelectorAll(".logbar > *, .top > *")].filter(e => e.getBoundingClientRect().right > w + 0.5).map(e => e.id || e.className);
			return {Width: w, Overflow: out};
		})()`, &got)
		if got.Width != 800 {
			t.Fatalf("window width = %d after emulating 800 px", got.Width)
		}
		if len(got.Overflow) > 0 {
			t.Errorf("at %d px these stick out of the window: %q", got.Width, got.Overflow)
		}
		t.Logf("800 px screenshot: %s", b.screenshot(t, ctx, "dashboard-800"))
	})

	t.Run("the trigger button triggers", func(t *testing.T) {
		b.mustEval(t, ctx, `document.querySelector('.res[data-resource="frontend"] button[data-action="trigger"]').click()`, nil)
		select {
		case c := <-eng.Called():
			if c != (webtest.Call{Op: "trigger", Name: "frontend"}) {
				t.Errorf("engine call after clicking frontend's trigger = %v, want trigger frontend", c)
			}
		case <-ctx.Done():
			t.Fatalf("no engine call after clicking the trigger button: %v", ctx.Err())
		}
		b.mustEval(t, ctx, `document.querySelector('.res[data-resource="api"]').click()`, nil)
		b.mustEval(t, ctx, `document.getElementById("d-toggle").click()`, nil)
		select {
		case c := <-eng.Called():
			if c != (webtest.Call{Op: "disable", Name: "api"}) {
				t.Errorf("engine call after clicking api's Disable = %v, want disable api", c)
			}
		case <-ctx.Done():
			t.Fatalf("no engine call after clicking Disable: %v", ctx.Err())
		}
		b.waitFor(t, ctx, "api shows disabled", `document.querySelector('.res[data-resource="api"]').dataset.phase === "disabled"`)
		b.mustEval(t, ctx, `document.getElementById("d-toggle").click()`, nil)
		<-eng.Called()
		b.waitFor(t, ctx, "api is enabled again", `document.querySelector('.res[data-resource="api"]').dataset.phase === "pending"`)
	})

	t.Run("a Devfile error shows", func(t *testing.T) {
		eng.SetDevfile(engine.DevfileStatus{Path: "/src/shop/Devfile", Error: "/src/shop/Devfile:14:5: docker_build: unknown argument \"dockrfile\""})
		b.waitFor(t, ctx, "the Devfile error banner shows", `!document.getElementById("devfile-error").hidden && document.getElementById("devfile-error").textContent.includes("dockrfile")`)
		eng.SetDevfile(engine.DevfileStatus{Path: "/src/shop/Devfile"})
		b.waitFor(t, ctx, "the banner goes away", `document.getElementById("devfile-error").hidden`)
	})

	t.Run("a cluster that does not answer shows", func(t *testing.T) {
		eng.SetCluster(&engine.ClusterStatus{Error: "the API server of kube context kind-shop does not answer: connection refused", Since: time.Now()})
		b.waitFor(t, ctx, "the cluster banner shows", `!document.getElementById("cluster-error").hidden && document.getElementById("cluster-error").textContent.includes("connection refused")`)
		eng.SetCluster(nil)
		b.waitFor(t, ctx, "the cluster banner goes away", `document.getElementById("cluster-error").hidden`)
	})

	t.Run("the kube context and namespace show in the header", func(t *testing.T) {
		eng.SetKube(&engine.KubeTarget{Context: "kind-shop", Namespace: "team", Registry: "localhost:5005"})
		b.waitFor(t, ctx, "the context shows", `document.getElementById("kube").textContent === "⎈ kind-shop · team"`)
	})

	t.Run("100k log lines keep the DOM small", func(t *testing.T) {
		b.mustEval(t, ctx, `document.getElementById("all").click()`, nil)
		const n = 100_000
		batch := make([]string, 1000)
		for i := 0; i < n; i += len(batch) {
			for j := range batch {
				batch[j] = fmt.Sprintf("worker: processed job %d in %dms", i+j, (i+j)%97)
			}
			eng.AddLogs("worker", batch...)
		}
		b.waitFor(t, ctx, "every line has arrived", `window.devloop.logs.length >= `+strconv.Itoa(n))
		b.waitFor(t, ctx, "the last line is on screen", `[...document.querySelectorAll("#log .log-line")].some(l => l.textContent.includes("processed job 99999 "))`)
		var nodes int
		b.mustEval(t, ctx, `document.querySelectorAll("#log .log-line").length`, &nodes)
		if nodes > 200 {
			t.Errorf("log pane holds %d line nodes for %d lines, want at most 200 (virtual rendering)", nodes, n)
		}
		b.mustEval(t, ctx, `(() => { const f = document.getElementById("log-search"); f.value = "job 4242 "; f.dispatchEvent(new Event("input")); f.dispatchEvent(new KeyboardEvent("keydown", {key: "Enter"})); })()`, nil)
		b.waitFor(t, ctx, "search finds and shows the line", `document.getElementById("search-count").textContent === "1/1 found" && document.querySelector("#log .log-line.current mark") !== null`)
		b.mustEval(t, ctx, `(() => { const f = document.getElementById("log-search"); f.value = ""; f.dispatchEvent(new Event("input")); document.getElementById("log-follow").click(); })()`, nil)
	})

	// The screenshot shows a resource with its timing trace and logs.
	eng.Update("api", func(r *engine.ResourceView) { r.Phase = engine.PhaseReady })
	b.mustEval(t, ctx, `document.querySelector('.res[data-resource="api"]').click()`, nil)
	b.waitFor(t, ctx, "api's trace shows", `document.querySelectorAll("#d-trace-bars .trace-row").length === 6 && document.getElementById("d-phase-text").textContent.startsWith("ready")`)
	// Coming from the 100k-line log, api's three lines must be on screen.
	b.waitFor(t, ctx, "api's three log lines show", `[...document.querySelectorAll("#log .log-line")].map(l => l.textContent).join("|") === "listening on :8080|GET /healthz 200 1.2ms|GET /orders 500 3.4ms"`)
	shot := b.screenshot(t, ctx, "dashboard")
	t.Logf("dashboard screenshot: %s", shot)

	t.Run("a Devfile reload that drops resources shows live", func(t *testing.T) {
		eng.SetResources(demoResources(time.Now())[:2]...)
		b.waitFor(t, ctx, "only postgres and api are listed", `[...document.querySelectorAll("#groups .res")].map(r => r.dataset.resource).join(",") === "postgres,api"`)
	})

	t.Run("reconnects to a restarted devloop with its new token", func(t *testing.T) {
		if err := stop(); err != nil {
			t.Fatalf("Serve() = %v", err)
		}
		b.waitFor(t, ctx, "the dashboard notices", `document.body.dataset.conn !== "open"`)
		b.waitFor(t, ctx, "the stale status is greyed", `document.body.dataset.conn === "closed" && getComputedStyle(document.querySelector('.res[data-phase="ready"] .phase-dot')).backgroundColor === "rgb(196, 200, 207)"`)
		eng2 := webtest.New(engine.ResourceView{Name: "restarted", Kind: "local", Enabled: true, Phase: engine.PhaseReady})
		s2, err := New(Config{Port: port}, eng2)
		if err != nil {
			t.Fatalf("restarting on port %d: %v", port, err)
		}
		if s2.Token() == s.Token() {
			t.Fatal("the restarted server has the old token, want a new one")
		}
		srv2Ctx, stop2 := context.WithCancel(ctx)
		served2 := make(chan error, 1)
		go func() { served2 <- s2.Serve(srv2Ctx) }()
		defer func() { stop2(); <-served2 }()
		b.waitFor(t, ctx, "the new devloop's resources show", `document.body.dataset.conn === "open" && document.querySelectorAll("#groups .res").length === 1 && document.querySelector('.res[data-resource="restarted"]') !== null`)
		var logs int
		b.mustEval(t, ctx, `window.devloop.logs.length`, &logs)
		if logs != 0 {
			t.Errorf("log lines after reconnecting to a new run = %d, want 0 (the old run's are dropped)", logs)
		}
		b.mustEval(t, ctx, `document.querySelector('.res[data-resource="restarted"] button[data-action="trigger"]').click()`, nil)
		select {
		case c := <-eng2.Called():
			if c.Name != "restarted" {
				t.Errorf("engine call after reconnect = %v, want trigger restarted", c)
			}
		case <-ctx.Done():
			t.Fatalf("the trigger after reconnecting did not reach the new engine (stale token?): %v", ctx.Err())
		}
	})

	if ex := b.pageExceptions(); len(ex) > 0 {
		t.Errorf("the dashboard threw: %q", ex)
	}
}

// TestDashboardRefusesOtherOrigins loads a page from another origin (another
// port) in Chromium and checks that it can neither read the token, nor open
// the websocket, nor trigger, even when it knows the token.
func TestDashboardRefusesOtherOrigins(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode: it starts Chromium")
	}
	ctx, cancel := context.WithTimeout(t.Context(), browserTimeout)
	defer cancel()
	b := startBrowser(t, ctx)
	eng := webtest.New(demoResources(time.Now())...)
	s := startServer(t, eng, Config{})
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, `<!doctype html><title>evil</title>`)
	}))
	defer evil.Close()

	b.navigate(t, ctx, evil.URL+"/")
	target := strings.TrimSuffix(s.URL(), "/")
	wsTarget := "ws" + strings.TrimPrefix(target, "http")
	tests := []struct {
		name string
		js   string
		want string
	}{
		{"read the token", `fetch(` + jsString(target+"/api/token") + `).then(r => r.text()).then(t => "read: " + t, e => "blocked")`, "blocked"},
		{"read the view", `fetch(` + jsString(target+"/api/view") + `).then(r => r.text()).then(t => "read: " + t, e => "blocked")`, "blocked"},
		{"open the websocket without the token", wsProbe(wsTarget + "/ws"), "refused"},
		{"open the websocket with the token", wsProbe(wsTarget + "/ws?token=" + testToken), "refused"},
		{"trigger with the token header", `fetch(` + jsString(target+"/api/trigger/api") + `, {method: "POST", headers: {"X-Devloop-Token": ` + jsString(testToken) + `}}).then(r => "sent: " + r.status, e => "blocked")`, "blocked"},
		{"trigger with a simple form post", `fetch(` + jsString(target+"/api/trigger/api?token="+testToken) + `, {method: "POST", mode: "no-cors", body: "x"}).then(r => "opaque", e => "blocked")`, "opaque"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got string
			b.mustEval(t, ctx, tt.js, &got)
			if got != tt.want {
				t.Errorf("a page on %s trying to %s got %q, want %q", evil.URL, tt.name, got, tt.want)
			}
		})
	}
	if calls := eng.Calls(); len(calls) != 0 {
		t.Errorf("engine calls from another origin = %v, want none", calls)
	}
}

// wsProbe is JavaScript that opens a websocket and says whether it opened.
func wsProbe(url string) string {
	return `new Promise((resolve) => {
  const ws = new WebSocket(` + jsString(url) + `);
  ws.onopen = () => { ws.close(); resolve("opened"); };
  ws.onmessage = () => resolve("read a message");
  ws.onerror = () => resolve("refused");
})`
}
