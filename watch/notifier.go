package watch

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/fsnotify/fsnotify"
)

// notifier is the part of fsnotify the tree uses; tests wrap the real one to
// inject an overflow or a full watch table.
type notifier interface {
	Add(dir string) error
	Remove(dir string) error
	Events() <-chan fsnotify.Event
	Errors() <-chan error
	Close() error
}

// eventBuffer is the length of fsnotify's event channel. It absorbs a burst
// while the tree scans a new directory, so the kernel queue
// (fs.inotify.max_queued_events, 16384 by default) overflows less often.
const eventBuffer = 4096

type fsNotifier struct{ w *fsnotify.Watcher }

func newFSNotifier() (notifier, error) {
	w, err := fsnotify.NewBufferedWatcher(eventBuffer)
	if err != nil {
		if errors.Is(err, syscall.EMFILE) {
			return nil, fmt.Errorf("starting inotify: %w: too many inotify instances for this user; raise fs.inotify.max_user_instances (sudo sysctl fs.inotify.max_user_instances=1024) or stop other watchers", err)
		}
		return nil, fmt.Errorf("starting inotify: %w", err)
	}
	return fsNotifier{w}, nil
}

func (n fsNotifier) Add(dir string) error          { return n.w.Add(dir) }
func (n fsNotifier) Remove(dir string) error       { return n.w.Remove(dir) }
func (n fsNotifier) Events() <-chan fsnotify.Event { return n.w.Events }
func (n fsNotifier) Errors() <-chan error          { return n.w.Errors }
func (n fsNotifier) Close() error                  { return n.w.Close() }

// LimitError says the inotify watch limit was hit: the kernel refused a
// watch with ENOSPC.
type LimitError struct {
	Needed int    // watches the roots need: one per directory that is not ignored
	Added  int    // watches held when the kernel refused the next one
	Limit  int    // fs.inotify.max_user_watches, 0 if unknown
	Dir    string // the directory whose watch was refused
	Err    error  // the error from inotify_add_watch
}

// maxUserWatchesFile holds the per-user inotify watch limit.
const maxUserWatchesFile = "/proc/sys/fs/inotify/max_user_watches"

// suggestedWatchLimit is what we suggest raising the limit to: 524288 is what
// most distributions and IDEs (JetBrains, VS Code) recommend, at about 1 KiB
// of kernel memory per watch in use.
const suggestedWatchLimit = 524288

func newLimitError(dir string, err error, added, needed int) *LimitError {
	e := &LimitError{Needed: needed, Added: added, Dir: dir, Err: err}
	if b, rerr := os.ReadFile(maxUserWatchesFile); rerr == nil {
		e.Limit, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	return e
}

func (e *LimitError) Error() string {
	limit := "its current value"
	if e.Limit > 0 {
		limit = strconv.Itoa(e.Limit)
	}
	want := max(suggestedWatchLimit, 2*(e.Limit+e.Needed))
	if e.Limit == 0 {
		want = max(suggestedWatchLimit, 2*e.Needed)
	}
	return fmt.Sprintf("watching needs %d inotify watches (one per directory not ignored) but the kernel refused one after %d (at %s: %v): "+
		"fs.inotify.max_user_watches is %s and is shared by every process of this user; "+
		"raise it with `sudo sysctl fs.inotify.max_user_watches=%d` and keep it with the line `fs.inotify.max_user_watches=%d` in /etc/sysctl.d/99-devloop.conf, "+
		"or ignore big directories in .devloopignore",
		e.Needed, e.Added, e.Dir, e.Err, limit, want, want)
}

func (e *LimitError) Unwrap() error { return e.Err }
