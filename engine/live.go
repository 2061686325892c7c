package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/devloop-dev/devloop/devfile"
	"github.com/devloop-dev/devloop/kube"
	"github.com/devloop-dev/devloop/liveupdate"
	"github.com/devloop-dev/devloop/watch"
)

// Live update (docs/live-update.md). The loop owns the policy:
// a change under an image with a live_update goes into that image's
// Tracker; liveUpdate then asks sync.Decide, per running container of the
// image, whether to copy it in, hold it, or rebuild. A sync runs as the
// resource's worker; its results come back in a syncDoneMsg.

// Syncer applies a live update plan to running containers (*sync.Updater):
// one Result per container; run steps' output goes to out.
type Syncer interface {
	Update(ctx context.Context, plan liveupdate.Plan, containers []liveupdate.Container, out io.Writer) ([]liveupdate.Result, error)
}

var _ Syncer = (*liveupdate.Updater)(nil)

// liveState is a Kubernetes resource's live update state.
type liveState struct {
	// images are the resource's images that have a live_update, by ref.
	images map[string]*liveImage
	// other filters the roots of its other images (and of base images): a
	// change there always rebuilds.
	other filterSet
	// files and batch are the changes since the last update, for the next
	// Update's Files and file timing.
	files []string
	batch *watch.Batch
	// dirty asks liveUpdate to look again (a change, a new pod status, an
	// update ended).
	dirty bool
	// runFailed maps a container ID to the tracker point at which one of
	// its run() steps failed: it is not retried before the next change.
	runFailed map[string]uint64
	// runErr is the failed run() steps' error, shown until a live update
	// or a build succeeds.
	runErr string
}

// liveImage is one live-updated image of a resource.
type liveImage struct {
	img     devfile.Image
	filters filterSet
	tracker *liveupdate.Tracker
	// deployed is the reference its containers were deployed with, ""
	// before the first deploy; mark is the tracker's point when the
	// running (or last) build started.
	deployed string
	mark     uint64
}

// newLive returns the live update state of spec, nil when none of its
// images has a live_update or the engine has no Syncer.
func (l *loop) newLive(spec devfile.Resource) *liveState {
	if spec.Local != nil || l.e.kube.Syncer == nil {
		return nil
	}
	ls := &liveState{images: map[string]*liveImage{}, runFailed: map[string]uint64{}}
	for _, ref := range spec.Images {
		img := l.imgs.byRef[ref]
		if len(img.LiveUpdate) == 0 {
			continue
		}
		li := &liveImage{img: img, tracker: liveupdate.NewTracker()}
		li.filters = l.newFilters(spec.Name, l.imgs.roots[ref])
		ls.images[ref] = li
	}
	if len(ls.images) == 0 {
		return nil
	}
	for _, ref := range l.imgs.closure(spec.Images) {
		if ls.images[ref] == nil {
			ls.other = append(ls.other, l.newFilters(spec.Name, l.imgs.roots[ref])...)
		}
	}
	return ls
}

// track records b's changes to r's live-updated images in their trackers.
// It returns false, recording nothing, when the batch needs a build anyway:
// a change under an image without a live_update (or a base image), lost
// events, or a resource that does not live update now.
func (l *loop) track(r *resource, b watch.Batch) bool {
	ls := r.k8s.liveUpdate
	if ls == nil || b.Overflow || !r.enabled || r.k8s.unavailable != "" || r.spec.TriggerMode == devfile.TriggerManual {
		return false
	}
	other := func(p string, removed bool) bool {
		return ls.other.matches(p) || (removed && ls.other.under(p))
	}
	changed, removed := map[string][]string{}, map[string][]string{}
	for _, p := range b.Changed {
		if !r.filters.matches(p) {
			continue
		}
		if other(p, false) {
			return false
		}
		for ref, li := range ls.images {
			if li.filters.matches(p) {
				changed[ref] = append(changed[ref], p)
			}
		}
	}
	for _, p := range b.Removed {
		if !r.filters.matches(p) && !r.filters.under(p) {
			continue
		}
		if other(p, true) {
			return false
		}
		for ref, li := range ls.images {
			if li.filters.matches(p) || li.filters.under(p) {
				removed[ref] = append(removed[ref], p)
			}
		}
	}
	for ref, li := range ls.images {
		if len(changed[ref])+len(removed[ref]) > 0 {
			li.tracker.Add(changed[ref], removed[ref])
		}
	}
	return true
}

// liveChanged notes that files of r changed and were tracked.
func (r *resource) liveChanged(files []string, b watch.Batch) {
	ls := r.k8s.liveUpdate
	ls.files = mergeFiles(ls.files, files)
	if ls.batch == nil {
		ls.batch = &b
	}
	ls.dirty = true
}

// syncGroup is one plan for the containers of one image that are at the
// same point of its tracker.
type syncGroup struct {
	ref        string
	seq        uint64
	plan       liveupdate.Plan
	containers []liveupdate.Container
}

// syncDoneMsg ends the live update worker gen: results[i] are groups[i]'s.
type syncDoneMsg struct {
	work
	groups  []syncGroup
	results [][]liveupdate.Result
}

