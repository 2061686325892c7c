package watch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
)

// testQuiet keeps the tests quick; the batching itself is tested under
// synctest in batcher_test.go.
const testQuiet = 10 * time.Millisecond

// failAfter bounds how long a test waits for a batch before failing. It is a
// failure deadline, never a way to wait for something to happen.
const failAfter = 20 * time.Second

type running struct {
	t    *testing.T
	w    *Watcher
	n    int // sentinels written
	seen result
}

// result is the union of the batches read so far.
type result struct {
	changed, removed map[string]bool
	overflow         bool
	batches          int
}

func (r *result) add(b Batch) {
	if r.changed == nil {
		r.changed, r.removed = map[string]bool{}, map[string]bool{}
	}
	for _, p := range b.Changed {
		r.changed[p] = true
	}
	for _, p := range b.Removed {
		r.removed[p] = true
	}
	r.overflow = r.overflow || b.Overflow
	r.batches++
}

func (r result) String() string {
	return fmt.Sprintf("changed %v removed %v overflow %v", keys(r.changed), keys(r.removed), r.overflow)
}

func keys(m map[string]bool) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// start runs a watcher on cfg until the test ends and waits until it is
// ready.
func start(t *testing.T, cfg Config) *running {
	t.Helper()
	return startWith(t, cfg, newFSNotifier)
}

func startWith(t *testing.T, cfg Config, nf func() (notifier, error)) *running {
	t.Helper()
	if cfg.Quiet == 0 {
		cfg.Quiet = testQuiet
	}
	w, err := newWatcher(cfg, nf)
	if err != nil {
		t.Fatalf("New(%+v) = %v", cfg, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("Run() = %v, want nil after cancel", err)
		}
	})
	select {
	case <-w.Ready():
	case err := <-errc:
		errc <- err
		t.Fatalf("Run() = %v before ready", err)
	case <-time.After(failAfter):
		t.Fatalf("watcher not ready after %v", failAfter)
	}
	return &running{t: t, w: w}
}

// sentinel writes a new file in dir and reads batches until one reports it;
// everything done before it has then been reported.
func (r *running) sentinel(dir string) result {
	r.t.Helper()
	r.n++
	p := filepath.Join(dir, fmt.Sprintf("sentinel-%d", r.n))
	write(r.t, p)
	return r.until(func(b Batch) bool { return slices.Contains(b.Changed, p) })
}

// until reads batches until done says so, and returns their union.
func (r *running) until(done func(Batch) bool) result {
	r.t.Helper()
	var res result
	timeout := time.After(failAfter)
	for {
		select {
		case b, ok := <-r.w.Batches():
			if !ok {
				r.t.Fatalf("Batches closed while waiting; got %v", res)
			}
			res.add(b)
			r.seen.add(b)
			if done(b) {
				return res
			}
		case <-timeout:
			r.t.Fatalf("no awaited batch after %v; got %v", failAfter, res)
		}
	}
}

func write(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(path), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mkdirs(t *testing.T, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

func wantWatches(t *testing.T, w *Watcher, want int) {
	t.Helper()
	if got := w.Stats().Watches; got != want {
		t.Errorf("Stats().Watches = %d, want %d", got, want)
	}
}

func wantIn(t *testing.T, what string, set map[string]bool, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if !set[p] {
			t.Errorf("%s = %v, want it to hold %s", what, keys(set), p)
		}
	}
}

func wantNotIn(t *testing.T, what string, set map[string]bool, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if set[p] {
			t.Errorf("%s = %v, want it without %s", what, keys(set), p)
		}
	}
}

