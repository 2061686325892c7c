// Package watch watches source trees recursively and reports their changes
// in batches.
//
// One inotify watch is held per directory that may hold a relevant path;
// ignore rules are applied before a directory is watched, so an ignored tree
// (node_modules, .git) costs no watch, unless a "!" pattern may re-include
// something below it. A directory that appears is watched and then scanned,
// so the files created in it before its watch existed are reported too.
// Symbolic links are reported as paths but never followed.
//
// Events are collected into a Batch once the tree has been quiet for a short
// time, or after a maximum wait. A batch lists paths, files and directories,
// that were created or modified, and paths that were removed or renamed away;
// a removed directory stands for everything below it. When the kernel drops
// events, the roots are rescanned and the batch says so (Overflow).
//
// Filter gives consumers the watcher's rules for one root, to map the paths
// of a batch back to the roots, and so to the targets, they belong to.
package watch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"time"
)

const (
	// DefaultQuiet is how long no event may come before a batch is emitted.
	// The live-update target is p50 ≤ 150 ms from an edit to the change being
	// served, so the watcher may spend a third of it waiting; 50 ms still
	// merges an editor's save (write a temporary file, rename it, chmod: all
	// within a few milliseconds) and a formatter rewriting a handful of files.
	DefaultQuiet = 50 * time.Millisecond

	// DefaultMaxWait bounds how long a steady stream of events (a checkout, a
	// generator writing into the tree, a log file touched every few
	// milliseconds) can hold a batch back. 2 s keeps a branch switch in one or
	// two batches, and a split only costs one more incremental update.
	DefaultMaxWait = 2 * time.Second
)

// Root is one tree, or one file, to watch.
type Root struct {
	// Path is the directory or file to watch. A file root reports only that
	// file; a root that does not exist yet is watched from its nearest
	// existing parent and reported once it appears.
	Path string
	// Ignore holds dockerignore-syntax patterns relative to Path; "!"
	// re-includes, as in a .dockerignore.
	Ignore []string
	// Only, if set, keeps only the paths these patterns (dockerignore syntax,
	// relative to Path) match. Ignore still applies to them.
	Only []string
}

// Config says what to watch. The zero values of Quiet and MaxWait mean
// DefaultQuiet and DefaultMaxWait.
type Config struct {
	Roots []Root
	// Ignore holds global patterns (.devloopignore lines, watch settings) in
	// dockerignore syntax, relative to GlobalBase. Paths they exclude are
	// never watched nor reported, whichever root holds them.
	Ignore     []string
	GlobalBase string
	Quiet      time.Duration
	MaxWait    time.Duration
	// Logger receives debug logs; nil discards them.
	Logger *slog.Logger
}

// Batch is a set of changes that arrived close together.
type Batch struct {
	// Changed holds the absolute paths, sorted, of files and directories
	// created or modified.
	Changed []string
	// Removed holds the absolute paths, sorted, of files and directories
	// removed or renamed away. A removed directory stands for everything
	// that was below it.
	Removed []string
	// Overflow is set when the kernel dropped events: the roots were
	// rescanned, Changed lists every relevant path found, and Removed the
	// watched directories that disappeared. Treat everything as changed.
	Overflow bool
	// First and Last are the times of the first and last event in the batch.
	First, Last time.Time
	// Emitted is when the batch became due.
	Emitted time.Time
}

// Stats are counters for diagnostics and benchmarks.
type Stats struct {
	Watches int    // inotify watches held now (one per directory)
	Dirs    int    // directories examined by scans so far, watched or pruned
	Pruned  int    // ignored directories skipped by scans, with everything below them
	Events  uint64 // file system events received
	Batches uint64 // batches delivered
	Rescans uint64 // rescans after an event overflow
}

// Watcher watches the roots of a Config. Create it with New, start it with
// Run, and read Batches.
type Watcher struct {
	quiet, maxWait time.Duration
	roots          []*Filter
	global         *matcher
	globalBase     string
	log            *slog.Logger
	newNotifier    func() (notifier, error)

	batches chan Batch
	ready   chan struct{}
	started atomic.Bool
	stats   counters
}

