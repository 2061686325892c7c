package watch

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
)

// tree keeps one watch per relevant directory and turns fsnotify events into
// changes. It is owned by the goroutine running Run.
type tree struct {
	w       *Watcher
	n       notifier
	watched map[string]bool // directories with a watch

	// full is set once the kernel refused a watch; scans then only count the
	// directories that would need one.
	full      *LimitError
	unwatched int

	// stop is Run's ctx.Done(), so that a long scan stops early.
	stop <-chan struct{}
}

func newTree(w *Watcher, n notifier, stop <-chan struct{}) *tree {
	return &tree{w: w, n: n, watched: make(map[string]bool), stop: stop}
}

func (t *tree) stopping() bool {
	select {
	case <-t.stop:
		return true
	default:
		return false
	}
}

// setup watches every root, reporting nothing.
func (t *tree) setup() error {
	for _, r := range t.w.roots {
		t.reach(r.root, false, time.Time{}, nil, nil)
	}
	return t.limitErr()
}

// loop turns events into changes until ctx is done.
func (t *tree) loop(ctx context.Context, out chan<- []change) error {
	for {
		var cs []change
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-t.n.Events():
			if !ok {
				return errors.New("the inotify event stream ended unexpectedly: restart devloop")
			}
			t.w.stats.events.Add(1)
			cs = t.handle(ev, time.Now())
		case err, ok := <-t.n.Errors():
			if !ok {
				return errors.New("the inotify error stream ended unexpectedly: restart devloop")
			}
			if !errors.Is(err, fsnotify.ErrEventOverflow) {
				t.w.log.Warn("watch error", "err", err)
				continue
			}
			t.w.log.Warn("inotify queue overflowed: rescanning every root; raise fs.inotify.max_queued_events if this repeats")
			t.w.stats.rescans.Add(1)
			cs = t.rescan(time.Now())
		}
		if err := t.limitErr(); err != nil {
			return err
		}
		if len(cs) == 0 {
			continue
		}
		select {
		case out <- cs:
		case <-ctx.Done():
			return nil
		}
	}
}

func (t *tree) limitErr() error {
	if t.full == nil {
		return nil
	}
	t.full.Needed = len(t.watched) + t.unwatched
	return t.full
}

// handle turns one event into changes, adding and removing watches.
func (t *tree) handle(ev fsnotify.Event, now time.Time) []change {
	p := filepath.Clean(ev.Name)
	var cs []change
	if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
		cs = t.removed(p, now, cs)
	}
	switch {
	case ev.Has(fsnotify.Create):
		cs = t.created(p, now, cs)
	case ev.Has(fsnotify.Write) || ev.Has(fsnotify.Chmod):
		if t.wanted(p) {
			cs = append(cs, change{Path: p, At: now})
		}
	}
	return cs
}

// created handles a path that appeared: a directory is watched and scanned,
// since files may have been created in it before its watch existed.
func (t *tree) created(p string, now time.Time, cs []change) []change {
	if t.wanted(p) {
		cs = append(cs, change{Path: p, Created: true, At: now})
	}
	fi, err := os.Lstat(p)
	if err != nil {
		// Gone again: its removal event follows, and the batch drops a
		// path that came and went.
		return cs
	}
	if fi.IsDir() {
		cs = t.scan(p, true, now, cs, nil)
	}
	return cs
}

// removed handles a path that disappeared, by removal or rename.
func (t *tree) removed(p string, now time.Time, cs []change) []change {
	wasDir := t.watched[p]
	if t.wanted(p) {
		cs = append(cs, change{Path: p, Removed: true, Dir: wasDir, At: now})
	}
	if wasDir {
		prefix := p + string(os.PathSeparator)
		for d := range t.watched {
			if d != p && !strings.HasPrefix(d, prefix) {
				continue
			}
			t.unwatch(d)
			if d != p && t.wanted(d) {
				cs = append(cs, change{Path: d, Removed: true, Dir: true, At: now})
			}
		}
	}
	// Roots at or below p are gone: report them, and watch for their return
	// from their nearest existing parent.
	for _, r := range t.w.roots {
		if r.root != p && !isUnder(r.root, p) {
			continue
		}
		if r.root != p && t.wantedByGlobal(r.root) {
			cs = append(cs, change{Path: r.root, Removed: true, At: now})
		}
		cs = t.reach(r.root, true, now, cs, nil)
	}
	return cs
}