func TestNewDirectoryIsScanned(t *testing.T) {
	root := t.TempDir()
	r := start(t, Config{Roots: []Root{{Path: root}}})
	wantWatches(t, r.w, 1)

	// A tree moved in arrives with one event: everything in it was created
	// before any watch could exist, so only the scan can report it.
	outside := t.TempDir()
	write(t, filepath.Join(outside, "pkg", "a.txt"))
	write(t, filepath.Join(outside, "pkg", "sub", "deeper", "c.txt"))
	if err := os.Rename(filepath.Join(outside, "pkg"), filepath.Join(root, "pkg")); err != nil {
		t.Fatal(err)
	}
	// mkdir -p and a write right after it race with the watch of the new
	// directories: reported either way.
	write(t, filepath.Join(root, "x", "y", "z", "f.txt"))
	got := r.sentinel(root)
	wantIn(t, "changed", got.changed,
		filepath.Join(root, "pkg"), filepath.Join(root, "pkg", "a.txt"), filepath.Join(root, "pkg", "sub"),
		filepath.Join(root, "pkg", "sub", "deeper"), filepath.Join(root, "pkg", "sub", "deeper", "c.txt"),
		filepath.Join(root, "x"), filepath.Join(root, "x", "y", "z", "f.txt"))
	wantWatches(t, r.w, 7) // root, pkg, sub, deeper, x, y, z

	// The new directories are watched.
	write(t, filepath.Join(root, "pkg", "sub", "deeper", "d.txt"))
	got = r.sentinel(root)
	wantIn(t, "changed", got.changed, filepath.Join(root, "pkg", "sub", "deeper", "d.txt"))
}

func TestRemovedDirectory(t *testing.T) {
	root := t.TempDir()
	gone := filepath.Join(root, "gone")
	write(t, filepath.Join(gone, "sub", "f.txt"))
	write(t, filepath.Join(gone, "g.txt"))
	r := start(t, Config{Roots: []Root{{Path: root}}})
	wantWatches(t, r.w, 3)

	if err := os.RemoveAll(gone); err != nil {
		t.Fatal(err)
	}
	got := r.sentinel(root)
	wantIn(t, "removed", got.removed, gone)
	wantNotIn(t, "changed", got.changed, gone)
	wantWatches(t, r.w, 1)

	// Created again, it is watched again.
	write(t, filepath.Join(gone, "sub", "new.txt"))
	write(t, filepath.Join(gone, "sub", "newer.txt"))
	got = r.sentinel(root)
	wantIn(t, "changed", got.changed, gone, filepath.Join(gone, "sub", "new.txt"), filepath.Join(gone, "sub", "newer.txt"))
	wantWatches(t, r.w, 3)
}

func TestRenamedDirectory(t *testing.T) {
	root := t.TempDir()
	old, renamed := filepath.Join(root, "old"), filepath.Join(root, "new")
	write(t, filepath.Join(old, "sub", "f.txt"))
	r := start(t, Config{Roots: []Root{{Path: root}}})
	wantWatches(t, r.w, 3)

	if err := os.Rename(old, renamed); err != nil {
		t.Fatal(err)
	}
	got := r.sentinel(root)
	wantIn(t, "removed", got.removed, old)
	wantIn(t, "changed", got.changed, renamed, filepath.Join(renamed, "sub"), filepath.Join(renamed, "sub", "f.txt"))
	wantWatches(t, r.w, 3)

	// Changes below the new name carry the new name.
	write(t, filepath.Join(renamed, "sub", "g.txt"))
	got = r.sentinel(root)
	wantIn(t, "changed", got.changed, filepath.Join(renamed, "sub", "g.txt"))
	for p := range got.changed {
		if strings.HasPrefix(p, old+string(os.PathSeparator)) {
			t.Errorf("changed = %v, want nothing under the old name %s", keys(got.changed), old)
		}
	}

	// Renamed out of the root, it is no longer watched.
	outside := filepath.Join(t.TempDir(), "moved")
	if err := os.Rename(renamed, outside); err != nil {
		t.Fatal(err)
	}
	got = r.sentinel(root)
	wantIn(t, "removed", got.removed, renamed)
	wantWatches(t, r.w, 1)
	write(t, filepath.Join(outside, "sub", "after.txt"))
	got = r.sentinel(root)
	if len(got.changed) != 1 || len(got.removed) != 0 {
		t.Errorf("after writing into a directory moved out: %v, want only the sentinel", got)
	}
}

