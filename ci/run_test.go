package ci

import (
	"context"
	"encoding/xml"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/devloop-dev/devloop/engine"
)

// fakeSource is an engine stand-in: the test publishes views and log lines.
type fakeSource struct {
	mu    sync.Mutex
	lines []engine.LogLine
	views chan engine.View
}

func newFakeSource() *fakeSource { return &fakeSource{views: make(chan engine.View, 1)} }

func (f *fakeSource) Subscribe(ctx context.Context) <-chan engine.View { return f.views }

func (f *fakeSource) Logs(resource string, after uint64, limit int) []engine.LogLine {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []engine.LogLine
	for _, l := range f.lines {
		if l.Seq > after && (resource == "" || l.Resource == resource) && len(out) < limit {
			out = append(out, l)
		}
	}
	return out
}

func (f *fakeSource) log(resource, text string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lines = append(f.lines, engine.LogLine{Seq: uint64(len(f.lines) + 1), Resource: resource, Text: text})
}

// publish sends a view of rs.
func (f *fakeSource) publish(rs ...engine.ResourceView) {
	f.views <- engine.View{Resources: rs}
}

// started returns a local resource in phase whose first update started at start.
func started(name string, phase engine.Phase, start time.Time) engine.ResourceView {
	v := engine.ResourceView{Name: name, Kind: "local", Enabled: true, Phase: phase}
	u := engine.Update{ID: 1, Start: start, Result: "running"}
	if phase == engine.PhaseReady || phase == engine.PhaseError {
		u.End, u.Result = start, "ok"
		if phase == engine.PhaseError {
			u.Result = "error"
		}
		v.History = []engine.Update{u}
		v.LastUpdate = &v.History[0]
	} else {
		v.Current = &u
	}
	return v
}

type runOut struct {
	r   Result
	err error
	at  time.Duration
}

func runInBubble(ctx context.Context, src Source, cfg Config) chan runOut {
	out := make(chan runOut, 1)
	start := time.Now()
	go func() {
		r, err := Run(ctx, src, cfg, Observer{})
		out <- runOut{r: r, err: err, at: time.Since(start)}
	}()
	return out
}

func TestRun(t *testing.T) {
	req := map[string]bool{"gen": true, "server": true}
	tests := []struct {
		name string
		cfg  Config
		// script drives the source; it runs inside the bubble.
		script func(f *fakeSource, start time.Time)
		want   Outcome
		at     time.Duration // when Run returns, in the bubble's time
		reason string
	}{
		{
			name: "success as soon as everything is ready",
			cfg:  Config{Required: req},
			script: func(f *fakeSource, start time.Time) {
				f.publish(started("gen", engine.PhaseBuilding, start), started("server", engine.PhasePending, start))
				time.Sleep(3 * time.Second)
				f.publish(started("gen", engine.PhaseReady, start), started("server", engine.PhaseReady, start.Add(time.Second)))
			},
			want: Succeeded,
			at:   3 * time.Second,
		},
		{
			name: "global timeout wakes Run without a new view",
			cfg:  Config{Required: req, Timeout: time.Minute, ReadinessTimeout: time.Hour},
			script: func(f *fakeSource, start time.Time) {
				f.publish(started("gen", engine.PhaseReady, start), withWaiting(engine.ResourceView{Name: "server", Enabled: true, Phase: engine.PhasePending}, "waiting for resource_deps: gen"))
			},
			want:   Failed,
			at:     time.Minute,
			reason: "timed out after 1m0s waiting for server",
		},
		{
			name: "readiness timeout wakes Run",
			cfg:  Config{Required: req, Timeout: time.Hour, ReadinessTimeout: 2 * time.Minute},
			script: func(f *fakeSource, start time.Time) {
				f.publish(started("gen", engine.PhaseReady, start))
				time.Sleep(10 * time.Second)
				f.publish(started("gen", engine.PhaseReady, start), withWaiting(started("server", engine.PhaseDeploying, start.Add(10*time.Second)), "waiting for the readiness probe: connection refused"))
			},
			want:   Failed,
			at:     10*time.Second + 2*time.Minute,
			reason: "resource server failed: not ready within the readiness timeout (2m0s)",
		},
		{
			name: "grace period ends wake Run",
			cfg:  Config{Required: map[string]bool{"api": true}, GracePeriod: 45 * time.Second},
			script: func(f *fakeSource, start time.Time) {
				api := started("api", engine.PhaseReady, start)
				api.Kind, api.Phase, api.Error = "k8s", engine.PhaseError, "pod api-1: CrashLoopBackOff"
				f.publish(api)
			},
			want:   Failed,
			at:     45 * time.Second,
			reason: "exceeded the k8s grace period (45s)",
		},
		{
			name: "first error ends the run at once",
			cfg:  Config{Required: req},
			script: func(f *fakeSource, start time.Time) {
				f.log("gen", "boom")
				time.Sleep(time.Second)
				f.publish(withErr(started("gen", engine.PhaseError, start), "cmd failed: exit 1; last lines:\nboom"), started("server", engine.PhasePending, start))
			},
			want:   Failed,
			at:     time.Second,
			reason: "resource gen failed: cmd failed: exit 1",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newFakeSource()
				out := runInBubble(t.Context(), f, tt.cfg)
				go tt.script(f, time.Now())
				got := <-out
				if got.err != nil {
					t.Fatalf("Run() error = %v, want nil", got.err)
				}
				if got.r.Outcome != tt.want || got.at != tt.at {
					t.Fatalf("Run() = %s after %s (%s), want %s after %s", got.r.Outcome, got.at, got.r.Reason, tt.want, tt.at)
				}
				if !strings.Contains(got.r.Reason, tt.reason) {
					t.Errorf("Run().Reason = %q, want it to contain %q", got.r.Reason, tt.reason)
				}
			})
		})
	}
}

