package engine

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/devloop-dev/devloop/devfile"
	"github.com/devloop-dev/devloop/watch"
)

// maxHistory is how many finished updates a resource keeps: enough to see a
// pattern (flapping, a slow step) in the dashboard, small enough to copy on
// every View.
const maxHistory = 10

// maxFiles bounds an update's Files: the dashboard shows a few names; the
// count of a bulk change (a checkout) matters more than the list.
const maxFiles = 50

// want is an update that should run.
type want struct {
	reason string
	files  []string
	// batch carries the file event timing when files caused the update.
	batch *watch.Batch
	at    time.Time
}

// resource is one resource's state, owned by the loop.
type resource struct {
	// spec is the loop's own copy, replaced when a reload changes it.
	spec    *devfile.Resource
	filters filterSet
	enabled bool
	phase   Phase
	err     string
	waiting string
	// failedAt is when err was last set (fail, a failed update).
	failedAt time.Time
	queued   []string // changed files a manual resource has not applied
	want     *want
	current  *Update
	history  []Update
	// cache holds the last view built and the key it was built from
	// (refresh): Views are immutable, so an unchanged resource shares it.
	cache struct {
		key  viewKey
		view ResourceView
	}
	// worker is the running update's worker: gen 0 when none runs; owned is
	// false once stop() disowned it (its results are then ignored, but no
	// new worker starts before it ended).
	worker struct {
		gen    int
		owned  bool
		cancel context.CancelFunc
	}
	// serve is the running serve_cmd and the cancel of its watchers (exit,
	// readiness probe). It keeps running while an update's cmd runs, and
	// after that cmd failed.
	serve struct {
		p      Process
		cancel context.CancelFunc
	}
	// k8s is the state of a Kubernetes resource.
	k8s k8sState
}

func newResource(spec devfile.Resource, filters filterSet, noK8s string) *resource {
	r := &resource{spec: &spec, filters: filters, enabled: spec.Enabled}
	if spec.Local == nil {
		r.k8s.unavailable = noK8s
	}
	return r
}

// init sets the phase of a (re)configured resource and asks for its first
// update when it has one.
func (r *resource) init(reason string, now time.Time) {
	r.err, r.waiting, r.want, r.queued = "", "", nil, nil
	switch {
	case !r.enabled:
		r.phase = PhaseDisabled
	case r.spec.Local == nil && r.k8s.unavailable != "":
		r.phase, r.err = PhaseError, r.k8s.unavailable
	case !r.spec.AutoInit:
		r.phase, r.waiting = PhasePending, "auto_init=False: waiting for a trigger (devloop trigger "+r.spec.Name+")"
	default:
		r.phase = PhasePending
		r.want = &want{reason: reason, at: now}
	}
}

// changed records files that changed under r's deps.
func (r *resource) changed(files []string, b watch.Batch) {
	if !r.enabled || (r.spec.Local == nil && r.k8s.unavailable != "") {
		return
	}
	if r.spec.TriggerMode == devfile.TriggerManual {
		r.queued = mergeFiles(r.queued, files)
		return
	}
	if r.want == nil {
		r.want = &want{reason: "files", at: b.Emitted}
	}
	r.want.files = mergeFiles(r.want.files, files)
	if r.want.batch == nil {
		r.want.batch = &b
	}
}

// trigger asks for an update now, with the queued files.
func (r *resource) trigger(now time.Time) {
	if r.want == nil {
		r.want = &want{reason: "trigger", at: now}
	}
	r.want.reason = "trigger"
	r.want.files = mergeFiles(r.want.files, r.queued)
	r.queued = nil
}

// mergeFiles appends the files of b missing from a.
func mergeFiles(a, b []string) []string {
	seen := make(map[string]bool, len(a))
	for _, f := range a {
		seen[f] = true
	}
	for _, f := range b {
		if !seen[f] {
			seen[f] = true
			a = append(a, f)
		}
	}
	return a
}