func TestSymlinkNotFollowed(t *testing.T) {
	root, outside := t.TempDir(), t.TempDir()
	write(t, filepath.Join(outside, "sub", "deep", "f.txt"))
	link := filepath.Join(root, "link")
	if err := os.Symlink(outside, link); err != nil {
		t.Fatal(err)
	}
	r := start(t, Config{Roots: []Root{{Path: root}}})
	wantWatches(t, r.w, 1)

	write(t, filepath.Join(outside, "sub", "g.txt"))
	write(t, filepath.Join(link, "sub", "deep", "h.txt")) // through the link
	if err := os.Symlink(filepath.Join(outside, "sub"), filepath.Join(root, "link2")); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(outside, "sub", "deep", "i.txt"))
	got := r.sentinel(root)
	for p := range got.changed {
		if strings.HasPrefix(p, outside) || strings.HasPrefix(p, link+string(os.PathSeparator)) {
			t.Errorf("changed = %v, want nothing through or beyond the symlink", keys(got.changed))
		}
	}
	wantIn(t, "changed", got.changed, filepath.Join(root, "link2")) // the link itself is a change
	wantWatches(t, r.w, 1)
}

func TestIgnoredDirectoryNotWatched(t *testing.T) {
	root := t.TempDir()
	for _, pkg := range []string{"a", "b", "c", "d"} {
		mkdirs(t, filepath.Join(root, "node_modules", pkg, "lib", "x"))
	}
	mkdirs(t, filepath.Join(root, "src", "app"), filepath.Join(root, ".git", "objects", "ab"))
	r := start(t, Config{Roots: []Root{{Path: root, Ignore: []string{"node_modules"}}}})
	wantWatches(t, r.w, 3) // root, src, src/app
	if got := r.w.Stats().Pruned; got != 2 {
		t.Errorf("Stats().Pruned = %d, want 2 (node_modules and .git)", got)
	}

	write(t, filepath.Join(root, "node_modules", "a", "lib", "x", "f.js"))
	write(t, filepath.Join(root, "node_modules", "new", "f.js"))
	write(t, filepath.Join(root, ".git", "index"))
	write(t, filepath.Join(root, "src", "app", "main.go"))
	got := r.sentinel(root)
	for p := range got.changed {
		if strings.Contains(p, "node_modules") || strings.Contains(p, ".git") {
			t.Errorf("changed = %v, want nothing ignored", keys(got.changed))
		}
	}
	wantIn(t, "changed", got.changed, filepath.Join(root, "src", "app", "main.go"))
	wantWatches(t, r.w, 3)
}

func TestReinclude(t *testing.T) {
	root := t.TempDir()
	nm := filepath.Join(root, "node_modules")
	mkdirs(t, filepath.Join(nm, "keep", "lib"), filepath.Join(nm, "other", "lib"), filepath.Join(nm, "more", "lib"))
	r := start(t, Config{Roots: []Root{{Path: root, Ignore: []string{"node_modules", "!node_modules/keep"}}}})
	wantWatches(t, r.w, 4) // root, node_modules (it leads to keep), keep, keep/lib

	write(t, filepath.Join(nm, "keep", "lib", "a.js"))
	write(t, filepath.Join(nm, "keep", "new", "b.js"))
	write(t, filepath.Join(nm, "other", "lib", "c.js"))
	write(t, filepath.Join(nm, "top.js"))
	got := r.sentinel(root)
	wantIn(t, "changed", got.changed, filepath.Join(nm, "keep", "lib", "a.js"), filepath.Join(nm, "keep", "new", "b.js"))
	wantNotIn(t, "changed", got.changed, filepath.Join(nm, "other", "lib", "c.js"), filepath.Join(nm, "top.js"), nm)
	wantWatches(t, r.w, 5)
}

func TestEditorTempFilesIgnored(t *testing.T) {
	root := t.TempDir()
	r := start(t, Config{Roots: []Root{{Path: root}}})
	temps := []string{".main.go.swp", ".main.go.swx", "main.go~", ".#main.go", "#main.go#", "main.go___jb_tmp___", "main.go___jb_old___", "4913"}
	for _, name := range temps {
		write(t, filepath.Join(root, name))
	}
	// vim's save: write a backup, write the file, remove the backup.
	write(t, filepath.Join(root, "main.go"))
	if err := os.Remove(filepath.Join(root, "main.go~")); err != nil {
		t.Fatal(err)
	}
	got := r.sentinel(root)
	for _, name := range temps {
		p := filepath.Join(root, name)
		if got.changed[p] || got.removed[p] {
			t.Errorf("batches = %v, want nothing about %s", got, name)
		}
	}
	wantIn(t, "changed", got.changed, filepath.Join(root, "main.go"))
}

