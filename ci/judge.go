// Package ci decides the outcome of `devloop ci` from the engine's views:
// success once every required resource is ready, failure on the first
// resource error (k8s runtime errors after a grace period), on a resource
// that is not ready within the readiness timeout after it started, or on the
// global timeout. It also writes the outcome as a JUnit report. Deciding is
// pure (a judge); Run follows an engine and wakes up on the deadlines.
package ci

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/devloop-dev/devloop/devfile"
	"github.com/devloop-dev/devloop/engine"
)

// defaultTimeout and defaultReadinessTimeout are Tilt's `tilt ci` defaults,
// so a Tiltfile's CI behaves the same under devloop.
const (
	defaultTimeout          = 30 * time.Minute
	defaultReadinessTimeout = 5 * time.Minute
)

// tailLines is how many of a failing resource's last log lines the summary
// and the JUnit report carry: a compiler error or a stack trace's top, while
// the whole log is above in the stream.
const tailLines = 20

// Config configures a run. The zero value of a duration means its default.
type Config struct {
	// Timeout bounds the whole run; 0 means 30 minutes (Tilt's `tilt ci` default).
	Timeout time.Duration
	// ReadinessTimeout bounds how long each step of a resource's update may
	// take to ready: its cmd, then its serve_cmd until the probe passes (a
	// local cmd running tests longer than this fails, as in tilt ci); 0 means
	// 5 minutes, as in tilt ci.
	ReadinessTimeout time.Duration
	// GracePeriod is how long a Kubernetes resource's runtime error (a pod
	// crashing or failing to pull) is tolerated after its deploy before it
	// fails the run (ci_settings(k8s_grace_period=)); 0 fails at once, as Tilt.
	GracePeriod time.Duration
	// Required names the resources that must become ready (see Required).
	// Resources absent from it are reported as skipped.
	Required map[string]bool
}

// Required returns the resources a CI run waits for: the enabled resources
// with auto_init=True, whatever their trigger mode (their first update runs
// by itself). As in `tilt ci`, auto_init=False resources are not required,
// since nothing triggers them in CI.
func Required(m *devfile.Model) map[string]bool {
	req := map[string]bool{}
	for _, r := range m.Resources {
		if r.Enabled && r.AutoInit {
			req[r.Name] = true
		}
	}
	return req
}

// Outcome is where a run stands.
type Outcome string

const (
	Running   Outcome = "running"
	Succeeded Outcome = "succeeded"
	Failed    Outcome = "failed"
)

// Status is one resource's part in the outcome.
type Status string

const (
	StatusReady   Status = "ready"
	StatusFailed  Status = "failed"
	StatusWaiting Status = "waiting" // required, not ready when the run ended
	StatusSkipped Status = "skipped" // not required (auto_init=False, disabled)
)

// Resource is one resource's result.
type Resource struct {
	Name   string
	Kind   string
	Labels []string
	Status Status
	// Reason says why it failed, what it waits for, or why it was skipped.
	Reason string
	// Tail are its last log lines (failed and waiting resources).
	Tail []string
	// Start is when its first update started (zero if it never started);
	// End is when it became ready, failed, or the run ended.
	Start, End time.Time
}

// Duration is how long the resource took, zero when it never started.
func (r Resource) Duration() time.Duration {
	if r.Start.IsZero() || r.End.Before(r.Start) {
		return 0
	}
	return r.End.Sub(r.Start)
}

// Result is a run's outcome.
type Result struct {
	Outcome Outcome
	// Reason is one line: what failed, or "timed out after 30m0s".
	Reason string
	// Resources in Devfile order.
	Resources []Resource
	Start     time.Time
	End       time.Time
}

// Failures returns the failed resources.
func (r Result) Failures() []Resource { return r.Filter(StatusFailed) }

// Waiting returns the required resources that were not ready at the end.
func (r Result) Waiting() []Resource { return r.Filter(StatusWaiting) }

// Filter returns the resources with status s.
func (r Result) Filter(s Status) []Resource {
	var out []Resource
	for _, res := range r.Resources {
		if res.Status == s {
			out = append(out, res)
		}
	}
	return out
}

// track is what the judge remembers of one resource across views.
type track struct {
	view  engine.ResourceView
	start time.Time // first update's start
	// active is when the current step of the running update began (its
	// cmd, or its serve_cmd until the probe passes): the readiness clock.
	active     time.Time
	readyAt    time.Time // first time seen ready
	errorSince time.Time // when the current error was first seen
	tail       []string
}

// judge decides a run's outcome from the views it is shown. It does no I/O
// and reads no clock: callers pass the time.
type judge struct {
	cfg   Config
	start time.Time
	order []string
	res   map[string]*track
	// global are devloop's own log lines (resource "").
	global []string
}

