//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/devloop-dev/devloop/engine"
	"github.com/devloop-dev/devloop/internal/testkit/testenv"
	"github.com/devloop-dev/devloop/web"
)

// Deadlines of the live update test. A live update takes well under a
// second and a rebuild a few seconds on the 2-core machine; a container
// restart takes kubelet a few seconds. Each allows for a loaded machine
// many times over.
const (
	liveUpTimeout   = 8 * time.Minute
	liveStepTimeout = 2 * time.Minute
)

// TestLive runs examples/live as a user does and checks live update end to
// end through devloop's port-forward, its API and the cluster: a synced
// edit is served by the same pod, container and image; a deleted file goes;
// a run() runs only when its trigger changes; a failing run() is the
// resource's error until the next change; a container restarted behind
// devloop's back gets the synced files back (catch-up); a change outside
// the syncs rebuilds and rolls out; the compiled service's edit (a sync
// with restart_container()) serves the new code.
func TestLive(t *testing.T) {
	testenv.Getenv(t, "DEVLOOP_KIND_NODE_IMAGE")
	testenv.Getenv(t, "DEVLOOP_REGISTRY_IMAGE")
	testenv.Getenv(t, "BUILDKIT_HOST")
	testenv.Getenv(t, "DEVLOOP_BASE_IMAGE")
	kubectl := testenv.Getenv(t, "KUBECTL")
	docker := testenv.LookPath(t, "docker", "docker.io")
	goBin := testenv.LookPath(t, "go", "golang (or Go from go.dev)")
	ctx := t.Context()

	x := newExample(ctx, t, goBin, "live")
	dir, name, kc := x.dir, x.cluster, x.kubectl(kubectl)
	webPort, apiPort := testenv.FreePort(t), testenv.FreePort(t)
	up, api := x.up(ctx, t, "--web_port", strconv.Itoa(webPort), "--api_port", strconv.Itoa(apiPort))
	site := fmt.Sprintf("http://127.0.0.1:%d/", webPort)
	waitFor(ctx, t, "every resource ready", liveUpTimeout, allReady(api, "web", "api-bin", "api"))
	waitFor(ctx, t, "the site through the port-forward", liveStepTimeout, serves(site, "Hello from devloop live update", up.exited))

	www := filepath.Join(dir, "web", "www")
	webPod := func() podState { return podOf(ctx, t, kc, "live-web") }
	first := webPod()
	edit := func(path, content string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// gen.sh's runs, counted by its own output line (written by the time
	// the page it makes is served).
	runs := func() int { return strings.Count(logsOf(ctx, t, api, "web"), "gen.sh: table.html has") }

	t.Run("a synced edit is served by the same pod and image", func(t *testing.T) {
		runsBefore := runs()
		edit(filepath.Join(www, "index.html"), "<h1>edited live</h1>\n")
		waitFor(ctx, t, "the edited page", liveStepTimeout, serves(site, "edited live", up.exited))
		if now := webPod(); now != first {
			t.Errorf("web pod after a synced edit = %+v, want the same pod, container and image %+v", now, first)
		}
		waitFor(ctx, t, "web's live update recorded", liveStepTimeout, func(ctx context.Context) (bool, string, error) {
			u := lastUpdate(ctx, t, api, "web")
			return u.LiveUpdate && u.Result == "ok" && stepsInclude(u, "copy files") && len(u.Files) > 0 && u.Files[0] == "web/www/index.html",
				fmt.Sprintf("%+v", u), nil
		})
		if got := runs(); got != runsBefore {
			t.Errorf("gen.sh ran %d more times after an edit of index.html, want 0 (its trigger is data.txt)", got-runsBefore)
		}
	})

	t.Run("a run() runs when its trigger changes", func(t *testing.T) {
		runsBefore := runs()
		edit(filepath.Join(www, "data.txt"), "alpha 1\nbeta 2\ngamma 3\n")
		waitFor(ctx, t, "table.html with the new row", liveStepTimeout, serves(site+"table.html", "<td>gamma</td>", up.exited))
		waitFor(ctx, t, "gen.sh's output in web's log", liveStepTimeout, func(ctx context.Context) (bool, string, error) {
			u := lastUpdate(ctx, t, api, "web")
			n := runs() - runsBefore
			return n == 1 && u.Files[0] == "web/www/data.txt", fmt.Sprintf("%d more runs; last update %+v", n, u), nil
		})
		if n := runs() - runsBefore; n != 1 {
			t.Errorf("gen.sh ran %d times after an edit of data.txt, want 1", n)
		}
	})

	t.Run("a deleted file is deleted in the container", func(t *testing.T) {
		if err := os.Remove(filepath.Join(www, "style.css")); err != nil {
			t.Fatal(err)
		}
		waitFor(ctx, t, "style.css gone", liveStepTimeout, notServed(site+"style.css"))
	})

	t.Run("a failing run() is the error until the next change", func(t *testing.T) {
		edit(filepath.Join(www, "data.txt"), "alpha 1\nfail\n")
		waitFor(ctx, t, "web's run() error", liveStepTimeout, resourceState(api, "web", engine.PhaseError, "data.txt asks to fail"))
		if got := webPod(); got != first {
			t.Errorf("web pod after a failed run() = %+v, want the same %+v", got, first)
		}
		edit(filepath.Join(www, "data.txt"), "alpha 1\ndelta 4\n")
		waitFor(ctx, t, "web ready again", liveStepTimeout, resourceState(api, "web", engine.PhaseReady, ""))
		waitFor(ctx, t, "table.html from the fixed data", liveStepTimeout, serves(site+"table.html", "<td>delta</td>", up.exited))
	})

	t.Run("a restarted container catches up", func(t *testing.T) {
		// Kill the container behind devloop's back, as a crash would:
		// kubelet starts a new one from the image's files.
		id := strings.TrimPrefix(first.container, "containerd://")
		run(ctx, t, docker, "exec", name+"-control-plane", "ctr", "-n", "k8s.io", "task", "kill", "-s", "SIGKILL", id)
		waitFor(ctx, t, "a new web container", liveStepTimeout, func(ctx context.Context) (bool, string, error) {
			p := podOf(ctx, t, kc, "live-web")
			return p.uid == first.uid && p.container != "" && p.container != first.container, fmt.Sprintf("%+v", p), nil
		})
		waitFor(ctx, t, "the synced page in the new container", liveStepTimeout, serves(site, "edited live", up.exited))
		waitFor(ctx, t, "the synced table in the new container", liveStepTimeout, serves(site+"table.html", "<td>delta</td>", up.exited))
		// The files are served a moment before the update is recorded.
		waitFor(ctx, t, "web's catch-up recorded", liveStepTimeout, func(ctx context.Context) (bool, string, error) {
			u := lastUpdate(ctx, t, api, "web")
			return u.Reason == "catch-up" && u.LiveUpdate && u.Result == "ok", fmt.Sprintf("%+v", u), nil
		})
	})

	t.Run("a change outside the syncs rebuilds", func(t *testing.T) {
		before := webPod()
		edit(filepath.Join(dir, "web", "motd.txt"), "a new motd\n")
		waitFor(ctx, t, "a new web pod", liveStepTimeout, func(ctx context.Context) (bool, string, error) {
			p := podOf(ctx, t, kc, "live-web")
			return p.uid != "" && p.uid != before.uid && p.image != before.image, fmt.Sprintf("%+v", p), nil
		})
		waitFor(ctx, t, "the edited page from the new image", liveStepTimeout, serves(site, "edited live", up.exited))
		if l := logsOf(ctx, t, api, "web"); !strings.Contains(l, "Found file(s) not matching any sync: web/motd.txt") {
			t.Errorf("web's log does not say why it rebuilt:\n%s", l)
		}
	})

	t.Run("the compiled service restarts with its edit", func(t *testing.T) {
		apiURL := fmt.Sprintf("http://127.0.0.1:%d/", apiPort)
		replaceInFile(t, filepath.Join(dir, "api", "main.go"), `"hello from the api"`, `"hello from the edited api"`)
		waitFor(ctx, t, "the edited api", liveStepTimeout, serves(apiURL, "hello from the edited api", up.exited))
	})
}

// podState identifies the running pod of an app and its first container.
type podState struct{ uid, container, image string }

func podOf(ctx context.Context, t *testing.T, kc func(context.Context, ...string) (string, error), app string) podState {
	t.Helper()
	out, err := kc(ctx, "get", "pods", "-l", "app="+app, "--field-selector", "status.phase=Running", "-o",
		`jsonpath={range .items[?(@.metadata.deletionTimestamp)]}{"deleting "}{end}{range .items[*]}{.metadata.uid} {.status.containerStatuses[0].containerID} {.spec.containers[0].image}{"\n"}{end}`)
	if err != nil {
		t.Fatalf("kubectl get pods -l app=%s: %v\n%s", app, err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 1 || strings.HasPrefix(lines[0], "deleting") {
		return podState{} // none, or a rollout in progress
	}
	f := strings.Fields(lines[0])
	for len(f) < 3 {
		f = append(f, "")
	}
	return podState{uid: f[0], container: f[1], image: f[2]}
}

// serves polls url until its body contains want.
func serves(url, want string, exited <-chan error) func(context.Context) (bool, string, error) {
	return func(ctx context.Context) (bool, string, error) {
		select {
		case err := <-exited:
			return false, "", fmt.Errorf("devloop up exited: %v", err)
		default:
		}
		body, err := tryGet(ctx, url)
		if err != nil {
			return false, err.Error(), nil
		}
		return strings.Contains(body, want), fmt.Sprintf("%q", body), nil
	}
}

// notServed polls url until it answers 404 (the file is gone).
func notServed(url string) func(context.Context) (bool, string, error) {
	return func(ctx context.Context) (bool, string, error) {
		body, err := tryGet(ctx, url)
		if err == nil {
			return false, "still served: " + body, nil
		}
		return strings.Contains(err.Error(), "404"), err.Error(), nil
	}
}

// resourceState polls the API until resource is in phase with an error
// containing errText.
func resourceState(api *web.Client, resource string, phase engine.Phase, errText string) func(context.Context) (bool, string, error) {
	return func(ctx context.Context) (bool, string, error) {
		v, err := api.View(ctx)
		if err != nil {
			return false, err.Error(), nil
		}
		r := resourceOf(v, resource)
		return r.Phase == phase && strings.Contains(r.Error, errText), fmt.Sprintf("%s %q", r.Phase, r.Error), nil
	}
}

func lastUpdate(ctx context.Context, t *testing.T, api *web.Client, resource string) engine.Update {
	t.Helper()
	v, err := api.View(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r := resourceOf(v, resource)
	if r.LastUpdate == nil {
		t.Fatalf("%s has no finished update", resource)
	}
	return *r.LastUpdate
}

func stepsInclude(u engine.Update, name string) bool {
	for _, s := range u.Steps {
		if s.Name == name {
			return true
		}
	}
	return false
}
