package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/devloop-dev/devloop/devfile"
	"github.com/devloop-dev/devloop/kube"
	"github.com/devloop-dev/devloop/liveupdate"
)

// fakeSyncer records live updates ("sync c1 copy=/srv/a rm=/srv/b run=make")
// into the Kubernetes fakes' recorder; errs are returned by the next calls,
// one per call, for every container of that call.
type fakeSyncer struct {
	rec  *recorder
	mu   sync.Mutex
	errs []error
}

func (s *fakeSyncer) Update(ctx context.Context, plan liveupdate.Plan, containers []liveupdate.Container, out io.Writer) ([]liveupdate.Result, error) {
	var ids, copies, rms, runs []string
	for _, c := range containers {
		ids = append(ids, c.ID)
	}
	for _, c := range plan.Copy {
		copies = append(copies, c.Remote)
	}
	rms = plan.Delete
	for _, r := range plan.Run {
		runs = append(runs, strings.Join(r.Argv, " "))
	}
	ev := "sync " + strings.Join(ids, ",")
	if len(copies) > 0 {
		ev += " copy=" + strings.Join(copies, ",")
	}
	if len(rms) > 0 {
		ev += " rm=" + strings.Join(rms, ",")
	}
	if len(runs) > 0 {
		ev += " run=" + strings.Join(runs, ";")
	}
	s.rec.add(ev)
	s.mu.Lock()
	var err error
	if len(s.errs) > 0 {
		err, s.errs = s.errs[0], s.errs[1:]
	}
	s.mu.Unlock()
	now := time.Now()
	var out2 []liveupdate.Result
	for _, c := range containers {
		out2 = append(out2, liveupdate.Result{Container: c, Err: err,
			Steps: []liveupdate.Step{{Name: "copy files", Start: now, End: now}}})
	}
	if len(runs) > 0 {
		fmt.Fprintf(out, "[%s] run: %s\n", containers[0], runs[0])
	}
	return out2, err
}

// liveImage is image app whose context is /proj/app, with static/ synced
// to /srv and a run() triggered by static/deps.txt.
func liveApp() devfile.Image {
	img := image("app", "FROM scratch\n")
	img.LiveUpdate = []devfile.LiveUpdateStep{
		{Type: devfile.StepSync, Local: proj + "/app/static", Remote: "/srv"},
		{Type: devfile.StepRun, Cmd: devfile.Cmd{Argv: []string{"make", "deps"}}, Trigger: []string{proj + "/app/static/deps.txt"}},
	}
	return img
}

// podStatus is a ready status of one pod api-1 whose container app (ID
// id) runs image.
func podStatus(id, image string, running bool) kube.Status {
	st := kube.Status{State: kube.StateReady}
	if !running {
		st = kube.Status{State: kube.StatePending, Reason: "pod api-1: ContainerCreating"}
	}
	st.Pods = []kube.PodStatus{{Name: "api-1", Namespace: "dev", Current: true, Ready: running,
		Containers: []kube.ContainerStatus{{Name: "app", ID: id, Image: image, Running: running, Ready: running}}}}
	return st
}

func startLive(t *testing.T, m *devfile.Model) (*k8sHarness, *fakeSyncer) {
	t.Helper()
	var s *fakeSyncer
	k := startK8s(t, m, func(k *k8sHarness) {
		s = &fakeSyncer{rec: &k.rec}
		k.kube.Syncer = s
	})
	return k, s
}

func logTexts(e *Engine, name string) []string {
	var out []string
	for _, l := range e.Logs(name, 0, 1000) {
		out = append(out, l.Text)
	}
	return out
}

func wantLogLine(t *testing.T, e *Engine, name, want string) {
	t.Helper()
	logs := logTexts(e, name)
	for _, l := range logs {
		if strings.Contains(l, want) {
			return
		}
	}
	t.Errorf("%s logs = %q, want a line containing %q", name, logs, want)
}

