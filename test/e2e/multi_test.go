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
)

// Deadlines of the examples/multi tests, measured on the loaded 2-core
// machine: cluster ~35-50 s, the binary ~20 s cold, the image ~1 s, each
// rollout ~3 s (three in a row), an image rebuild ~2 s; each allows for a
// loaded machine several times over.
const (
	multiUpTimeout   = 8 * time.Minute
	multiStepTimeout = 3 * time.Minute
	// ciRunTimeout bounds one `devloop ci` run on an existing cluster:
	// the build, the deploy and the run's own timeouts (below a minute).
	ciRunTimeout = 5 * time.Minute
	// downTimeout bounds `devloop down` (objects deleted in seconds) and
	// `devloop down --cluster` (kind deletes a node container in seconds).
	downTimeout = 3 * time.Minute
)

// multiBody is what web answers through its port-forward: web called api,
// which called db.
const multiBody = "web <- api <- db\n"

// TestMulti runs examples/multi on one kind cluster, shared by the steps
// in order: `devloop up` from no cluster brings db, api and web up in
// dependency order (checked through the API's update steps) and the test
// resource passes; a broken Dockerfile shows its error, naming its line,
// through the API while the old pods keep serving; a deleted web pod is
// replaced and devloop's port-forward reaches the new one; then, with up
// stopped, two Devfiles that fail `devloop ci` on that cluster (a crashing
// container; a readiness probe that never passes) exit 1 saying why; and
// `devloop down` deletes exactly the Devfile's objects devloop created,
// `devloop down --cluster` the cluster and its registry.
func TestMulti(t *testing.T) {
	testenv.Getenv(t, "DEVLOOP_KIND_NODE_IMAGE")
	testenv.Getenv(t, "DEVLOOP_REGISTRY_IMAGE")
	testenv.Getenv(t, "BUILDKIT_HOST")
	base := testenv.Getenv(t, "DEVLOOP_BASE_IMAGE")
	kubectl := testenv.Getenv(t, "KUBECTL")
	docker := testenv.LookPath(t, "docker", "docker.io")
	goBin := testenv.LookPath(t, "go", "golang (or Go from go.dev)")
	ctx := t.Context()

	x := newExample(ctx, t, goBin, "multi")
	tmp, bin, dir, devfile, name, kubeconfig, env, regPort := x.tmp, x.bin, x.dir, x.devfile, x.cluster, x.kubeconfig, x.env, x.regPort
	kc := x.kubectl(kubectl)
	appPort := testenv.FreePort(t)
	appArgs := []string{"--", "--port", strconv.Itoa(appPort)}
	up, api := x.up(ctx, t, appArgs[1:]...)
	url := fmt.Sprintf("http://127.0.0.1:%d/", appPort)

	ok := t.Run("up in dependency order", func(t *testing.T) {
		waitFor(ctx, t, "every resource ready", multiUpTimeout, allReady(api, "multi-bin", "db", "api", "web", "check"))
		waitFor(ctx, t, "web's answer through the port-forward", multiStepTimeout, answers(url, multiBody, up.exited))
		v, err := api.View(ctx)
		if err != nil {
			t.Fatal(err)
		}
		checkDependencyOrder(t, v)
		// The chain, one after the other.
		chain := []string{"multi-bin", "db", "api", "web", "check"}
		for i := 1; i < len(chain); i++ {
			a, _ := firstReady(resourceOf(v, chain[i-1]))
			b, _ := firstReady(resourceOf(v, chain[i]))
			if !a.Before(b) {
				t.Errorf("%s ready at %s, not before %s ready at %s", chain[i-1], a.Format(time.RFC3339Nano), chain[i], b.Format(time.RFC3339Nano))
			}
		}
		if l := logsOf(ctx, t, api, "check"); !strings.Contains(l, "PASS: GET") {
			t.Errorf("the check resource's log has no PASS line:\n%s", l)
		}
	})
	if !ok {
		t.Fatal("examples/multi did not come up: the other steps need it (devloop's output follows)")
	}

	t.Run("a Dockerfile error keeps the old pods serving", func(t *testing.T) {
		before := podUIDs(ctx, t, kc, "db", "api", "web")
		dockerfile := filepath.Join(dir, "Dockerfile")
		good, err := os.ReadFile(dockerfile)
		if err != nil {
			t.Fatal(err)
		}
		// A bad instruction right after FROM: its line is the one to name.
		lines := strings.SplitAfter(string(good), "\n")
		line := 0
		for i, l := range lines {
			if strings.HasPrefix(l, "FROM ") {
				line = i + 2
				lines = append(lines[:i+1], append([]string{"BOGUS instruction\n"}, lines[i+1:]...)...)
				break
			}
		}
		if line == 0 {
			t.Fatalf("examples/multi/Dockerfile has no FROM line: update this test")
		}
		if err := os.WriteFile(dockerfile, []byte(strings.Join(lines, "")), 0o644); err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("Dockerfile:%d", line)
		waitFor(ctx, t, "the build error naming "+want+" and BOGUS in the API", multiStepTimeout, func(ctx context.Context) (bool, string, error) {
			var state []string
			done := true
			for _, n := range []string{"db", "api", "web"} {
				r, err := api.Resource(ctx, n)
				if err != nil {
					return false, "", err
				}
				state = append(state, fmt.Sprintf("%s: %s %q", n, r.Phase, r.Error))
				done = done && r.Phase == engine.PhaseError && strings.Contains(r.Error, want) && strings.Contains(r.Error, "BOGUS")
			}
			return done, strings.Join(state, "; "), nil
		})
		if body := get(ctx, t, url); body != multiBody {
			t.Errorf("GET %s with the Dockerfile broken = %q, want the old pods' %q", url, body, multiBody)
		}
		if r, err := api.Resource(ctx, "web"); err == nil {
			t.Logf("web's error in the API: %s", r.Error)
		}
		if after := podUIDs(ctx, t, kc, "db", "api", "web"); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Errorf("pods (uid) with the Dockerfile broken = %v, want the old ones %v", after, before)
		}

		if err := os.WriteFile(dockerfile, good, 0o644); err != nil {
			t.Fatal(err)
		}
		waitFor(ctx, t, "recovery after the Dockerfile is fixed", multiStepTimeout, allReady(api, "db", "api", "web"))
		waitFor(ctx, t, "web's answer after the fix", multiStepTimeout, answers(url, multiBody, up.exited))
	})

	t.Run("a deleted pod: the port-forward reaches the new one", func(t *testing.T) {
		whoami := url + "whoami"
		var old string
		waitFor(ctx, t, "the web pod's name through the forward", multiStepTimeout, func(ctx context.Context) (bool, string, error) {
			pods := podUIDs(ctx, t, kc, "web")
			body, err := tryGet(ctx, whoami)
			old = strings.TrimSpace(body)
			return err == nil && len(pods) == 1 && strings.HasPrefix(pods[0], old+"/"), fmt.Sprintf("pods %v, whoami %q %v", pods, body, err), nil
		})
		if out, err := kc(ctx, "delete", "pod", old, "--wait=false"); err != nil {
			t.Fatalf("kubectl delete pod %s: %v\n%s", old, err, out)
		}
		var pod string
		waitFor(ctx, t, "an answer from the new pod through the same forward", multiStepTimeout, func(ctx context.Context) (bool, string, error) {
			body, err := tryGet(ctx, whoami)
			pod = strings.TrimSpace(body)
			return err == nil && pod != "" && pod != old, fmt.Sprintf("whoami %q %v", body, err), nil
		})
		if body := get(ctx, t, url); body != multiBody {
			t.Errorf("GET %s through the new pod = %q, want %q", url, body, multiBody)
		}
		// devloop's own forward moved (its log says so), not a new one.
		if l, want := logsOf(ctx, t, api, "web"), "→ pod "+pod; !strings.Contains(l, want) {
			t.Errorf("web's log has no %q line:\n%s", want, l)
		}
	})

	up.stop(t)

	ciDir := filepath.Join(tmp, "ci-k8s")
	run(ctx, t, "cp", "-r", "testdata/ci-k8s", ciDir)
	ci := func(t *testing.T, scenario string, flags ...string) (string, int) {
		rctx, cancel := context.WithTimeout(ctx, ciRunTimeout)
		defer cancel()
		args := append(append([]string{"ci", "-f", filepath.Join(ciDir, "Devfile")}, flags...),
			"--", "--scenario", scenario, "--cluster", name, "--registry_port", strconv.Itoa(regPort), "--base", base)
		out, code := runDevloop(rctx, t, bin, ciDir, env, args...)
		t.Logf("devloop %s: exit %d; summary:\n%s", strings.Join(args, " "), code, summary(out))
		return out, code
	}

	t.Run("ci: a crashing container fails after the grace period", func(t *testing.T) {
		out, code := ci(t, "crash")
		sum := summary(out)
		for _, want := range []string{"resource crash failed", "exceeded the k8s grace period (15s)", "CrashLoopBackOff", "code 3", "✗ crash:",
			"] boom"} { // a log line of the pod in the tail
			if !strings.Contains(sum, want) {
				t.Errorf("devloop ci's summary lacks %q", want)
			}
		}
		if code != 1 || t.Failed() {
			t.Fatalf("devloop ci with a crashing container: exit %d, want 1 with the summary above; output:\n%s", code, out)
		}
	})

	t.Run("ci: a never-ready resource fails at the readiness timeout", func(t *testing.T) {
		out, code := ci(t, "never-ready", "--readiness-timeout", "30s")
		sum := summary(out)
		for _, want := range []string{"resource never-ready failed", "not ready within the readiness timeout (30s)", "✗ never-ready:", "Readiness probe failed"} {
			if !strings.Contains(sum, want) {
				t.Errorf("devloop ci's summary lacks %q", want)
			}
		}
		if code != 1 || t.Failed() {
			t.Fatalf("devloop ci with a never-ready resource: exit %d, want 1 with the summary above; output:\n%s", code, out)
		}
	})

	t.Run("ci: a never-ready resource fails at the timeout, listed as waiting", func(t *testing.T) {
		out, code := ci(t, "never-ready", "--timeout", "40s")
		sum := summary(out)
		for _, want := range []string{"timed out after 40s waiting for never-ready", "○ never-ready still waiting: ", "Readiness probe failed"} {
			if !strings.Contains(sum, want) {
				t.Errorf("devloop ci's summary lacks %q", want)
			}
		}
		if code != 1 || t.Failed() {
			t.Fatalf("devloop ci with a never-ready resource and --timeout 40s: exit %d, want 1 with the summary above; output:\n%s", code, out)
		}
	})

	t.Run("down deletes only what devloop deployed from the Devfile", func(t *testing.T) {
		// Beside the Devfile's objects: one devloop did not create, one of
		// devloop's annotated to be kept, and one of the Devfile's replaced
		// by an object of the same name that devloop did not create.
		for _, args := range [][]string{
			{"create", "configmap", "not-devloops", "--from-literal=a=b"},
			{"annotate", "service", "db", "devloop.dev/down-policy=keep"},
			{"delete", "service", "api"},
			{"create", "service", "clusterip", "api", "--tcp=80:8080"},
		} {
			if out, err := kc(ctx, args...); err != nil {
				t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		}
		dctx, cancel := context.WithTimeout(ctx, downTimeout)
		defer cancel()
		out, code := runDevloop(dctx, t, bin, dir, env, append([]string{"down", "-f", devfile}, appArgs...)...)
		if code != 0 {
			t.Fatalf("devloop down: exit %d; output:\n%s", code, out)
		}
		t.Logf("devloop down:\n%s", out)
		gone := []string{"deployment/db", "deployment/api", "deployment/web", "service/web"}
		kept := []string{"service/db", "configmap/not-devloops", "service/api",
			// deployed by devloop ci from another Devfile
			"deployment/crash", "deployment/never-ready"}
		waitFor(ctx, t, "the Devfile's objects gone", multiStepTimeout, func(ctx context.Context) (bool, string, error) {
			var left []string
			for _, o := range gone {
				if exists(ctx, t, kc, o) {
					left = append(left, o)
				}
			}
			return len(left) == 0, fmt.Sprintf("still there: %v", left), nil
		})
		for _, o := range kept {
			if !exists(ctx, t, kc, o) {
				t.Errorf("devloop down deleted %s, want it kept", o)
			}
		}
		for _, want := range []string{"kept     service/db in namespace default: annotated devloop.dev/down-policy: keep",
			"kept     service/api in namespace default: devloop did not create it"} {
			if !strings.Contains(out, want) {
				t.Errorf("devloop down's output lacks %q", want)
			}
		}
	})

	t.Run("down --cluster deletes the cluster and its registry", func(t *testing.T) {
		if left := containersOf(ctx, t, docker, name); len(left) != 2 {
			t.Fatalf("containers of cluster %s before devloop down --cluster = %v, want its node and registry", name, left)
		}
		dctx, cancel := context.WithTimeout(ctx, downTimeout)
		defer cancel()
		out, code := runDevloop(dctx, t, bin, dir, env, append([]string{"down", "--cluster", "-f", devfile}, appArgs...)...)
		if code != 0 {
			t.Fatalf("devloop down --cluster: exit %d; output:\n%s", code, out)
		}
		if left := containersOf(ctx, t, docker, name); len(left) > 0 {
			t.Errorf("containers of cluster %s after devloop down --cluster: %v; output:\n%s", name, left, out)
		}
		if cfg, err := os.ReadFile(kubeconfig); err == nil && strings.Contains(string(cfg), "kind-"+name) {
			t.Errorf("kubeconfig still names context kind-%s after devloop down --cluster", name)
		}
	})
}