// liveUpdate decides what r's tracked changes need, when it may act: no
// worker running, no build wanted. The first deploy of an image is always
// a build; after a failed build, changes rebuild.
func (l *loop) liveUpdate(r *resource) {
	ls := r.k8s.liveUpdate
	if ls == nil || !ls.dirty || r.worker.gen != 0 || r.want != nil || !r.enabled || r.k8s.unavailable != "" {
		return
	}
	ls.dirty = false
	if r.k8s.failed {
		// The running containers are not of the files' image: changes
		// since the failed build started go into the next build.
		for _, li := range ls.images {
			if li.tracker.Seq() > li.mark {
				l.rebuild(r, "live update: the last build failed: rebuilding")
				return
			}
		}
		return
	}
	for _, li := range ls.images {
		if li.deployed == "" && li.tracker.Seq() > li.mark {
			l.rebuild(r, "live update: not deployed yet: rebuilding")
			return
		}
	}
	var groups []syncGroup
	dir := defaultDir(l.model)
	for _, ref := range slices.Sorted(maps.Keys(ls.images)) {
		li := ls.images[ref]
		if li.deployed == "" {
			continue
		}
		for _, pod := range r.k8s.status.Pods {
			if !pod.Current {
				continue
			}
			for _, c := range pod.Containers {
				if c.Init || c.ID == "" || c.Image != li.deployed {
					continue
				}
				pd := li.tracker.Since(c.ID)
				if seq, ok := ls.runFailed[c.ID]; ok && seq == pd.Seq {
					continue // its run() failed at this point: wait for a change
				}
				d := liveupdate.Decide(liveupdate.Input{Image: &li.img, Changed: pd.Changed, Removed: pd.Removed,
					Running: c.Running, FirstSight: pd.First, Dir: dir})
				switch d.Action {
				case liveupdate.None:
					li.tracker.Applied(c.ID, pd.Seq)
				case liveupdate.Rebuild:
					l.rebuild(r, "live update not possible, rebuilding "+ref+": "+d.Reason)
					return
				case liveupdate.Hold:
					if c.Reason == "CrashLoopBackOff" || c.Reason == "Error" {
						l.rebuild(r, fmt.Sprintf("live update: pod %s container %s is not running (%s): rebuilding with the changes", pod.Name, c.Name, c.Reason))
						return
					}
				case liveupdate.Update:
					ct := liveupdate.Container{Pod: kube.PodRef{Namespace: pod.Namespace, Name: pod.Name}, Name: c.Name, ID: c.ID}
					groups = addToGroup(groups, ref, pd, d.Plan, ct)
				}
			}
		}
	}
	if len(groups) > 0 {
		l.startSync(r, groups)
	}
}

// addToGroup adds c to the group of ref at pd's point and First-ness (the
// same plan), or starts one.
func addToGroup(groups []syncGroup, ref string, pd liveupdate.Pending, plan liveupdate.Plan, c liveupdate.Container) []syncGroup {
	for i, g := range groups {
		if g.ref == ref && g.seq == pd.Seq && samePlan(g.plan, plan) {
			groups[i].containers = append(groups[i].containers, c)
			return groups
		}
	}
	return append(groups, syncGroup{ref: ref, seq: pd.Seq, plan: plan, containers: []liveupdate.Container{c}})
}

func samePlan(a, b liveupdate.Plan) bool {
	return slices.Equal(a.Delete, b.Delete) && slices.Equal(a.Copy, b.Copy) &&
		slices.EqualFunc(a.Run, b.Run, func(x, y liveupdate.Run) bool {
			return x.EchoOff == y.EchoOff && slices.Equal(x.Argv, y.Argv)
		})
}

// rebuild asks for a build of r with the live changes, saying why.
func (l *loop) rebuild(r *resource, why string) {
	ls := r.k8s.liveUpdate
	l.logf(r.spec.Name, "%s", why)
	if r.want == nil {
		r.want = &want{reason: "files", at: l.e.cfg.Now()}
	}
	r.want.files = mergeFiles(r.want.files, ls.files)
	if r.want.batch == nil {
		r.want.batch = ls.batch
	}
	ls.files, ls.batch = nil, nil
}

// liveBuildStarts marks the trackers of r's images where a build starts:
// the image holds the changes before it.
func (r *resource) liveBuildStarts() {
	ls := r.k8s.liveUpdate
	if ls == nil {
		return
	}
	for _, li := range ls.images {
		li.mark = li.tracker.Seq()
	}
	ls.files, ls.batch, ls.runErr = nil, nil, ""
	ls.dirty = true
}

// liveDeployed records the references r's images were deployed with.
func (r *resource) liveDeployed(images map[string]string) {
	ls := r.k8s.liveUpdate
	if ls == nil {
		return
	}
	for ref, li := range ls.images {
		if d, ok := images[ref]; ok {
			li.deployed = d
			li.tracker.BuiltAt(li.mark)
		}
	}
	clear(ls.runFailed)
	ls.dirty = true
}

