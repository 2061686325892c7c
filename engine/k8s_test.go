package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/devloop-dev/devloop/builder"
	"github.com/devloop-dev/devloop/devfile"
	"github.com/devloop-dev/devloop/kube"
)

// recorder collects the events of the builder and cluster fakes.
type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) add(ev string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
}

func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	ev := r.events
	r.events = nil
	return ev
}

// fakeBuilder records BuildAll calls ("build app,web"); the Nth build of
// an image is reg/REF@sha256:N. fail[ref] makes that image fail once.
// progress[ref] are events the next build of ref reports, once (as one
// build shared by its callers does), to onProgress: the function
// Config.Kube was given. While hold is open, builds wait for it to close
// or their ctx to end.
type fakeBuilder struct {
	rec        *recorder
	mu         sync.Mutex
	n          map[string]int
	fail       map[string]error
	progress   map[string][]builder.Progress
	onProgress func(ref string, ev builder.Progress)
	hold       chan struct{}
}

func (b *fakeBuilder) BuildAll(ctx context.Context, images []devfile.Image, refs ...string) (map[string]builder.Result, error) {
	b.rec.add("build " + strings.Join(refs, ","))
	b.mu.Lock()
	hold := b.hold
	b.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	out := map[string]builder.Result{}
	var errs []error
	for _, r := range refs {
		b.n[r]++
		for _, ev := range b.progress[r] {
			b.onProgress(r, ev)
		}
		delete(b.progress, r)
		if err := b.fail[r]; err != nil {
			delete(b.fail, r)
			errs = append(errs, err)
			continue
		}
		out[r] = builder.Result{Ref: r, ClusterReference: fmt.Sprintf("reg/%s@sha256:%d", r, b.n[r])}
	}
	return out, errors.Join(errs...)
}

// watchCall is one running Watch, Logs or Forward of the fake cluster.
type watchCall struct {
	target kube.Target
	report func(kube.Status)
	ctx    context.Context
}

// fakeCluster records applies ("apply deployment/api app=reg/app@..."),
// and keeps the running watches, log streams and forwards per resource
// (the name of its first object).
type fakeCluster struct {
	rec       *recorder
	mu        sync.Mutex
	applyErr  map[string]error
	uids      map[string]int
	watches   map[string][]*watchCall
	logs      map[string][]*watchCall
	forwards  map[string][]*watchCall
	fwdErr    error
	logLines  []string
	fwdActive int
}

func newFakeCluster(rec *recorder) *fakeCluster {
	return &fakeCluster{rec: rec, applyErr: map[string]error{}, uids: map[string]int{},
		watches: map[string][]*watchCall{}, logs: map[string][]*watchCall{}, forwards: map[string][]*watchCall{}}
}

func (c *fakeCluster) Apply(ctx context.Context, objs []*unstructured.Unstructured, images map[string]string) ([]kube.Applied, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var names []string
	for _, o := range objs {
		names = append(names, strings.ToLower(o.GetKind())+"/"+o.GetName())
	}
	ev := "apply " + strings.Join(names, ",")
	for _, ref := range slices.Sorted(maps.Keys(images)) {
		ev += " " + ref + "=" + images[ref]
	}
	c.rec.add(ev)
	if err := c.applyErr[objs[0].GetName()]; err != nil {
		delete(c.applyErr, objs[0].GetName())
		return nil, err
	}
	var out []kube.Applied
	for _, o := range objs {
		uid := c.uids[o.GetName()]
		out = append(out, kube.Applied{
			Ref:            kube.Ref{APIVersion: o.GetAPIVersion(), Kind: o.GetKind(), Name: o.GetName(), UID: types.UID(fmt.Sprint(uid))},
			Changed:        true,
			TemplateHashes: []string{fmt.Sprint(images)},
			RunsPods:       o.GetKind() == "Deployment",
		})
	}
	return out, nil
}

func (c *fakeCluster) run(ctx context.Context, m map[string][]*watchCall, t kube.Target, report func(kube.Status)) error {
	c.mu.Lock()
	name := t.Applied[0].Name
	m[name] = append(m[name], &watchCall{target: t, report: report, ctx: ctx})
	c.mu.Unlock()
	<-ctx.Done()
	return ctx.Err()
}

func (c *fakeCluster) Watch(ctx context.Context, t kube.Target, report func(kube.Status)) error {
	return c.run(ctx, c.watches, t, report)
}

func (c *fakeCluster) Logs(ctx context.Context, t kube.Target, out func(kube.LogLine)) error {
	c.mu.Lock()
	lines := slices.Clone(c.logLines)
	c.mu.Unlock()
	for _, l := range lines {
		out(kube.LogLine{Pod: kube.PodRef{Name: t.Applied[0].Name + "-1"}, Text: l})
	}
	return c.run(ctx, c.logs, t, nil)
}

