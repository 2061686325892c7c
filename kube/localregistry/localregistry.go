// Package localregistry is the KEP-1755 LocalRegistryHostingV1 document:
// where a cluster's local registry is, as kind, k3d, minikube, ctlptl and
// devloop advertise it in the ConfigMap kube-public/local-registry-hosting.
package localregistry

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// The ConfigMap that KEP-1755 defines, and its key.
const (
	Namespace = "kube-public"
	Name      = "local-registry-hosting"
	Key       = "localRegistryHosting.v1"
)

// Hosting is a localRegistryHosting.v1 document.
type Hosting struct {
	// Host is the registry as seen from this machine, where images are
	// pushed ("localhost:5001").
	Host string `json:"host"`
	// HostFromClusterNetwork is the registry as pods reach it, when it differs.
	HostFromClusterNetwork string `json:"hostFromClusterNetwork,omitempty"`
	// HostFromContainerRuntime is the registry as the nodes' container
	// runtime pulls from it, when it differs from Host.
	HostFromContainerRuntime string `json:"hostFromContainerRuntime,omitempty"`
	// Help is a URL explaining how the registry is set up.
	Help string `json:"help,omitempty"`
}

// Parse parses the data of the ConfigMap. It returns nil (and no error)
// when the data has no document: the cluster advertises no registry.
func Parse(data map[string]string) (*Hosting, error) {
	doc := data[Key]
	if strings.TrimSpace(doc) == "" {
		return nil, nil
	}
	var h Hosting
	if err := yaml.Unmarshal([]byte(doc), &h); err != nil {
		return nil, fmt.Errorf("ConfigMap %s/%s: %s is not valid YAML (%w): fix the ConfigMap, or set default_registry() in the Devfile", Namespace, Name, Key, err)
	}
	h.Host = strings.TrimSpace(h.Host)
	if h.Host == "" {
		return nil, fmt.Errorf("ConfigMap %s/%s: %s has no host: fix the ConfigMap, or set default_registry() in the Devfile", Namespace, Name, Key)
	}
	return &h, nil
}

// ContainerRuntimeHost returns the registry host the cluster's nodes pull from.
func (h Hosting) ContainerRuntimeHost() string {
	if h.HostFromContainerRuntime != "" {
		return h.HostFromContainerRuntime
	}
	return h.Host
}

// String returns h as a localRegistryHosting.v1 document.
func (h Hosting) String() string {
	data, err := yaml.Marshal(h)
	if err != nil {
		// A struct of strings always marshals.
		panic(fmt.Sprintf("localregistry: marshalling %#v: %v", h, err))
	}
	return string(data)
}

// ConfigMap returns the ConfigMap that advertises h.
func (h Hosting) ConfigMap() *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: Name, Namespace: Namespace},
		Data:       map[string]string{Key: h.String()},
	}
}
