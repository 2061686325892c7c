package engine

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"

	"github.com/devloop-dev/devloop/devfile"
	"github.com/devloop-dev/devloop/watch"
)

// Watcher watches what cfg says and sends batches to out until ctx is done.
type Watcher interface {
	Watch(ctx context.Context, cfg watch.Config, out chan<- watch.Batch) error
}

// FSWatcher watches the file system with package watch.
type FSWatcher struct {
	Logger *slog.Logger
}

// Watch runs a watch.Watcher for cfg and forwards its batches to out.
func (w FSWatcher) Watch(ctx context.Context, cfg watch.Config, out chan<- watch.Batch) error {
	cfg.Logger = w.Logger
	wt, err := watch.New(cfg)
	if err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- wt.Run(ctx) }()
	for b := range wt.Batches() {
		select {
		case out <- b:
		case <-ctx.Done():
		}
	}
	if err := <-errc; err != nil {
		return fmt.Errorf("watching files: %w", err)
	}
	return nil
}

type watchErrMsg struct {
	gen int
	err error
}

// filterSet is the watch filters of a resource's (or an image's) roots.
type filterSet []*watch.Filter

// matches reports whether path is under one of the roots and not ignored.
func (fs filterSet) matches(path string) bool {
	for _, f := range fs {
		if f.Match(path) {
			return true
		}
	}
	return false
}

// under reports whether one of the roots lies at or below dir (a removed
// directory stands for everything below it).
func (fs filterSet) under(dir string) bool {
	for _, f := range fs {
		if within(dir, f.Root()) {
			return true
		}
	}
	return false
}

func within(dir, path string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

// filters are the watch filters of a resource's deps. Ignore patterns are
// relative to the Devfile's directory, as in Tilt; each is rebased onto the
// dep it falls under.
func (l *loop) filters(spec devfile.Resource) filterSet {
	return l.newFilters(spec.Name, l.roots(spec))
}

// newFilters makes the filters of roots; a root that cannot be one is
// logged to resource name's log and left out.
func (l *loop) newFilters(name string, roots []watch.Root) filterSet {
	var out filterSet
	for _, root := range roots {
		f, err := watch.NewFilter(root)
		if err != nil {
			l.logf(name, "ignoring dep %s: %v", root.Path, err)
			continue
		}
		out = append(out, f)
	}
	return out
}

func (l *loop) roots(spec devfile.Resource) []watch.Root {
	if spec.Local == nil {
		return l.k8sRoots(spec)
	}
	base := defaultDir(l.model)
	var roots []watch.Root
	for _, dep := range spec.Local.Deps {
		roots = append(roots, watch.Root{Path: dep, Ignore: rebase(spec.Local.Ignore, base, dep)})
	}
	return roots
}

// k8sRoots are the watch roots of a Kubernetes resource: those of the
// images it uses and of their base images.
func (l *loop) k8sRoots(spec devfile.Resource) []watch.Root {
	var roots []watch.Root
	for _, r := range l.imgs.closure(spec.Images) {
		roots = append(roots, l.imgs.roots[r]...)
	}
	return roots
}

// rebase rewrites dockerignore patterns relative to base into patterns
// relative to dir. Patterns naming another subtree are kept as written,
// which matches nothing or the same names below dir.
func rebase(patterns []string, base, dir string) []string {
	rel, err := filepath.Rel(base, dir)
	if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
		return patterns
	}
	prefix := filepath.ToSlash(rel) + "/"
	out := make([]string, 0, len(patterns))
	for _, p := range patterns {
		neg := strings.HasPrefix(p, "!")
		body := strings.TrimPrefix(p, "!")
		body = strings.TrimPrefix(body, "./")
		if after, ok := strings.CutPrefix(body, prefix); ok {
			body = after
		}
		if neg {
			body = "!" + body
		}
		out = append(out, body)
	}
	return out
}

// rewatch restarts the watcher when the set of watched roots changed.
func (l *loop) rewatch() {
	cfg := watch.Config{
		GlobalBase: defaultDir(l.model),
		Ignore:     append(slices.Clone(l.e.cfg.WatchIgnore), l.model.Settings.WatchIgnore...),
	}
	for _, dep := range l.model.Dependencies {
		cfg.Roots = append(cfg.Roots, watch.Root{Path: dep})
	}
	for _, name := range l.order {
		cfg.Roots = append(cfg.Roots, l.roots(*l.res[name].spec)...)
	}
	key := fmt.Sprintf("%v", cfg)
	if key == l.watch.key {
		return
	}
	if l.watch.cancel != nil {
		l.watch.cancel()
	}
	l.watch.key = key
	l.ids.gen++
	gen := l.ids.gen
	l.watch.gen = gen
	ctx, cancel := context.WithCancel(context.Background())
	l.watch.cancel = cancel
	l.e.goWorker(func() {
		if err := l.e.cfg.Watcher.Watch(ctx, cfg, l.batches); err != nil && ctx.Err() == nil {
			l.e.send(watchErrMsg{gen: gen, err: err})
		}
	})
}

// onWatchErr shows that the watcher of generation m.gen failed.
func (l *loop) onWatchErr(m watchErrMsg) {
	if m.gen != l.watch.gen {
		return
	}
	msg := fmt.Sprintf("watching files failed, changes are not seen until the Devfile reloads: %v", m.err)
	l.logf("", "%s", msg)
	l.devfile.Warnings = append(l.devfile.Warnings, msg)
	l.watch.key = "" // the next reload retries
	l.dirty = true
}

// onBatch maps changed paths to the Devfile and to resources.
func (l *loop) onBatch(b watch.Batch) {
	deps := map[string]bool{}
	for _, d := range l.model.Dependencies {
		deps[filepath.Clean(d)] = true
	}
	reload := b.Overflow
	for _, p := range slices.Concat(b.Changed, b.Removed) {
		if deps[p] {
			reload = true
		}
	}
	if reload {
		l.startReload()
	}
	for _, name := range l.order {
		r := l.res[name]
		var files []string
		for _, p := range b.Changed {
			if r.filters.matches(p) {
				files = append(files, l.relative(p))
			}
		}
		for _, p := range b.Removed {
			if r.filters.matches(p) || r.filters.under(p) {
				files = append(files, l.relative(p))
			}
		}
		if len(files) == 0 && b.Overflow && len(r.filters) > 0 {
			// Events were lost: anything under the deps may have changed.
			files = []string{"(file events were dropped; rescanned)"}
		}
		if len(files) == 0 {
			continue
		}
		if l.track(r, b) {
			r.liveChanged(files, b)
		} else {
			r.changed(files, b)
		}
	}
}

// relative shows path relative to the Devfile's directory when under it.
func (l *loop) relative(path string) string {
	rel, err := filepath.Rel(defaultDir(l.model), path)
	if err != nil || strings.HasPrefix(rel, "..") {
		return path
	}
	return rel
}