// TestTemporaryFileRenamedOver: sed -i (and editors that save by rename)
// writes a temporary file and renames it over the target; the batch names
// only the target, not the temporary file that came and went. Quiet is long
// so that both events fall in one batch on a loaded machine.
func TestTemporaryFileRenamedOver(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "index.html"))
	r := start(t, Config{Roots: []Root{{Path: root}}, Quiet: time.Second, MaxWait: 10 * time.Second})
	tmp := filepath.Join(root, "sedX1b2c3")
	write(t, tmp)
	if err := os.Rename(tmp, filepath.Join(root, "index.html")); err != nil {
		t.Fatal(err)
	}
	got := r.sentinel(root)
	wantNotIn(t, "changed", got.changed, tmp)
	wantNotIn(t, "removed", got.removed, tmp)
	wantIn(t, "changed", got.changed, filepath.Join(root, "index.html"))
}

func TestGlobalIgnore(t *testing.T) {
	base := t.TempDir()
	svc := filepath.Join(base, "svc")
	mkdirs(t, filepath.Join(svc, "build", "out"), filepath.Join(svc, "src"))
	r := start(t, Config{
		Roots:      []Root{{Path: svc}},
		Ignore:     []string{"svc/build", "**/*.log"},
		GlobalBase: base,
	})
	wantWatches(t, r.w, 2) // svc, svc/src

	write(t, filepath.Join(svc, "build", "out", "bin"))
	write(t, filepath.Join(svc, "src", "app.log"))
	write(t, filepath.Join(svc, "src", "app.go"))
	got := r.sentinel(svc)
	wantNotIn(t, "changed", got.changed, filepath.Join(svc, "build", "out", "bin"), filepath.Join(svc, "src", "app.log"))
	wantIn(t, "changed", got.changed, filepath.Join(svc, "src", "app.go"))
}

func TestOnly(t *testing.T) {
	root := t.TempDir()
	mkdirs(t, filepath.Join(root, "web", "app"), filepath.Join(root, "web", "docs"), filepath.Join(root, "api"))
	r := start(t, Config{Roots: []Root{{Path: root, Only: []string{"web/app", "sentinel-*"}}}})
	wantWatches(t, r.w, 3) // root, web (leads to web/app), web/app

	write(t, filepath.Join(root, "web", "app", "index.js"))
	write(t, filepath.Join(root, "web", "docs", "README.md"))
	write(t, filepath.Join(root, "api", "main.go"))
	got := r.sentinel(root)
	wantIn(t, "changed", got.changed, filepath.Join(root, "web", "app", "index.js"))
	wantNotIn(t, "changed", got.changed, filepath.Join(root, "web", "docs", "README.md"), filepath.Join(root, "api", "main.go"))
}

func TestFileRoot(t *testing.T) {
	dir := t.TempDir()
	devfile := filepath.Join(dir, "Devfile")
	write(t, devfile)
	mkdirs(t, filepath.Join(dir, "sub", "deeper"))
	r := start(t, Config{Roots: []Root{{Path: devfile}}})
	wantWatches(t, r.w, 1) // the parent directory only

	write(t, filepath.Join(dir, "other.txt"))
	write(t, filepath.Join(dir, "sub", "x.txt"))
	write(t, devfile)
	got := r.until(func(b Batch) bool { return slices.Contains(b.Changed, devfile) })
	wantNotIn(t, "changed", got.changed, filepath.Join(dir, "other.txt"), filepath.Join(dir, "sub", "x.txt"))

	// An editor saving by writing a temporary file and renaming it.
	tmp := filepath.Join(dir, ".Devfile.tmp")
	write(t, tmp)
	if err := os.Rename(tmp, devfile); err != nil {
		t.Fatal(err)
	}
	got = r.until(func(b Batch) bool { return slices.Contains(b.Changed, devfile) })
	wantNotIn(t, "changed", got.changed, tmp)

	if err := os.Remove(devfile); err != nil {
		t.Fatal(err)
	}
	r.until(func(b Batch) bool { return slices.Contains(b.Removed, devfile) })
	wantWatches(t, r.w, 1)
}