type counters struct {
	watches, dirs, pruned    atomic.Int64
	events, batches, rescans atomic.Uint64
}

// New validates cfg and returns a Watcher. It does no I/O; relative paths
// are made absolute against the working directory.
func New(cfg Config) (*Watcher, error) {
	return newWatcher(cfg, newFSNotifier)
}

func newWatcher(cfg Config, newNotifier func() (notifier, error)) (*Watcher, error) {
	if len(cfg.Roots) == 0 {
		return nil, errors.New("nothing to watch: give at least one root")
	}
	w := &Watcher{
		quiet:       cfg.Quiet,
		maxWait:     cfg.MaxWait,
		log:         cfg.Logger,
		newNotifier: newNotifier,
		batches:     make(chan Batch),
		ready:       make(chan struct{}),
	}
	if w.quiet == 0 {
		w.quiet = DefaultQuiet
	}
	if w.maxWait == 0 {
		w.maxWait = max(DefaultMaxWait, w.quiet)
	}
	if w.quiet < 0 || w.maxWait < 0 {
		return nil, fmt.Errorf("quiet period %v and max wait %v must not be negative", cfg.Quiet, cfg.MaxWait)
	}
	if w.maxWait < w.quiet {
		return nil, fmt.Errorf("max wait %v is shorter than the quiet period %v: make it at least as long", w.maxWait, w.quiet)
	}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	for _, r := range cfg.Roots {
		f, err := NewFilter(r)
		if err != nil {
			return nil, err
		}
		w.roots = append(w.roots, f)
	}
	if len(cfg.Ignore) > 0 {
		if cfg.GlobalBase == "" {
			return nil, errors.New("global ignore patterns need a GlobalBase to be relative to: set it (usually the Devfile's directory)")
		}
		base, err := filepath.Abs(cfg.GlobalBase)
		if err != nil {
			return nil, fmt.Errorf("making ignore base %q absolute: %w", cfg.GlobalBase, err)
		}
		if w.global, err = newMatcher(cfg.Ignore); err != nil {
			return nil, fmt.Errorf("global ignore patterns: %w", err)
		}
		w.globalBase = base
	}
	return w, nil
}

// Run sets up the watches and then delivers batches until ctx is done; it
// returns nil then, also when ctx is done before the setup completes. It returns an error promptly if the watches cannot be
// set up (a *LimitError when the inotify watch limit is hit, also later when
// new directories need watches). Batches is closed when Run returns. Run may
// be called once.
func (w *Watcher) Run(ctx context.Context) error {
	if !w.started.CompareAndSwap(false, true) {
		return errors.New("watcher already started: create a new one with New")
	}
	defer close(w.batches)

	n, err := w.newNotifier()
	if err != nil {
		return err
	}
	defer n.Close()

	t := newTree(w, n, ctx.Done())
	if err := t.setup(); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return nil // stopped while setting up
	}
	w.log.Debug("watching", "roots", len(w.roots), "watches", len(t.watched))
	close(w.ready)

	changes := make(chan []change, changeBuffer)
	b := &batcher{quiet: w.quiet, maxWait: w.maxWait, emitted: &w.stats.batches}
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.run(ctx, changes, w.batches)
	}()
	err = t.loop(ctx, changes)
	close(changes)
	<-done
	return err
}

// changeBuffer is how many event groups the tree may run ahead of the
// batcher: enough to absorb a burst without making the tree wait.
const changeBuffer = 256

// Batches returns the channel batches are delivered on. It is closed when Run
// returns.
func (w *Watcher) Batches() <-chan Batch { return w.batches }

// Ready returns a channel closed once every initial watch is in place. If Run
// fails before that, Ready is never closed: wait on Run's result too.
func (w *Watcher) Ready() <-chan struct{} { return w.ready }

// Stats returns the current counters. It is safe to call at any time.
func (w *Watcher) Stats() Stats {
	return Stats{
		Watches: int(w.stats.watches.Load()),
		Dirs:    int(w.stats.dirs.Load()),
		Pruned:  int(w.stats.pruned.Load()),
		Events:  w.stats.events.Load(),
		Batches: w.stats.batches.Load(),
		Rescans: w.stats.rescans.Load(),
	}
}
