// Package kindcluster creates, reuses, inspects and deletes the kind cluster
// a Devfile declares with kind_cluster(), with its local registry: a
// registry container on the kind network published on 127.0.0.1:<port>,
// containerd on every node resolving localhost:<port> to it (certs.d
// hosts.toml), and the KEP-1755 ConfigMap kube-public/local-registry-hosting
// that tells builders where to push.
package kindcluster

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/kind/pkg/apis/config/defaults"
	"sigs.k8s.io/kind/pkg/cluster"
	kindexec "sigs.k8s.io/kind/pkg/exec"

	"github.com/devloop-dev/devloop/devfile"
)

// Config configures a Manager; the zero value works.
type Config struct {
	// NodeImage is the node image when kind_cluster() names none (the CLI
	// reads DEVLOOP_KIND_NODE_IMAGE); empty means kind's default.
	NodeImage string
	// RegistryImage is the registry image when kind_cluster() names none
	// (the CLI reads DEVLOOP_REGISTRY_IMAGE); empty means registry:2.
	RegistryImage string
	// Kubeconfig is the file that gets the cluster's context; empty means
	// the first file of $KUBECONFIG, else ~/.kube/config. Its
	// current-context changes only with SwitchContext.
	Kubeconfig string
	// SwitchContext makes a cluster's context the kubeconfig's
	// current-context when Ensure creates the cluster, as `kind create
	// cluster` does, so the user's next kubectl reaches it. A reused
	// cluster leaves the current-context where the user put it.
	SwitchContext bool
	// Progress receives one line per step, for the user; nil discards.
	Progress io.Writer
	// Logger receives debug logs (kind's verbose output); nil discards.
	Logger *slog.Logger
	// ReadyTimeout bounds the wait for the API server and the nodes; zero
	// means 5 minutes (a cold cluster is Ready in ~35 s on 2 cores; a loaded
	// machine takes several times that).
	ReadyTimeout time.Duration
	// Docker is the docker CLI; empty means "docker" from PATH.
	Docker string
}

// provider is the part of kind's cluster.Provider devloop uses.
type provider interface {
	Create(name string, options ...cluster.CreateOption) error
	Delete(name, explicitKubeconfigPath string) error
	KubeConfig(name string, internal bool) (string, error)
}

// Manager ensures, inspects and deletes devloop's kind clusters.
type Manager struct {
	cfg       Config
	log       *slog.Logger
	progress  io.Writer
	docker    docker
	kind      provider
	newClient func(kubeconfig string) (kubernetes.Interface, error)
}

// New returns a Manager that drives docker through its CLI and kind through
// its library.
func New(cfg Config) (*Manager, error) {
	d := &dockerCLI{path: cfg.Docker}
	if d.path == "" {
		d.path = "docker"
	}
	log := logger(cfg)
	p := cluster.NewProvider(cluster.ProviderWithDocker(), cluster.ProviderWithLogger(&kindLogger{log: log, progress: cfg.Progress}))
	return newManager(cfg, d, p, clientFromKubeconfig), nil
}

