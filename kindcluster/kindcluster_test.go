package kindcluster

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/kind/pkg/apis/config/defaults"
	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	"sigs.k8s.io/kind/pkg/cluster"
	kindexec "sigs.k8s.io/kind/pkg/exec"

	"github.com/devloop-dev/devloop/devfile"
	"github.com/devloop-dev/devloop/internal/testkit/testenv"
	"github.com/devloop-dev/devloop/kube/localregistry"
)

// fakeDocker records docker commands and answers them from a script.
type fakeDocker struct {
	mu      sync.Mutex
	calls   []string
	stdins  map[string]string
	respond func(args []string) (string, error)
}

func (d *fakeDocker) run(_ context.Context, stdin []byte, args ...string) (string, error) {
	d.mu.Lock()
	call := strings.Join(args, " ")
	d.calls = append(d.calls, call)
	if stdin != nil {
		if d.stdins == nil {
			d.stdins = map[string]string{}
		}
		d.stdins[call] = string(stdin)
	}
	d.mu.Unlock()
	return d.respond(args)
}

func (d *fakeDocker) called(prefix string) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for _, c := range d.calls {
		if strings.HasPrefix(c, prefix) {
			out = append(out, c)
		}
	}
	return out
}

// fakeKind records kind calls; Create blocks on release when it is set.
type fakeKind struct {
	mu       sync.Mutex
	created  []*v1alpha4.Cluster
	deleted  []string
	release  chan struct{}
	onCreate func()
	err      error // Create's answer
}

func (k *fakeKind) Create(name string, opts ...cluster.CreateOption) error {
	if k.release != nil {
		<-k.release
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	// The options are opaque; the config is recorded by the test through
	// kindConfig, and the call itself is what matters here.
	k.created = append(k.created, &v1alpha4.Cluster{Name: name})
	if k.onCreate != nil {
		k.onCreate()
	}
	return k.err
}

func (k *fakeKind) Delete(name, kubeconfig string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.deleted = append(k.deleted, name+" "+kubeconfig)
	return nil
}

func (k *fakeKind) KubeConfig(name string, internal bool) (string, error) {
	cfg := clientcmdapi.NewConfig()
	ctx := "kind-" + name
	cfg.Clusters[ctx] = &clientcmdapi.Cluster{Server: "https://127.0.0.1:40001"}
	cfg.AuthInfos[ctx] = &clientcmdapi.AuthInfo{Token: "t"}
	cfg.Contexts[ctx] = &clientcmdapi.Context{Cluster: ctx, AuthInfo: ctx}
	cfg.CurrentContext = ctx
	b, err := clientcmd.Write(*cfg)
	return string(b), err
}

func markerTar(t *testing.T, content string) string {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "devloop-cluster", Mode: 0o644, Size: int64(len(content))}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write([]byte(content)); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func readyCluster() *fake.Clientset {
	return fake.NewClientset(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kube-public"}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: "default"}},
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "dev-control-plane"},
			Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}},
	)
}

// world is the docker state the fake answers from.
type world struct {
	t            *testing.T
	nodes        string // docker ps output
	marker       string // marker content, "" = none
	registry     string // inspect output, "" = no such container
	dockerMissng bool
	dockerDown   bool
	created      bool
	noImages     bool // docker image inspect finds nothing
}

func (w *world) respond(args []string) (string, error) {
	switch {
	case w.dockerMissng:
		return "", errNoDocker
	case args[0] == "info" && w.dockerDown:
		return "", errors.New("docker info: exit status 1: Cannot connect to the Docker daemon")
	case args[0] == "info":
		return "27.0.0\n", nil
	case args[0] == "ps":
		if w.created && w.nodes == "" {
			return "dev-control-plane\trunning\n", nil
		}
		return w.nodes, nil
	case args[0] == "cp":
		if w.marker == "" {
			return "", errors.New("Error response from daemon: Could not find the file /kind/devloop-cluster in container")
		}
		return markerTar(w.t, w.marker), nil
	case args[0] == "image" && w.noImages:
		return "", errors.New("Error response from daemon: No such image")
	case args[0] == "inspect":
		if w.registry == "" {
			return "", errors.New("Error: No such container: x")
		}
		return w.registry, nil
	}
	return "", nil
}