// liveStatus forgets the containers that are gone from st.
func (r *resource) liveStatus(st kube.Status) {
	ls := r.k8s.liveUpdate
	if ls == nil {
		return
	}
	ids := map[string]bool{}
	for _, p := range st.Pods {
		for _, c := range p.Containers {
			ids[c.ID] = true
		}
	}
	for _, li := range ls.images {
		for _, id := range li.tracker.Containers() {
			if !ids[id] {
				li.tracker.Forget(id)
			}
		}
	}
	for id := range ls.runFailed {
		if !ids[id] {
			delete(ls.runFailed, id)
		}
	}
	ls.dirty = true
}

// startSync runs groups as r's update.
func (l *loop) startSync(r *resource, groups []syncGroup) {
	ls := r.k8s.liveUpdate
	now := l.e.cfg.Now()
	u := &Update{Reason: "files", Start: now, LiveUpdate: true, Steps: batchSteps(ls.batch)}
	files := ls.files
	if len(files) == 0 {
		// A container that restarted or was replaced catches up.
		u.Reason = "catch-up"
		for _, c := range groups[0].plan.Copy {
			files = append(files, l.relative(c.Local))
		}
	}
	u.Files = boundFiles(files)
	if b := ls.batch; b != nil && now.After(b.Emitted) {
		u.Steps = append(u.Steps, Step{Name: "decide", Start: b.Emitted, End: now})
	}
	ls.files, ls.batch = nil, nil
	r.phase, r.waiting = PhaseSyncing, ""
	var where []string
	for _, g := range groups {
		for _, c := range g.containers {
			where = append(where, c.String())
		}
	}
	l.logf(r.spec.Name, "live update of %s: %s", strings.Join(where, ", "), strings.Join(u.Files, ", "))
	l.begin(r, u, func(ctx context.Context, w work) { l.e.runSync(ctx, w, groups) })
}

// runSync is a live update's worker.
func (e *Engine) runSync(ctx context.Context, w work, groups []syncGroup) {
	out := &logWriter{e: e, name: w.name}
	results := make([][]liveupdate.Result, len(groups))
	for i, g := range groups {
		// The error joins the results' errors, which the loop reads.
		results[i], _ = e.kube.Syncer.Update(ctx, g.plan, g.containers, out)
	}
	e.send(syncDoneMsg{work: w, groups: groups, results: results})
}

// logWriter writes a resource's log, a line per line written.
type logWriter struct {
	e    *Engine
	name string
}

func (w *logWriter) Write(p []byte) (int, error) {
	for line := range strings.Lines(string(p)) {
		w.e.logs.append(w.name, strings.TrimRight(line, "\r\n"))
	}
	return len(p), nil
}

// onSyncDone ends a live update: containers that took it are marked
// caught up; a failed run() step is the resource's error until the next
// change; a fall back (exec refused, no tar, ...) rebuilds.
func (l *loop) onSyncDone(m syncDoneMsg) {
	r, owned := l.end(m.work)
	if !owned || r.k8s.liveUpdate == nil || r.current == nil {
		return
	}
	// A sync that fails for the outage is retried anyway: its changes
	// stay pending in the trackers.
	r.k8s.retry = false
	ls := r.k8s.liveUpdate
	ls.dirty = true
	var fallBack, runErrs, other []string
	var slowest []liveupdate.Step
	for i, g := range m.groups {
		li := ls.images[g.ref]
		if li == nil {
			continue
		}
		for _, res := range m.results[i] {
			if n := len(res.Steps); n > 0 && (slowest == nil || res.Steps[n-1].End.After(slowest[len(slowest)-1].End)) {
				slowest = res.Steps
			}
			var fb *liveupdate.FallBackError
			var re *liveupdate.RunError
			switch {
			case res.Err == nil:
				li.tracker.Applied(res.Container.ID, g.seq)
				delete(ls.runFailed, res.Container.ID)
			case errors.As(res.Err, &fb):
				fallBack = append(fallBack, fb.Error())
			case errors.As(res.Err, &re):
				ls.runFailed[res.Container.ID] = g.seq
				runErrs = append(runErrs, re.Error())
			default:
				other = append(other, res.Err.Error())
			}
		}
	}
	for _, s := range slowest {
		r.current.Steps = append(r.current.Steps, Step{Name: s.Name, Start: s.Start, End: s.End})
	}
	switch {
	case len(fallBack) > 0:
		msg := "live update failed: " + fallBack[0]
		files := r.current.Files
		l.finish(r, "error", msg)
		l.rebuild(r, msg+"; rebuilding")
		r.want.files = mergeFiles(r.want.files, files) // the build is for them
	case len(runErrs)+len(other) > 0:
		ls.runErr = "live update: " + strings.Join(slices.Concat(runErrs, other), "; ")
		l.fail(r, ls.runErr)
	default:
		ls.runErr = ""
		l.logf(r.spec.Name, "live update done in %s", l.e.cfg.Now().Sub(r.current.Start).Round(time.Millisecond))
		l.finish(r, "ok", "")
		l.showStatus(r)
	}
}
