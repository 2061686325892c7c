package kube

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
)

// localContextPrefixes are the context-name prefixes that local cluster tools
// write into kubeconfig (kind-NAME, k3d-NAME, ...).
// A prefix also matches the exact name ("minikube").
var localContextPrefixes = []string{"kind-", "k3d-", "minikube", "docker-desktop", "docker-for-desktop",
	"rancher-desktop", "orbstack", "microk8s", "colima", "k3s-", "crc-"}

// localContextNames are exact context names of local cluster tools that are
// too short to use as prefixes.
var localContextNames = []string{"kind", "crc", "k3s"}

// IsLocalContext reports whether the kube context named name, whose API
// server is at server (may be empty), is a cluster on this machine: a context
// name that a local cluster tool writes (kind-*, k3d-*, minikube,
// docker-desktop, rancher-desktop, orbstack, microk8s, crc, ...) or a server
// URL on a loopback address.
func IsLocalContext(name, server string) bool {
	n := strings.ToLower(name)
	if slices.Contains(localContextNames, n) {
		return true
	}
	for _, p := range localContextPrefixes {
		if strings.HasPrefix(n, p) {
			return true
		}
	}
	return isLoopbackServer(server)
}

// isLoopbackServer reports whether the API server URL names localhost or a
// loopback IP (127.0.0.0/8, ::1).
func isLoopbackServer(server string) bool {
	if server == "" {
		return false
	}
	u, err := url.Parse(server)
	if err != nil || u.Host == "" {
		return false
	}
	host := u.Hostname()
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// CheckContext returns nil when devloop may deploy to the kube context name
// (API server at server): it is local (IsLocalContext) or listed in allowed,
// the Devfile's allow_k8s_contexts() names. Otherwise the error names the
// context and the fix.
func CheckContext(name, server string, allowed []string) error {
	if IsLocalContext(name, server) || slices.Contains(allowed, name) {
		return nil
	}
	if name == "" {
		return fmt.Errorf("no kube context is selected: declare kind_cluster() in the Devfile, or select a local cluster with `kubectl config use-context`")
	}
	return fmt.Errorf("kube context %q (server %s) does not look like a local cluster, so devloop will not deploy to it: "+
		"if you mean to, add allow_k8s_contexts(%q) to the Devfile, or switch to a local cluster with `kubectl config use-context`",
		name, server, name)
}
