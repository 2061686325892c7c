//go:build e2e

package kube_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/devloop-dev/devloop/internal/testkit/e2ekit"
	"github.com/devloop-dev/devloop/kube"
)

// Deadlines: e2ekit says what they were measured on.
const (
	clusterTimeout = e2ekit.ClusterTimeout
	stepTimeout    = e2ekit.StepTimeout
)

const webManifest = `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: e2e/web:dev
        command: ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && echo web started && exec httpd -f -p 8080 -h /www"]
        readinessProbe:
          tcpSocket: {port: 8080}
          periodSeconds: 1
`

// TestKindE2E drives a real kind cluster through kindcluster and kube: the
// cluster and registry are created once (a second Ensure reuses them), an
// image pushed to the registry runs as a Deployment whose pod is found
// through owner references and becomes Ready, logs stream, a port-forward
// answers HTTP and follows the pod when it is replaced, Exec runs commands,
// the kubeconfig's current-context never moves, and Delete removes the
// cluster and the registry.
func TestKindE2E(t *testing.T) {
	k := e2ekit.NewCluster(t, "devloop-e2e")
	name, kubeconfig, port, m, spec, info := k.Name, k.Kubeconfig, k.RegistryPort, k.Manager, k.Spec, k.Info
	ctx, cancel := context.WithTimeout(t.Context(), clusterTimeout)
	defer cancel()
	if !info.Created || info.Context != "kind-"+name || info.Registry != fmt.Sprintf("localhost:%d", port) {
		t.Fatalf("Ensure = %+v, want a created cluster with context kind-%s and registry localhost:%d", info, name, port)
	}
	checkCurrentContext(t, kubeconfig, "kind-"+name, true)

	t.Run("second Ensure reuses the cluster", func(t *testing.T) {
		again, err := m.Ensure(ctx, spec)
		if err != nil || again.Created {
			t.Errorf("second Ensure = %+v, %v; want the cluster reused", again, err)
		}
		st, err := m.Status(ctx, name)
		if err != nil || !st.Exists || !st.Devloop || !st.Running || st.Registry == nil || !st.Registry.Running {
			t.Errorf("Status = %+v, %v; want a running devloop cluster with a running registry", st, err)
		}
	})

	c := k.Client(t)

	t.Run("LocalRegistry reads the KEP-1755 ConfigMap", func(t *testing.T) {
		reg, err := c.LocalRegistry(ctx)
		if err != nil || reg == nil || reg.Host != info.Registry || reg.HostFromClusterNetwork != info.RegistryFromCluster {
			t.Errorf("LocalRegistry() = %+v, %v; want host %s from %s", reg, err, info.Registry, info.RegistryFromCluster)
		}
	})

	// Push busybox to the cluster's registry; the pod references it by digest.
	built := k.PushBusybox(t, "e2e/web")
	objs, err := kube.Decode([]byte(webManifest))
	if err != nil {
		t.Fatal(err)
	}
	applied, err := c.Apply(ctx, objs, map[string]string{"e2e/web": built})
	if err != nil {
		t.Fatalf("Apply = %v", err)
	}
	if len(applied) != 1 || !applied[0].Changed || len(applied[0].Images) != 1 {
		t.Fatalf("Apply = %+v, want the deployment applied with one image injected", applied)
	}
	target := kube.Target{Applied: applied}

	var pod kube.PodRef
	t.Run("pod Ready through owner references", func(t *testing.T) {
		st := e2ekit.WaitStatus(t, c, target, kube.StateReady)
		if len(st.Pods) != 1 {
			t.Fatalf("Watch pods = %+v, want one", st.Pods)
		}
		pod = kube.PodRef{Namespace: st.Pods[0].Namespace, Name: st.Pods[0].Name}
		cs := k.Clientset(t)
		p, err := cs.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := p.Spec.Containers[0].Image; got != built {
			t.Errorf("pod image = %s, want %s", got, built)
		}
		if p.Labels["app.kubernetes.io/managed-by"] != "devloop" {
			t.Errorf("pod labels = %v, want app.kubernetes.io/managed-by=devloop", p.Labels)
		}
	})
	if pod.Name == "" {
		t.FailNow()
	}

	t.Run("unchanged apply is skipped", func(t *testing.T) {
		again, err := c.Apply(ctx, objs, map[string]string{"e2e/web": built})
		if err != nil || again[0].Changed || again[0].UID != applied[0].UID {
			t.Errorf("Apply(same) = %+v, %v; want unchanged with UID %s", again, err, applied[0].UID)
		}
	})

	t.Run("logs stream", func(t *testing.T) {
		lctx, lcancel := context.WithTimeout(ctx, stepTimeout)
		defer lcancel()
		got := make(chan kube.LogLine, 64)
		done := make(chan error, 1)
		go func() {
			done <- c.Logs(lctx, target, func(l kube.LogLine) {
				select {
				case got <- l:
				default:
				}
			})
		}()
	wait:
		for {
			select {
			case l := <-got:
				if l.Text == "web started" && l.Pod == pod && l.Container == "web" && !l.Time.IsZero() {
					break wait
				}
			case <-lctx.Done():
				t.Fatalf("Logs: no line %q from %s", "web started", pod)
			}
		}
		lcancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Logs after cancel = %v, want context.Canceled", err)
		}
	})

	t.Run("exec", func(t *testing.T) {
		var stdout bytes.Buffer
		if err := c.Exec(ctx, pod, "web", []string{"cat", "/www/index.html"}, nil, &stdout, io.Discard); err != nil {
			t.Fatalf("Exec(cat) = %v", err)
		}
		if got := strings.TrimSpace(stdout.String()); got != pod.Name {
			t.Errorf("Exec(cat /www/index.html) = %q, want %q", got, pod.Name)
		}
		var in bytes.Buffer
		in.WriteString("from stdin\n")
		stdout.Reset()
		if err := c.Exec(ctx, pod, "web", []string{"cat"}, &in, &stdout, nil); err != nil || stdout.String() != "from stdin\n" {
			t.Errorf("Exec(cat) with stdin = %q, %v; want %q", stdout.String(), err, "from stdin\n")
		}
		err := c.Exec(ctx, pod, "web", []string{"sh", "-c", "echo oops >&2; exit 3"}, nil, nil, nil)
		var ee *kube.ExecError
		if !errors.As(err, &ee) || ee.ExitCode != 3 || strings.TrimSpace(ee.Output) != "oops" {
			t.Errorf("Exec(exit 3) = %v, want *ExecError with code 3 and output oops", err)
		}
	})

	t.Run("port-forward answers and follows the pod", func(t *testing.T) {
		fctx, fcancel := context.WithTimeout(ctx, stepTimeout)
		defer fcancel()
		local := e2ekit.FreePort(t)
		events := make(chan kube.ForwardEvent, 64)
		done := make(chan error, 1)
		go func() {
			done <- c.Forward(fctx, target, kube.ForwardSpec{LocalPort: local, ContainerPort: 8080}, func(e kube.ForwardEvent) {
				select {
				case events <- e:
				default:
				}
			})
		}()
		if e := <-events; e.Addr == "" {
			t.Fatalf("first ForwardEvent = %+v, want the listening address", e)
		}
		url := fmt.Sprintf("http://127.0.0.1:%d/", local)
		if got := get(t, url); got != pod.Name {
			t.Fatalf("GET %s = %q, want %q", url, got, pod.Name)
		}
		if err := c.Forward(fctx, target, kube.ForwardSpec{LocalPort: local, ContainerPort: 8080}, nil); err == nil || !strings.Contains(err.Error(), "in use") {
			t.Errorf("second Forward on port %d = %v, want the port-in-use error", local, err)
		}

		cs := k.Clientset(t)
		if err := cs.CoreV1().Pods(pod.Namespace).Delete(fctx, pod.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		var answer string
		err := wait.PollUntilContextCancel(fctx, 200*time.Millisecond, true, func(context.Context) (bool, error) {
			answer = tryGet(url)
			return answer != "" && answer != pod.Name, nil
		})
		if err != nil {
			t.Fatalf("after deleting pod %s, GET %s never reached a new pod (last answer %q): %v", pod.Name, url, answer, err)
		}
		t.Logf("forward moved from %s to %s", pod.Name, answer)
		fcancel()
		if err := <-done; !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Forward after cancel = %v, want the context's error", err)
		}
	})

	t.Run("image pull failure surfaces", func(t *testing.T) {
		objs, err := kube.Decode([]byte(strings.NewReplacer("name: web", "name: missing", "app: web", "app: missing").Replace(webManifest)))
		if err != nil {
			t.Fatal(err)
		}
		missing := fmt.Sprintf("localhost:%d/e2e/missing:nope", port)
		applied, err := c.Apply(ctx, objs, map[string]string{"e2e/web": missing})
		if err != nil {
			t.Fatal(err)
		}
		st := e2ekit.WaitStatus(t, c, kube.Target{Applied: applied}, kube.StateError)
		if !strings.Contains(st.Reason, "ErrImagePull") && !strings.Contains(st.Reason, "ImagePullBackOff") {
			t.Errorf("status reason = %q, want ErrImagePull or ImagePullBackOff", st.Reason)
		}
	})

	t.Run("crash loop surfaces and logs follow restarts", func(t *testing.T) {
		crash := strings.NewReplacer("name: web", "name: crash", "app: web", "app: crash",
			`"mkdir -p /www && hostname > /www/index.html && echo web started && exec httpd -f -p 8080 -h /www"`,
			`"echo run $(cat /proc/sys/kernel/random/uuid); exit 1"`).Replace(webManifest)
		objs, err := kube.Decode([]byte(crash))
		if err != nil {
			t.Fatal(err)
		}
		applied, err := c.Apply(ctx, objs, map[string]string{"e2e/web": built})
		if err != nil {
			t.Fatal(err)
		}
		target := kube.Target{Applied: applied}
		lctx, lcancel := context.WithTimeout(ctx, stepTimeout)
		defer lcancel()
		runs := make(chan string, 64)
		done := make(chan error, 1)
		go func() {
			done <- c.Logs(lctx, target, func(l kube.LogLine) {
				if strings.HasPrefix(l.Text, "run ") {
					select {
					case runs <- l.Text:
					default:
					}
				}
			})
		}()
		seen := map[string]bool{}
		for len(seen) < 2 {
			select {
			case r := <-runs:
				seen[r] = true
			case <-lctx.Done():
				t.Fatalf("Logs: saw runs %v, want lines from two container instances", seen)
			}
		}
		lcancel()
		<-done
		st := e2ekit.WaitStatus(t, c, target, kube.StateError)
		if !strings.Contains(st.Reason, "CrashLoopBackOff") || !strings.Contains(st.Reason, "code 1") {
			t.Errorf("status reason = %q, want CrashLoopBackOff with the last exit code 1", st.Reason)
		}
		if err := c.Delete(ctx, objs); err != nil {
			t.Errorf("Delete(crash) = %v", err)
		}
	})

	t.Run("job succeeds and a changed template replaces it", func(t *testing.T) {
		job := func(word string) []*unstructured.Unstructured {
			objs, err := kube.Decode([]byte(`
apiVersion: batch/v1
kind: Job
metadata: {name: once}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
      - {name: once, image: e2e/web, command: ["echo", "` + word + `"]}
`))
			if err != nil {
				t.Fatal(err)
			}
			return objs
		}
		first, err := c.Apply(ctx, job("one"), map[string]string{"e2e/web": built})
		if err != nil {
			t.Fatal(err)
		}
		e2ekit.WaitStatus(t, c, kube.Target{Applied: first}, kube.StateSucceeded)
		second, err := c.Apply(ctx, job("two"), map[string]string{"e2e/web": built})
		if err != nil {
			t.Fatalf("Apply(job with a new template) = %v, want the job replaced", err)
		}
		if !second[0].Changed || second[0].UID == first[0].UID {
			t.Errorf("Apply(job with a new template) = %+v, want a new job (old UID %s)", second[0], first[0].UID)
		}
		st := e2ekit.WaitStatus(t, c, kube.Target{Applied: second}, kube.StateSucceeded)
		if len(st.Pods) == 0 || !st.Pods[0].Current {
			t.Errorf("status pods = %+v, want the new job's pod", st.Pods)
		}
	})

	t.Run("Delete removes cluster and registry", func(t *testing.T) {
		if err := m.Delete(ctx, name); err != nil {
			t.Fatalf("Delete(%s) = %v", name, err)
		}
		st, err := m.Status(ctx, name)
		if err != nil || st.Exists || st.Registry != nil {
			t.Errorf("Status after Delete = %+v, %v; want neither cluster nor registry", st, err)
		}
		checkCurrentContext(t, kubeconfig, "kind-"+name, false)
	})
}

func checkCurrentContext(t *testing.T, path, added string, present bool) {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.CurrentContext != e2ekit.UserContext {
		t.Errorf("kubeconfig current-context = %q, want it left at %s", cfg.CurrentContext, e2ekit.UserContext)
	}
	if _, ok := cfg.Contexts[added]; ok != present {
		t.Errorf("kubeconfig context %s present = %v, want %v", added, ok, present)
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	s := tryGet(url)
	if s == "" {
		t.Fatalf("GET %s failed", url)
	}
	return s
}

func tryGet(url string) string {
	client := http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return ""
	}
	return strings.TrimSpace(string(b))
}
