//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/devloop-dev/devloop/engine"
	"github.com/devloop-dev/devloop/internal/testkit/testenv"
	"github.com/devloop-dev/devloop/web"
)

// outageFor is how long the kind node stays stopped: issue #20's
// measurement, long enough for client-go's watch retries to back off to
// their 30 s ceiling. It is the scenario's length, not a wait for
// anything.
const outageFor = 30 * time.Second

// outageTimeout bounds each wait after the node starts again: kubelet
// restarts the API server and every container in ~10-20 s on the 2-core
// machine, a rebuild and rollout takes a few more; this allows for a
// loaded machine many times over.
const outageTimeout = 4 * time.Minute

// TestLiveOutage stops the kind node of examples/live (docker stop), as a
// laptop's sleep or a docker restart does, and starts it again:
//   - an edit of a synced file made during the outage (its sync and the
//     rebuild it falls back to fail) is served once the cluster answers
//     again, and web ends ready;
//   - without an edit, the restarted container (which lost the synced
//     files) gets them back, and web is not ready before that.
func TestLiveOutage(t *testing.T) {
	testenv.Getenv(t, "DEVLOOP_KIND_NODE_IMAGE")
	testenv.Getenv(t, "DEVLOOP_REGISTRY_IMAGE")
	testenv.Getenv(t, "BUILDKIT_HOST")
	testenv.Getenv(t, "DEVLOOP_BASE_IMAGE")
	testenv.Getenv(t, "KUBECTL")
	docker := testenv.LookPath(t, "docker", "docker.io")
	goBin := testenv.LookPath(t, "go", "golang (or Go from go.dev)")
	ctx := t.Context()

	x := newExample(ctx, t, goBin, "live")
	node := x.cluster + "-control-plane"
	webPort, apiPort := testenv.FreePort(t), testenv.FreePort(t)
	up, api := x.up(ctx, t, "--web_port", strconv.Itoa(webPort), "--api_port", strconv.Itoa(apiPort))
	site := fmt.Sprintf("http://127.0.0.1:%d/", webPort)
	waitFor(ctx, t, "every resource ready", liveUpTimeout, allReady(api, "web", "api-bin", "api"))
	index := filepath.Join(x.dir, "web", "www", "index.html")
	edit := func(content string) {
		t.Helper()
		if err := os.WriteFile(index, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	edit("<h1>synced before the outage</h1>\n")
	waitFor(ctx, t, "the synced page", liveStepTimeout, serves(site, "synced before the outage", up.exited))

	// stop stops the node and waits until devloop reports the outage.
	stop := func() time.Time {
		t.Helper()
		run(ctx, t, docker, "stop", node)
		stopped := time.Now()
		waitFor(ctx, t, "the outage reported", liveStepTimeout, clusterDown(api, true))
		return stopped
	}
	// start holds the outage to outageFor, starts the node and waits until
	// devloop sees the cluster answer; it returns when the node started.
	start := func(stopped time.Time) time.Time {
		t.Helper()
		select {
		case <-time.After(time.Until(stopped.Add(outageFor))):
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		}
		run(ctx, t, docker, "start", node)
		started := time.Now()
		waitFor(ctx, t, "devloop sees the cluster answer", outageTimeout, clusterDown(api, false))
		return started
	}

	logOnFailure := func(t *testing.T) {
		if t.Failed() {
			t.Logf("web's log:\n%s", logsOf(ctx, t, api, "web"))
		}
	}

	t.Run("an edit during the outage is served after it", func(t *testing.T) {
		defer logOnFailure(t)
		stopped := stop()
		edit("<h1>edited during the outage</h1>\n")
		// The sync fails, and so does the rebuild's apply.
		waitFor(ctx, t, "web's failed update", liveStepTimeout, resourceState(api, "web", engine.PhaseError, ""))
		started := start(stopped)
		waitFor(ctx, t, "the page edited during the outage", outageTimeout, serves(site, "edited during the outage", up.exited))
		waitFor(ctx, t, "web ready", outageTimeout, allReady(api, "web"))
		t.Logf("recovery: the edit served and web ready %.1f s after docker start", time.Since(started).Seconds())
		if u := lastUpdate(ctx, t, api, "web"); u.Result != "ok" {
			t.Errorf("web's last update = %+v, want ok", u)
		}
	})

	t.Run("a restarted container gets its synced files back before ready", func(t *testing.T) {
		defer logOnFailure(t)
		edit("<h1>synced before the second outage</h1>\n")
		waitFor(ctx, t, "the synced page", liveStepTimeout, serves(site, "synced before the second outage", up.exited))
		started := start(stop())
		// Not ready before the catch-up: the first ready View after the
		// outage has the catch-up as its last update, and the page is the
		// synced one.
		waitFor(ctx, t, "web ready", outageTimeout, allReady(api, "web"))
		ready := time.Since(started)
		if u := lastUpdate(ctx, t, api, "web"); u.Reason != "catch-up" || u.Result != "ok" || u.Start.Before(started) {
			t.Errorf("web's last update when ready after the outage = %+v, want an ok catch-up since the node started", u)
		}
		waitFor(ctx, t, "the synced page after the outage", outageTimeout, serves(site, "synced before the second outage", up.exited))
		t.Logf("recovery: web ready (caught up) %.1f s after docker start, the synced page served %.1f s after",
			ready.Seconds(), time.Since(started).Seconds())
	})
}

// clusterDown polls the API until it reports the cluster not answering
// (down) or answering (!down).
func clusterDown(api *web.Client, down bool) func(context.Context) (bool, string, error) {
	return func(ctx context.Context) (bool, string, error) {
		v, err := api.View(ctx)
		if err != nil {
			return false, err.Error(), nil
		}
		if v.Cluster == nil {
			return !down, "the cluster answers", nil
		}
		return down, v.Cluster.Error, nil
	}
}
