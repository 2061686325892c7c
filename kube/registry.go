package kube

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// RegistryHosting is the KEP-1755 localRegistryHosting.v1 document: where a
// cluster's local registry is.
type RegistryHosting struct {
	// Host is where to push from this machine ("localhost:5005").
	Host string `json:"host"`
	// HostFromClusterNetwork is the registry's address from inside the
	// cluster's network.
	HostFromClusterNetwork string `json:"hostFromClusterNetwork,omitempty"`
	// HostFromContainerRuntime is how the nodes' container runtime pulls;
	// when empty, Host.
	HostFromContainerRuntime string `json:"hostFromContainerRuntime,omitempty"`
	// Help is a URL about the registry.
	Help string `json:"help,omitempty"`
}

// LocalRegistry reads the ConfigMap kube-public/local-registry-hosting that
// kind, k3d, minikube, ctlptl and devloop write. It returns nil (and no
// error) when the cluster has none.
func (c *Client) LocalRegistry(ctx context.Context) (*RegistryHosting, error) {
	cm, err := c.cs.CoreV1().ConfigMaps("kube-public").Get(ctx, "local-registry-hosting", metav1.GetOptions{})
	if apierrors.IsNotFound(err) || apierrors.IsForbidden(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading ConfigMap kube-public/local-registry-hosting in context %q: %w", c.context, err)
	}
	return parseRegistryHosting(cm.Data["localRegistryHosting.v1"])
}

func parseRegistryHosting(doc string) (*RegistryHosting, error) {
	if doc == "" {
		return nil, nil
	}
	var h RegistryHosting
	if err := yaml.Unmarshal([]byte(doc), &h); err != nil {
		return nil, fmt.Errorf("ConfigMap kube-public/local-registry-hosting: localRegistryHosting.v1 is not valid YAML: %w", err)
	}
	if h.Host == "" {
		return nil, fmt.Errorf("ConfigMap kube-public/local-registry-hosting: localRegistryHosting.v1 has no host")
	}
	if h.HostFromContainerRuntime == "" {
		h.HostFromContainerRuntime = h.Host
	}
	return &h, nil
}