func (c *fakeCluster) Forward(ctx context.Context, t kube.Target, spec kube.ForwardSpec, events func(kube.ForwardEvent)) error {
	c.mu.Lock()
	if c.fwdErr != nil {
		err := c.fwdErr
		c.mu.Unlock()
		return err
	}
	c.fwdActive++
	if c.fwdActive > 1 {
		c.rec.add("forward overlap")
	}
	c.rec.add(fmt.Sprintf("forward %d->%d", spec.LocalPort, spec.ContainerPort))
	c.mu.Unlock()
	events(kube.ForwardEvent{Addr: fmt.Sprintf("127.0.0.1:%d", spec.LocalPort), Pod: kube.PodRef{Name: t.Applied[0].Name + "-1"}})
	err := c.run(ctx, c.forwards, t, nil)
	c.mu.Lock()
	c.fwdActive--
	c.mu.Unlock()
	return err
}

// report sends st from the newest running watch of resource name.
func (c *fakeCluster) report(t *testing.T, name string, st kube.Status) {
	t.Helper()
	c.mu.Lock()
	var w *watchCall
	for _, x := range c.watches[name] {
		if x.ctx.Err() == nil {
			w = x
		}
	}
	c.mu.Unlock()
	if w == nil {
		t.Fatalf("report(%s): no running watch", name)
	}
	w.report(st)
	synctest.Wait()
}

// running counts the running calls of m for name.
func (c *fakeCluster) running(m map[string][]*watchCall, name string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, x := range m[name] {
		if x.ctx.Err() == nil {
			n++
		}
	}
	return n
}

// k8sHarness is a harness with the Kubernetes fakes. Config.Kube answers
// kube at once; scripts may change it.
type k8sHarness struct {
	*harness
	rec     recorder
	build   *fakeBuilder
	cluster *fakeCluster
	kube    Kube
}

func startK8s(t *testing.T, m *devfile.Model, script func(*k8sHarness)) *k8sHarness {
	t.Helper()
	k := newK8s(t)
	if script != nil {
		script(k)
	}
	k.with(m)
	return k
}

// newK8s returns a k8sHarness not started yet.
func newK8s(t *testing.T) *k8sHarness {
	k := &k8sHarness{harness: start(t, nil)}
	k.build = &fakeBuilder{rec: &k.rec, n: map[string]int{}, fail: map[string]error{}, progress: map[string][]builder.Progress{}}
	k.cluster = newFakeCluster(&k.rec)
	k.kube = Kube{Builder: k.build, Cluster: k.cluster}
	k.conf = func(c *Config) {
		c.Kube = func(ctx context.Context, _ *devfile.Model, progress func(string, builder.Progress)) (Kube, error) {
			k.build.mu.Lock()
			k.build.onProgress = progress
			k.build.mu.Unlock()
			return k.kube, nil
		}
	}
	return k
}

// take returns the builder's and cluster's events since the last take.
func (k *k8sHarness) take() []string { return k.rec.take() }

func (k *k8sHarness) want(want ...string) {
	k.t.Helper()
	if got := k.take(); !slices.Equal(got, want) {
		k.t.Fatalf("builder and cluster events = %q, want %q", got, want)
	}
}

// wantSet is want for events of parallel workers, in any order.
func (k *k8sHarness) wantSet(want ...string) {
	k.t.Helper()
	got := k.take()
	slices.Sort(got)
	want = slices.Sorted(slices.Values(want))
	if !slices.Equal(got, want) {
		k.t.Fatalf("builder and cluster events (sorted) = %q, want %q", got, want)
	}
}

func image(ref, dockerfile string) devfile.Image {
	return devfile.Image{Ref: ref, Kind: devfile.ImageDocker, Context: proj + "/" + ref,
		Dockerfile: proj + "/" + ref + "/Dockerfile", DockerfileContents: dockerfile}
}

// k8s is a Kubernetes resource deploying Deployment name with images.
func k8s(name string, images ...string) devfile.Resource {
	return devfile.Resource{Name: name, Kind: devfile.KindK8s, Enabled: true, AutoInit: true,
		TriggerMode: devfile.TriggerAuto, Images: images, K8s: &devfile.K8sSpec{},
		Objects: []devfile.Object{{APIVersion: "apps/v1", Kind: "Deployment", Name: name,
			YAML: "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: " + name + "\n"}}}
}

func withForward(r devfile.Resource, local, container int) devfile.Resource {
	r.PortForwards = append(r.PortForwards, devfile.PortForward{Local: local, Container: container})
	return r
}

func k8sModel(images []devfile.Image, rs ...devfile.Resource) *devfile.Model {
	m := model(rs...)
	m.Images = images
	return m
}

var (
	ready   = kube.Status{State: kube.StateReady}
	pending = kube.Status{State: kube.StatePending, Reason: "pod api-1: ContainerCreating"}
)

