package engine

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/devloop-dev/devloop/devfile"
)

// TestLiveUpdateMassDeletion: 30k synced files, then an rm -rf of their
// tree reported as one batch naming every file and directory (as the
// watcher does), give one live update that removes the tree's
// directories only, not 30k separate paths; the resource stays live
// (no rebuild) and ready. Issue #20's engine froze for minutes here;
// test/e2e's TestLiveMassDeletion does the same on kind.
func TestLiveUpdateMassDeletion(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k, _ := startLive(t, k8sModel([]devfile.Image{liveApp()}, k8s("api", "app")))
		defer k.stop()
		k.want("build app", "apply deployment/api app=reg/app@sha256:1")
		k.cluster.report(t, "api", podStatus("c1", "reg/app@sha256:1", true))
		k.wantPhase("api", PhaseReady)

		const dirs, files = 100, 300
		var written, removed []string
		for d := range dirs {
			for f := range files {
				written = append(written, fmt.Sprintf("%s/app/static/big/d%d/f%d", proj, d, f))
			}
		}
		k.batch(written...)
		ev := k.take()
		if len(ev) != 1 || !strings.HasPrefix(ev[0], "sync c1 copy=") || strings.Count(ev[0], ",")+1 != dirs*files {
			t.Fatalf("after writing %d files: events %.300q, want one sync copying them all", dirs*files, ev)
		}

		for _, p := range written {
			removed = append(removed, "-"+p)
		}
		for d := range dirs {
			removed = append(removed, fmt.Sprintf("-%s/app/static/big/d%d", proj, d))
		}
		removed = append(removed, "-"+proj+"/app/static/big")
		k.batch(removed...)
		if got, want := k.take(), []string{"sync c1 rm=/srv/big"}; !slices.Equal(got, want) {
			t.Errorf("after rm -rf of the tree: events %.300q, want %q", got, want)
		}
		if u := k.wantPhase("api", PhaseReady).LastUpdate; u == nil || !u.LiveUpdate || u.Result != "ok" {
			t.Errorf("api last update = %+v, want an ok live update", u)
		}
	})
}