func newTestManager(t *testing.T, w *world, k *fakeKind, cs kubernetes.Interface) (*Manager, *fakeDocker, string) {
	t.Helper()
	kubeconfig := filepath.Join(t.TempDir(), "config")
	d := &fakeDocker{respond: w.respond}
	m := newManager(Config{Kubeconfig: kubeconfig, NodeImage: "node:env", RegistryImage: "registry:env"}, d, k,
		func(string) (kubernetes.Interface, error) { return cs, nil })
	return m, d, kubeconfig
}

func writeKubeconfig(t *testing.T, path, current string) {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["work"] = &clientcmdapi.Cluster{Server: "https://10.0.0.1"}
	cfg.AuthInfos["work"] = &clientcmdapi.AuthInfo{Token: "w"}
	cfg.Contexts["work"] = &clientcmdapi.Context{Cluster: "work", AuthInfo: "work"}
	cfg.CurrentContext = current
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
}

func TestEnsureCreates(t *testing.T) {
	port := testenv.FreePort(t)
	w := &world{t: t}
	k := &fakeKind{onCreate: func() { w.created = true }} // docker ps shows the node once kind ran
	cs := readyCluster()
	m, d, kubeconfig := newTestManager(t, w, k, cs)
	writeKubeconfig(t, kubeconfig, "work")

	info, err := m.Ensure(t.Context(), devfile.Cluster{Name: "dev", Registry: true, RegistryPort: port})
	if err != nil {
		t.Fatalf("Ensure = %v", err)
	}
	if !info.Created || info.Context != "kind-dev" || info.Registry != "localhost:"+strconv.Itoa(port) || info.RegistryFromCluster != "devloop-dev-registry:5000" {
		t.Errorf("Ensure = %+v, want created, context kind-dev, registry localhost:%d from devloop-dev-registry:5000", info, port)
	}
	if len(k.created) != 1 {
		t.Errorf("Ensure: kind Create called %d times, want 1", len(k.created))
	}
	marker := d.called("exec -i dev-control-plane sh -c cat > /kind/devloop-cluster")
	if len(marker) != 1 || d.stdins[marker[0]] != "dev" {
		t.Errorf("Ensure: marker writes = %v, want one writing %q", marker, "dev")
	}
	run := d.called("run ")
	wantRun := "run -d --restart=always --name devloop-dev-registry --label devloop.dev/cluster=dev --network kind -p 127.0.0.1:" + strconv.Itoa(port) + ":5000 registry:env"
	if len(run) != 1 || run[0] != wantRun {
		t.Errorf("Ensure: docker run = %q, want %q", run, wantRun)
	}
	hosts := d.called("exec -i dev-control-plane sh -c mkdir -p '/etc/containerd/certs.d/localhost:" + strconv.Itoa(port) + "'")
	if len(hosts) != 1 || !strings.Contains(d.stdins[hosts[0]], `[host."http://devloop-dev-registry:5000"]`) {
		t.Errorf("Ensure: hosts.toml writes = %v (%q), want one naming http://devloop-dev-registry:5000", hosts, d.stdins)
	}
	cm, err := cs.CoreV1().ConfigMaps("kube-public").Get(t.Context(), "local-registry-hosting", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("Ensure did not write the KEP-1755 ConfigMap: %v", err)
	}
	h, err := localregistry.Parse(cm.Data)
	if err != nil || h == nil || h.Host != "localhost:"+strconv.Itoa(port) || h.HostFromClusterNetwork != "devloop-dev-registry:5000" || h.Help == "" {
		t.Errorf("ConfigMap localRegistryHosting.v1 = %+v, %v, want host localhost:%d, hostFromClusterNetwork devloop-dev-registry:5000 and a help URL", h, err, port)
	}
	cfg, err := clientcmd.LoadFromFile(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.CurrentContext != "work" || cfg.Contexts["kind-dev"] == nil || cfg.Contexts["work"] == nil {
		t.Errorf("kubeconfig after Ensure: current-context %q, contexts %v; want current-context work kept and kind-dev added", cfg.CurrentContext, keys(cfg.Contexts))
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestEnsureReuses(t *testing.T) {
	port := testenv.FreePort(t)
	w := &world{t: t, nodes: "dev-control-plane\texited\n", marker: "dev\n",
		registry: "dev|false|" + strconv.Itoa(port) + "|bridge,\n"}
	k := &fakeKind{}
	m, d, _ := newTestManager(t, w, k, readyCluster())
	info, err := m.Ensure(t.Context(), devfile.Cluster{Name: "dev", Registry: true, RegistryPort: port})
	if err != nil {
		t.Fatalf("Ensure = %v", err)
	}
	if info.Created || len(k.created) != 0 {
		t.Errorf("Ensure on an existing cluster: created=%v, kind Create calls %d; want reuse", info.Created, len(k.created))
	}
	for _, want := range []string{"start dev-control-plane", "start devloop-dev-registry", "network connect kind devloop-dev-registry"} {
		if len(d.called(want)) != 1 {
			t.Errorf("Ensure: docker calls %v, want one %q", d.calls, want)
		}
	}
	if len(d.called("run ")) != 0 {
		t.Errorf("Ensure: docker run %v, want the existing registry reused", d.called("run "))
	}
}

func TestEnsureErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyPort := busy.Addr().(*net.TCPAddr).Port
	tests := []struct {
		name    string
		w       world
		cluster devfile.Cluster
		wantErr string
	}{
		{name: "docker missing", w: world{dockerMissng: true}, cluster: devfile.Cluster{Name: "dev"}, wantErr: "docker is not installed"},
		{name: "docker down", w: world{dockerDown: true}, cluster: devfile.Cluster{Name: "dev"}, wantErr: "docker is not running"},
		{name: "cluster of another tool", w: world{nodes: "dev-control-plane\trunning\n"}, cluster: devfile.Cluster{Name: "dev"},
			wantErr: `a kind cluster named "dev" exists but devloop did not create it`},
		{name: "marker of another name", w: world{nodes: "dev-control-plane\trunning\n", marker: "other"}, cluster: devfile.Cluster{Name: "dev"},
			wantErr: "devloop did not create it"},
		{name: "registry port taken", cluster: devfile.Cluster{Name: "dev", Registry: true, RegistryPort: busyPort},
			wantErr: "registry port " + strconv.Itoa(busyPort) + " on 127.0.0.1 is in use by another program"},
		{name: "registry container of another tool", w: world{registry: "|true|5005|kind,"}, cluster: devfile.Cluster{Name: "dev", Registry: true},
			wantErr: "a container named devloop-dev-registry exists but devloop did not create it"},
		{name: "bad name", cluster: devfile.Cluster{Name: "Dev_1"}, wantErr: `kind cluster name "Dev_1" is not valid`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.w.t = t
			k := &fakeKind{}
			m, _, _ := newTestManager(t, &tt.w, k, readyCluster())
			_, err := m.Ensure(t.Context(), tt.cluster)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Ensure(%+v) = %v, want an error containing %q", tt.cluster, err, tt.wantErr)
			}
			if len(k.created) != 0 {
				t.Errorf("Ensure(%+v) created a cluster despite the error", tt.cluster)
			}
		})
	}
}

