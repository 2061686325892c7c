package engine

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/devloop-dev/devloop/watch"
)

// TestWatchConfig: the watcher gets the Devfile's inputs and the deps (with
// ignore rebased onto each dep), and restarts only when they change.
func TestWatchConfig(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := local("server", "", "serve", "server")
		srv.Local.Ignore = []string{"server/*.log", "*.tmp"}
		m := model(srv)
		m.Settings.WatchIgnore = []string{"node_modules"}
		h := start(t, m)
		defer h.stop()
		cfgs := h.watcher.cfgs
		if len(cfgs) != 1 {
			t.Fatalf("watch configs = %d, want 1", len(cfgs))
		}
		want := []watch.Root{{Path: proj + "/Devfile"}, {Path: proj + "/server", Ignore: []string{"*.log", "*.tmp"}}}
		if got := cfgs[0].Roots; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("watch roots = %+v, want %+v", got, want)
		}
		if got := cfgs[0].Ignore; !slices.Equal(got, []string{"node_modules"}) || cfgs[0].GlobalBase != proj {
			t.Errorf("global ignore = %q in %q, want node_modules in %s", got, cfgs[0].GlobalBase, proj)
		}

		m2 := model(srv, local("web", "", "web-serve", "web"))
		m3 := model(srv, local("web", "", "web-serve --v2", "web"))
		h.loader.results = []loadResult{{m: m2}, {m: m3}}
		h.batch(proj + "/Devfile")
		h.batch(proj + "/Devfile")
		h.watcher.mu.Lock()
		n := len(h.watcher.cfgs)
		h.watcher.mu.Unlock()
		if n != 2 {
			t.Errorf("watch configs after a new dep and then a change of command = %d, want 2", n)
		}
	})
}

func TestWatchFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := start(t, nil)
		h.watcher.fail = errors.New("inotify watch limit reached: raise fs.inotify.max_user_watches")
		h.with(model(local("server", "", "serve", "server")))
		defer h.stop()
		v := h.e.Snapshot()
		if len(v.Devfile.Warnings) != 1 || !strings.Contains(v.Devfile.Warnings[0], "max_user_watches") {
			t.Errorf("devfile warnings = %q, want the watch error with its remedy", v.Devfile.Warnings)
		}
		h.wantPhase("server", PhaseReady)
	})
}