// TestLiveUpdate: the first deploy builds; a change under a sync() is
// copied into the running container without a build; a run() runs when its
// trigger changes; a removed file is removed; a change outside the syncs
// rebuilds, and the new containers then take live updates.
func TestLiveUpdate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k, _ := startLive(t, k8sModel([]devfile.Image{liveApp()}, k8s("api", "app")))
		defer k.stop()
		k.want("build app", "apply deployment/api app=reg/app@sha256:1")
		k.cluster.report(t, "api", podStatus("c1", "reg/app@sha256:1", true))
		k.wantPhase("api", PhaseReady)
		k.want() // a new container with nothing changed takes nothing

		k.batch(proj + "/app/static/index.html")
		k.want("sync c1 copy=/srv/index.html")
		r := k.wantPhase("api", PhaseReady)
		u := r.LastUpdate
		if u == nil || !u.LiveUpdate || u.Result != "ok" || u.Reason != "files" || !slices.Equal(u.Files, []string{"app/static/index.html"}) {
			t.Fatalf("api last update = %+v, want an ok live update of app/static/index.html", u)
		}
		if got, want := stepNames(u.Steps), []string{"file events", "batch", "copy files"}; !slices.Equal(got, want) {
			t.Errorf("live update steps = %q, want %q", got, want)
		}

		k.batch(proj+"/app/static/deps.txt", "-"+proj+"/app/static/old.css")
		k.want("sync c1 copy=/srv/deps.txt rm=/srv/old.css run=make deps")
		wantLogLine(t, k.e, "api", "run: make deps")

		k.batch(proj + "/app/main.go")
		k.want("build app", "apply deployment/api app=reg/app@sha256:2")
		wantLogLine(t, k.e, "api", "live update not possible, rebuilding app: Found file(s) not matching any sync: app/main.go")
		if u := k.wantPhase("api", PhaseDeploying).Current; u == nil || u.LiveUpdate || !slices.Equal(u.Files, []string{"app/main.go"}) {
			t.Errorf("api current update = %+v, want a build for app/main.go", u)
		}
		// The old pod is still shown: it runs the old image, and is not
		// live updated.
		k.batch(proj + "/app/static/index.html")
		k.want()
		k.cluster.report(t, "api", podStatus("c2", "reg/app@sha256:2", true))
		// The new container catches up on the change made after the build
		// started.
		k.want("sync c2 copy=/srv/index.html")
		if u := k.wantPhase("api", PhaseReady).LastUpdate; u == nil || !u.LiveUpdate || u.Result != "ok" {
			t.Errorf("api last update = %+v, want an ok live update", u)
		}
	})
}

// TestLiveUpdateCatchUp: a change made while the container is not running
// is held and sent once it runs; a container that restarts gets every
// change since its image was built.
func TestLiveUpdateCatchUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k, _ := startLive(t, k8sModel([]devfile.Image{liveApp()}, k8s("api", "app")))
		defer k.stop()
		k.want("build app", "apply deployment/api app=reg/app@sha256:1")
		k.cluster.report(t, "api", podStatus("c1", "reg/app@sha256:1", false))
		k.batch(proj + "/app/static/a.html")
		k.want() // held
		k.cluster.report(t, "api", podStatus("c1", "reg/app@sha256:1", true))
		k.want("sync c1 copy=/srv/a.html")

		k.batch(proj + "/app/static/b.html")
		k.want("sync c1 copy=/srv/b.html")
		// kubelet restarted the container: its files are the image's again.
		k.cluster.report(t, "api", podStatus("c1b", "reg/app@sha256:1", true))
		k.want("sync c1b copy=/srv/a.html,/srv/b.html")
		r := k.wantPhase("api", PhaseReady)
		if u := r.LastUpdate; u == nil || u.Reason != "catch-up" || !slices.Equal(u.Files, []string{"app/static/a.html", "app/static/b.html"}) {
			t.Errorf("api last update = %+v, want a catch-up of a.html and b.html", u)
		}
	})
}