// TestK8sDeploy: build, apply with the built reference, follow the pods to
// ready; logs and the port-forward run, shown as a link.
func TestK8sDeploy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := startK8s(t, k8sModel([]devfile.Image{image("app", "FROM scratch\n")}, withForward(k8s("api", "app"), 8000, 8080)),
			func(k *k8sHarness) { k.cluster.logLines = []string{"listening on :8080"} })
		defer k.stop()
		k.want("build app", "apply deployment/api app=reg/app@sha256:1", "forward 8000->8080")
		r := k.wantPhase("api", PhaseDeploying)
		if r.Waiting != "waiting for pods" {
			t.Errorf("api waiting = %q, want %q", r.Waiting, "waiting for pods")
		}
		if want := []Link{{URL: "http://localhost:8000"}}; !slices.Equal(r.Links, want) {
			t.Errorf("api links = %v, want %v", r.Links, want)
		}

		k.cluster.report(t, "api", pending)
		if r := k.wantPhase("api", PhaseDeploying); r.Waiting != pending.Reason {
			t.Errorf("api waiting = %q, want %q", r.Waiting, pending.Reason)
		}
		k.cluster.report(t, "api", ready)
		r = k.wantPhase("api", PhaseReady)
		if r.LastUpdate == nil || r.LastUpdate.Result != "ok" {
			t.Fatalf("api last update = %+v, want ok", r.LastUpdate)
		}
		if got, want := stepNames(r.LastUpdate.Steps), []string{"build", "apply", "ready"}; !slices.Equal(got, want) {
			t.Errorf("api steps = %q, want %q", got, want)
		}
		var logs []string
		for _, l := range k.e.Logs("api", 0, 100) {
			logs = append(logs, l.Text)
		}
		for _, want := range []string{"image app built in 0s (0/0 steps cached): reg/app@sha256:1", "[api-1] listening on :8080", "port-forward localhost:8000 → pod api-1 port 8080"} {
			if !slices.Contains(logs, want) {
				t.Errorf("api logs = %q, want a line %q", logs, want)
			}
		}
		k.wantEvents() // no local process
	})
}

// TestK8sStatus maps the pods' status to the phase, before and after the
// first ready.
func TestK8sStatus(t *testing.T) {
	tests := []struct {
		name      string
		statuses  []kube.Status
		phase     Phase
		err       string
		result    string
		resultErr string
	}{
		{name: "ready", statuses: []kube.Status{ready}, phase: PhaseReady, result: "ok"},
		{name: "job succeeded", statuses: []kube.Status{{State: kube.StateSucceeded}}, phase: PhaseReady, result: "ok"},
		{
			name:     "image pull error",
			statuses: []kube.Status{{State: kube.StateError, Reason: "pod api-1: ImagePullBackOff"}},
			phase:    PhaseError, err: "pod api-1: ImagePullBackOff", result: "error", resultErr: "pod api-1: ImagePullBackOff",
		},
		{
			name:     "crash after ready",
			statuses: []kube.Status{ready, {State: kube.StateError, Reason: "pod api-1: CrashLoopBackOff"}},
			phase:    PhaseError, err: "pod api-1: CrashLoopBackOff", result: "ok",
		},
		{
			name:     "recovers",
			statuses: []kube.Status{{State: kube.StateError, Reason: "pod api-1: CrashLoopBackOff"}, pending, ready},
			phase:    PhaseReady, result: "error", resultErr: "pod api-1: CrashLoopBackOff",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				k := startK8s(t, k8sModel(nil, k8s("api")), nil)
				defer k.stop()
				for _, st := range tt.statuses {
					k.cluster.report(t, "api", st)
				}
				r := k.wantPhase("api", tt.phase)
				if r.Error != tt.err {
					t.Errorf("api error = %q, want %q", r.Error, tt.err)
				}
				if u := r.LastUpdate; u == nil || u.Result != tt.result || u.Error != tt.resultErr {
					t.Errorf("api last update = %+v, want result %q error %q", u, tt.result, tt.resultErr)
				}
			})
		})
	}
}

// TestK8sFailureKeepsServing: a failed build or apply shows the error and
// leaves the last deploy's pods followed and forwarded; the next good
// update redeploys and the forward moves to the new target without two
// listeners at once.
func TestK8sFailureKeepsServing(t *testing.T) {
	tests := []struct {
		name   string
		script func(*k8sHarness)
		events []string
		err    string
	}{
		{
			name:   "build",
			script: func(k *k8sHarness) { k.build.fail["app"] = errors.New("RUN make: exit code 2") },
			events: []string{"build app"},
			err:    "build failed: RUN make: exit code 2",
		},
		{
			name:   "apply",
			script: func(k *k8sHarness) { k.cluster.applyErr["api"] = errors.New("admission webhook denied") },
			events: []string{"build app", "apply deployment/api app=reg/app@sha256:2"},
			err:    "apply failed: admission webhook denied",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				k := startK8s(t, k8sModel([]devfile.Image{image("app", "FROM scratch\n")}, withForward(k8s("api", "app"), 8000, 8080)), nil)
				defer k.stop()
				k.cluster.report(t, "api", ready)
				k.take()

				tt.script(k)
				k.batch(proj + "/app/main.go")
				k.want(tt.events...)
				r := k.wantPhase("api", PhaseError)
				if r.Error != tt.err {
					t.Errorf("api error = %q, want %q", r.Error, tt.err)
				}
				if n := k.cluster.running(k.cluster.forwards, "api"); n != 1 {
					t.Errorf("running forwards of api = %d, want 1 (the last deploy keeps serving)", n)
				}
				// The pods stay ready, but the failed update's error stands.
				k.cluster.report(t, "api", ready)
				k.wantPhase("api", PhaseError)

				k.batch(proj + "/app/main.go")
				k.want("build app", "apply deployment/api app=reg/app@sha256:3", "forward 8000->8080")
				k.cluster.report(t, "api", ready)
				if r := k.wantPhase("api", PhaseReady); r.LastUpdate.Files[0] != "app/main.go" {
					t.Errorf("api last update files = %q, want app/main.go", r.LastUpdate.Files)
				}
				if n := k.cluster.running(k.cluster.watches, "api"); n != 1 {
					t.Errorf("running watches of api = %d, want 1", n)
				}
			})
		})
	}
}

