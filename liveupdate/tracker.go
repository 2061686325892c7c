package liveupdate

import (
	"path/filepath"
	"sort"
)

// Tracker accumulates one image's file changes since its last build and
// remembers, per container ID, how far each container has caught up. A
// container that restarts or is replaced has a new ID, so it receives every
// change since the image was built; changes made while a pod starts are held
// here until its container runs.
//
// A Tracker is not safe for concurrent use: the engine's loop owns it.
type Tracker struct {
	seq   uint64
	paths map[string]entry
	// seen maps a container ID to the sequence number it has received.
	seen map[string]uint64
}

type entry struct {
	seq     uint64
	removed bool
	// removedSeq is when the path was last removed before it reappeared:
	// containers behind it must delete it first (stale files below a
	// directory that was replaced).
	removedSeq uint64
}

// Pending is what one container has not received yet.
type Pending struct {
	Changed, Removed []string
	// First is true when the tracker has never seen the container.
	First bool
	// Seq is the point these changes bring the container to; pass it to
	// Applied once the update succeeded.
	Seq uint64
}

// NewTracker returns an empty tracker, as after a build.
func NewTracker() *Tracker {
	return &Tracker{paths: map[string]entry{}, seen: map[string]uint64{}}
}

// Built forgets every change and container: the image was rebuilt, and its
// new containers start from files that hold every change so far.
func (t *Tracker) Built() { t.BuiltAt(t.seq) }

// Seq is the point the tracker has reached: pass it to BuiltAt when a build
// starts.
func (t *Tracker) Seq() uint64 { return t.seq }

// BuiltAt forgets the changes up to seq (Seq when the build started: its
// image holds them) and every container; changes made while the image was
// building stay pending, so its containers receive them.
func (t *Tracker) BuiltAt(seq uint64) {
	for p, e := range t.paths {
		if e.seq <= seq {
			delete(t.paths, p)
		}
	}
	clear(t.seen)
}

// Containers returns the IDs of the containers the tracker has seen, so
// that the caller can Forget those that are gone.
func (t *Tracker) Containers() []string {
	out := make([]string, 0, len(t.seen))
	for id := range t.seen {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// Add records a batch of changed and removed absolute local paths. A removed
// directory supersedes earlier changes below it, and removed paths below
// another removed path of the batch (rm -rf of a tree reports every file)
// are not kept: one removal of the top covers them. It costs one pass over
// the tracked paths with a look-up per ancestor, not one per removed path.
func (t *Tracker) Add(changed, removed []string) {
	if len(removed) > 0 {
		gone := make(map[string]bool, len(removed))
		for _, r := range removed {
			gone[filepath.Clean(r)] = true
		}
		for p := range t.paths {
			if underGone(p, gone) {
				delete(t.paths, p)
			}
		}
		for _, r := range removed {
			t.seq++
			if !underGone(r, gone) {
				t.paths[r] = entry{seq: t.seq, removed: true}
			}
		}
	}
	for _, c := range changed {
		t.seq++
		e := entry{seq: t.seq}
		if old, ok := t.paths[c]; ok {
			e.removedSeq = old.removedSeq
			if old.removed {
				e.removedSeq = old.seq
			}
		}
		t.paths[c] = e
	}
}

// underGone reports whether a proper ancestor of p is in gone.
func underGone(p string, gone map[string]bool) bool {
	for d := filepath.Dir(filepath.Clean(p)); ; d = filepath.Dir(d) {
		if gone[d] {
			return true
		}
		if d == filepath.Dir(d) {
			return false
		}
	}
}

// Since returns what container id has not received yet. Nothing is marked
// received until Applied.
func (t *Tracker) Since(id string) Pending {
	applied, ok := t.seen[id]
	pd := Pending{First: !ok, Seq: t.seq}
	for p, e := range t.paths {
		switch {
		case e.seq <= applied:
		case e.removed:
			pd.Removed = append(pd.Removed, p)
		default:
			pd.Changed = append(pd.Changed, p)
			if e.removedSeq > applied {
				pd.Removed = append(pd.Removed, p)
			}
		}
	}
	sort.Strings(pd.Changed)
	sort.Strings(pd.Removed)
	return pd
}

// Applied records that container id received everything up to seq
// (Pending.Seq). An older seq never moves a container back.
func (t *Tracker) Applied(id string, seq uint64) {
	if cur, ok := t.seen[id]; !ok || seq > cur {
		t.seen[id] = seq
	}
}

// Forget drops a container that is gone, so the map does not grow with
// every restart.
func (t *Tracker) Forget(id string) { delete(t.seen, id) }
