package kindcluster

import (
	"context"
	"fmt"

	"sigs.k8s.io/kind/pkg/apis/config/defaults"

	"github.com/devloop-dev/devloop/devfile"
)

// Plan is what Ensure would use for a kind_cluster(): the names and images
// after the defaults, for checks that run before it (devloop doctor).
type Plan struct {
	Name string
	// ControlPlane is the control-plane node's container.
	ControlPlane string
	// NodeImage is the node image, kind's default included.
	NodeImage string
	// Registry is false with kind_cluster(registry=False); the other
	// registry fields are then empty.
	Registry          bool
	RegistryContainer string
	RegistryImage     string
	RegistryPort      int
}

// PlanFor returns the Plan for c with cfg's images (DEVLOOP_KIND_NODE_IMAGE,
// DEVLOOP_REGISTRY_IMAGE), or the error Ensure would give for a bad name or
// port.
func PlanFor(c devfile.Cluster, cfg Config) (Plan, error) {
	s, err := resolve(c, cfg)
	if err != nil {
		return Plan{}, err
	}
	p := Plan{Name: s.name, ControlPlane: s.name + "-control-plane", NodeImage: s.nodeImage, Registry: s.registry}
	if p.NodeImage == "" {
		p.NodeImage = defaults.Image
	}
	if s.registry {
		p.RegistryContainer, p.RegistryImage, p.RegistryPort = s.registryName(), s.registryImage, s.registryPort
	}
	return p, nil
}

// MirrorHint says what a machine that cannot pull does about an image
// that is not on it: envVar names the variable that points devloop at a
// mirrored copy.
func MirrorHint(image, envVar string) string {
	return fmt.Sprintf("image %s is not on this machine, so it is pulled from its registry: on a machine that cannot pull, "+
		"copy it from one that can (`docker save %s | docker load` on this one, or push it to a reachable registry) and set %s to its name", image, image, envVar)
}

// missingImage reports whether docker does not have image locally.
func (m *Manager) missingImage(ctx context.Context, image string) bool {
	_, err := m.docker.run(ctx, nil, "image", "inspect", "--format", "{{.Id}}", image)
	return err != nil
}