// TestK8sFileChange maps files to images through their contexts (with
// .dockerignore-style ignore=, base images) and rebuilds and redeploys only
// the resources using them.
func TestK8sFileChange(t *testing.T) {
	images := []devfile.Image{
		image("base", "FROM scratch\n"),
		image("app", "FROM base\n"),
		image("web", "FROM scratch\n"),
	}
	images[2].Ignore = []string{"*.md"}
	tests := []struct {
		name   string
		path   string
		events []string
	}{
		{name: "app context", path: proj + "/app/main.go", events: []string{"build app", "apply deployment/api app=reg/app@sha256:2"}},
		{name: "base context rebuilds its dependents", path: proj + "/base/lib.go", events: []string{"build app", "apply deployment/api app=reg/app@sha256:2"}},
		{name: "web context", path: proj + "/web/index.html", events: []string{"build web", "apply deployment/site web=reg/web@sha256:2"}},
		{name: "ignored in web", path: proj + "/web/README.md"},
		{name: "outside every context", path: proj + "/docs/guide.md"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				k := startK8s(t, k8sModel(images, k8s("api", "app"), k8s("site", "web")), nil)
				defer k.stop()
				k.wantSet("build app", "build web", "apply deployment/api app=reg/app@sha256:1", "apply deployment/site web=reg/web@sha256:1")
				k.cluster.report(t, "api", ready)
				k.cluster.report(t, "site", ready)

				k.batch(tt.path)
				k.want(tt.events...)
			})
		})
	}
}

// TestK8sResourceDeps: builds run at once, deploys wait for resource_deps.
func TestK8sResourceDeps(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		api := k8s("api", "app")
		api.ResourceDeps = []string{"db"}
		k := startK8s(t, k8sModel([]devfile.Image{image("app", "FROM scratch\n")}, api, k8s("db")), nil)
		defer k.stop()
		k.wantSet("build app", "apply deployment/db")
		if r := k.wantPhase("api", PhaseDeploying); r.Waiting != "waiting for resource_deps: db" {
			t.Errorf("api waiting = %q, want %q", r.Waiting, "waiting for resource_deps: db")
		}
		k.cluster.report(t, "db", ready)
		k.want("apply deployment/api app=reg/app@sha256:1")
	})
}

// TestK8sReload: a Devfile reload redeploys only the resources whose
// objects or images changed.
func TestK8sReload(t *testing.T) {
	images := []devfile.Image{image("app", "FROM scratch\n")}
	changed := k8s("api", "app")
	changed.Objects[0].YAML += "spec:\n  replicas: 2\n"
	newImages := []devfile.Image{image("app", "FROM scratch\n")}
	newImages[0].BuildArgs = map[string]string{"MODE": "dev"}
	tests := []struct {
		name   string
		next   *devfile.Model
		events []string
	}{
		{name: "manifest changed", next: k8sModel(images, changed, k8s("db")), events: []string{"build app", "apply deployment/api app=reg/app@sha256:2"}},
		{name: "image changed", next: k8sModel(newImages, k8s("api", "app"), k8s("db")), events: []string{"build app", "apply deployment/api app=reg/app@sha256:2"}},
		{name: "nothing changed", next: k8sModel(images, k8s("api", "app"), k8s("db"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				k := startK8s(t, k8sModel(images, k8s("api", "app"), k8s("db")), func(k *k8sHarness) {
					k.loader.results = []loadResult{{m: tt.next}}
				})
				defer k.stop()
				k.wantSet("build app", "apply deployment/api app=reg/app@sha256:1", "apply deployment/db")
				k.batch(proj + "/Devfile")
				k.want(tt.events...)
			})
		})
	}
}

// TestKubeError: when the cluster cannot be used, Kubernetes resources
// show why and local ones run.
func TestKubeError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := startK8s(t, k8sModel(nil, k8s("api"), local("gen", "gen", "")), func(k *k8sHarness) {
			k.kube = Kube{Err: errors.New(`creating kind cluster "dev": docker is not running`)}
		})
		defer k.stop()
		r := k.wantPhase("api", PhaseError)
		if want := `Kubernetes is not available: creating kind cluster "dev": docker is not running`; r.Error != want {
			t.Errorf("api error = %q, want %q", r.Error, want)
		}
		k.wantEvents("start gen")
		k.want()
	})
}

// TestK8sForwardFails: a port-forward that cannot listen is the
// resource's error.
func TestK8sForwardFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := startK8s(t, k8sModel(nil, withForward(k8s("api"), 8000, 8080)), func(k *k8sHarness) {
			k.cluster.fwdErr = errors.New("listen tcp 127.0.0.1:8000: bind: address already in use")
		})
		defer k.stop()
		r := k.wantPhase("api", PhaseError)
		if want := "port-forward localhost:8000: listen tcp 127.0.0.1:8000: bind: address already in use"; r.Error != want {
			t.Errorf("api error = %q, want %q", r.Error, want)
		}
	})
}