// TestLiveUpdateFailures: a failing run() is the resource's error until the
// next change retries it (a pod status does not clear it); a fall back
// (no tar in the image) rebuilds; a crash-looping container rebuilds with
// the changes.
func TestLiveUpdateFailures(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k, s := startLive(t, k8sModel([]devfile.Image{liveApp()}, k8s("api", "app")))
		defer k.stop()
		k.want("build app", "apply deployment/api app=reg/app@sha256:1")
		k.cluster.report(t, "api", podStatus("c1", "reg/app@sha256:1", true))

		s.errs = []error{&liveupdate.RunError{Pod: kube.PodRef{Namespace: "dev", Name: "api-1"}, Container: "app",
			Argv: []string{"make", "deps"}, ExitCode: 2, Output: "make: *** no rule"}}
		k.batch(proj + "/app/static/deps.txt")
		k.want("sync c1 copy=/srv/deps.txt run=make deps")
		r := k.wantPhase("api", PhaseError)
		if !strings.Contains(r.Error, "make: *** no rule") || r.LastUpdate == nil || r.LastUpdate.Result != "error" {
			t.Fatalf("api after a failed run(): error %q, last update %+v; want the run's output and an error result", r.Error, r.LastUpdate)
		}
		k.cluster.report(t, "api", podStatus("c1", "reg/app@sha256:1", true))
		k.wantPhase("api", PhaseError)
		k.want() // not retried without a change

		k.batch(proj + "/app/static/deps.txt")
		k.want("sync c1 copy=/srv/deps.txt run=make deps")
		k.wantPhase("api", PhaseReady)

		s.errs = []error{&liveupdate.FallBackError{Pod: kube.PodRef{Namespace: "dev", Name: "api-1"}, Container: "app",
			Reason: "the image has no usable tar (exit 127): add tar to the image (busybox has it) to live update"}}
		k.batch(proj + "/app/static/x.html")
		k.want("sync c1 copy=/srv/x.html", "build app", "apply deployment/api app=reg/app@sha256:2")
		wantLogLine(t, k.e, "api", "live update failed: ")
		wantLogLine(t, k.e, "api", "no usable tar")

		crash := podStatus("c2", "reg/app@sha256:2", false)
		crash.State, crash.Reason = kube.StateError, "pod api-1 container app: CrashLoopBackOff"
		crash.Pods[0].Containers[0].Reason = "CrashLoopBackOff"
		k.cluster.report(t, "api", crash)
		k.wantPhase("api", PhaseError)
		k.batch(proj + "/app/static/fix.html")
		k.want("build app", "apply deployment/api app=reg/app@sha256:3")
		wantLogLine(t, k.e, "api", "is not running (CrashLoopBackOff): rebuilding with the changes")
	})
}

// TestLiveUpdateAfterFailedBuild: after a failed build, a change under a
// sync() rebuilds (the running image is not the one the files belong to).
func TestLiveUpdateAfterFailedBuild(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k, _ := startLive(t, k8sModel([]devfile.Image{liveApp()}, k8s("api", "app")))
		defer k.stop()
		k.want("build app", "apply deployment/api app=reg/app@sha256:1")
		k.cluster.report(t, "api", podStatus("c1", "reg/app@sha256:1", true))
		k.build.fail["app"] = fmt.Errorf("Dockerfile:3: unknown instruction")
		k.batch(proj + "/app/Dockerfile")
		k.want("build app")
		k.wantPhase("api", PhaseError)
		k.batch(proj + "/app/static/a.html")
		k.want("build app", "apply deployment/api app=reg/app@sha256:3")
		wantLogLine(t, k.e, "api", "live update: the last build failed: rebuilding")
	})
}

// TestLiveUpdateWithoutSyncer: without a Syncer every change rebuilds.
func TestLiveUpdateWithoutSyncer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := startK8s(t, k8sModel([]devfile.Image{liveApp()}, k8s("api", "app")), nil)
		defer k.stop()
		k.want("build app", "apply deployment/api app=reg/app@sha256:1")
		k.cluster.report(t, "api", podStatus("c1", "reg/app@sha256:1", true))
		k.batch(proj + "/app/static/index.html")
		k.want("build app", "apply deployment/api app=reg/app@sha256:2")
	})
}

// outage stops the cluster answering pings until the returned func is
// called: each takes a ping period to be seen.
func outage(t *testing.T, pc *pingingCluster) (recover func()) {
	t.Helper()
	pc.set(errors.New("the API server of kube context kind-dev (https://127.0.0.1:1) does not answer: connection refused"))
	time.Sleep(pingEvery)
	synctest.Wait()
	return func() {
		pc.set(nil)
		time.Sleep(pingEvery)
		synctest.Wait()
	}
}