// newJudge returns a judge for a run that started at start.
func newJudge(cfg Config, start time.Time) *judge {
	if cfg.Timeout <= 0 {
		cfg.Timeout = defaultTimeout
	}
	if cfg.ReadinessTimeout <= 0 {
		cfg.ReadinessTimeout = defaultReadinessTimeout
	}
	return &judge{cfg: cfg, start: start, res: map[string]*track{}}
}

// Observe records a view seen at now.
func (j *judge) Observe(v engine.View, now time.Time) {
	j.order = j.order[:0]
	for _, rv := range v.Resources {
		j.order = append(j.order, rv.Name)
		t := j.res[rv.Name]
		if t == nil {
			t = &track{}
			j.res[rv.Name] = t
		}
		t.view = rv
		if s := firstStart(rv); !s.IsZero() && (t.start.IsZero() || s.Before(t.start)) {
			t.start = s
		}
		t.active = activeSince(rv)
		if rv.Phase == engine.PhaseReady && t.readyAt.IsZero() {
			t.readyAt = now
		}
		if rv.Phase == engine.PhaseError {
			if t.errorSince.IsZero() {
				t.errorSince = now
			}
		} else {
			t.errorSince = time.Time{}
		}
	}
}

// Log records a log line, keeping each resource's last tailLines.
func (j *judge) Log(l engine.LogLine) {
	if l.Resource == "" {
		j.global = appendTail(j.global, l.Text)
		return
	}
	t := j.res[l.Resource]
	if t == nil {
		t = &track{}
		j.res[l.Resource] = t
	}
	t.tail = appendTail(t.tail, l.Text)
}

func appendTail(tail []string, line string) []string {
	if len(tail) == tailLines {
		tail = slices.Delete(tail, 0, 1)
	}
	return append(tail, line)
}

// firstStart is the start of the oldest update a view shows.
func firstStart(rv engine.ResourceView) time.Time {
	var s time.Time
	if rv.Current != nil {
		s = rv.Current.Start
	}
	for _, u := range rv.History {
		if s.IsZero() || u.Start.Before(s) {
			s = u.Start
		}
	}
	return s
}

// activeSince is when the running update's current step began: the end of
// its last finished step, else its start; zero when no update runs. Like
// tilt ci, which times each target (the update, then the server) on its
// own, a slow build does not eat the serve_cmd's readiness time.
func activeSince(rv engine.ResourceView) time.Time {
	u := rv.Current
	if u == nil {
		return time.Time{}
	}
	s := u.Start
	if n := len(u.Steps); n > 0 && u.Steps[n-1].End.After(s) {
		s = u.Steps[n-1].End
	}
	return s
}

// Decide returns the outcome at now.
func (j *judge) Decide(now time.Time) Result {
	r := Result{Outcome: Running, Start: j.start, End: now}
	allReady := true
	for _, name := range j.order {
		t := j.res[name]
		res := j.judge(t, now)
		if res.Status == StatusFailed && r.Outcome != Failed {
			r.Outcome, r.Reason = Failed, fmt.Sprintf("resource %s failed: %s", name, res.Reason)
		}
		if res.Status == StatusWaiting {
			allReady = false
		}
		r.Resources = append(r.Resources, res)
	}
	// A required resource the engine does not show yet (its first View can
	// precede the Devfile's resources) is waiting.
	for _, name := range slices.Sorted(maps.Keys(j.cfg.Required)) {
		if t := j.res[name]; t == nil || t.view.Name == "" {
			allReady = false
			r.Resources = append(r.Resources, Resource{Name: name, Status: StatusWaiting, Reason: "not in the engine's view yet", End: now})
		}
	}
	switch {
	case r.Outcome == Failed:
	case allReady:
		r.Outcome = Succeeded
		if len(r.Filter(StatusReady)) == 0 {
			r.Reason = "no resource to wait for: every resource is disabled or has auto_init=False"
		}
	case !now.Before(j.start.Add(j.cfg.Timeout)):
		r.Outcome = Failed
		var names []string
		for _, w := range r.Waiting() {
			names = append(names, w.Name)
		}
		r.Reason = fmt.Sprintf("timed out after %s waiting for %s (raise --timeout or ci_settings(timeout=))",
			j.cfg.Timeout, strings.Join(names, ", "))
	}
	return r
}