func TestMissingRoot(t *testing.T) {
	base := t.TempDir()
	dep := filepath.Join(base, "gen", "out", "dep.txt")
	lib := filepath.Join(base, "lib")
	r := start(t, Config{Roots: []Root{{Path: dep}, {Path: lib}}})
	wantWatches(t, r.w, 1) // base, the nearest existing parent of both

	write(t, filepath.Join(base, "unrelated.txt"))
	write(t, dep)
	got := r.until(func(b Batch) bool { return slices.Contains(b.Changed, dep) })
	wantNotIn(t, "changed", got.changed, filepath.Join(base, "unrelated.txt"), filepath.Join(base, "gen"))

	// A directory root created later, with files in it before its watch.
	outside := t.TempDir()
	write(t, filepath.Join(outside, "lib", "pkg", "a.go"))
	if err := os.Rename(filepath.Join(outside, "lib"), lib); err != nil {
		t.Fatal(err)
	}
	got = r.sentinel(lib)
	wantIn(t, "changed", got.changed, lib, filepath.Join(lib, "pkg"), filepath.Join(lib, "pkg", "a.go"))
}

func TestRootRemovedAndCreatedAgain(t *testing.T) {
	root := filepath.Join(t.TempDir(), "src")
	write(t, filepath.Join(root, "pkg", "a.go"))
	r := start(t, Config{Roots: []Root{{Path: root}}})
	wantWatches(t, r.w, 2)

	if err := os.RemoveAll(root); err != nil {
		t.Fatal(err)
	}
	r.until(func(b Batch) bool { return slices.Contains(b.Removed, root) })

	write(t, filepath.Join(root, "pkg", "b.go"))
	got := r.sentinel(root)
	wantIn(t, "changed", got.changed, root, filepath.Join(root, "pkg", "b.go"))
	wantWatches(t, r.w, 3) // the parent, now also watched, root, pkg
}

// faultNotifier wraps the real notifier: it can refuse watches with ENOSPC
// past a count, drop events, and inject errors.
type faultNotifier struct {
	notifier
	limit  int    // refuse Add once this many watches were added; 0: never
	onAdd  func() // called after each successful Add
	mu     sync.Mutex
	adds   int
	drop   atomic.Bool
	events chan fsnotify.Event
	errs   chan error
	done   chan struct{}
}

func newFaultNotifier(limit int) (*faultNotifier, func() (notifier, error)) {
	f := &faultNotifier{limit: limit, events: make(chan fsnotify.Event, 64), errs: make(chan error), done: make(chan struct{})}
	return f, func() (notifier, error) {
		real, err := newFSNotifier()
		if err != nil {
			return nil, err
		}
		f.notifier = real
		go func() {
			for ev := range real.Events() {
				if f.drop.Load() {
					continue
				}
				select {
				case f.events <- ev:
				case <-f.done:
					return
				}
			}
		}()
		go func() {
			for err := range real.Errors() {
				select {
				case f.errs <- err:
				case <-f.done:
					return
				}
			}
		}()
		return f, nil
	}
}

func (f *faultNotifier) Add(dir string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.limit > 0 && f.adds >= f.limit {
		return fmt.Errorf("add watch %s: %w", dir, syscall.ENOSPC)
	}
	f.adds++
	err := f.notifier.Add(dir)
	if f.onAdd != nil {
		f.onAdd()
	}
	return err
}

func (f *faultNotifier) Events() <-chan fsnotify.Event { return f.events }
func (f *faultNotifier) Errors() <-chan error          { return f.errs }
func (f *faultNotifier) Close() error {
	close(f.done)
	return f.notifier.Close()
}