// checkDependencyOrder asserts, from the update steps the API shows, that
// no resource deployed (Kubernetes: an apply step; local: an update) before
// each of its resource_deps was ready.
func checkDependencyOrder(t *testing.T, v engine.View) {
	t.Helper()
	for _, r := range v.Resources {
		for _, d := range r.ResourceDeps {
			ready, ok := firstReady(resourceOf(v, d))
			if !ok {
				t.Errorf("%s's resource_dep %s was never ready", r.Name, d)
				continue
			}
			starts := deployStarts(r)
			if len(starts) == 0 {
				t.Errorf("%s shows no deploy in its updates: %+v", r.Name, updates(r))
			}
			for _, s := range starts {
				if s.Before(ready) {
					t.Errorf("%s deployed at %s, before its resource_dep %s was ready at %s",
						r.Name, s.Format(time.RFC3339Nano), d, ready.Format(time.RFC3339Nano))
				}
			}
			t.Logf("%s: resource_dep %s ready at %s; deployed at %v", r.Name, d, ready.Format("15:04:05.000"), fmtTimes(starts))
		}
	}
}

// updates returns r's updates that the view holds, the running one too,
// each once.
func updates(r engine.ResourceView) []engine.Update {
	var us []engine.Update
	seen := map[int]bool{}
	add := func(u engine.Update) {
		if !seen[u.ID] {
			seen[u.ID] = true
			us = append(us, u)
		}
	}
	for _, u := range r.History {
		add(u)
	}
	if r.LastUpdate != nil {
		add(*r.LastUpdate)
	}
	if r.Current != nil {
		add(*r.Current)
	}
	return us
}