func TestEnsureCancelledDuringCreate(t *testing.T) {
	w := &world{t: t}
	k := &fakeKind{release: make(chan struct{})}
	m, _, _ := newTestManager(t, w, k, readyCluster())
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		_, err := m.Ensure(ctx, devfile.Cluster{Name: "dev"})
		errc <- err
	}()
	cancel()
	err := <-errc
	close(k.release)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "goes on in the background") {
		t.Errorf("Ensure cancelled = %v, want context.Canceled saying the creation goes on", err)
	}
}

func TestDelete(t *testing.T) {
	tests := []struct {
		name        string
		w           world
		wantErr     string
		wantDeleted int
		wantRm      int
	}{
		{name: "devloop cluster and registry", w: world{nodes: "dev-control-plane\trunning\n", marker: "dev", registry: "dev|true|5005|kind,"}, wantDeleted: 1, wantRm: 1},
		{name: "registry not devloop's is left", w: world{nodes: "dev-control-plane\trunning\n", marker: "dev", registry: "|true|5005|kind,"}, wantDeleted: 1},
		{name: "cluster of another tool", w: world{nodes: "dev-control-plane\trunning\n"}, wantErr: "was not created by devloop"},
		{name: "nothing there", w: world{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.w.t = t
			k := &fakeKind{}
			m, d, kubeconfig := newTestManager(t, &tt.w, k, readyCluster())
			err := m.Delete(t.Context(), "dev")
			if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Delete(dev) = %v, want error %q", err, tt.wantErr)
			}
			if len(k.deleted) != tt.wantDeleted || (tt.wantDeleted == 1 && k.deleted[0] != "dev "+kubeconfig) {
				t.Errorf("Delete(dev): kind deletes %v, want %d with the kubeconfig %s", k.deleted, tt.wantDeleted, kubeconfig)
			}
			if rm := d.called("rm -f -v devloop-dev-registry"); len(rm) != tt.wantRm {
				t.Errorf("Delete(dev): registry removals %v, want %d", rm, tt.wantRm)
			}
		})
	}
}