func TestOverflowRescans(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "kept", "k.txt"))
	write(t, filepath.Join(root, "doomed", "sub", "d.txt"))
	f, nf := newFaultNotifier(0)
	r := startWith(t, Config{Roots: []Root{{Path: root, Ignore: []string{"*.tmp"}}}}, nf)
	wantWatches(t, r.w, 4)

	// The kernel loses these events...
	f.drop.Store(true)
	write(t, filepath.Join(root, "lost.txt"))
	write(t, filepath.Join(root, "kept", "new", "n.txt"))
	write(t, filepath.Join(root, "x.tmp"))
	if err := os.RemoveAll(filepath.Join(root, "doomed")); err != nil {
		t.Fatal(err)
	}
	// ...and says so.
	f.errs <- fsnotify.ErrEventOverflow
	got := r.until(func(b Batch) bool { return b.Overflow })
	wantIn(t, "changed", got.changed,
		filepath.Join(root, "lost.txt"), filepath.Join(root, "kept"), filepath.Join(root, "kept", "k.txt"),
		filepath.Join(root, "kept", "new"), filepath.Join(root, "kept", "new", "n.txt"))
	wantNotIn(t, "changed", got.changed, filepath.Join(root, "x.tmp"))
	wantIn(t, "removed", got.removed, filepath.Join(root, "doomed"))
	wantWatches(t, r.w, 3) // root, kept, kept/new
	if got := r.w.Stats().Rescans; got != 1 {
		t.Errorf("Stats().Rescans = %d, want 1", got)
	}

	// Watching goes on.
	f.drop.Store(false)
	write(t, filepath.Join(root, "kept", "new", "after.txt"))
	got = r.sentinel(root)
	wantIn(t, "changed", got.changed, filepath.Join(root, "kept", "new", "after.txt"))
}