// reach watches root if it exists, or else its nearest existing parent
// directory (for a file root, its parent), so that the root's creation or
// replacement is seen. With report, the paths it finds are returned as
// changes. seen is as for scan.
func (t *tree) reach(root string, report bool, now time.Time, cs []change, seen map[string]bool) []change {
	dir := root
	for {
		fi, err := os.Stat(dir)
		if err == nil && fi.IsDir() {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return cs
		}
		dir = parent
	}
	if dir == root {
		return t.scan(root, report, now, cs, seen)
	}
	if !t.shouldWatch(dir) || !t.watch(dir, seen != nil) {
		return cs
	}
	if seen != nil {
		seen[dir] = true
	}
	// The next step towards the root may have appeared before the watch.
	rel, _ := relTo(dir, root)
	next := filepath.Join(dir, strings.SplitN(rel, string(os.PathSeparator), 2)[0])
	fi, err := os.Lstat(next)
	if err != nil {
		return cs
	}
	if report && t.wanted(next) {
		cs = append(cs, change{Path: next, At: now})
	}
	if fi.IsDir() {
		cs = t.scan(next, report, now, cs, seen)
	}
	return cs
}

// scan watches dir, if any root wants it, and then everything below it that
// any root wants. The watch is added before the directory is read, so a
// path created meanwhile is seen by one or the other. With report, relevant
// paths found are returned as changes. seen, if not nil, collects the
// watched directories.
func (t *tree) scan(dir string, report bool, now time.Time, cs []change, seen map[string]bool) []change {
	if seen[dir] || t.stopping() {
		return cs // overlapping roots, or stopping
	}
	t.w.stats.dirs.Add(1)
	if !t.shouldWatch(dir) {
		t.w.stats.pruned.Add(1)
		return cs
	}
	if !t.watch(dir, seen != nil) {
		return cs
	}
	if seen != nil {
		seen[dir] = true
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
			t.w.log.Warn("cannot read directory: its changes are not reported", "dir", dir, "err", err)
		}
		return cs
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if report && t.wanted(p) {
			cs = append(cs, change{Path: p, At: now})
		}
		// A symlink is never a directory here: links are not followed out
		// of the roots.
		if e.IsDir() {
			cs = t.scan(p, report, now, cs, seen)
		}
	}
	return cs
}

// watch adds a watch on dir unless it has one (or again, with force, after
// an overflow: the directory may have been replaced). It reports whether
// the directory is watched, or counted as needing a watch once the limit is
// hit.
func (t *tree) watch(dir string, force bool) bool {
	if t.watched[dir] && !force {
		return true
	}
	if t.full != nil {
		if !t.watched[dir] {
			t.unwatched++
		}
		return true
	}
	err := t.n.Add(dir)
	switch {
	case err == nil:
		t.watched[dir] = true
		t.w.stats.watches.Store(int64(len(t.watched)))
		return true
	case errors.Is(err, syscall.ENOSPC):
		t.full = newLimitError(dir, err, len(t.watched), 0)
		t.unwatched++
		return true
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
		return false // gone or replaced since it was listed
	default:
		t.w.log.Warn("cannot watch directory: its changes are not reported", "dir", dir, "err", err)
		return false
	}
}

func (t *tree) unwatch(dir string) {
	// The kernel drops the watch of a deleted directory by itself, and
	// fsnotify drops a moved one, so an error here is expected.
	_ = t.n.Remove(dir)
	delete(t.watched, dir)
	t.w.stats.watches.Store(int64(len(t.watched)))
}

// rescan walks every root again after lost events: every relevant path is
// reported as changed, and watched directories that are gone as removed.
func (t *tree) rescan(now time.Time) []change {
	cs := []change{{Overflow: true, At: now}}
	seen := make(map[string]bool)
	for _, r := range t.w.roots {
		cs = t.reach(r.root, true, now, cs, seen)
	}
	for d := range t.watched {
		if seen[d] {
			continue
		}
		t.unwatch(d)
		if t.wanted(d) {
			cs = append(cs, change{Path: d, Removed: true, Dir: true, At: now})
		}
	}
	return cs
}

// shouldWatch reports whether dir needs a watch: a root wants something
// below it, or it leads to a root.
func (t *tree) shouldWatch(dir string) bool {
	if t.globallyPruned(dir) {
		return false
	}
	for _, r := range t.w.roots {
		if r.descend(dir) || isUnder(r.root, dir) {
			return true
		}
	}
	return false
}

// wanted reports whether a change to p is reported: some root keeps it and
// the global patterns do not exclude it.
func (t *tree) wanted(p string) bool {
	if !t.wantedByGlobal(p) {
		return false
	}
	for _, r := range t.w.roots {
		if r.Match(p) {
			return true
		}
	}
	return false
}

func (t *tree) wantedByGlobal(p string) bool {
	if t.w.global == nil {
		return true
	}
	rel, ok := relTo(t.w.globalBase, p)
	return !ok || rel == "." || !t.w.global.matches(rel)
}

func (t *tree) globallyPruned(dir string) bool {
	if t.w.global == nil {
		return false
	}
	rel, ok := relTo(t.w.globalBase, dir)
	if !ok || rel == "." {
		return false
	}
	return t.w.global.matches(rel) && !t.w.global.mayFlipBelow(rel, true)
}

// isUnder reports whether path is strictly below dir.
func isUnder(path, dir string) bool {
	rel, ok := relTo(dir, path)
	return ok && rel != "."
}
