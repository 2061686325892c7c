//go:build e2e

package sync_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/devloop-dev/devloop/devfile"
	"github.com/devloop-dev/devloop/internal/testenv"
	"github.com/devloop-dev/devloop/kindcluster"
	"github.com/devloop-dev/devloop/kube"
	"github.com/devloop-dev/devloop/sync"
)

// Deadlines measured on the shared 2-core machine (cluster ~10 s, kube-system
// Ready ~25 s, pod Ready ~1 s), with room for a loaded machine.
const (
	clusterTimeout = 6 * time.Minute
	stepTimeout    = 2 * time.Minute
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
	nodeImage := testenv.Getenv(t, "DEVLOOP_KIND_NODE_IMAGE")
	registryImage := testenv.Getenv(t, "DEVLOOP_REGISTRY_IMAGE")
	busybox := testenv.Getenv(t, "DEVLOOP_BUSYBOX_IMAGE")
	docker := testenv.LookPath(t, "docker", "docker.io")

	name := "devloop-sync-" + randHex(t)
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	writeKubeconfig(t, kubeconfig)
	port := freePort(t)
	m, err := kindcluster.New(kindcluster.Config{NodeImage: nodeImage, RegistryImage: registryImage,
		Kubeconfig: kubeconfig, Progress: logWriter{t}, ReadyTimeout: clusterTimeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if os.Getenv("DEVLOOP_E2E_KEEP") == "1" {
			t.Logf("DEVLOOP_E2E_KEEP=1: keeping kind cluster %s (kubeconfig %s)", name, kubeconfig)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
		defer cancel()
		if err := m.Delete(ctx, name); err != nil {
			t.Errorf("cleanup: Delete(%s) = %v", name, err)
		}
	})
	ctx, cancel := context.WithTimeout(t.Context(), clusterTimeout)
	defer cancel()
	info, err := m.Ensure(ctx, devfile.Cluster{Name: name, Registry: true, RegistryPort: port})
	if err != nil {
		t.Fatalf("Ensure(%s) = %v", name, err)
	}
	c, err := kube.New(kube.Config{Kubeconfig: kubeconfig, Context: info.Context, Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	pushRef := fmt.Sprintf("127.0.0.1:%d/e2e/app:%s", port, name)
	run(t, docker, "tag", busybox, pushRef)
	t.Cleanup(func() { _ = exec.Command(docker, "rmi", pushRef).Run() })
	digest := regexp.MustCompile(`digest: (sha256:[0-9a-f]{64})`).FindStringSubmatch(run(t, docker, "push", pushRef))
	if digest == nil {
		t.Fatalf("docker push %s: no digest", pushRef)
	}
	objs, err := kube.Decode([]byte(appManifest))
	if err != nil {
		t.Fatal(err)
	}
	applied, err := c.Apply(ctx, objs, map[string]string{"e2e/app": fmt.Sprintf("localhost:%d/e2e/app@%s", port, digest[1])})
	if err != nil {
		t.Fatalf("Apply = %v", err)
	}
	before := waitReady(t, c, kube.Target{Applied: applied})
	cs := clientset(t, kubeconfig, info.Context)
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
	d := sync.Decide(sync.Input{Image: img, Running: true,
		Changed: []string{filepath.Join(src, "msg"), filepath.Join(src, "lib")},
		Removed: []string{filepath.Join(src, "old")}})
	if d.Action != sync.Update {
		t.Fatalf("Decide = %+v, want an update", d)
	}
	u, err := sync.New(sync.Config{}, c)
	if err != nil {
		t.Fatal(err)
	}
	target := sync.Container{Pod: kube.PodRef{Namespace: before.Namespace, Name: before.Name}, Name: "app", ID: before.Containers[0].ID}
	start := time.Now()
	results, err := u.Update(ctx, d.Plan, []sync.Container{target}, logWriter{t})
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
		bad := sync.Plan{Run: []sync.Run{{Argv: []string{"sh", "-c", "echo broken >&2; exit 4"}}}}
		_, err := u.Update(ctx, bad, []sync.Container{target}, nil)
		var re *sync.RunError
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
				d := sync.Decide(sync.Input{Image: plain, Running: true, Changed: files})
				if _, err := u.Update(ctx, d.Plan, []sync.Container{target}, nil); err != nil {
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

func clientset(t *testing.T, kubeconfig, context string) kubernetes.Interface {
	t.Helper()
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: kubeconfig},
		&clientcmd.ConfigOverrides{CurrentContext: context}).ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// waitReady watches until the pod is Ready and returns it.
func waitReady(t *testing.T, c *kube.Client, target kube.Target) kube.PodStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), stepTimeout)
	defer cancel()
	var last kube.Status
	err := c.Watch(ctx, target, func(st kube.Status) {
		last = st
		if st.State == kube.StateReady {
			cancel()
		}
	})
	if last.State != kube.StateReady || len(last.Pods) != 1 || len(last.Pods[0].Containers) != 1 {
		t.Fatalf("Watch never reported one ready pod (last %s %q %+v): %v", last.State, last.Reason, last.Pods, err)
	}
	return last.Pods[0]
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

// writeKubeconfig writes a user kubeconfig whose current context must not move.
func writeKubeconfig(t *testing.T, path string) {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["work"] = &clientcmdapi.Cluster{Server: "https://10.0.0.1"}
	cfg.AuthInfos["work"] = &clientcmdapi.AuthInfo{Token: "w"}
	cfg.Contexts["work"] = &clientcmdapi.Context{Cluster: "work", AuthInfo: "work"}
	cfg.CurrentContext = "work"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func randHex(t *testing.T) string {
	t.Helper()
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