// firstReady is when r first became ready: the end of its oldest update
// that succeeded.
func firstReady(r engine.ResourceView) (time.Time, bool) {
	var t time.Time
	for _, u := range updates(r) {
		if u.Result == "ok" && (t.IsZero() || u.End.Before(t)) {
			t = u.End
		}
	}
	return t, !t.IsZero()
}

// deployStarts are the starts of r's deploys: each apply step of a
// Kubernetes resource (its build may run before its resource_deps are
// ready; its apply may not), each update of a local one.
func deployStarts(r engine.ResourceView) []time.Time {
	var out []time.Time
	for _, u := range updates(r) {
		if r.Kind == "local" {
			out = append(out, u.Start)
			continue
		}
		for _, s := range u.Steps {
			if s.Name == "apply" {
				out = append(out, s.Start)
			}
		}
	}
	return out
}

func fmtTimes(ts []time.Time) string {
	var s []string
	for _, t := range ts {
		s = append(s, t.Format("15:04:05.000"))
	}
	return strings.Join(s, ", ")
}

// podUIDs returns "name/uid" of the pods labelled app=APP for each app, in order.
func podUIDs(ctx context.Context, t *testing.T, kc func(context.Context, ...string) (string, error), apps ...string) []string {
	t.Helper()
	var out []string
	for _, a := range apps {
		s, err := kc(ctx, "get", "pods", "-l", "app="+a, "-o", `jsonpath={range .items[*]}{.metadata.name}/{.metadata.uid}{" "}{end}`)
		if err != nil {
			t.Fatalf("kubectl get pods -l app=%s: %v\n%s", a, err, s)
		}
		out = append(out, strings.Fields(s)...)
	}
	return out
}

// exists tells whether the object kind/name exists.
func exists(ctx context.Context, t *testing.T, kc func(context.Context, ...string) (string, error), obj string) bool {
	t.Helper()
	out, err := kc(ctx, "get", obj, "--ignore-not-found", "-o", "name")
	if err != nil {
		t.Fatalf("kubectl get %s: %v\n%s", obj, err, out)
	}
	return strings.TrimSpace(out) != ""
}

// summary is the part of devloop ci's output from its FAILED or SUCCESS line on.
func summary(out string) string {
	for _, m := range []string{"devloop: ci: FAILED", "devloop: ci: SUCCESS"} {
		if i := strings.LastIndex(out, m); i >= 0 {
			return out[i:]
		}
	}
	return ""
}