func startPingingLive(t *testing.T) (*k8sHarness, *fakeSyncer, *pingingCluster) {
	t.Helper()
	var s *fakeSyncer
	var pc *pingingCluster
	k := startK8s(t, k8sModel([]devfile.Image{liveApp()}, k8s("api", "app")), func(k *k8sHarness) {
		s = &fakeSyncer{rec: &k.rec}
		pc = &pingingCluster{fakeCluster: k.cluster}
		k.kube.Syncer, k.kube.Cluster = s, pc
	})
	k.want("build app", "apply deployment/api app=reg/app@sha256:1")
	k.cluster.report(t, "api", podStatus("c1", "reg/app@sha256:1", true))
	k.batch(proj + "/app/static/a.html")
	k.want("sync c1 copy=/srv/a.html")
	k.wantPhase("api", PhaseReady)
	return k, s, pc
}

// TestClusterOutageRetries: an edit made while the cluster does not answer
// fails (the exec, then the rebuild's apply); when the cluster answers
// again the pod watches restart and the failed update runs again, with
// the edit.
func TestClusterOutageRetries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k, s, pc := startPingingLive(t)
		defer k.stop()

		recover := outage(t, pc)
		s.errs = []error{&liveupdate.FallBackError{Pod: kube.PodRef{Namespace: "dev", Name: "api-1"}, Container: "app",
			Reason: "exec into the container failed (is it running, and may you exec into it?)", Err: errors.New("connection refused")}}
		k.cluster.mu.Lock()
		k.cluster.applyErr["api"] = errors.New("connection refused")
		k.cluster.mu.Unlock()
		k.batch(proj + "/app/static/b.html")
		k.want("sync c1 copy=/srv/b.html", "build app", "apply deployment/api app=reg/app@sha256:2")
		if r := k.wantPhase("api", PhaseError); r.Error != "apply failed: connection refused" {
			t.Fatalf("api error during the outage = %q, want the failed apply", r.Error)
		}
		// A restarting API server answers, not ready, before it is: the
		// outage goes on.
		pc.set(errors.New("the API server of kube context kind-dev (https://127.0.0.1:1) is not ready: etcd failing"))
		time.Sleep(3 * pingEvery)
		synctest.Wait()

		recover()
		k.want("rewatch", "build app", "apply deployment/api app=reg/app@sha256:3")
		wantLogLine(t, k.e, "api", "the cluster answers again: updating again (the last update failed: apply failed: connection refused)")
		r := k.wantPhase("api", PhaseDeploying)
		if u := r.Current; u == nil || u.Reason != "cluster" || !slices.Equal(u.Files, []string{"app/static/b.html"}) {
			t.Errorf("api update after the outage = %+v, want reason cluster for app/static/b.html", u)
		}
		k.cluster.report(t, "api", podStatus("c2", "reg/app@sha256:3", true))
		k.want() // the new image has both files
		k.wantPhase("api", PhaseReady)
	})
}

// TestClusterOutageCatchUp: after an outage a deployed resource is not
// ready until its restarted pod watch says what runs: a container that
// restarted meanwhile (with the image's files) gets the synced files back
// first; one that did not takes nothing.
func TestClusterOutageCatchUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k, _, pc := startPingingLive(t)
		defer k.stop()

		outage(t, pc)()
		k.want("rewatch")
		if r := k.wantPhase("api", PhaseDeploying); r.Waiting != waitingAfterOutage {
			t.Errorf("api waiting after the outage = %q, want %q", r.Waiting, waitingAfterOutage)
		}
		k.cluster.report(t, "api", podStatus("c1b", "reg/app@sha256:1", true))
		k.want("sync c1b copy=/srv/a.html")
		if u := k.wantPhase("api", PhaseReady).LastUpdate; u == nil || u.Reason != "catch-up" || u.Result != "ok" {
			t.Errorf("api last update after the outage = %+v, want an ok catch-up", u)
		}

		outage(t, pc)()
		k.want("rewatch")
		k.wantPhase("api", PhaseDeploying)
		k.cluster.report(t, "api", podStatus("c1b", "reg/app@sha256:1", true))
		k.want() // the same container: it has the files
		k.wantPhase("api", PhaseReady)
	})
}