func TestStatus(t *testing.T) {
	w := &world{t: t, nodes: "dev-control-plane\trunning\ndev-worker\texited\n", marker: "dev", registry: "dev|true|5005|kind,"}
	m, _, _ := newTestManager(t, w, &fakeKind{}, readyCluster())
	st, err := m.Status(t.Context(), "dev")
	if err != nil {
		t.Fatal(err)
	}
	if !st.Exists || !st.Devloop || st.Running || len(st.Nodes) != 2 || st.Registry == nil || st.Registry.Host != "localhost:5005" || !st.Registry.Running {
		t.Errorf("Status(dev) = %+v (registry %+v), want existing devloop cluster, not all running, 2 nodes, registry on localhost:5005", st, st.Registry)
	}
}

func TestResolve(t *testing.T) {
	cfg := Config{NodeImage: "env/node:1", RegistryImage: "env/registry:1"}
	tests := []struct {
		name    string
		in      devfile.Cluster
		cfg     Config
		want    spec
		wantErr bool
	}{
		{name: "defaults", in: devfile.Cluster{}, want: spec{name: "devloop", nodes: 1, registryPort: 5005, registryImage: "registry:2"}},
		{name: "environment images", in: devfile.Cluster{Name: "a", Registry: true}, cfg: cfg,
			want: spec{name: "a", nodes: 1, nodeImage: "env/node:1", registry: true, registryPort: 5005, registryImage: "env/registry:1"}},
		{name: "devfile wins", in: devfile.Cluster{Name: "a", NodeImage: "mine", RegistryImage: "reg", RegistryPort: 6000, Nodes: 3}, cfg: cfg,
			want: spec{name: "a", nodes: 3, nodeImage: "mine", registryPort: 6000, registryImage: "reg"}},
		{name: "k8s version", in: devfile.Cluster{Name: "a", K8sVersion: "1.34.2"}, cfg: cfg,
			want: spec{name: "a", nodes: 1, nodeImage: "kindest/node:v1.34.2", registryPort: 5005, registryImage: "env/registry:1"}},
		{name: "bad port", in: devfile.Cluster{Name: "a", RegistryPort: 70000}, wantErr: true},
		{name: "bad nodes", in: devfile.Cluster{Name: "a", Nodes: -1}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := resolve(tt.in, tt.cfg)
			if (err != nil) != tt.wantErr || (!tt.wantErr && got != tt.want) {
				t.Errorf("resolve(%+v) = %+v, %v; want %+v, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestKindConfig(t *testing.T) {
	cfg := kindConfig(spec{name: "dev", nodes: 2, nodeImage: "img", registry: true, registryPort: 5005})
	if len(cfg.Nodes) != 2 || cfg.Nodes[0].Role != v1alpha4.ControlPlaneRole || cfg.Nodes[1].Role != v1alpha4.WorkerRole {
		t.Fatalf("kindConfig nodes = %+v, want a control plane and a worker", cfg.Nodes)
	}
	for _, n := range cfg.Nodes {
		if n.Image != "img" || n.Labels[MarkerLabel] != "dev" {
			t.Errorf("kindConfig node = %+v, want image img and label %s=dev", n, MarkerLabel)
		}
	}
	if len(cfg.ContainerdConfigPatches) != 1 || !strings.Contains(cfg.ContainerdConfigPatches[0], `config_path = "/etc/containerd/certs.d"`) {
		t.Errorf("kindConfig patches = %q, want containerd's config_path", cfg.ContainerdConfigPatches)
	}
}

func TestMergeKubeconfig(t *testing.T) {
	k := &fakeKind{}
	kc, _ := k.KubeConfig("dev", false)
	tests := []struct {
		name, current string
		exists        bool
	}{
		{name: "keeps current context", current: "work", exists: true},
		{name: "keeps an empty current context", current: "", exists: true},
		{name: "creates the file", exists: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "sub", "config")
			if tt.exists {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				writeKubeconfig(t, path, tt.current)
			}
			if err := mergeKubeconfig(path, kc, "kind-dev", false); err != nil {
				t.Fatalf("mergeKubeconfig = %v", err)
			}
			got, err := clientcmd.LoadFromFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if got.CurrentContext != tt.current || got.Contexts["kind-dev"] == nil || got.Clusters["kind-dev"].Server != "https://127.0.0.1:40001" {
				t.Errorf("mergeKubeconfig: current-context %q, contexts %v; want %q and kind-dev added", got.CurrentContext, keys(got.Contexts), tt.current)
			}
			if _, err := os.Stat(path + ".lock"); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("mergeKubeconfig left its lock file: %v", err)
			}
		})
	}
}

func TestCommandOutput(t *testing.T) {
	long := strings.Repeat("line\n", 40) + "[kubelet-check] The kubelet is not healthy"
	tests := []struct {
		name string
		err  error
		want string
	}{
		{name: "plain error", err: errors.New("boom"), want: ""},
		{name: "kind run error", err: &kindexec.RunError{Command: []string{"kubeadm"}, Output: []byte("a\nb\n"), Inner: errors.New("exit 1")}, want: "\na\nb"},
		{name: "tail only", err: &kindexec.RunError{Command: []string{"kubeadm"}, Output: []byte(long), Inner: errors.New("exit 1")},
			want: "\n" + strings.Repeat("line\n", outputTail-1) + "[kubelet-check] The kubelet is not healthy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := commandOutput(tt.err); got != tt.want {
				t.Errorf("commandOutput(%v) = %q, want %q", tt.err, got, tt.want)
			}
		})
	}
}

