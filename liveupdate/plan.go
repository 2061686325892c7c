// Package liveupdate live-updates running containers: Decide turns an
// image's live_update steps and the files changed since its last update into
// a Plan or a reason to rebuild, Tracker remembers what each container has
// received since the image was built, and an Updater applies a Plan to
// containers through the pod exec subresource (rm, one tar stream, run steps).
//
// The engine owns the policy around it: the first deploy of an image is
// always a build, changes to a container that is not running are held (Decide
// answers Hold) and retried once it runs, a new container ID catches up on
// everything since the image was built (Tracker.Since), and a *FallBackError
// from the Updater means rebuild the image.
package liveupdate

import (
	"fmt"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/devloop-dev/devloop/devfile"
)

// Action is what Decide tells the engine to do.
type Action int

const (
	// None: nothing to send (no change, or a container already up to date).
	None Action = iota
	// Update: apply Decision.Plan with an Updater.
	Update
	// Rebuild: live update cannot cover the change; rebuild the image and
	// redeploy, showing Decision.Reason.
	Rebuild
	// Hold: the container is not running; keep the changes (a Tracker does)
	// and decide again when it runs.
	Hold
)

func (a Action) String() string {
	switch a {
	case None:
		return "none"
	case Update:
		return "update"
	case Rebuild:
		return "rebuild"
	case Hold:
		return "hold"
	}
	return fmt.Sprintf("Action(%d)", int(a))
}

// Input is what Decide needs to know about one image and one container.
type Input struct {
	// Image supplies LiveUpdate, RestartOnChange and RestartTrigger.
	Image *devfile.Image
	// Changed and Removed are absolute local paths changed or removed since
	// the container's last update (watch.Batch semantics: a removed
	// directory stands for everything below it).
	Changed, Removed []string
	// Running reports whether the container is running.
	Running bool
	// FirstSight is true the first time the engine sees this container ID
	// (Tracker.Since tells it); initial_sync() then sends every sync root.
	FirstSight bool
	// Dir, when set, is the directory that paths in Reason are shown
	// relative to (the Devfile's).
	Dir string
}

// Decision is Decide's answer.
type Decision struct {
	Action Action
	// Reason says why, for Rebuild and Hold; shown to the user.
	Reason string
	// Plan is what to do, for Update.
	Plan Plan
}

// Plan is a live update of one container, applied in this order: Delete,
// then Copy (one tar stream), then Run.
type Plan struct {
	// Delete are absolute container paths to remove (rm -rf).
	Delete []string
	// Copy are local files or directories (directories recursively) to
	// write into the container.
	Copy []Copy
	// Run are the run() steps whose triggers matched, in Devfile order.
	Run []Run
}

// Empty reports whether the plan does nothing.
func (p Plan) Empty() bool { return len(p.Delete) == 0 && len(p.Copy) == 0 && len(p.Run) == 0 }

// Copy is one local path and where it goes in the container.
type Copy struct {
	// Local is an absolute local path under Root.
	Local string
	// Remote is the absolute, clean container path.
	Remote string
	// Root is the sync()'s local root: nothing outside it is ever read.
	Root string
}

// Run is one run() step to execute.
type Run struct {
	Argv    []string
	EchoOff bool
}

// maxListed bounds how many paths a Reason names: enough to recognise the
// change, short enough for a status line.
const maxListed = 5

