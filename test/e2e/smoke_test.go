//go:build e2e

package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/kind/pkg/cluster"

	"github.com/devloop-dev/devloop/internal/testkit/testenv"
)

// Deadlines of the smoke test. Measured on the 2-core machine: cluster create
// ~10 s plus kube-system Ready ~25 s, pods ~1 s; each deadline allows for a
// loaded machine (other builds and tests run beside it) several times over.
const (
	createTimeout = 5 * time.Minute
	systemTimeout = 4 * time.Minute
	podTimeout    = 2 * time.Minute
	netTimeout    = time.Minute
)

// TestSmoke proves the offline environment that make e2e-env builds: a kind
// cluster from DEVLOOP_KIND_NODE_IMAGE becomes Ready; an image pushed to a
// local registry (DEVLOOP_REGISTRY_IMAGE, wired into containerd as ctlptl does)
// runs as a pod; kubectl exec, logs and port-forward work; a ClusterIP Service
// answers by its cluster DNS name. The cluster and registry are deleted after.
func TestSmoke(t *testing.T) {
	nodeImage := testenv.Getenv(t, "DEVLOOP_KIND_NODE_IMAGE")
	registryImage := testenv.Getenv(t, "DEVLOOP_REGISTRY_IMAGE")
	busybox := testenv.Getenv(t, "DEVLOOP_BUSYBOX_IMAGE")
	kubectl := testenv.Getenv(t, "KUBECTL")
	docker := testenv.LookPath(t, "docker", "docker.io")
	ctx := t.Context()

	suffix := randHex(t)
	name := "devloop-smoke-" + suffix
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")

	// The kind library from the main module, as devloop's kindcluster uses it:
	// no separate kind binary to build, and the same code path the product runs.
	provider := cluster.NewProvider(cluster.ProviderWithDocker(), cluster.ProviderWithLogger(kindLogger{t}))
	t.Cleanup(func() {
		if os.Getenv("DEVLOOP_E2E_KEEP") == "1" {
			t.Logf("DEVLOOP_E2E_KEEP=1: keeping kind cluster %s (kubeconfig %s)", name, kubeconfig)
			return
		}
		if err := provider.Delete(name, kubeconfig); err != nil {
			t.Errorf("deleting kind cluster %s: %v", name, err)
		}
	})
	start := time.Now()
	created := make(chan error, 1)
	go func() { // kind's Create takes no context: the test's timeout bounds it
		created <- provider.Create(name,
			cluster.CreateWithNodeImage(nodeImage),
			cluster.CreateWithKubeconfigPath(kubeconfig),
			cluster.CreateWithWaitForReady(createTimeout),
			cluster.CreateWithDisplayUsage(false),
			cluster.CreateWithDisplaySalutation(false))
	}()
	select {
	case err := <-created:
		if err != nil {
			t.Fatalf("kind create cluster %s from %s: %v", name, nodeImage, err)
		}
	case <-ctx.Done():
		t.Fatalf("kind create cluster %s: %v (kind goes on in the background)", name, ctx.Err())
	}
	t.Logf("kind cluster %s created, control plane Ready, after %.1f s", name, time.Since(start).Seconds())

	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatalf("loading %s: %v", kubeconfig, err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(ctx, t, "all kube-system pods Ready", systemTimeout, func(ctx context.Context) (bool, string, error) {
		return podsReady(ctx, cs, "kube-system", "")
	})
	t.Logf("cluster Ready %.1f s after create started", time.Since(start).Seconds())

	// A local registry on the kind network, reachable from containerd as
	// localhost:<port> through certs.d, as devloop and ctlptl set it up.
	port := testenv.FreePort(t)
	reg := "devloop-smoke-registry-" + suffix
	run(ctx, t, docker, "run", "-d", "--name", reg, "--network", "kind", "-p", fmt.Sprintf("127.0.0.1:%d:5000", port), registryImage)
	t.Cleanup(func() { _, _ = try(context.Background(), docker, "rm", "-f", "-v", reg) })
	hosts := fmt.Sprintf("[host.\"http://%s:5000\"]\n", reg)
	dir := fmt.Sprintf("/etc/containerd/certs.d/localhost:%d", port)
	run(ctx, t, docker, "exec", name+"-control-plane", "sh", "-c", fmt.Sprintf("mkdir -p %s && printf '%%s' '%s' > %s/hosts.toml", dir, hosts, dir))
	ref := fmt.Sprintf("localhost:%d/smoke/busybox:%s", port, suffix)
	pushRef := fmt.Sprintf("127.0.0.1:%d/smoke/busybox:%s", port, suffix)
	run(ctx, t, docker, "tag", busybox, pushRef)
	t.Cleanup(func() { _, _ = try(context.Background(), docker, "rmi", pushRef) })
	waitFor(ctx, t, "registry answering", netTimeout, func(ctx context.Context) (bool, string, error) {
		out, err := try(ctx, docker, "push", pushRef)
		return err == nil, out, nil
	})

	k := func(args ...string) string {
		t.Helper()
		return run(ctx, t, kubectl, append([]string{"--kubeconfig", kubeconfig}, args...)...)
	}
	manifest := strings.NewReplacer("IMAGE", ref).Replace(smokeManifest)
	applyStdin(ctx, t, kubectl, kubeconfig, manifest)
	pullStart := time.Now()
	waitFor(ctx, t, "web and client pods Ready (image from the local registry)", podTimeout, func(ctx context.Context) (bool, string, error) {
		return podsReady(ctx, cs, "default", "app in (smoke-web, smoke-client)")
	})
	t.Logf("pods from the locally pushed image Ready %.1f s after apply", time.Since(pullStart).Seconds())

	if out := k("exec", "smoke-web", "--", "cat", "/www/index.html"); strings.TrimSpace(out) != "hello from devloop e2e" {
		t.Errorf("kubectl exec smoke-web cat /www/index.html = %q, want %q", out, "hello from devloop e2e")
	}
	waitFor(ctx, t, "kubectl logs showing the start line", netTimeout, func(ctx context.Context) (bool, string, error) {
		out, err := try(ctx, kubectl, "--kubeconfig", kubeconfig, "logs", "smoke-web")
		return err == nil && strings.Contains(out, "smoke-web started"), out, nil
	})

	lp := portForward(ctx, t, kubectl, kubeconfig, "pod/smoke-web", 8080)
	body := httpGet(ctx, t, "http://127.0.0.1:"+lp+"/index.html")
	if strings.TrimSpace(body) != "hello from devloop e2e" {
		t.Errorf("GET through kubectl port-forward = %q, want %q", body, "hello from devloop e2e")
	}

	// Cluster DNS and a ClusterIP Service, from another pod.
	waitFor(ctx, t, "cluster DNS resolving smoke-web.default.svc.cluster.local", netTimeout, func(ctx context.Context) (bool, string, error) {
		out, err := try(ctx, kubectl, "--kubeconfig", kubeconfig, "exec", "smoke-client", "--", "nslookup", "smoke-web.default.svc.cluster.local")
		return err == nil && strings.Contains(out, "Address"), out, nil
	})
	waitFor(ctx, t, "the ClusterIP Service answering by name", netTimeout, func(ctx context.Context) (bool, string, error) {
		out, err := try(ctx, kubectl, "--kubeconfig", kubeconfig, "exec", "smoke-client", "--", "wget", "-q", "-O", "-", "http://smoke-web.default.svc.cluster.local/index.html")
		return err == nil && strings.Contains(out, "hello from devloop e2e"), out, nil
	})
}

// smokeManifest is a web pod (busybox httpd), a client pod and a ClusterIP
// Service in front of the web pod; IMAGE is replaced by the pushed image.
const smokeManifest = `
apiVersion: v1
kind: Pod
metadata:
  name: smoke-web
  labels: {app: smoke-web}
spec:
  containers:
  - name: web
    image: IMAGE
    command: ["sh", "-c", "mkdir -p /www && echo 'hello from devloop e2e' > /www/index.html && echo smoke-web started && exec httpd -f -p 8080 -h /www"]
    ports: [{containerPort: 8080}]
    readinessProbe:
      tcpSocket: {port: 8080}
      periodSeconds: 1
---
apiVersion: v1
kind: Pod
metadata:
  name: smoke-client
  labels: {app: smoke-client}
spec:
  containers:
  - name: client
    image: IMAGE
    command: ["sleep", "3600"]
---
apiVersion: v1
kind: Service
metadata:
  name: smoke-web
spec:
  type: ClusterIP
  selector: {app: smoke-web}
  ports: [{port: 80, targetPort: 8080}]
`

// podsReady reports whether every pod in namespace (matching selector) is
// Ready, and a summary of the ones that are not.
func podsReady(ctx context.Context, cs kubernetes.Interface, namespace, selector string) (bool, string, error) {
	pods, err := cs.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return false, err.Error(), nil // the API server may still be starting
	}
	if len(pods.Items) == 0 {
		return false, "no pods yet", nil
	}
	var notReady []string
	for _, p := range pods.Items {
		ready := false
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				ready = true
			}
		}
		if !ready {
			notReady = append(notReady, fmt.Sprintf("%s (%s%s)", p.Name, p.Status.Phase, waitingReason(p)))
		}
	}
	return len(notReady) == 0, strings.Join(notReady, ", "), nil
}

func waitingReason(p corev1.Pod) string {
	for _, s := range p.Status.ContainerStatuses {
		if s.State.Waiting != nil {
			return ": " + s.State.Waiting.Reason + " " + s.State.Waiting.Message
		}
	}
	return ""
}

func applyStdin(ctx context.Context, t *testing.T, kubectl, kubeconfig, manifest string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, kubectl, "--kubeconfig", kubeconfig, "apply", "-f", "-")
	cmd.Stdin = strings.NewReader(manifest)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kubectl apply: %v\n%s", err, out)
	}
}

func httpGet(ctx context.Context, t *testing.T, url string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d, %v", url, resp.StatusCode, err)
	}
	return string(b)
}

func randHex(t *testing.T) string {
	t.Helper()
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