func TestWatchLimit(t *testing.T) {
	root := t.TempDir()
	mkdirs(t, filepath.Join(root, "a", "b"), filepath.Join(root, "c", "d"), filepath.Join(root, "node_modules", "x", "y"))
	tests := []struct {
		name  string
		limit int
		grow  bool // create directories after the start
	}{
		{name: "at start", limit: 2},
		{name: "when a directory is created", limit: 5, grow: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, nf := newFaultNotifier(tt.limit)
			w, err := newWatcher(Config{Roots: []Root{{Path: root, Ignore: []string{"node_modules"}}}, Quiet: testQuiet}, nf)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			errc := make(chan error, 1)
			go func() { errc <- w.Run(ctx) }()
			wantNeeded := 5
			if tt.grow {
				select {
				case <-w.Ready():
				case err := <-errc:
					t.Fatalf("Run() = %v before ready", err)
				}
				// Moved in whole, so that the count does not race with mkdir.
				outside := t.TempDir()
				mkdirs(t, filepath.Join(outside, "e", "f", "g"))
				if err := os.Rename(filepath.Join(outside, "e"), filepath.Join(root, "e")); err != nil {
					t.Fatal(err)
				}
				wantNeeded = 8
			}

			var err2 error
			select {
			case err2 = <-errc:
			case <-time.After(failAfter):
				t.Fatalf("Run() did not return within %v once the watch limit was hit", failAfter)
			}
			var le *LimitError
			if !errors.As(err2, &le) {
				t.Fatalf("Run() = %v, want a *LimitError", err2)
			}
			if le.Needed != wantNeeded || le.Added != tt.limit {
				t.Errorf("Run() = LimitError{Needed: %d, Added: %d}, want {Needed: %d, Added: %d}", le.Needed, le.Added, wantNeeded, tt.limit)
			}
			if !errors.Is(err2, syscall.ENOSPC) {
				t.Errorf("errors.Is(%v, ENOSPC) = false, want true", err2)
			}
			msg := err2.Error()
			for _, want := range []string{
				fmt.Sprintf("needs %d inotify watches", wantNeeded),
				"fs.inotify.max_user_watches",
				"sudo sysctl fs.inotify.max_user_watches=",
				"/etc/sysctl.d/",
				".devloopignore",
			} {
				if !strings.Contains(msg, want) {
					t.Errorf("Run() error = %q, want it to contain %q", msg, want)
				}
			}
			if !tt.grow {
				select {
				case <-w.Ready():
					t.Errorf("Ready() closed, want it open when setup failed")
				default:
				}
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{name: "no roots", cfg: Config{}, want: "give at least one root"},
		{name: "negative quiet", cfg: Config{Roots: []Root{{Path: "/r"}}, Quiet: -1}, want: "must not be negative"},
		{name: "max wait below quiet", cfg: Config{Roots: []Root{{Path: "/r"}}, Quiet: time.Second, MaxWait: time.Millisecond}, want: "shorter than the quiet period"},
		{name: "global ignore without base", cfg: Config{Roots: []Root{{Path: "/r"}}, Ignore: []string{"x"}}, want: "GlobalBase"},
		{name: "bad root pattern", cfg: Config{Roots: []Root{{Path: "/r", Ignore: []string{"[x"}}}}, want: "ignore patterns of /r"},
		{name: "bad global pattern", cfg: Config{Roots: []Root{{Path: "/r"}}, Ignore: []string{"[x"}, GlobalBase: "/"}, want: "global ignore patterns"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New(%+v) = %v, want an error containing %q", tt.cfg, err, tt.want)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	w, err := New(Config{Roots: []Root{{Path: "/r"}}})
	if err != nil {
		t.Fatal(err)
	}
	if w.quiet != DefaultQuiet || w.maxWait != DefaultMaxWait {
		t.Errorf("New(zero durations) = quiet %v, max wait %v; want %v, %v", w.quiet, w.maxWait, DefaultQuiet, DefaultMaxWait)
	}
}

func TestRunTwice(t *testing.T) {
	r := start(t, Config{Roots: []Root{{Path: t.TempDir()}}})
	if err := r.w.Run(context.Background()); err == nil {
		t.Errorf("second Run() = nil, want an error")
	}
}

func TestRunCancelledDuringSetup(t *testing.T) {
	root := t.TempDir()
	mkdirs(t, filepath.Join(root, "a", "b"), filepath.Join(root, "c"))
	f, nf := newFaultNotifier(0)
	w, err := newWatcher(Config{Roots: []Root{{Path: root}}}, nf)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f.onAdd = cancel // stop once the first watch is in place
	if err := w.Run(ctx); err != nil {
		t.Errorf("Run(context cancelled during setup) = %v, want nil", err)
	}
	if _, ok := <-w.Batches(); ok {
		t.Errorf("Batches() delivered after Run returned, want it closed")
	}
	select {
	case <-w.Ready():
		t.Errorf("Ready() closed, want it open: the setup did not complete")
	default:
	}
	if got := w.Stats().Watches; got != 1 {
		t.Errorf("Stats().Watches after Run(context cancelled at the first watch) = %d, want 1 (the scan stops)", got)
	}
}

// TestOverlappingRoots checks that a path is watched when any root that
// holds it wants it: a dep inside a tree another root ignores.
func TestOverlappingRoots(t *testing.T) {
	proj := t.TempDir()
	nm := filepath.Join(proj, "node_modules")
	mylib := filepath.Join(nm, "mylib")
	mkdirs(t, filepath.Join(mylib, "src"), filepath.Join(nm, "other", "lib"), filepath.Join(proj, "app"))
	r := start(t, Config{Roots: []Root{
		{Path: proj, Ignore: []string{"node_modules"}},
		{Path: mylib, Ignore: []string{"**/*.map"}},
	}})
	wantWatches(t, r.w, 5) // proj, app, node_modules (leads to mylib), mylib, mylib/src

	write(t, filepath.Join(nm, "other", "lib", "x.js"))
	write(t, filepath.Join(nm, "top.js"))
	write(t, filepath.Join(mylib, "src", "y.js"))
	write(t, filepath.Join(mylib, "src", "y.js.map"))
	got := r.sentinel(proj)
	wantIn(t, "changed", got.changed, filepath.Join(mylib, "src", "y.js"))
	wantNotIn(t, "changed", got.changed, filepath.Join(nm, "other", "lib", "x.js"), filepath.Join(nm, "top.js"), filepath.Join(mylib, "src", "y.js.map"))

	// The dep removed and installed again.
	if err := os.RemoveAll(mylib); err != nil {
		t.Fatal(err)
	}
	r.until(func(b Batch) bool { return slices.Contains(b.Removed, mylib) })
	write(t, filepath.Join(mylib, "src", "z.js"))
	got = r.sentinel(proj)
	wantIn(t, "changed", got.changed, mylib, filepath.Join(mylib, "src", "z.js"))
	wantWatches(t, r.w, 5)
}