// judge decides one resource at now.
func (j *judge) judge(t *track, now time.Time) Resource {
	v := t.view
	res := Resource{Name: v.Name, Kind: v.Kind, Labels: v.Labels, Start: t.start, End: now, Tail: slices.Clone(t.tail)}
	if !v.Enabled || !j.cfg.Required[v.Name] {
		res.Status, res.Tail = StatusSkipped, nil
		switch {
		case !v.Enabled:
			res.Reason = "disabled"
		case v.Phase == engine.PhaseReady:
			res.Reason = "auto_init=False, but it ran"
		default:
			res.Reason = "auto_init=False: devloop ci does not start it (as tilt ci)"
		}
		return res
	}
	switch v.Phase {
	case engine.PhaseReady:
		res.Status, res.End, res.Tail = StatusReady, t.readyAt, nil
		return res
	case engine.PhaseError:
		if until, tolerated := j.graceUntil(t); tolerated && now.Before(until) {
			res.Status = StatusWaiting
			res.Reason = fmt.Sprintf("error within the k8s grace period (until %s): %s", until.Sub(j.start).Round(time.Second), errorLine(v.Error))
			return res
		} else if tolerated {
			res.Status, res.Reason = StatusFailed, fmt.Sprintf("exceeded the k8s grace period (%s): %s", j.cfg.GracePeriod, errorLine(v.Error))
			return res
		}
		res.Status, res.Reason = StatusFailed, errorLine(v.Error)
		return res
	}
	if dep, why := j.blockedBy(v); dep != "" {
		res.Status = StatusFailed
		res.Reason = fmt.Sprintf("waits for resource_deps %s, which %s: devloop ci never starts it (enable it, or drop it from resource_deps)", dep, why)
		return res
	}
	if !t.active.IsZero() && !now.Before(t.active.Add(j.cfg.ReadinessTimeout)) {
		res.Status = StatusFailed
		res.Reason = fmt.Sprintf("not ready within the readiness timeout (%s) after it started: %s (raise --readiness-timeout or ci_settings(readiness_timeout=))",
			j.cfg.ReadinessTimeout, waitingText(v))
		return res
	}
	res.Status, res.Reason = StatusWaiting, waitingText(v)
	return res
}

// graceUntil tells whether r's error is a runtime error of a Kubernetes
// resource (pods failing after its objects were applied), which the grace
// period tolerates, and until when: the grace period counts from the apply,
// as Tilt counts it from the deploy. Update errors (a build, an apply, a
// local cmd) fail at once: nothing retries them in CI.
func (j *judge) graceUntil(t *track) (time.Time, bool) {
	v := t.view
	if j.cfg.GracePeriod <= 0 || v.Kind != string(devfile.KindK8s) || v.Current != nil || v.LastUpdate == nil {
		return time.Time{}, false
	}
	deployed, ok := appliedAt(*v.LastUpdate)
	if !ok {
		return time.Time{}, false
	}
	return deployed.Add(j.cfg.GracePeriod), true
}

// appliedAt returns when update u applied its objects: the end of its
// "apply" step (the engine's name for it), else the end of an update that
// succeeded; false when u failed before applying.
func appliedAt(u engine.Update) (time.Time, bool) {
	for _, s := range u.Steps {
		if s.Name == "apply" && !s.End.IsZero() {
			return s.End, true
		}
	}
	if u.Result == "ok" && !u.End.IsZero() {
		return u.End, true
	}
	return time.Time{}, false
}

// blockedBy returns a resource_dep of v that will never become ready in
// this run, and why; "" when none.
func (j *judge) blockedBy(v engine.ResourceView) (string, string) {
	for _, d := range v.ResourceDeps {
		dt := j.res[d]
		switch {
		case dt == nil:
			return d, "is not in the Devfile"
		case dt.view.Phase == engine.PhaseReady:
		case !dt.view.Enabled:
			return d, "is disabled"
		case !j.cfg.Required[d]:
			return d, "has auto_init=False"
		}
	}
	return "", ""
}

// Next returns the next time at which Decide may change its answer without
// a new view: the global timeout, a readiness timeout, or the end of a grace
// period.
func (j *judge) Next(now time.Time) time.Time {
	next := j.start.Add(j.cfg.Timeout)
	for _, name := range j.order {
		t := j.res[name]
		if !t.view.Enabled || !j.cfg.Required[name] {
			continue
		}
		switch t.view.Phase {
		case engine.PhaseReady:
			continue
		case engine.PhaseError:
			if until, ok := j.graceUntil(t); ok && until.After(now) && until.Before(next) {
				next = until
			}
			continue
		}
		if !t.active.IsZero() {
			if d := t.active.Add(j.cfg.ReadinessTimeout); d.Before(next) {
				next = d
			}
		}
	}
	return next
}

// errorLine is the engine's error without the last lines it appends (the
// Result carries its own tail).
func errorLine(s string) string {
	s, _, _ = strings.Cut(s, "; last lines:")
	return strings.TrimSpace(s)
}

// waitingText says what a resource that is not ready is doing.
func waitingText(v engine.ResourceView) string {
	if v.Waiting != "" {
		return string(v.Phase) + ", " + v.Waiting
	}
	return string(v.Phase)
}