// boundFiles returns files for a view: at most maxFiles names, then a note
// of how many more there are.
func boundFiles(files []string) []string {
	if len(files) <= maxFiles {
		return slices.Clone(files)
	}
	return append(slices.Clone(files[:maxFiles]), fmt.Sprintf("... and %d more", len(files)-maxFiles))
}

// stop ends whatever r runs; its worker's messages are then ignored.
func (l *loop) stop(r *resource, why string) {
	if r.worker.cancel != nil {
		r.worker.cancel()
		r.worker.cancel = nil
	}
	r.worker.owned = false
	r.k8s.gate = nil
	r.stopFollow()
	if p := r.detachServe(); p != nil {
		l.e.goWorker(func() { stopNow(p) })
	}
	if r.current != nil {
		l.finish(r, "cancelled", why)
	}
	r.want = nil
}

// finish ends r's current update with result.
func (l *loop) finish(r *resource, result, errText string) {
	u := *r.current
	u.End, u.Result, u.Error = l.e.cfg.Now(), result, errText
	l.e.log.Debug("update end", "resource", r.spec.Name, "id", u.ID, "result", result, "duration", u.End.Sub(u.Start))
	r.current = nil
	r.history = append([]Update{u}, r.history[:min(len(r.history), maxHistory-1)]...)
}

// viewKey is what r's view is made of, compared instead of the view:
// the spec (a reload replaces it, never changes it), the scalars, and for
// the rest what a change to it changes. queued and want.files only grow
// until they are dropped; current is replaced, and its Steps only grow;
// history only grows at the front, with a new update ID.
type viewKey struct {
	spec                *devfile.Resource
	enabled             bool
	phase               Phase
	err, waiting        string
	queued              int
	want                *want
	wantFiles           int
	current             *Update
	steps, lastUpdateID int
}

// key returns r's viewKey.
func (r *resource) key() viewKey {
	k := viewKey{spec: r.spec, enabled: r.enabled, phase: r.phase, err: r.err, waiting: r.waiting,
		queued: len(r.queued), want: r.want, current: r.current}
	if r.want != nil {
		k.wantFiles = len(r.want.files)
	}
	if r.current != nil {
		k.steps = len(r.current.Steps)
	}
	if len(r.history) > 0 {
		k.lastUpdateID = r.history[0].ID
	}
	return k
}

// view copies r into a new ResourceView, without its Version (refresh
// sets it).
func (r *resource) view() ResourceView {
	v := ResourceView{
		Name:         r.spec.Name,
		Kind:         string(r.spec.Kind),
		Labels:       slices.Clone(r.spec.Labels),
		Links:        []Link{},
		ResourceDeps: slices.Clone(r.spec.ResourceDeps),
		Enabled:      r.enabled,
		TriggerMode:  string(r.spec.TriggerMode),
		Phase:        r.phase,
		Error:        r.err,
		Waiting:      r.waiting,
		Queued:       boundFiles(r.queued),
	}
	if r.want != nil && len(r.want.files) > 0 {
		// Changes waiting for resource_deps, a slot, or the running update.
		v.Queued = boundFiles(mergeFiles(slices.Clone(r.queued), r.want.files))
	}
	if v.Labels == nil {
		v.Labels = []string{}
	}
	if v.ResourceDeps == nil {
		v.ResourceDeps = []string{}
	}
	if v.TriggerMode == "" {
		v.TriggerMode = string(devfile.TriggerAuto)
	}
	v.Links = append(v.Links, k8sLinks(*r.spec)...)
	for _, lk := range r.spec.Links {
		v.Links = append(v.Links, Link{URL: lk.URL, Name: lk.Name})
	}
	if r.current != nil {
		u := copyUpdate(*r.current)
		v.Current = &u
	}
	if len(r.history) > 0 {
		v.History = make([]Update, len(r.history))
		for i, u := range r.history {
			v.History[i] = copyUpdate(u)
		}
		v.LastUpdate = &v.History[0]
	}
	return v
}

func copyUpdate(u Update) Update {
	u.Files = slices.Clone(u.Files)
	u.Steps = slices.Clone(u.Steps)
	return u
}
