package ci

import (
	"strings"
	"testing"
	"time"

	"github.com/devloop-dev/devloop/devfile"
	"github.com/devloop-dev/devloop/engine"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// res builds a resource view; started is the offset of its first update's
// start (negative: never started).
func res(name, kind string, phase engine.Phase, started time.Duration) engine.ResourceView {
	v := engine.ResourceView{Name: name, Kind: kind, Enabled: true, Phase: phase}
	if started >= 0 {
		u := engine.Update{ID: 1, Reason: "initial", Start: t0.Add(started), Result: "running"}
		switch phase {
		case engine.PhaseReady:
			u.Result, u.End = "ok", t0.Add(started+time.Second)
		case engine.PhaseError:
			u.Result, u.End = "error", t0.Add(started+time.Second)
		default:
			v.Current = &u
			return v
		}
		v.History = []engine.Update{u}
		v.LastUpdate = &v.History[0]
	}
	return v
}

func withErr(v engine.ResourceView, msg string) engine.ResourceView {
	v.Error = msg
	return v
}

func withWaiting(v engine.ResourceView, w string) engine.ResourceView {
	v.Waiting = w
	return v
}

// withSteps gives v's running update a finished cmd step ending at end.
func withSteps(v engine.ResourceView, end time.Duration) engine.ResourceView {
	u := *v.Current
	u.Steps = []engine.Step{{Name: "cmd", Start: u.Start, End: t0.Add(end)}}
	v.Current = &u
	return v
}

func withDeps(v engine.ResourceView, deps ...string) engine.ResourceView {
	v.ResourceDeps = deps
	return v
}

// runtimeErr is a k8s resource whose first update applied its objects at
// deployed and then failed on its pods.
func runtimeErr(name string, deployed time.Duration, msg string) engine.ResourceView {
	u := engine.Update{ID: 1, Reason: "initial", Start: t0, End: t0.Add(deployed + 5*time.Second), Result: "error", Error: msg,
		Steps: []engine.Step{{Name: "build", Start: t0, End: t0.Add(deployed / 2)}, {Name: "apply", Start: t0.Add(deployed / 2), End: t0.Add(deployed)}}}
	v := engine.ResourceView{Name: name, Kind: "k8s", Enabled: true, Phase: engine.PhaseError, Error: msg, History: []engine.Update{u}}
	v.LastUpdate = &v.History[0]
	return v
}

// crashAfterReady is a k8s resource that was ready (its update ended at
// ready) and whose pods fail now.
func crashAfterReady(name string, ready time.Duration, msg string) engine.ResourceView {
	v := res(name, "k8s", engine.PhaseReady, ready-time.Second)
	v.Phase, v.Error = engine.PhaseError, msg
	return v
}

type step struct {
	at        time.Duration
	resources []engine.ResourceView
	logs      []engine.LogLine
}

func TestJudge(t *testing.T) {
	// Required defaults to every resource of the steps but "manual".
	cfg := Config{Timeout: 10 * time.Minute, ReadinessTimeout: 2 * time.Minute, GracePeriod: 30 * time.Second}
	tests := []struct {
		name  string
		cfg   *Config
		steps []step
		at    time.Duration
		want  Outcome
		// reason holds substrings of Result.Reason; status of each resource.
		reason []string
		status map[string]Status
		tail   map[string][]string
	}{
		{
			name: "all ready",
			steps: []step{
				{at: 0, resources: []engine.ResourceView{res("gen", "local", engine.PhasePending, -1), res("server", "local", engine.PhasePending, -1)}},
				{at: 5 * time.Second, resources: []engine.ResourceView{res("gen", "local", engine.PhaseReady, time.Second), res("server", "local", engine.PhaseReady, 2*time.Second)}},
			},
			at:     5 * time.Second,
			want:   Succeeded,
			status: map[string]Status{"gen": StatusReady, "server": StatusReady},
		},
		{
			name: "still coming up",
			steps: []step{
				{at: 5 * time.Second, resources: []engine.ResourceView{res("gen", "local", engine.PhaseReady, time.Second), res("server", "local", engine.PhaseBuilding, 2*time.Second)}},
			},
			at:     5 * time.Second,
			want:   Running,
			status: map[string]Status{"gen": StatusReady, "server": StatusWaiting},
		},
		{
			name: "local cmd error fails at once with its log tail",
			steps: []step{
				{at: time.Second, resources: []engine.ResourceView{res("gen", "local", engine.PhaseBuilding, 0)},
					logs: []engine.LogLine{{Resource: "gen", Text: "$ go run ./gen"}, {Resource: "gen", Text: "gen.go:3: undefined: x"}, {Resource: "", Text: "devloop line"}}},
				{at: 2 * time.Second, resources: []engine.ResourceView{withErr(res("gen", "local", engine.PhaseError, 0), "cmd failed: go run ./gen exited with code 1; last lines:\ngen.go:3: undefined: x")}},
			},
			at:     2 * time.Second,
			want:   Failed,
			reason: []string{"resource gen failed", "cmd failed: go run ./gen exited with code 1"},
			status: map[string]Status{"gen": StatusFailed},
			tail:   map[string][]string{"gen": {"$ go run ./gen", "gen.go:3: undefined: x"}},
		},
		{
			name: "k8s runtime error within the grace period is tolerated",
			steps: []step{
				{at: 10 * time.Second, resources: []engine.ResourceView{runtimeErr("api", 0, "pod api-1: CrashLoopBackOff")}},
			},
			at:     20 * time.Second,
			want:   Running,
			status: map[string]Status{"api": StatusWaiting},
		},
		{
			name: "k8s runtime error that recovers within the grace period is no failure",
			steps: []step{
				{at: 10 * time.Second, resources: []engine.ResourceView{runtimeErr("api", 0, "pod api-1: CrashLoopBackOff")}},
				{at: 20 * time.Second, resources: []engine.ResourceView{res("api", "k8s", engine.PhaseReady, 0)}},
			},
			at:     time.Minute,
			want:   Succeeded,
			status: map[string]Status{"api": StatusReady},
		},
		{
			name: "k8s runtime error past the grace period fails",
			steps: []step{
				{at: 10 * time.Second, resources: []engine.ResourceView{runtimeErr("api", time.Second, "pod api-1: CrashLoopBackOff")}},
			},
			at:     31 * time.Second,
			want:   Failed,
			reason: []string{"resource api failed", "exceeded the k8s grace period (30s)", "CrashLoopBackOff"},
			status: map[string]Status{"api": StatusFailed},
		},
		{
			name: "k8s runtime error without a grace period fails at once, as tilt ci",
			cfg:  &Config{Required: map[string]bool{"api": true}},
			steps: []step{
				{at: 10 * time.Second, resources: []engine.ResourceView{runtimeErr("api", 0, "pod api-1: ImagePullBackOff")}},
			},
			at:     10 * time.Second,
			want:   Failed,
			reason: []string{"resource api failed: pod api-1: ImagePullBackOff"},
		},
		{
			name: "k8s error after ready: the grace period counts from the deploy",
			steps: []step{
				{at: 10 * time.Second, resources: []engine.ResourceView{crashAfterReady("api", 5*time.Second, "pod api-1: OOMKilled")}},
			},
			at:     34 * time.Second,
			want:   Running,
			status: map[string]Status{"api": StatusWaiting},
		},
		{
			name: "k8s error after ready past the grace period",
			steps: []step{
				{at: 10 * time.Second, resources: []engine.ResourceView{crashAfterReady("api", 5*time.Second, "pod api-1: OOMKilled")}},
			},
			at:     35 * time.Second,
			want:   Failed,
			reason: []string{"exceeded the k8s grace period", "OOMKilled"},
		},
		{
			name: "k8s update error is not covered by the grace period",
			steps: []step{
				{at: 10 * time.Second, resources: []engine.ResourceView{withErr(res("api", "k8s", engine.PhaseError, 0), "build failed: no such file")}},
			},
			at:     10 * time.Second,
			want:   Failed,
			reason: []string{"resource api failed: build failed: no such file"},
		},
		{
			name: "timeout lists what was waiting and why",
			steps: []step{
				{at: time.Second, resources: []engine.ResourceView{
					res("gen", "local", engine.PhaseReady, 0),
					withDeps(withWaiting(res("server", "local", engine.PhasePending, -1), "waiting for resource_deps: db"), "db"),
					res("db", "local", engine.PhasePending, -1),
				}},
			},
			cfg:    &Config{Timeout: 10 * time.Minute, Required: map[string]bool{"gen": true, "server": true, "db": true}},
			at:     10 * time.Minute,
			want:   Failed,
			reason: []string{"timed out after 10m0s waiting for server, db"},
			status: map[string]Status{"gen": StatusReady, "server": StatusWaiting, "db": StatusWaiting},
		},
		{
			name: "not ready within the readiness timeout after it started",
			steps: []step{
				{at: 30 * time.Second, resources: []engine.ResourceView{
					withWaiting(res("server", "local", engine.PhaseDeploying, 10*time.Second), "waiting for the readiness probe: connection refused"),
				}},
			},
			at:     10*time.Second + 2*time.Minute,
			want:   Failed,
			reason: []string{"resource server failed", "readiness timeout (2m0s)", "connection refused"},
		},
		{
			name: "the readiness timeout counts from the current step: a slow cmd leaves the probe its time",
			steps: []step{
				{at: 100 * time.Second, resources: []engine.ResourceView{withSteps(res("server", "local", engine.PhaseDeploying, 0), 90*time.Second)}},
			},
			at:   90*time.Second + 119*time.Second,
			want: Running,
		},
		{
			name: "the readiness timeout of the current step",
			steps: []step{
				{at: 100 * time.Second, resources: []engine.ResourceView{withSteps(res("server", "local", engine.PhaseDeploying, 0), 90*time.Second)}},
			},
			at:     90*time.Second + 2*time.Minute,
			want:   Failed,
			reason: []string{"readiness timeout (2m0s)"},
		},
		{
			name: "the readiness timeout counts from the start, not from the run",
			steps: []step{
				{at: 3 * time.Minute, resources: []engine.ResourceView{res("server", "local", engine.PhaseDeploying, 3*time.Minute)}},
			},
			at:   4 * time.Minute,
			want: Running,
		},
		{
			name: "auto_init=False resources are skipped",
			steps: []step{
				{at: time.Second, resources: []engine.ResourceView{res("gen", "local", engine.PhaseReady, 0), withWaiting(res("manual", "local", engine.PhasePending, -1), "auto_init=False: waiting for a trigger")}},
			},
			at:     time.Second,
			want:   Succeeded,
			status: map[string]Status{"gen": StatusReady, "manual": StatusSkipped},
		},
		{
			name: "a resource_dep that ci never starts fails its dependent at once",
			steps: []step{
				{at: time.Second, resources: []engine.ResourceView{
					withDeps(withWaiting(res("tests", "local", engine.PhasePending, -1), "waiting for resource_deps: manual"), "manual"),
					res("manual", "local", engine.PhasePending, -1),
				}},
			},
			at:     time.Second,
			want:   Failed,
			reason: []string{"resource tests failed", "resource_deps manual, which has auto_init=False"},
			status: map[string]Status{"tests": StatusFailed, "manual": StatusSkipped},
		},
		{
			name: "nothing required succeeds at once",
			cfg:  &Config{Required: map[string]bool{}},
			steps: []step{
				{at: 0, resources: []engine.ResourceView{res("manual", "local", engine.PhasePending, -1)}},
			},
			at:     0,
			want:   Succeeded,
			reason: []string{"no resource to wait for"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cfg
			c.Required = map[string]bool{}
			for _, s := range tt.steps {
				for _, r := range s.resources {
					c.Required[r.Name] = r.Name != "manual"
				}
			}
			if tt.cfg != nil {
				c = *tt.cfg
			}
			j := newJudge(c, t0)
			for _, s := range tt.steps {
				for _, l := range s.logs {
					j.Log(l)
				}
				j.Observe(engine.View{Resources: s.resources}, t0.Add(s.at))
			}
			got := j.Decide(t0.Add(tt.at))
			if got.Outcome != tt.want {
				t.Fatalf("Decide(%s) = %s (%s), want %s", tt.at, got.Outcome, got.Reason, tt.want)
			}
			for _, sub := range tt.reason {
				if !strings.Contains(got.Reason, sub) {
					t.Errorf("Decide(%s).Reason = %q, want it to contain %q", tt.at, got.Reason, sub)
				}
			}
			for _, r := range got.Resources {
				if want, ok := tt.status[r.Name]; ok && r.Status != want {
					t.Errorf("Decide(%s): %s status = %s (%s), want %s", tt.at, r.Name, r.Status, r.Reason, want)
				}
				if want, ok := tt.tail[r.Name]; ok && strings.Join(r.Tail, "\n") != strings.Join(want, "\n") {
					t.Errorf("Decide(%s): %s tail = %q, want %q", tt.at, r.Name, r.Tail, want)
				}
			}
		})
	}
}

func TestJudgeNext(t *testing.T) {
	cfg := Config{Timeout: 10 * time.Minute, ReadinessTimeout: 2 * time.Minute, GracePeriod: 30 * time.Second,
		Required: map[string]bool{"a": true, "b": true}}
	tests := []struct {
		name      string
		resources []engine.ResourceView
		now       time.Duration
		want      time.Duration
	}{
		{name: "nothing started: the global timeout", resources: []engine.ResourceView{res("a", "local", engine.PhasePending, -1)}, want: 10 * time.Minute},
		{name: "started: its readiness timeout", resources: []engine.ResourceView{res("a", "local", engine.PhaseBuilding, 5*time.Second), res("b", "local", engine.PhaseBuilding, 7*time.Second)}, now: 8 * time.Second, want: 2*time.Minute + 5*time.Second},
		{name: "ready: the global timeout", resources: []engine.ResourceView{res("a", "local", engine.PhaseReady, 0)}, now: 2 * time.Second, want: 10 * time.Minute},
		{name: "tolerated error: the end of its grace period", resources: []engine.ResourceView{runtimeErr("a", 10*time.Second, "crash")}, now: 20 * time.Second, want: 40 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := newJudge(cfg, t0)
			j.Observe(engine.View{Resources: tt.resources}, t0.Add(tt.now))
			if got := j.Next(t0.Add(tt.now)).Sub(t0); got != tt.want {
				t.Errorf("Next(%s) = %s, want %s", tt.now, got, tt.want)
			}
		})
	}
}

func TestRequired(t *testing.T) {
	m := &devfile.Model{Resources: []devfile.Resource{
		{Name: "auto", Enabled: true, AutoInit: true, TriggerMode: devfile.TriggerAuto},
		{Name: "manual-trigger", Enabled: true, AutoInit: true, TriggerMode: devfile.TriggerManual},
		{Name: "no-init", Enabled: true, AutoInit: false},
		{Name: "disabled", Enabled: false, AutoInit: true},
	}}
	got := Required(m)
	want := map[string]bool{"auto": true, "manual-trigger": true}
	for _, r := range m.Resources {
		if got[r.Name] != want[r.Name] {
			t.Errorf("Required(model)[%s] = %v, want %v", r.Name, got[r.Name], want[r.Name])
		}
	}
}