// TestEnsureWaitsForServiceAccount: nodes Ready is not enough, the default
// namespace's service account must exist before a pod can be made; Ensure
// waits for it and, if it never comes, says what it waited for.
func TestEnsureWaitsForServiceAccount(t *testing.T) {
	// withoutServiceAccount is a running cluster of devloop's whose default
	// namespace has no service account yet.
	withoutServiceAccount := func(t *testing.T) (*Manager, *fake.Clientset) {
		cs := readyCluster()
		if err := cs.CoreV1().ServiceAccounts("default").Delete(t.Context(), "default", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		w := &world{t: t, nodes: "dev-control-plane\trunning\n", marker: "dev\n"}
		m, _, _ := newTestManager(t, w, &fakeKind{}, cs)
		return m, cs
	}
	t.Run("appears", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			m, cs := withoutServiceAccount(t)
			go func() {
				time.Sleep(3 * time.Second)
				sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: "default"}}
				if _, err := cs.CoreV1().ServiceAccounts("default").Create(context.Background(), sa, metav1.CreateOptions{}); err != nil {
					t.Error(err)
				}
			}()
			start := time.Now()
			if _, err := m.Ensure(t.Context(), devfile.Cluster{Name: "dev"}); err != nil {
				t.Fatalf("Ensure = %v", err)
			}
			if waited := time.Since(start); waited < 3*time.Second {
				t.Errorf("Ensure returned after %v, before the service account existed (3s)", waited)
			}
		})
	})
	t.Run("never", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			m, _ := withoutServiceAccount(t)
			_, err := m.Ensure(t.Context(), devfile.Cluster{Name: "dev"})
			if err == nil || !strings.Contains(err.Error(), "service account default/default") {
				t.Fatalf("Ensure = %v, want an error naming the service account it waited for", err)
			}
		})
	})
}