// TestBuildProgress: build progress goes to the logs of the resources
// using the image.
func TestBuildProgress(t *testing.T) {
	tests := []struct {
		name string
		ev   builder.Progress
		want string
	}{
		{name: "message", ev: builder.Progress{Kind: builder.ProgressMessage, Message: "BuildKit: unix:///run/buildkit.sock"}, want: "BuildKit: unix:///run/buildkit.sock"},
		{name: "step start", ev: builder.Progress{Kind: builder.ProgressStep, Step: "[2/3] RUN make"}, want: "▸ [2/3] RUN make"},
		{name: "step still running", ev: builder.Progress{Kind: builder.ProgressStep, Step: "exporting to image", Message: "pushing layers: 12.0 MB of 30.0 MB"},
			want: "▸ exporting to image: pushing layers: 12.0 MB of 30.0 MB"},
		{name: "step cached", ev: builder.Progress{Kind: builder.ProgressStep, Step: "[2/3] RUN make", Done: true, Cached: true}, want: "✓ [2/3] RUN make (cached)"},
		{name: "step failed", ev: builder.Progress{Kind: builder.ProgressStep, Step: "[2/3] RUN make", Done: true, Error: "exit code 2"}, want: "✗ [2/3] RUN make: exit code 2"},
		{name: "log", ev: builder.Progress{Kind: builder.ProgressLog, Log: []byte("cc main.c\n")}, want: "cc main.c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				k := startK8s(t, k8sModel([]devfile.Image{image("app", "FROM scratch\n")}, k8s("api", "app")), func(k *k8sHarness) {
					k.build.progress["app"] = []builder.Progress{tt.ev}
				})
				defer k.stop()
				k.want("build app", "apply deployment/api app=reg/app@sha256:1")
				if got := logTexts(k.e, "api"); len(got) < 2 || got[0] != "building app" || got[1] != tt.want {
					t.Errorf("progress %+v of app: api log = %q, want %q after %q", tt.ev, got, tt.want, "building app")
				}
			})
		})
	}
}

// TestSharedImageProgress: an image several resources use (one image for
// db, api and web, as in examples/multi) shows its build progress once, in
// the log of the first of them; the others say where it is, and that it
// was built.
func TestSharedImageProgress(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		steps := []builder.Progress{
			{Kind: builder.ProgressStep, Step: "[1/2] FROM scratch"},
			{Kind: builder.ProgressLog, Log: []byte("cc main.c\n")},
			{Kind: builder.ProgressStep, Step: "[1/2] FROM scratch", Done: true, Duration: time.Second},
		}
		k := startK8s(t, k8sModel([]devfile.Image{image("multi", "FROM scratch\n")}, k8s("db", "multi"), k8s("api", "multi"), k8s("web", "multi")), func(k *k8sHarness) {
			k.build.progress["multi"] = steps
		})
		defer k.stop()
		// The three builds run in parallel: which gets which digest varies.
		var events []string
		for _, ev := range k.take() {
			ev, _, _ = strings.Cut(ev, "@")
			events = append(events, ev)
		}
		slices.Sort(events)
		if want := []string{"apply deployment/api multi=reg/multi", "apply deployment/db multi=reg/multi", "apply deployment/web multi=reg/multi",
			"build multi", "build multi", "build multi"}; !slices.Equal(events, want) {
			t.Fatalf("builder and cluster events (sorted, no digests) = %q, want %q", events, want)
		}
		progress := []string{"▸ [1/2] FROM scratch", "cc main.c", "✓ [1/2] FROM scratch (1s)"}
		if got := logTexts(k.e, "db"); len(got) < 4 || !slices.Equal(got[:4], append([]string{"building multi"}, progress...)) {
			t.Errorf("db log = %q, want %q and the progress %q", got, "building multi", progress)
		}
		for _, name := range []string{"api", "web"} {
			got := logTexts(k.e, name)
			if len(got) < 2 || got[0] != "building image multi (progress in db's log)" || !strings.HasPrefix(got[1], "image multi built in ") {
				t.Errorf("%s log = %q, want %q, then the image built", name, got, "building image multi (progress in db's log)")
			}
			for _, l := range got {
				if slices.Contains(progress, l) {
					t.Errorf("%s log has the progress line %q, shown in db's log", name, l)
				}
			}
		}
		n := 0
		for _, l := range k.e.Logs("", 0, 1000) {
			if l.Text == "cc main.c" {
				n++
			}
		}
		if n != 1 {
			t.Errorf("all logs have %d copies of the progress line %q, want 1", n, "cc main.c")
		}
		// Once no update builds the image, its progress goes to the global log.
		k.build.mu.Lock()
		progressTo := k.build.onProgress
		k.build.mu.Unlock()
		progressTo("multi", builder.Progress{Kind: builder.ProgressMessage, Message: "BuildKit: unix:///run/buildkit.sock"})
		if all := k.e.Logs("", 0, 1000); all[len(all)-1].Resource != "" || all[len(all)-1].Text != "multi: BuildKit: unix:///run/buildkit.sock" {
			t.Errorf("last line = %+v, want the global %q", all[len(all)-1], "multi: BuildKit: unix:///run/buildkit.sock")
		}
	})
}

