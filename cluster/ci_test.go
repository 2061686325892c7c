package cluster

import (
	"regexp"
	"testing"

	"github.com/devloop-dev/devloop/devfile"
)

var ephemeralRE = regexp.MustCompile(`^devloop-ci-[0-9a-f]{8}$`)

func TestEphemeral(t *testing.T) {
	m := &devfile.Model{Cluster: &devfile.Cluster{Name: "dev", Nodes: 3, K8sVersion: "1.34.2", Registry: true, RegistryPort: 5005}}
	seen := map[string]bool{}
	for range 1000 {
		c, err := ephemeral(m)
		if err != nil {
			t.Fatalf("ephemeral() = %v", err)
		}
		if !ephemeralRE.MatchString(c.Name) || seen[c.Name] {
			t.Fatalf("ephemeral().Name = %q, want a new devloop-ci-XXXXXXXX name", c.Name)
		}
		seen[c.Name] = true
		if c.Nodes != 3 || c.K8sVersion != "1.34.2" || c.RegistryPort == 5005 || c.RegistryPort == 0 {
			t.Fatalf("ephemeral() = %+v, want the Devfile's nodes and version with another registry port", c)
		}
	}
	if m.Cluster.Name != "dev" {
		t.Errorf("ephemeral() changed the model's cluster name to %q", m.Cluster.Name)
	}
}