func logger(cfg Config) *slog.Logger {
	if cfg.Logger != nil {
		return cfg.Logger
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func newManager(cfg Config, d docker, p provider, newClient func(string) (kubernetes.Interface, error)) *Manager {
	if cfg.ReadyTimeout == 0 {
		cfg.ReadyTimeout = 5 * time.Minute
	}
	progress := cfg.Progress
	if progress == nil {
		progress = io.Discard
	}
	return &Manager{cfg: cfg, log: logger(cfg), progress: progress, docker: d, kind: p, newClient: newClient}
}

func clientFromKubeconfig(kubeconfig string) (kubernetes.Interface, error) {
	rc, err := clientcmd.RESTConfigFromKubeConfig([]byte(kubeconfig))
	if err != nil {
		return nil, err
	}
	return kubernetes.NewForConfig(rc)
}

func (m *Manager) progressf(format string, args ...any) {
	fmt.Fprintf(m.progress, format+"\n", args...)
}

// Info describes an ensured cluster.
type Info struct {
	Name string `json:"name"`
	// Context is the kube context added to Kubeconfig ("kind-NAME").
	Context    string `json:"context"`
	Kubeconfig string `json:"kubeconfig"`
	// Created is false when an existing cluster was reused.
	Created bool `json:"created"`
	// Switched is true when Ensure made Context the current-context
	// (Config.SwitchContext and a created cluster).
	Switched bool `json:"switched,omitempty"`
	// Registry is where to push from this machine ("localhost:5005"); empty
	// without a registry.
	Registry string `json:"registry,omitempty"`
	// RegistryFromCluster is the registry's address on the kind network.
	RegistryFromCluster string `json:"registry_from_cluster,omitempty"`
}

// Ensure makes the cluster c declares exist and be ready: it creates it when
// missing and reuses it when present (a working cluster is never
// recreated), starts its registry, wires containerd to it, writes the
// KEP-1755 ConfigMap, adds the cluster's context to the kubeconfig
// (switching to it only as Config.SwitchContext says), and waits until the API server and every node are Ready
// and the default namespace can take pods (its service account exists).
// Progress goes to Config.Progress.
func (m *Manager) Ensure(ctx context.Context, c devfile.Cluster) (*Info, error) {
	s, err := resolve(c, m.cfg)
	if err != nil {
		return nil, err
	}
	if err := m.checkDocker(ctx); err != nil {
		return nil, err
	}
	nodes, err := m.nodes(ctx, s.name)
	if err != nil {
		return nil, err
	}
	var reg *registryState
	if s.registry {
		if reg, err = m.checkRegistry(ctx, s); err != nil {
			return nil, err
		}
	}
	info := &Info{Name: s.name, Context: s.context(), Kubeconfig: kubeconfigPath(m.cfg.Kubeconfig)}
	if len(nodes) == 0 {
		if err := m.create(ctx, s); err != nil {
			return nil, err
		}
		info.Created = true
		if nodes, err = m.nodes(ctx, s.name); err != nil {
			return nil, err
		}
		for _, n := range nodes {
			if _, err := m.docker.run(ctx, []byte(s.name), "exec", "-i", n.name, "sh", "-c", "cat > "+markerFile); err != nil {
				return nil, fmt.Errorf("marking kind cluster %q as devloop's (node %s): %w", s.name, n.name, err)
			}
		}
	} else {
		ours, err := m.isDevloop(ctx, s.name, nodes)
		if err != nil {
			return nil, err
		}
		if !ours {
			return nil, errForeign(s.name)
		}
		m.progressf("Reusing kind cluster %s", s.name)
		for _, n := range nodes {
			if !n.running {
				m.progressf("Starting stopped node %s", n.name)
				if _, err := m.docker.run(ctx, nil, "start", n.name); err != nil {
					return nil, fmt.Errorf("starting node %s of kind cluster %q: %w", n.name, s.name, err)
				}
			}
		}
	}
	kc, err := m.kind.KubeConfig(s.name, false)
	if err != nil {
		return nil, fmt.Errorf("reading the kubeconfig of kind cluster %q: %w", s.name, err)
	}
	info.Switched = info.Created && m.cfg.SwitchContext
	if err := mergeKubeconfig(info.Kubeconfig, kc, s.context(), info.Switched); err != nil {
		return nil, err
	}
	cs, err := m.newClient(kc)
	if err != nil {
		return nil, fmt.Errorf("kind cluster %q: %w", s.name, err)
	}
	if err := m.waitAPI(ctx, s, cs); err != nil {
		return nil, err
	}
	if s.registry {
		if err := m.ensureRegistry(ctx, s, reg); err != nil {
			return nil, err
		}
		for _, n := range nodes {
			dir := certsDir + "/" + s.registryHost()
			if _, err := m.docker.run(ctx, []byte(hostsTOML(s)), "exec", "-i", n.name, "sh", "-c",
				"mkdir -p '"+dir+"' && cat > '"+dir+"/hosts.toml'"); err != nil {
				return nil, fmt.Errorf("configuring containerd on node %s for registry %s: %w", n.name, s.registryHost(), err)
			}
		}
		if err := writeRegistryConfigMap(ctx, cs, s); err != nil {
			return nil, err
		}
		info.Registry, info.RegistryFromCluster = s.registryHost(), s.registryInner()
	}
	if err := m.waitNodes(ctx, s, cs); err != nil {
		return nil, err
	}
	if info.Switched {
		m.progressf("Cluster %s is ready; kubectl now uses its context %s (current-context, as after kind create cluster)", s.name, s.context())
	} else {
		m.progressf("Cluster %s is ready (context %s)", s.name, s.context())
	}
	return info, nil
}

func errForeign(name string) error {
	return fmt.Errorf("a kind cluster named %q exists but devloop did not create it: "+
		"choose another name with kind_cluster(name=...), remove kind_cluster() to deploy to it as the current kube context, "+
		"or delete it with `kind delete cluster --name %s`", name, name)
}

// create runs kind's Create, which takes no context: when ctx ends first,
// create returns at once and says that kind goes on.
func (m *Manager) create(ctx context.Context, s spec) error {
	img := s.nodeImage
	if img == "" {
		img = "kind's default"
	}
	m.progressf("Creating kind cluster %s (%d node(s), node image %s)", s.name, s.nodes, img)
	tmp, err := os.MkdirTemp("", "devloop-kind-")
	if err != nil {
		return err
	}
	opts := []cluster.CreateOption{
		cluster.CreateWithV1Alpha4Config(kindConfig(s)),
		// kind exports the kubeconfig and switches current-context: point it
		// at a scratch file and merge only the new context ourselves.
		cluster.CreateWithKubeconfigPath(filepath.Join(tmp, "kubeconfig")),
		cluster.CreateWithDisplayUsage(false),
		cluster.CreateWithDisplaySalutation(false),
	}
	done := make(chan error, 1)
	// This goroutine ends when kind does; done is buffered so it never blocks.
	go func() {
		defer os.RemoveAll(tmp)
		done <- m.kind.Create(s.name, opts...)
	}()
	select {
	case err := <-done:
		if err != nil {
			hint := ""
			if img := cmp.Or(s.nodeImage, defaults.Image); m.missingImage(ctx, img) {
				// Most often an offline machine that could not pull it.
				hint = "\n" + MirrorHint(img, "DEVLOOP_KIND_NODE_IMAGE (or kind_cluster(node_image=))")
			}
			return fmt.Errorf("creating kind cluster %q: %w%s%s", s.name, err, commandOutput(err), hint)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("creating kind cluster %q: %w: kind cannot be interrupted, so the creation goes on in the background; "+
			"run devloop again to use the cluster, or `devloop cluster delete %s` to remove it", s.name, ctx.Err(), s.name)
	}
}

// outputTail is how many lines of a failed node command's output an error
// keeps: kubeadm's last lines name the failing phase.
const outputTail = 15

// commandOutput returns the tail of the output of the node command that
// failed inside kind (kubeadm, containerd), which kind's error leaves out.
func commandOutput(err error) string {
	re := kindexec.RunErrorForError(err)
	if re == nil || len(re.Output) == 0 {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(re.Output)), "\n")
	if len(lines) > outputTail {
		lines = lines[len(lines)-outputTail:]
	}
	return "\n" + strings.Join(lines, "\n")
}

// pollInterval is how often the readiness waits look again: the API server
// answers within a second of starting, so a half-second poll costs little
// and adds at most that to the wait.
const pollInterval = 500 * time.Millisecond

func (m *Manager) waitAPI(ctx context.Context, s spec, cs kubernetes.Interface) error {
	m.progressf("Waiting for the API server of %s", s.name)
	var last error
	err := wait.PollUntilContextTimeout(ctx, pollInterval, m.cfg.ReadyTimeout, true, func(ctx context.Context) (bool, error) {
		// kube-public is created by kubeadm after the API server starts; the
		// registry ConfigMap goes there.
		_, last = cs.CoreV1().Namespaces().Get(ctx, "kube-public", metav1.GetOptions{})
		return last == nil, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for the API server of kind cluster %q: %w (last: %v): see `docker logs %s-control-plane`", s.name, err, last, s.name)
	}
	return nil
}

func (m *Manager) waitNodes(ctx context.Context, s spec, cs kubernetes.Interface) error {
	reported := map[string]string{}
	var waitingFor string
	err := wait.PollUntilContextTimeout(ctx, pollInterval, m.cfg.ReadyTimeout, true, func(ctx context.Context) (bool, error) {
		list, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			waitingFor = err.Error()
			return false, nil
		}
		if len(list.Items) < s.nodes {
			waitingFor = fmt.Sprintf("%d of %d nodes registered", len(list.Items), s.nodes)
			return false, nil
		}
		all := true
		for _, n := range list.Items {
			state := "NotReady"
			for _, c := range n.Status.Conditions {
				if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
					state = "Ready"
				}
			}
			if reported[n.Name] != state {
				reported[n.Name] = state
				m.progressf("Node %s: %s", n.Name, state)
			}
			if state != "Ready" {
				all = false
				waitingFor = "node " + n.Name + " is not Ready"
			}
		}
		if !all {
			return false, nil
		}
		// The API server refuses pods in a namespace until its default
		// service account exists; the controller manager creates it a
		// moment after the nodes are Ready. Ready means a pod can be made.
		if _, err := cs.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{}); err != nil {
			waitingFor = "the service account default/default, which the controller manager creates: " + err.Error()
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for the nodes of kind cluster %q: %w (%s): see `kubectl --context %s describe nodes`", s.name, err, waitingFor, s.context())
	}
	return nil
}

func writeRegistryConfigMap(ctx context.Context, cs kubernetes.Interface, s spec) error {
	cm := registryHosting(s).ConfigMap()
	cm.Labels = map[string]string{"app.kubernetes.io/managed-by": "devloop"}
	cms := cs.CoreV1().ConfigMaps(cm.Namespace)
	_, err := cms.Create(ctx, cm, metav1.CreateOptions{FieldManager: "devloop"})
	if apierrors.IsAlreadyExists(err) {
		_, err = cms.Update(ctx, cm, metav1.UpdateOptions{FieldManager: "devloop"})
	}
	if err != nil {
		return fmt.Errorf("writing ConfigMap %s/%s in kind cluster %q: %w", cm.Namespace, cm.Name, s.name, err)
	}
	return nil
}

// Delete removes the kind cluster name and its registry, and the cluster's
// context from the kubeconfig. It refuses a kind cluster devloop did not
// create and leaves a registry container that is not devloop's. A cluster
// that does not exist is not an error.
func (m *Manager) Delete(ctx context.Context, name string) error {
	if err := m.checkDocker(ctx); err != nil {
		return err
	}
	nodes, err := m.nodes(ctx, name)
	if err != nil {
		return err
	}
	if len(nodes) > 0 {
		ours, err := m.isDevloop(ctx, name, nodes)
		if err != nil {
			return err
		}
		if !ours {
			return fmt.Errorf("kind cluster %q was not created by devloop, so devloop leaves it: delete it with `kind delete cluster --name %s`", name, name)
		}
		m.progressf("Deleting kind cluster %s", name)
		done := make(chan error, 1)
		go func() { done <- m.kind.Delete(name, kubeconfigPath(m.cfg.Kubeconfig)) }()
		select {
		case err := <-done:
			if err != nil {
				return fmt.Errorf("deleting kind cluster %q: %w", name, err)
			}
		case <-ctx.Done():
			return fmt.Errorf("deleting kind cluster %q: %w: the deletion goes on in the background", name, ctx.Err())
		}
	}
	reg, err := m.inspectRegistry(ctx, name)
	if err != nil {
		return err
	}
	switch {
	case reg != nil && reg.cluster == name:
		m.progressf("Deleting registry %s", reg.name)
		if _, err := m.docker.run(ctx, nil, "rm", "-f", "-v", reg.name); err != nil {
			return fmt.Errorf("deleting registry container %s: %w", reg.name, err)
		}
	case reg != nil:
		m.progressf("Leaving container %s: devloop did not create it", reg.name)
	case len(nodes) == 0:
		m.progressf("No kind cluster %s to delete", name)
	}
	return nil
}

// Status is what exists of a devloop kind cluster.
type Status struct {
	Name    string `json:"name"`
	Exists  bool   `json:"exists"`
	Devloop bool   `json:"devloop"`
	// Running is true when every node container runs.
	Running  bool            `json:"running"`
	Nodes    []string        `json:"nodes,omitempty"`
	Context  string          `json:"context"`
	Registry *RegistryStatus `json:"registry,omitempty"`
}

// RegistryStatus describes a cluster's registry container.
type RegistryStatus struct {
	Container string `json:"container"`
	Host      string `json:"host"`
	Running   bool   `json:"running"`
	Devloop   bool   `json:"devloop"`
}

// Status reports the cluster name and its registry as docker shows them;
// it does not contact the API server.
func (m *Manager) Status(ctx context.Context, name string) (*Status, error) {
	if err := m.checkDocker(ctx); err != nil {
		return nil, err
	}
	nodes, err := m.nodes(ctx, name)
	if err != nil {
		return nil, err
	}
	st := &Status{Name: name, Exists: len(nodes) > 0, Context: "kind-" + name, Running: len(nodes) > 0}
	for _, n := range nodes {
		st.Nodes = append(st.Nodes, n.name)
		st.Running = st.Running && n.running
	}
	if st.Exists {
		if st.Devloop, err = m.isDevloop(ctx, name, nodes); err != nil {
			return nil, err
		}
	}
	reg, err := m.inspectRegistry(ctx, name)
	if err != nil {
		return nil, err
	}
	if reg != nil {
		st.Registry = &RegistryStatus{Container: reg.name, Running: reg.running, Devloop: reg.cluster == name}
		if reg.port != "" {
			st.Registry.Host = "localhost:" + reg.port
		}
	}
	return st, nil
}

// kubeconfigPath is the file kind and devloop write contexts to: explicit,
// else the first file of $KUBECONFIG, else ~/.kube/config.
func kubeconfigPath(explicit string) string {
	if explicit != "" {
		return explicit
	}
	for _, p := range filepath.SplitList(os.Getenv("KUBECONFIG")) {
		if p != "" {
			return p
		}
	}
	return clientcmd.RecommendedHomeFile
}

// kindLogger sends kind's user-facing lines to the progress writer and the
// rest to the debug log.
type kindLogger struct {
	log      *slog.Logger
	progress io.Writer
}

func (k *kindLogger) Warn(msg string) { k.line("warning: " + msg) }
func (k *kindLogger) Warnf(format string, args ...any) {
	k.line("warning: " + fmt.Sprintf(format, args...))
}
func (k *kindLogger) Error(msg string)                  { k.log.Error(msg) }
func (k *kindLogger) Errorf(format string, args ...any) { k.log.Error(fmt.Sprintf(format, args...)) }

func (k *kindLogger) line(s string) {
	s = strings.TrimSpace(s)
	if s != "" && k.progress != nil {
		fmt.Fprintln(k.progress, "kind: "+s)
	}
}