// TestK8sBuildWaitsForLocalDependency: a Kubernetes resource's images
// build only once its local resource_deps are ready (they may make what the
// build copies: a binary compiled by a local_resource), so the first run of
// such a Devfile shows no failed build.
func TestK8sBuildWaitsForLocalDependency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		api := k8s("api", "app")
		api.ResourceDeps = []string{"bin"}
		k := startK8s(t, k8sModel([]devfile.Image{image("app", "FROM scratch\nCOPY build/app /app\n")}, api, local("bin", "go build", "")), nil)
		defer k.stop()
		k.wantEvents("start go build")
		k.want()
		if r := k.res("api"); r.Phase != PhasePending || !strings.Contains(r.Waiting, "resource_deps: bin") {
			t.Errorf("api before bin is ready: phase %s, waiting %q; want pending, waiting for resource_deps: bin", r.Phase, r.Waiting)
		}

		k.run.exit(t, "go build", nil)
		synctest.Wait()
		k.wantPhase("bin", PhaseReady)
		k.want("build app", "apply deployment/api app=reg/app@sha256:1")
		k.cluster.report(t, "api", ready)
		k.wantPhase("api", PhaseReady)
		if r := k.res("api"); r.LastUpdate == nil || r.LastUpdate.Result != "ok" || len(r.History) != 1 {
			t.Errorf("api history = %+v, want one ok update", r.History)
		}
	})
}

// TestK8sDockerfileWatchedWithOnly: only= narrows the context, but the
// Dockerfile in it still rebuilds when edited; files outside only= do not.
func TestK8sDockerfileWatchedWithOnly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		img := image("app", "FROM scratch\n")
		img.Only = []string{"build/app"}
		k := startK8s(t, k8sModel([]devfile.Image{img}, k8s("api", "app")), nil)
		defer k.stop()
		k.want("build app", "apply deployment/api app=reg/app@sha256:1")
		k.cluster.report(t, "api", ready)
		k.batch(proj + "/app/main.go")
		k.want()
		k.batch(proj + "/app/Dockerfile")
		k.want("build app", "apply deployment/api app=reg/app@sha256:2")
		k.batch(proj + "/app/build/app")
		k.want("build app", "apply deployment/api app=reg/app@sha256:3")
	})
}

// TestK8sBuildWaitsForIndirectLocalDependency: web depends on api, api on
// the local resource that compiles what both images copy; web's build waits
// for it too.
func TestK8sBuildWaitsForIndirectLocalDependency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		api, web := k8s("api", "app"), k8s("web", "front")
		api.ResourceDeps, web.ResourceDeps = []string{"bin"}, []string{"api"}
		k := startK8s(t, k8sModel([]devfile.Image{image("app", "FROM scratch\n"), image("front", "FROM scratch\n")},
			api, web, local("bin", "go build", "")), nil)
		defer k.stop()
		k.wantEvents("start go build")
		k.want()
		if r := k.res("web"); !strings.Contains(r.Waiting, "resource_deps: bin") {
			t.Errorf("web before bin is ready: waiting %q, want resource_deps: bin", r.Waiting)
		}
		k.run.exit(t, "go build", nil)
		synctest.Wait()
		// Both build; web deploys only once api is ready.
		k.wantSet("build app", "build front", "apply deployment/api app=reg/app@sha256:1")
		k.cluster.report(t, "api", ready)
		k.want("apply deployment/web front=reg/front@sha256:1")
	})
}

// TestK8sWaitsForCluster: while Config.Kube prepares the cluster, local
// resources start at once and Kubernetes ones wait, saying why, until it
// gives the cluster (or the error they then show, or the error that ends
// Run: nothing could run).
func TestK8sWaitsForCluster(t *testing.T) {
	for _, tc := range []struct {
		name  string
		err   error // Kube.Err
		fatal error // Config.Kube's error
	}{
		{name: "cluster ready"},
		{name: "cluster failed", err: errors.New("creating kind cluster dev: docker is not running")},
		{name: "nothing could run", fatal: errors.New("creating kind cluster dev: docker is not running")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				k := newK8s(t)
				answer := make(chan Kube)
				k.conf = func(c *Config) {
					c.KubeWaiting = "creating kind cluster dev"
					c.Kube = func(ctx context.Context, _ *devfile.Model, progress func(string, builder.Progress)) (Kube, error) {
						select {
						case a := <-answer:
							return a, tc.fatal
						case <-ctx.Done():
							return Kube{}, ctx.Err()
						}
					}
				}
				k.with(k8sModel([]devfile.Image{image("app", "FROM scratch\n")}, k8s("api", "app"), local("gen", "make", "")))
				k.wantEvents("start make")
				k.want()
				if r := k.res("api"); r.Phase != PhasePending || r.Waiting != "waiting for the cluster: creating kind cluster dev" {
					t.Fatalf("api while the cluster is prepared: %s %q, want pending, waiting for the cluster", r.Phase, r.Waiting)
				}
				if err := k.e.Trigger(t.Context(), "api"); err == nil || !strings.Contains(err.Error(), "waits for the cluster") {
					t.Errorf("Trigger(api) while waiting = %v, want an error saying it waits for the cluster", err)
				}
				answer <- Kube{Builder: k.build, Cluster: k.cluster, Err: tc.err}
				synctest.Wait()
				if tc.fatal != nil {
					if err := <-k.done; err != tc.fatal {
						t.Errorf("Run() after Config.Kube failed = %v, want its error %v", err, tc.fatal)
					}
					k.wantEvents("stop make")
					return
				}
				defer k.stop()
				if tc.err != nil {
					k.want()
					if r := k.res("api"); r.Phase != PhaseError || !strings.Contains(r.Error, "docker is not running") {
						t.Errorf("api after a failed cluster: %s %q, want error with the cause", r.Phase, r.Error)
					}
					return
				}
				k.want() // make runs alone (allow_parallel=False)
				k.run.exit(t, "make", nil)
				synctest.Wait()
				k.want("build app", "apply deployment/api app=reg/app@sha256:1")
				k.cluster.report(t, "api", ready)
				k.wantPhase("api", PhaseReady)
			})
		})
	}
}

