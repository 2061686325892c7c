package kindcluster

import (
	"fmt"
	"regexp"
	"strings"

	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"

	"github.com/devloop-dev/devloop/devfile"
	"github.com/devloop-dev/devloop/kube/localregistry"
)

const (
	// DefaultRegistryPort is the local registry's port on 127.0.0.1 when
	// kind_cluster() names none. Not 5000: macOS's AirPlay receiver holds it.
	// Not 5001: kind's own local-registry script uses it, so a user who ran
	// that script keeps it. 5005 is the port Tilt's and ctlptl's docs use for
	// a kind registry, so devloop feels familiar to their users.
	DefaultRegistryPort = 5005
	// DefaultRegistryImage is the registry image when neither kind_cluster()
	// nor Config names one.
	DefaultRegistryImage = "registry:2"
	// registryContainerPort is where registry:2 listens inside its container.
	registryContainerPort = 5000
	// MarkerLabel is the Kubernetes node label (and docker label of the
	// registry container) that says devloop created the cluster.
	MarkerLabel = "devloop.dev/cluster"
	// markerFile is written into every node of a cluster devloop created;
	// a kind cluster without it belongs to another tool.
	markerFile = "/kind/devloop-cluster"
	// kindNetwork is the docker network kind puts its nodes on.
	kindNetwork = "kind"
	// kindClusterLabel is the docker label kind sets on node containers.
	kindClusterLabel = "io.x-k8s.kind.cluster"
	// certsDir is where containerd looks up per-registry hosts.toml files.
	certsDir = "/etc/containerd/certs.d"
	// registryHelp is the KEP-1755 "help" URL.
	registryHelp = "https://kind.sigs.k8s.io/docs/user/local-registry/"
)

// validName is kind's rule for cluster names (they become container and
// host names).
var validName = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]*$`)

// spec is a devfile.Cluster with every default filled in.
type spec struct {
	name          string
	nodes         int
	nodeImage     string
	registry      bool
	registryPort  int
	registryImage string
}

func (s spec) context() string      { return "kind-" + s.name }
func (s spec) registryName() string { return registryName(s.name) }
func (s spec) registryHost() string { return fmt.Sprintf("localhost:%d", s.registryPort) }
func (s spec) registryInner() string {
	return fmt.Sprintf("%s:%d", s.registryName(), registryContainerPort)
}

func registryName(cluster string) string { return "devloop-" + cluster + "-registry" }

// resolve applies the defaults: Config's images (DEVLOOP_KIND_NODE_IMAGE,
// DEVLOOP_REGISTRY_IMAGE), then kind's default node image and registry:2. A
// k8s_version without a node image selects kindest/node:<version>.
func resolve(c devfile.Cluster, cfg Config) (spec, error) {
	s := spec{name: c.Name, nodes: c.Nodes, nodeImage: c.NodeImage, registry: c.Registry,
		registryPort: c.RegistryPort, registryImage: c.RegistryImage}
	if s.name == "" {
		s.name = "devloop"
	}
	if !validName.MatchString(s.name) || len(s.name) > 50 {
		return s, fmt.Errorf("kind cluster name %q is not valid: use lower-case letters, digits, '-' and '.', at most 50 characters", s.name)
	}
	if s.nodes == 0 {
		s.nodes = 1
	}
	if s.nodes < 0 {
		return s, fmt.Errorf("kind cluster %q: nodes=%d: a cluster needs at least one node", s.name, s.nodes)
	}
	if s.nodeImage == "" && c.K8sVersion != "" {
		v := c.K8sVersion
		if !strings.HasPrefix(v, "v") {
			v = "v" + v
		}
		s.nodeImage = "kindest/node:" + v
	}
	if s.nodeImage == "" {
		s.nodeImage = cfg.NodeImage // empty: kind's default for its version
	}
	if s.registryPort == 0 {
		s.registryPort = DefaultRegistryPort
	}
	if s.registryPort < 1 || s.registryPort > 65535 {
		return s, fmt.Errorf("kind cluster %q: registry_port=%d is not a port", s.name, s.registryPort)
	}
	if s.registryImage == "" {
		s.registryImage = cfg.RegistryImage
	}
	if s.registryImage == "" {
		s.registryImage = DefaultRegistryImage
	}
	return s, nil
}

// kindConfig is the kind cluster configuration devloop creates: one control
// plane plus workers, each labelled with MarkerLabel, and containerd told to
// read per-registry hosts.toml files from certs.d (kind ≥ v0.20 node images
// already do; the patch makes it explicit for older and custom images).
func kindConfig(s spec) *v1alpha4.Cluster {
	cfg := &v1alpha4.Cluster{
		TypeMeta: v1alpha4.TypeMeta{Kind: "Cluster", APIVersion: "kind.x-k8s.io/v1alpha4"},
		Name:     s.name,
	}
	labels := map[string]string{MarkerLabel: s.name}
	cfg.Nodes = append(cfg.Nodes, v1alpha4.Node{Role: v1alpha4.ControlPlaneRole, Image: s.nodeImage, Labels: labels})
	for i := 1; i < s.nodes; i++ {
		cfg.Nodes = append(cfg.Nodes, v1alpha4.Node{Role: v1alpha4.WorkerRole, Image: s.nodeImage, Labels: labels})
	}
	if s.registry {
		cfg.ContainerdConfigPatches = []string{
			"[plugins.\"io.containerd.grpc.v1.cri\".registry]\n  config_path = \"" + certsDir + "\"\n",
		}
	}
	v1alpha4.SetDefaultsCluster(cfg)
	return cfg
}

// hostsTOML is containerd's hosts.toml that makes localhost:<port> on a node
// resolve to the registry container over the kind network.
func hostsTOML(s spec) string {
	return fmt.Sprintf("server = \"http://%s\"\n\n[host.\"http://%s\"]\n  capabilities = [\"pull\", \"resolve\"]\n",
		s.registryInner(), s.registryInner())
}

// registryHosting is where the cluster's registry is, as KEP-1755 says it.
func registryHosting(s spec) localregistry.Hosting {
	return localregistry.Hosting{Host: s.registryHost(), HostFromClusterNetwork: s.registryInner(),
		HostFromContainerRuntime: s.registryHost(), Help: registryHelp}
}