// Decide is the live update rule (as Tilt's): every changed or removed file
// must be under a sync() and none may match fall_back_on, or the image is
// rebuilt. It is pure: it reads no files and runs nothing.
//
// restart_container() and RestartOnChange (when its trigger matches) also
// answer Rebuild: a process cannot be restarted in place on Kubernetes
// without a wrapper, and restarting the container would start it from the
// image's files, before synced ones could be put back (docs/live-update.md).
func Decide(in Input) Decision {
	if in.Image == nil {
		return Decision{Action: Rebuild, Reason: "no image"}
	}
	var syncs []devfile.LiveUpdateStep
	var fallBacks []string
	initial, restart := false, in.Image.RestartOnChange
	for _, st := range in.Image.LiveUpdate {
		switch st.Type {
		case devfile.StepSync:
			if !path.IsAbs(st.Remote) {
				return Decision{Action: Rebuild, Reason: fmt.Sprintf("sync(%s, %s): the container path must be absolute", st.Local, st.Remote)}
			}
			syncs = append(syncs, st)
		case devfile.StepFallBackOn:
			fallBacks = append(fallBacks, st.Paths...)
		case devfile.StepInitialSync:
			initial = true
		case devfile.StepRestartContainer:
			restart = true
		}
	}
	initial = initial && in.FirstSight
	if len(in.Changed) == 0 && len(in.Removed) == 0 && !initial {
		return Decision{Action: None}
	}
	if len(syncs) == 0 {
		return Decision{Action: Rebuild, Reason: "the image has no live_update sync()"}
	}

	var fb []string
	for _, c := range in.Changed {
		if underAny(c, fallBacks) {
			fb = append(fb, c)
		}
	}
	for _, r := range in.Removed {
		for _, f := range fallBacks {
			if under(r, f) || under(f, r) {
				fb = append(fb, r)
				break
			}
		}
	}
	if len(fb) > 0 {
		return Decision{Action: Rebuild, Reason: "fall_back_on matched: " + list(in.Dir, fb)}
	}

	var stray []string
	for _, p := range append(append([]string(nil), in.Changed...), in.Removed...) {
		if _, ok := syncFor(p, syncs); !ok {
			stray = append(stray, p)
		}
	}
	if len(stray) > 0 {
		return Decision{Action: Rebuild, Reason: "Found file(s) not matching any sync: " + list(in.Dir, stray)}
	}

	if restart && restartTriggered(in) {
		return Decision{Action: Rebuild, Reason: "restart_container(): rebuilding so that the process restarts with the changes"}
	}
	if !in.Running {
		return Decision{Action: Hold, Reason: "container not running: changes held until it runs"}
	}

	var plan Plan
	for _, r := range in.Removed {
		s, _ := syncFor(r, syncs)
		plan.Delete = append(plan.Delete, remotePath(s, r))
	}
	// Roots sent whole (initial sync); changed paths below them are in them.
	var roots []string
	if initial {
		for _, s := range syncs {
			plan.Copy = append(plan.Copy, Copy{Local: s.Local, Remote: path.Clean(s.Remote), Root: s.Local})
			roots = append(roots, s.Local)
		}
	}
	for _, c := range in.Changed {
		if underAny(c, roots) {
			continue
		}
		s, _ := syncFor(c, syncs)
		plan.Copy = append(plan.Copy, Copy{Local: filepath.Clean(c), Remote: remotePath(s, c), Root: s.Local})
	}
	sort.Strings(plan.Delete)
	sort.Slice(plan.Copy, func(i, j int) bool { return plan.Copy[i].Remote < plan.Copy[j].Remote })

	for _, st := range in.Image.LiveUpdate {
		if st.Type == devfile.StepRun && !st.Cmd.Empty() && triggered(st.Trigger, in.Changed, in.Removed, roots) {
			plan.Run = append(plan.Run, Run{Argv: st.Cmd.Argv, EchoOff: st.EchoOff})
		}
	}
	return Decision{Action: Update, Plan: plan}
}

// restartTriggered applies RestartTrigger: when set (restart_process's
// trigger=), only changes to those files restart.
func restartTriggered(in Input) bool {
	if len(in.Image.RestartTrigger) == 0 {
		return true
	}
	return triggered(in.Image.RestartTrigger, in.Changed, in.Removed, nil)
}

// triggered reports whether a run() with these triggers runs: always when it
// has none, else when a changed path is a trigger or under one, or a changed,
// removed or wholly sent directory contains one. Triggers with glob characters match
// with filepath.Match.
func triggered(triggers, changed, removed, dirs []string) bool {
	if len(triggers) == 0 {
		return true
	}
	for _, t := range triggers {
		glob := strings.ContainsAny(t, "*?[")
		for _, c := range changed {
			// A changed directory is sent whole, so a trigger inside it counts.
			if under(c, t) || under(t, c) {
				return true
			}
			if glob {
				if ok, _ := filepath.Match(t, c); ok {
					return true
				}
			}
		}
		for _, d := range append(append([]string(nil), removed...), dirs...) {
			if under(d, t) || under(t, d) {
				return true
			}
		}
	}
	return false
}

// syncFor is the first sync() (Devfile order) whose local root holds p.
func syncFor(p string, syncs []devfile.LiveUpdateStep) (devfile.LiveUpdateStep, bool) {
	for _, s := range syncs {
		if under(p, s.Local) {
			return s, true
		}
	}
	return devfile.LiveUpdateStep{}, false
}

// remotePath maps local path p (under s.Local) to its container path.
func remotePath(s devfile.LiveUpdateStep, p string) string {
	rel, err := filepath.Rel(s.Local, p)
	if err != nil || rel == "." {
		return path.Clean(s.Remote)
	}
	return path.Join(s.Remote, filepath.ToSlash(rel))
}

// under reports whether p is root or below it.
func under(p, root string) bool {
	p, root = filepath.Clean(p), filepath.Clean(root)
	if p == root {
		return true
	}
	if !strings.HasSuffix(root, string(filepath.Separator)) {
		root += string(filepath.Separator)
	}
	return strings.HasPrefix(p, root)
}

func underAny(p string, roots []string) bool {
	for _, r := range roots {
		if under(p, r) {
			return true
		}
	}
	return false
}

// list names up to maxListed paths, relative to dir where they are under it.
func list(dir string, paths []string) string {
	seen := map[string]bool{}
	var names []string
	for _, p := range paths {
		if dir != "" {
			if rel, err := filepath.Rel(dir, p); err == nil && !strings.HasPrefix(rel, "..") {
				p = rel
			}
		}
		if !seen[p] {
			seen[p] = true
			names = append(names, p)
		}
	}
	sort.Strings(names)
	s := strings.Join(names[:min(len(names), maxListed)], ", ")
	if n := len(names) - maxListed; n > 0 {
		s += fmt.Sprintf(" and %d more", n)
	}
	return s
}