// TestK8sWithoutCluster: without Config.Kube, Kubernetes resources say
// that this command does not deploy them; Run stops when ctx ends even
// while Config.Kube still prepares.
func TestK8sWithoutCluster(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := start(t, k8sModel(nil, k8s("api")))
		defer h.stop()
		if r := h.wantPhase("api", PhaseError); r.Error != errNoK8s {
			t.Errorf("api without Config.Kube: error %q, want %q", r.Error, errNoK8s)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		k := newK8s(t)
		k.conf = func(c *Config) {
			c.Kube = func(ctx context.Context, _ *devfile.Model, progress func(string, builder.Progress)) (Kube, error) {
				<-ctx.Done()
				return Kube{}, fmt.Errorf("creating kind cluster dev: %w", ctx.Err())
			}
		}
		k.with(k8sModel(nil, k8s("api")))
		if r := k.res("api"); r.Waiting != "waiting for the cluster: "+defaultKubeWaiting {
			t.Errorf("api while Config.Kube runs: waiting %q, want %q", r.Waiting, "waiting for the cluster: "+defaultKubeWaiting)
		}
		k.stop() // Run() = nil: stopped while preparing is no error
	})
}

// pingingCluster is a fakeCluster that answers Ping with err.
type pingingCluster struct {
	*fakeCluster
	mu  sync.Mutex
	err error
}

func (c *pingingCluster) Ping(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *pingingCluster) set(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.err = err
}

// TestClusterPing: a cluster that stops answering shows in the View (and
// the global log) within a ping period, and clears when it answers again.
func TestClusterPing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var pc *pingingCluster
		k := startK8s(t, k8sModel([]devfile.Image{image("app", "FROM scratch\n")}, k8s("api", "app")), func(k *k8sHarness) {
			pc = &pingingCluster{fakeCluster: k.cluster}
			k.kube.Cluster = pc
		})
		defer k.stop()
		k.want("build app", "apply deployment/api app=reg/app@sha256:1")
		time.Sleep(2 * pingEvery)
		synctest.Wait()
		if c := k.e.Snapshot().Cluster; c != nil {
			t.Fatalf("View.Cluster while the cluster answers = %+v, want nil", c)
		}
		pc.set(errors.New("the API server of kube context kind-dev (https://127.0.0.1:1) does not answer: connection refused"))
		time.Sleep(pingEvery)
		synctest.Wait()
		c := k.e.Snapshot().Cluster
		if c == nil || !strings.Contains(c.Error, "connection refused") {
			t.Fatalf("View.Cluster after the cluster stopped = %+v, want its error", c)
		}
		pc.set(nil)
		time.Sleep(pingEvery)
		synctest.Wait()
		if c := k.e.Snapshot().Cluster; c != nil {
			t.Errorf("View.Cluster once it answers again = %+v, want nil", c)
		}
		var global []string
		for _, l := range k.e.Logs("", 0, 100) {
			if l.Resource == "" {
				global = append(global, l.Text)
			}
		}
		if !slices.ContainsFunc(global, func(s string) bool { return strings.HasPrefix(s, "cannot reach the cluster: ") }) ||
			!slices.Contains(global, "the cluster answers again") {
			t.Errorf("global log = %q, want the loss and the return of the cluster", global)
		}
	})
}

// TestKubeOnDemand: Config.Kube is not called for a model with no
// Kubernetes resource and no kind cluster; the first model that has one
// (here a reload's) gets the cluster, and its resources deploy.
func TestKubeOnDemand(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := newK8s(t)
		var asked []*devfile.Model
		k.conf = func(c *Config) {
			c.Kube = func(ctx context.Context, m *devfile.Model, progress func(string, builder.Progress)) (Kube, error) {
				asked = append(asked, m) // the worker runs inside the bubble; read after synctest.Wait
				return k.kube, nil
			}
		}
		k.kube.Target = &KubeTarget{Context: "kind-dev", Namespace: "team", Registry: "localhost:5005"}
		k.run.exits["gen"] = nil
		k.with(model(local("gen", "gen", "")))
		defer k.stop()
		if len(asked) != 0 || k.e.Snapshot().Kube != nil {
			t.Fatalf("Config.Kube called for a local-only model, or the View names a target")
		}
		withApi := model(local("gen", "gen", ""), k8s("api"))
		k.loader.results = []loadResult{{m: withApi}}
		k.batch(proj + "/Devfile")
		synctest.Wait()
		if len(asked) != 1 || asked[0] != withApi {
			t.Fatalf("Config.Kube calls = %d, want 1 with the reloaded model", len(asked))
		}
		k.want("apply deployment/api")
		k.wantPhase("api", PhaseDeploying)
		if got := k.e.Snapshot().Kube; got == nil || *got != *k.kube.Target {
			t.Errorf("View.Kube = %+v, want %+v", got, *k.kube.Target)
		}
	})
}