// TestEnsureSwitchContext: with SwitchContext, a cluster Ensure creates
// becomes the kubeconfig's current-context (kind's convention); a reused one
// leaves the user's current-context alone.
func TestEnsureSwitchContext(t *testing.T) {
	current := func(t *testing.T, kubeconfig string) string {
		t.Helper()
		cfg, err := clientcmd.LoadFromFile(kubeconfig)
		if err != nil {
			t.Fatal(err)
		}
		return cfg.CurrentContext
	}
	t.Run("created", func(t *testing.T) {
		w := &world{t: t}
		k := &fakeKind{onCreate: func() { w.created = true }}
		m, _, kubeconfig := newTestManager(t, w, k, readyCluster())
		m.cfg.SwitchContext = true
		var progress strings.Builder
		m.progress = &progress
		writeKubeconfig(t, kubeconfig, "work")
		info, err := m.Ensure(t.Context(), devfile.Cluster{Name: "dev"})
		if err != nil {
			t.Fatalf("Ensure = %v", err)
		}
		if got := current(t, kubeconfig); got != "kind-dev" || !info.Switched {
			t.Errorf("after creating: current-context %q, Switched %v; want kind-dev, true", got, info.Switched)
		}
		if !strings.Contains(progress.String(), "kubectl now uses its context kind-dev") {
			t.Errorf("progress = %q, want it to say kubectl now uses kind-dev", progress.String())
		}
	})
	t.Run("reused", func(t *testing.T) {
		w := &world{t: t, nodes: "dev-control-plane\trunning\n", marker: "dev\n"}
		m, _, kubeconfig := newTestManager(t, w, &fakeKind{}, readyCluster())
		m.cfg.SwitchContext = true
		writeKubeconfig(t, kubeconfig, "work")
		info, err := m.Ensure(t.Context(), devfile.Cluster{Name: "dev"})
		if err != nil {
			t.Fatalf("Ensure = %v", err)
		}
		if got := current(t, kubeconfig); got != "work" || info.Switched {
			t.Errorf("after reusing: current-context %q, Switched %v; want work kept, false", got, info.Switched)
		}
	})
}

// TestEnsureCreateFailsWithoutNodeImage: when kind fails and the node image
// is not on the machine (an offline machine that could not pull it), the
// error says what to mirror and which variable names the copy.
func TestEnsureCreateFailsWithoutNodeImage(t *testing.T) {
	for _, missing := range []bool{true, false} {
		w := &world{t: t, noImages: missing}
		k := &fakeKind{err: errors.New("failed to pull image \"node:env\"")}
		m, _, _ := newTestManager(t, w, k, readyCluster())
		_, err := m.Ensure(t.Context(), devfile.Cluster{Name: "dev"})
		hint := "image node:env is not on this machine"
		if err == nil || !strings.Contains(err.Error(), "failed to pull image") || strings.Contains(err.Error(), hint) != missing {
			t.Errorf("Ensure with the image missing=%v = %v, want kind's error, with the hint %q only when missing", missing, err, hint)
		}
		if missing && !strings.Contains(err.Error(), "DEVLOOP_KIND_NODE_IMAGE") {
			t.Errorf("Ensure = %v, want it to name DEVLOOP_KIND_NODE_IMAGE", err)
		}
	}
}

func TestPlanFor(t *testing.T) {
	p, err := PlanFor(devfile.Cluster{Name: "dev", Registry: true}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	want := Plan{Name: "dev", ControlPlane: "dev-control-plane", NodeImage: defaults.Image, Registry: true,
		RegistryContainer: "devloop-dev-registry", RegistryImage: DefaultRegistryImage, RegistryPort: DefaultRegistryPort}
	if p != want {
		t.Errorf("PlanFor = %+v, want %+v", p, want)
	}
	p, err = PlanFor(devfile.Cluster{Name: "dev"}, Config{NodeImage: "mirror/node:1"})
	if err != nil || p.NodeImage != "mirror/node:1" || p.RegistryPort != 0 {
		t.Errorf("PlanFor(no registry, DEVLOOP_KIND_NODE_IMAGE) = %+v, %v; want mirror/node:1 and no registry", p, err)
	}
	if _, err := PlanFor(devfile.Cluster{Name: "Bad_Name"}, Config{}); err == nil {
		t.Errorf("PlanFor(Bad_Name) = nil error, want the name error Ensure gives")
	}
}
