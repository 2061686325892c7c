//go:build e2e

package liveupdate_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/devloop-dev/devloop/devfile"
	"github.com/devloop-dev/devloop/internal/testkit/e2ekit"
	"github.com/devloop-dev/devloop/kube"
	"github.com/devloop-dev/devloop/liveupdate"
)

// Deadlines: e2ekit says what they were measured on.
const (
	clusterTimeout = e2ekit.ClusterTimeout
	stepTimeout    = e2ekit.StepTimeout
)

const appManifest = `
apiVersion: v1
kind: Pod
metadata:
  name: app
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: e2e/app:dev
    command: ["sh", "-c", "mkdir -p /app && echo image > /app/msg && echo image > /app/old && exec sleep 3600"]
    readinessProbe:
      exec: {command: ["test", "-f", "/app/msg"]}
      periodSeconds: 1
`

// TestLiveUpdateE2E live-updates a busybox pod in a real kind cluster
// through kube.Client's exec: a changed file and a new directory arrive, a
// removed file goes, the run() step sees the new files, and the pod and its
// container are the same ones afterwards (no restart, no new pod).
func TestLiveUpdateE2E(t *testing.T) {
	k := e2ekit.NewCluster(t, "devloop-sync")
	ctx, cancel := context.WithTimeout(t.Context(), clusterTimeout)
	defer cancel()
	c := k.Client(t)
	built := k.PushBusybox(t, "e2e/app")
	objs, err := kube.Decode([]byte(appManifest))
	if err != nil {
		t.Fatal(err)
	}
	applied, err := c.Apply(ctx, objs, map[string]string{"e2e/app": built})
	if err != nil {
		t.Fatalf("Apply = %v", err)
	}
	before := waitReady(t, c, kube.Target{Applied: applied})
	cs := k.Clientset(t)
	uid := func() string {
		p, err := cs.CoreV1().Pods("default").Get(ctx, "app", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return string(p.UID)
	}
	uidBefore := uid()

	src := t.TempDir()
	write(t, filepath.Join(src, "msg"), "live\n")
	write(t, filepath.Join(src, "lib", "x.txt"), "x\n")
	img := &devfile.Image{LiveUpdate: []devfile.LiveUpdateStep{
		{Type: devfile.StepSync, Local: src, Remote: "/app"},
		{Type: devfile.StepRun, Cmd: devfile.Cmd{Argv: []string{"sh", "-c", "cat /app/msg /app/lib/x.txt > /app/ran"}}},
	}}
	d := liveupdate.Decide(liveupdate.Input{Image: img, Running: true,
		Changed: []string{filepath.Join(src, "msg"), filepath.Join(src, "lib")},
		Removed: []string{filepath.Join(src, "old")}})
	if d.Action != liveupdate.Update {
		t.Fatalf("Decide = %+v, want an update", d)
	}
	u, err := liveupdate.New(liveupdate.Config{}, c)
	if err != nil {
		t.Fatal(err)
	}
	target := liveupdate.Container{Pod: kube.PodRef{Namespace: before.Namespace, Name: before.Name}, Name: "app", ID: before.Containers[0].ID}
	start := time.Now()
	results, err := u.Update(ctx, d.Plan, []liveupdate.Container{target}, e2ekit.LogWriter{T: t})
	if err != nil {
		t.Fatalf("Update = %v", err)
	}
	t.Logf("live update took %s: %+v", time.Since(start), results[0].Steps)

	cat := func(p string) (string, error) {
		var out bytes.Buffer
		err := c.Exec(ctx, target.Pod, "app", []string{"cat", p}, nil, &out, io.Discard)
		return out.String(), err
	}
	for p, want := range map[string]string{"/app/msg": "live\n", "/app/lib/x.txt": "x\n", "/app/ran": "live\nx\n"} {
		if got, err := cat(p); err != nil || got != want {
			t.Errorf("after Update, cat %s = %q, %v; want %q", p, got, err, want)
		}
	}
	var ee *kube.ExecError
	if _, err := cat("/app/old"); !errors.As(err, &ee) {
		t.Errorf("after Update, cat /app/old = %v, want it removed", err)
	}
	after := waitReady(t, c, kube.Target{Applied: applied})
	if got := uid(); got != uidBefore {
		t.Errorf("after Update, pod UID = %s, want %s (the same pod)", got, uidBefore)
	}
	if after.Name != before.Name || after.Containers[0].ID != before.Containers[0].ID || after.Restarts != 0 {
		t.Errorf("after Update, pod %s container %s restarts %d; want pod %s container %s, no restart",
			after.Name, after.Containers[0].ID, after.Restarts, before.Name, before.Containers[0].ID)
	}

	t.Run("a failing run step is a RunError", func(t *testing.T) {
		bad := liveupdate.Plan{Run: []liveupdate.Run{{Argv: []string{"sh", "-c", "echo broken >&2; exit 4"}}}}
		_, err := u.Update(ctx, bad, []liveupdate.Container{target}, nil)
		var re *liveupdate.RunError
		if !errors.As(err, &re) || re.ExitCode != 4 || !strings.Contains(re.Output, "broken") {
			t.Errorf("Update(exit 4) = %v, want a *RunError with code 4 and its output", err)
		}
	})

	// Figures for BENCHMARKS.md: from Decide to the files written, for a
	// sync without run() steps; logged, never asserted.
	t.Run("timing", func(t *testing.T) {
		plain := &devfile.Image{LiveUpdate: []devfile.LiveUpdateStep{{Type: devfile.StepSync, Local: src, Remote: "/app"}}}
		for _, n := range []int{1, 100} {
			var files []string
			for i := range n {
				files = append(files, filepath.Join(src, "bench", fmt.Sprintf("f%03d.js", i)))
			}
			var took []time.Duration
			for round := range 10 {
				for _, f := range files {
					write(t, f, fmt.Sprintf("round %d\n", round)+strings.Repeat("x", 4<<10))
				}
				start := time.Now()
				d := liveupdate.Decide(liveupdate.Input{Image: plain, Running: true, Changed: files})
				if _, err := u.Update(ctx, d.Plan, []liveupdate.Container{target}, nil); err != nil {
					t.Fatalf("Update(%d files) = %v", n, err)
				}
				took = append(took, time.Since(start))
			}
			got, err := cat("/app/bench/f000.js")
			if err != nil || !strings.HasPrefix(got, "round 9\n") {
				t.Errorf("after the timing rounds, f000.js starts %.10q, %v; want round 9", got, err)
			}
			slices.Sort(took)
			t.Logf("live update of %d 4 KiB files (one container): min %s, median %s, max %s over %d rounds",
				n, took[0].Round(time.Millisecond), took[len(took)/2].Round(time.Millisecond), took[len(took)-1].Round(time.Millisecond), len(took))
		}
	})
}

// waitReady watches until the pod is Ready and returns it.
func waitReady(t *testing.T, c *kube.Client, target kube.Target) kube.PodStatus {
	t.Helper()
	st := e2ekit.WaitStatus(t, c, target, kube.StateReady)
	if len(st.Pods) != 1 || len(st.Pods[0].Containers) != 1 {
		t.Fatalf("Watch reported Ready with pods %+v, want one pod with one container", st.Pods)
	}
	return st.Pods[0]
}

func write(t *testing.T, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
