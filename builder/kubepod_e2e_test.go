//go:build e2e

package builder

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"

	"github.com/devloop-dev/devloop/builder/internal/registrytest"
	"github.com/devloop-dev/devloop/internal/testkit/e2ekit"
	"github.com/devloop-dev/devloop/internal/testkit/testenv"
	"github.com/devloop-dev/devloop/kube/localregistry"
)

// TestKubePodBuildKitHost builds through BUILDKIT_HOST=kube-pod://: a
// buildkitd pod (DEVLOOP_BUILDKIT_IMAGE, pushed to the cluster's registry)
// on a kind cluster, reached with `kubectl exec buildctl dial-stdio`. The
// build context crosses that pipe, and buildkitd pushes to the cluster's
// registry, from which the test reads the manifest back.
func TestKubePodBuildKitHost(t *testing.T) {
	image := testenv.Getenv(t, "DEVLOOP_BUILDKIT_IMAGE")
	kubectl := testenv.Getenv(t, "KUBECTL")
	c := e2ekit.NewCluster(t, "devloop-bk")
	docker := testenv.LookPath(t, "docker", "docker.io")

	// The pod pulls buildkitd from the cluster's registry.
	pushRef := fmt.Sprintf("127.0.0.1:%d/buildkit:%s", c.RegistryPort, c.Name)
	dockerRun(t, docker, "tag", image, pushRef)
	t.Cleanup(func() { _ = exec.Command(docker, "rmi", pushRef).Run() })
	digest := regexp.MustCompile(`digest: (sha256:[0-9a-f]{64})`).FindStringSubmatch(dockerRun(t, docker, "push", pushRef))
	if digest == nil {
		t.Fatalf("docker push %s printed no digest", pushRef)
	}
	// buildkitd pushes to the registry by its address on the kind network
	// (from the node's network, which the pod shares), over plain HTTP.
	regName := "devloop-" + c.Name + "-registry"
	regIP := strings.TrimSpace(dockerRun(t, docker, "inspect", "--format", `{{(index .NetworkSettings.Networks "kind").IPAddress}}`, regName))
	regHost := regIP + ":5000"

	ctx := t.Context()
	cs := c.Clientset(t)
	const ns, pod = "default", "buildkitd"
	if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "buildkitd"},
		Data:       map[string]string{"buildkitd.toml": fmt.Sprintf("[registry.%q]\n  http = true\n  insecure = true\n", regHost)},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	privileged := true
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: pod},
		Spec: corev1.PodSpec{
			HostNetwork: true,
			Containers: []corev1.Container{{
				Name:            "buildkitd",
				Image:           fmt.Sprintf("localhost:%d/buildkit@%s", c.RegistryPort, digest[1]),
				SecurityContext: &corev1.SecurityContext{Privileged: &privileged},
				ReadinessProbe: &corev1.Probe{
					ProbeHandler:  corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"buildctl", "debug", "workers"}}},
					PeriodSeconds: 1,
				},
				VolumeMounts: []corev1.VolumeMount{{Name: "config", MountPath: "/etc/buildkit"}, {Name: "state", MountPath: "/var/lib/buildkit"}},
			}},
			Volumes: []corev1.Volume{
				{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "buildkitd"}}}},
				{Name: "state", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitReady(t, c, ns, pod)

	// The kube-pod helper runs `kubectl` from PATH with the kubeconfig of
	// the environment.
	t.Setenv("PATH", filepath.Dir(kubectl)+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("KUBECONFIG", c.Kubeconfig)
	host := fmt.Sprintf("kube-pod://%s?context=%s&namespace=%s", pod, c.Info.Context, ns)
	var messages []string
	b, err := New(Config{
		Registry: localregistry.Hosting{Host: regHost},
		CacheDir: t.TempDir(),
		Getenv: func(k string) string {
			if k == "BUILDKIT_HOST" {
				return host
			}
			return ""
		},
		OnProgress: func(ref string, ev Progress) {
			if ev.Kind == ProgressMessage {
				messages = append(messages, ev.Message)
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"Dockerfile": "FROM scratch\nCOPY a.txt /\n", "a.txt": nonce(t)})
	res, err := b.buildOne(ctx, dockerImage("app", dir))
	if err != nil {
		t.Fatalf("Build through %s: %v", host, err)
	}
	if want := "with BuildKit at " + host + " (BUILDKIT_HOST is set)"; len(messages) == 0 || !strings.Contains(messages[0], want) {
		t.Errorf("progress messages = %q, want the first to contain %q", messages, want)
	}
	reg := &registrytest.Registry{Host: fmt.Sprintf("127.0.0.1:%d", c.RegistryPort)}
	if m := reg.Manifest(t, "app", res.Digest); m.Digest != res.Digest {
		t.Errorf("registry digest of %s = %s, want %s", res.Reference, m.Digest, res.Digest)
	}
}

// waitReady watches the pod until it is Ready, for at most e2ekit.StepTimeout.
func waitReady(t *testing.T, c *e2ekit.Cluster, ns, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), e2ekit.StepTimeout)
	defer cancel()
	w, err := c.Clientset(t).CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", name).String()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	var last *corev1.Pod
	for ev := range w.ResultChan() {
		p, ok := ev.Object.(*corev1.Pod)
		if !ok {
			continue
		}
		last = p
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
				return
			}
		}
	}
	if last != nil {
		t.Fatalf("pod %s not Ready within %s: phase %s, conditions %+v, containers %+v", name, e2ekit.StepTimeout, last.Status.Phase, last.Status.Conditions, last.Status.ContainerStatuses)
	}
	t.Fatalf("pod %s not Ready within %s: no status seen", name, e2ekit.StepTimeout)
}

func dockerRun(t *testing.T, docker string, args ...string) string {
	t.Helper()
	out, err := exec.Command(docker, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}