func TestRunInterrupted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		f := newFakeSource()
		out := runInBubble(ctx, f, Config{Required: map[string]bool{"server": true}})
		f.publish(started("server", engine.PhaseBuilding, time.Now()))
		time.Sleep(5 * time.Second)
		cancel()
		got := <-out
		if !errors.Is(got.err, context.Canceled) || got.at != 5*time.Second {
			t.Fatalf("Run() after cancel = %v after %s, want context.Canceled after 5s", got.err, got.at)
		}
		if got.r.Outcome != Running || got.r.Reason != "interrupted" || len(got.r.Waiting()) != 1 {
			t.Errorf("Run() after cancel = %s (%q), %d waiting; want running, \"interrupted\", server waiting", got.r.Outcome, got.r.Reason, len(got.r.Waiting()))
		}
	})
}

func TestRunEngineStopped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeSource()
		out := runInBubble(t.Context(), f, Config{Required: map[string]bool{"server": true}})
		f.publish(started("server", engine.PhaseBuilding, time.Now()))
		close(f.views)
		got := <-out
		if got.err != nil || got.r.Outcome != Failed || !strings.Contains(got.r.Reason, "engine stopped") {
			t.Fatalf("Run() after the engine stopped = %s (%q), %v; want failed naming the engine", got.r.Outcome, got.r.Reason, got.err)
		}
	})
}

func TestWriteJUnit(t *testing.T) {
	r := Result{
		Outcome: Failed, Reason: "resource server failed: cmd failed",
		Start: t0, End: t0.Add(90 * time.Second),
		Resources: []Resource{
			{Name: "gen", Kind: "local", Status: StatusReady, Start: t0, End: t0.Add(1500 * time.Millisecond)},
			{Name: "server", Kind: "local", Status: StatusFailed, Reason: "cmd failed: <exit 1> & \"quotes\"", Tail: []string{"line 1", "a <b> & c", "\x1b[31mred\x1b[0m"}, Start: t0, End: t0.Add(2 * time.Second)},
			{Name: "db", Kind: "k8s", Status: StatusWaiting, Reason: "pending"},
			{Name: "manual", Kind: "local", Status: StatusSkipped, Reason: "auto_init=False"},
			{Name: "e2e", Kind: "local", Labels: []string{"test"}, Status: StatusWaiting, Reason: "waiting for resource_deps: server"},
		},
	}
	var b strings.Builder
	if err := WriteJUnit(&b, "/src/Devfile", r); err != nil {
		t.Fatalf("WriteJUnit() = %v", err)
	}
	var doc junitSuites
	if err := xml.Unmarshal([]byte(b.String()), &doc); err != nil {
		t.Fatalf("parsing the report back: %v\n%s", err, b.String())
	}
	if len(doc.Suites) != 1 {
		t.Fatalf("report has %d testsuites, want 1", len(doc.Suites))
	}
	s := doc.Suites[0]
	if s.Name != "/src/Devfile" || s.Tests != 5 || s.Failures != 1 || s.Errors != 2 || s.Skipped != 1 || s.Time != "90.000" {
		t.Errorf("testsuite = %s tests=%d failures=%d errors=%d skipped=%d time=%s, want /src/Devfile 5 1 2 1 90.000",
			s.Name, s.Tests, s.Failures, s.Errors, s.Skipped, s.Time)
	}
	tests := []struct {
		name, classname, time string
		failure, errText      string
		skipped               bool
	}{
		{name: "gen", classname: "devloop.local", time: "1.500"},
		{name: "server", classname: "devloop.local", time: "2.000", failure: "cmd failed: <exit 1> & \"quotes\""},
		{name: "db", classname: "devloop.k8s", time: "0.000", errText: "not ready when devloop ci ended (resource server failed: cmd failed): pending"},
		{name: "manual", classname: "devloop.local", time: "0.000", skipped: true},
		{name: "e2e", classname: "devloop.test", time: "0.000", errText: "not ready when devloop ci ended (resource server failed: cmd failed): waiting for resource_deps: server"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := s.Cases[i]
			if c.Name != tt.name || c.Classname != tt.classname || c.Time != tt.time {
				t.Errorf("testcase %d = %s %s %s, want %s %s %s", i, c.Name, c.Classname, c.Time, tt.name, tt.classname, tt.time)
			}
			switch {
			case tt.failure != "":
				if c.Failure == nil || c.Failure.Message != tt.failure {
					t.Fatalf("testcase %s failure = %+v, want message %q", tt.name, c.Failure, tt.failure)
				}
				if want := "line 1\na <b> & c\nred"; c.Failure.Text != want {
					t.Errorf("testcase %s failure text = %q, want %q", tt.name, c.Failure.Text, want)
				}
			case tt.errText != "":
				if c.Error == nil || c.Error.Message != tt.errText {
					t.Errorf("testcase %s error = %+v, want message %q", tt.name, c.Error, tt.errText)
				}
			case tt.skipped:
				if c.Skipped == nil {
					t.Errorf("testcase %s has no <skipped>", tt.name)
				}
			default:
				if c.Failure != nil || c.Error != nil || c.Skipped != nil {
					t.Errorf("testcase %s = %+v, want a pass", tt.name, c)
				}
			}
		})
	}
}
