//go:build e2e

// Package e2ekit is the plumbing the kind end-to-end tests share: a kind
// cluster with a local registry built from the test environment (make
// e2e-env), busybox pushed to that registry, and waiting on a pod's state.
package e2ekit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/devloop-dev/devloop/devfile"
	"github.com/devloop-dev/devloop/internal/testkit/testenv"
	"github.com/devloop-dev/devloop/kindcluster"
	"github.com/devloop-dev/devloop/kube"
)

// Deadlines, measured on the shared 2-core machine (cluster create ~10 s,
// kube-system Ready ~25 s, a pod from the local registry Ready ~1 s), with
// room for a loaded machine several times over.
const (
	ClusterTimeout = 6 * time.Minute
	StepTimeout    = 2 * time.Minute
)

// UserContext is the current context of the user kubeconfig a Cluster
// starts from; devloop must never move it.
const UserContext = "work"

// Cluster is a kind cluster with a registry, deleted when the test ends
// (kept with DEVLOOP_E2E_KEEP=1).
type Cluster struct {
	Name       string
	Kubeconfig string
	// RegistryPort is the registry's port on the host.
	RegistryPort int
	Spec         devfile.Cluster
	Manager      *kindcluster.Manager
	Info         *kindcluster.Info

	busybox, docker string
}

// NewCluster creates a cluster named prefix-<random> from
// DEVLOOP_KIND_NODE_IMAGE and DEVLOOP_REGISTRY_IMAGE, in a fresh kubeconfig
// whose current context is UserContext. Missing prerequisites (those images,
// DEVLOOP_BUSYBOX_IMAGE, docker) skip or fail the test before anything is
// created (see testenv).
func NewCluster(t *testing.T, prefix string) *Cluster {
	t.Helper()
	nodeImage := testenv.Getenv(t, "DEVLOOP_KIND_NODE_IMAGE")
	registryImage := testenv.Getenv(t, "DEVLOOP_REGISTRY_IMAGE")
	busybox := testenv.Getenv(t, "DEVLOOP_BUSYBOX_IMAGE")
	docker := testenv.LookPath(t, "docker", "docker.io")

	name := prefix + "-" + randHex(t)
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	writeUserKubeconfig(t, kubeconfig)
	port := FreePort(t)
	m, err := kindcluster.New(kindcluster.Config{NodeImage: nodeImage, RegistryImage: registryImage,
		Kubeconfig: kubeconfig, Progress: LogWriter{t}, ReadyTimeout: ClusterTimeout})
	if err != nil {
		t.Fatal(err)
	}
	spec := devfile.Cluster{Name: name, Registry: true, RegistryPort: port}
	t.Cleanup(func() {
		if os.Getenv("DEVLOOP_E2E_KEEP") == "1" {
			t.Logf("DEVLOOP_E2E_KEEP=1: keeping kind cluster %s (kubeconfig %s)", name, kubeconfig)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), StepTimeout)
		defer cancel()
		if err := m.Delete(ctx, name); err != nil {
			t.Errorf("cleanup: Delete(%s) = %v", name, err)
		}
	})

	ctx, cancel := context.WithTimeout(t.Context(), ClusterTimeout)
	defer cancel()
	start := time.Now()
	info, err := m.Ensure(ctx, spec)
	if err != nil {
		t.Fatalf("Ensure(%s) = %v", name, err)
	}
	t.Logf("cluster %s ready %.1f s after Ensure", name, time.Since(start).Seconds())
	return &Cluster{Name: name, Kubeconfig: kubeconfig, RegistryPort: port, Spec: spec, Manager: m, Info: info,
		busybox: busybox, docker: docker}
}

// Client connects to the cluster's default namespace; it is closed when the
// test ends.
func (c *Cluster) Client(t *testing.T) *kube.Client {
	t.Helper()
	kc, err := kube.New(kube.Config{Kubeconfig: c.Kubeconfig, Context: c.Info.Context, Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	return kc
}

// Clientset is a client-go clientset on the cluster, for checks devloop's
// own client does not offer.
func (c *Cluster) Clientset(t *testing.T) kubernetes.Interface {
	t.Helper()
	rc, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(&clientcmd.ClientConfigLoadingRules{ExplicitPath: c.Kubeconfig},
		&clientcmd.ConfigOverrides{CurrentContext: c.Info.Context}).ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// PushBusybox pushes DEVLOOP_BUSYBOX_IMAGE to the cluster's registry as
// repo:<cluster name> and returns the reference pods use, by digest:
// localhost:PORT/repo@sha256:....
func (c *Cluster) PushBusybox(t *testing.T, repo string) string {
	t.Helper()
	pushRef := fmt.Sprintf("127.0.0.1:%d/%s:%s", c.RegistryPort, repo, c.Name)
	run(t, c.docker, "tag", c.busybox, pushRef)
	t.Cleanup(func() { _ = exec.Command(c.docker, "rmi", pushRef).Run() })
	out := run(t, c.docker, "push", pushRef)
	digest := regexp.MustCompile(`digest: (sha256:[0-9a-f]{64})`).FindStringSubmatch(out)
	if digest == nil {
		t.Fatalf("docker push %s: no digest in %q", pushRef, out)
	}
	return fmt.Sprintf("localhost:%d/%s@%s", c.RegistryPort, repo, digest[1])
}

// WaitStatus watches target until it reaches want, for at most StepTimeout,
// and returns that status.
func WaitStatus(t *testing.T, c *kube.Client, target kube.Target, want kube.State) kube.Status {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), StepTimeout)
	defer cancel()
	var last kube.Status
	err := c.Watch(ctx, target, func(st kube.Status) {
		last = st
		t.Logf("status: %s %s (%d pods)", st.State, st.Reason, len(st.Pods))
		if st.State == want {
			cancel()
		}
	})
	if last.State != want {
		t.Fatalf("Watch never reported %s (last %s %q): %v", want, last.State, last.Reason, err)
	}
	return last
}

// FreePort returns a TCP port free on 127.0.0.1 just now.
func FreePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// LogWriter writes to the test log, a line per Write.
type LogWriter struct{ T *testing.T }

func (w LogWriter) Write(p []byte) (int, error) {
	w.T.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// writeUserKubeconfig writes a user kubeconfig whose current context must not move.
func writeUserKubeconfig(t *testing.T, path string) {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[UserContext] = &clientcmdapi.Cluster{Server: "https://10.0.0.1"}
	cfg.AuthInfos[UserContext] = &clientcmdapi.AuthInfo{Token: "w"}
	cfg.Contexts[UserContext] = &clientcmdapi.Context{Cluster: UserContext, AuthInfo: UserContext}
	cfg.CurrentContext = UserContext
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

func randHex(t *testing.T) string {
	t.Helper()
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
