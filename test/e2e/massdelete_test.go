//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/devloop-dev/devloop/engine"
	"github.com/devloop-dev/devloop/internal/testkit/testenv"
	"github.com/devloop-dev/devloop/web"
)

// massDirs × massFiles is the size of issue #20's mass deletion: 30k files
// that live update tracks, in 100 directories.
const (
	massDirs  = 100
	massFiles = 300
)

// TestLiveMassDeletion writes 30k files under a sync() of examples/live,
// waits until the container serves them, then deletes the tree with
// rm -rf, as issue #20 did when the engine froze for minutes while the
// dashboard said ready. Now the files go from the container (a 404 for
// the first and the last), the pod is the same (live updates, no
// rebuild), web ends ready, and the API answered every request made
// during both storms. The timings are logged for BENCHMARKS.md, not
// asserted.
func TestLiveMassDeletion(t *testing.T) {
	testenv.Getenv(t, "DEVLOOP_KIND_NODE_IMAGE")
	testenv.Getenv(t, "DEVLOOP_REGISTRY_IMAGE")
	testenv.Getenv(t, "BUILDKIT_HOST")
	testenv.Getenv(t, "DEVLOOP_BASE_IMAGE")
	kubectl := testenv.Getenv(t, "KUBECTL")
	goBin := testenv.LookPath(t, "go", "golang (or Go from go.dev)")
	ctx := t.Context()

	x := newExample(ctx, t, goBin, "live")
	kc := x.kubectl(kubectl)
	webPort, apiPort := testenv.FreePort(t), testenv.FreePort(t)
	up, api := x.up(ctx, t, "--web_port", strconv.Itoa(webPort), "--api_port", strconv.Itoa(apiPort))
	site := fmt.Sprintf("http://127.0.0.1:%d/", webPort)
	waitFor(ctx, t, "every resource ready", liveUpTimeout, allReady(api, "web", "api-bin", "api"))
	waitFor(ctx, t, "the site through the port-forward", liveStepTimeout, serves(site, "Hello from devloop live update", up.exited))
	first := podOf(ctx, t, kc, "live-web")

	big := filepath.Join(x.dir, "web", "www", "big")
	firstFile := "big/d0/f0.txt"
	lastFile := fmt.Sprintf("big/d%d/f%d.txt", massDirs-1, massFiles-1)

	p := startProbe(ctx, api)
	start := time.Now()
	for d := range massDirs {
		dir := filepath.Join(big, fmt.Sprintf("d%d", d))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for f := range massFiles {
			content := fmt.Sprintf("file %d of directory %d\n", f, d)
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%d.txt", f)), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	written := time.Now()
	waitFor(ctx, t, "the first written file served", liveStepTimeout, serves(site+firstFile, "file 0 of directory 0", up.exited))
	waitFor(ctx, t, "the last written file served", liveStepTimeout,
		serves(site+lastFile, fmt.Sprintf("file %d of directory %d", massFiles-1, massDirs-1), up.exited))
	served := time.Now()
	waitFor(ctx, t, "web ready after the writes", liveStepTimeout, resourceState(api, "web", engine.PhaseReady, ""))
	created := p.stop("writes")

	p = startProbe(ctx, api)
	rmStart := time.Now()
	if err := os.RemoveAll(big); err != nil {
		t.Fatal(err)
	}
	removed := time.Now()
	waitFor(ctx, t, "the first file gone", liveStepTimeout, notServed(site+firstFile))
	waitFor(ctx, t, "the last file gone", liveStepTimeout, notServed(site+lastFile))
	goneAt := time.Now()
	waitFor(ctx, t, "web ready after the deletion", liveStepTimeout, resourceState(api, "web", engine.PhaseReady, ""))
	deleted := p.stop("deletion")
	waitFor(ctx, t, "the site still served", liveStepTimeout, serves(site, "Hello from devloop live update", up.exited))

	if now := podOf(ctx, t, kc, "live-web"); now != first {
		t.Errorf("web pod after 30k files written and deleted = %+v, want the same pod, container and image %+v (live updates, not a rebuild)", now, first)
	}
	for _, r := range []probeResult{created, deleted} {
		if len(r.errs) > 0 {
			t.Errorf("the API failed %d of %d requests during the %s, first: %v", len(r.errs), r.n, r.what, r.errs[0])
		}
	}
	t.Logf("%d files: written in %v, all served %v after the last write; API max %v over %d requests",
		massDirs*massFiles, written.Sub(start).Round(time.Millisecond), served.Sub(written).Round(time.Millisecond), created.max.Round(time.Millisecond), created.n)
	t.Logf("rm -rf: took %v, first and last file gone %v after it returned; API max %v over %d requests",
		removed.Sub(rmStart).Round(time.Millisecond), goneAt.Sub(removed).Round(time.Millisecond), deleted.max.Round(time.Millisecond), deleted.n)
}

// probe asks the API for the view every 100 ms, recording how long each
// answer took and which failed: the engine must keep answering through a
// storm (the view is published by its loop).
type probe struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	res    probeResult
}

type probeResult struct {
	what string
	n    int
	max  time.Duration
	errs []error
}

func startProbe(ctx context.Context, api *web.Client) *probe {
	ctx, cancel := context.WithCancel(ctx)
	p := &probe{cancel: cancel}
	p.wg.Go(func() {
		for ctx.Err() == nil {
			// A generous bound: a hang, not a slow answer, is a failure.
			rctx, rcancel := context.WithTimeout(ctx, 30*time.Second)
			t0 := time.Now()
			_, err := api.View(rctx)
			d := time.Since(t0)
			rcancel()
			if ctx.Err() != nil {
				return
			}
			p.res.n++
			p.res.max = max(p.res.max, d)
			if err != nil {
				p.res.errs = append(p.res.errs, err)
			}
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	})
	return p
}

// stop ends the probe; what names the storm it watched.
func (p *probe) stop(what string) probeResult {
	p.cancel()
	p.wg.Wait()
	p.res.what = what
	return p.res
}