// Rewatch records that the pinger restarted the pod watches.
func (c *pingingCluster) Rewatch() { c.rec.add("rewatch") }

// deletingCluster is a fakeCluster that deletes ("delete deployment/api,
// namespace/dev"): Namespaces are kept, as kube.DeleteManaged keeps them;
// while hold is open DeleteManaged waits for it to close.
type deletingCluster struct {
	*fakeCluster
	hold chan struct{}
}

func (c *deletingCluster) DeleteManaged(ctx context.Context, objs []*unstructured.Unstructured, opts kube.DownOptions) ([]kube.DownResult, error) {
	var names []string
	var out []kube.DownResult
	for _, o := range objs {
		names = append(names, strings.ToLower(o.GetKind())+"/"+o.GetName())
		r := kube.DownResult{Ref: kube.Ref{Kind: o.GetKind(), Name: o.GetName()}, Action: kube.DownDeleted}
		if o.GetKind() == "Namespace" && !opts.DeleteNamespaces {
			r.Action, r.Why = kube.DownKept, "a Namespace"
		}
		out = append(out, r)
	}
	c.rec.add("delete " + strings.Join(names, ","))
	if c.hold != nil {
		select {
		case <-c.hold:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return out, nil
}

// TestK8sDisableTakesDown: disabling a deployed resource stops following
// its pods and deletes its objects (keeping its Namespace), saying so in
// its log; enabling it while they are deleted applies them again once
// that is done.
func TestK8sDisableTakesDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		api := withForward(k8s("api", "app"), 8000, 8080)
		api.Objects = append(api.Objects, devfile.Object{APIVersion: "v1", Kind: "Namespace", Name: "dev",
			YAML: "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: dev\n"})
		var dc *deletingCluster
		k := startK8s(t, k8sModel([]devfile.Image{image("app", "FROM scratch\n")}, api), func(k *k8sHarness) {
			dc = &deletingCluster{fakeCluster: k.cluster, hold: make(chan struct{})}
			k.kube.Cluster = dc
		})
		defer k.stop()
		k.want("build app", "apply deployment/api,namespace/dev app=reg/app@sha256:1", "forward 8000->8080")
		k.cluster.report(t, "api", ready)
		k.wantPhase("api", PhaseReady)

		if err := k.e.SetEnabled(context.Background(), "api", false); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		k.want("delete deployment/api,namespace/dev")
		if r := k.wantPhase("api", PhaseDisabled); r.Waiting != takingDown {
			t.Errorf("api waiting while disabled = %q, want %q", r.Waiting, takingDown)
		}
		for what, m := range map[string]map[string][]*watchCall{"watches": k.cluster.watches, "logs": k.cluster.logs, "forwards": k.cluster.forwards} {
			if n := k.cluster.running(m, "api"); n != 0 {
				t.Errorf("running %s of disabled api = %d, want 0", what, n)
			}
		}

		if err := k.e.SetEnabled(context.Background(), "api", true); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		k.want() // not before the objects are deleted
		close(dc.hold)
		synctest.Wait()
		k.want("build app", "apply deployment/api,namespace/dev app=reg/app@sha256:2", "forward 8000->8080")
		wantLogLine(t, k.e, "api", "disabled: deleted deployment/api")
		wantLogLine(t, k.e, "api", "disabled: kept namespace/dev (a Namespace)")
		k.cluster.report(t, "api", ready)
		k.wantPhase("api", PhaseReady)
	})
}

// TestK8sDisableDuringUpdate: a resource disabled while its update builds
// deletes its objects once that update's worker ended, not beside it.
func TestK8sDisableDuringUpdate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := startK8s(t, k8sModel([]devfile.Image{image("app", "FROM scratch\n")}, k8s("api", "app")), func(k *k8sHarness) {
			k.kube.Cluster = &deletingCluster{fakeCluster: k.cluster}
		})
		defer k.stop()
		k.want("build app", "apply deployment/api app=reg/app@sha256:1")
		k.cluster.report(t, "api", ready)

		k.build.mu.Lock()
		k.build.hold = make(chan struct{})
		k.build.mu.Unlock()
		k.batch(proj + "/app/main.go")
		k.want("build app")
		if err := k.e.SetEnabled(context.Background(), "api", false); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		k.want("delete deployment/api") // after the cancelled build returned
		r := k.wantPhase("api", PhaseDisabled)
		if r.Waiting != "" {
			t.Errorf("api waiting once its objects are deleted = %q, want none", r.Waiting)
		}
		wantLogLine(t, k.e, "api", "disabled: deleted deployment/api")
	})
}
