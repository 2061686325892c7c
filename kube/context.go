package kube

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
)

// localTools are the local cluster tools, by the context names they write
// into kubeconfig, and where each one's API server can be. A context is
// local only when both hold: a loopback address alone is what `kubectl
// proxy`, `ssh -L` and IAP tunnels to production look like, and a name
// alone is anyone's to choose.
var localTools = []struct {
	// prefixes match the start of the lower-cased context name (a prefix
	// also matches the exact name: "minikube"); names match it whole.
	prefixes, names []string
	// vm: the tool may run its cluster in a VM on a private address
	// (minikube's VM drivers, microk8s under multipass, CRC), not only on
	// this machine's loopback.
	vm bool
}{
	{prefixes: []string{"kind-"}, names: []string{"kind"}},
	{prefixes: []string{"k3d-"}},
	{prefixes: []string{"docker-desktop", "docker-for-desktop"}},
	{prefixes: []string{"rancher-desktop"}},
	{prefixes: []string{"orbstack"}},
	{prefixes: []string{"colima"}},
	{prefixes: []string{"k3s-"}, names: []string{"k3s"}},
	{prefixes: []string{"minikube"}, vm: true},
	{prefixes: []string{"microk8s"}, vm: true},
	{prefixes: []string{"crc-"}, names: []string{"crc"}, vm: true},
}

// localHostSuffixes are API server host names that local tools write
// instead of an address (docker-desktop's kubernetes.docker.internal,
// OrbStack's k8s.orb.local, CRC's api.crc.testing).
var localHostSuffixes = []string{".docker.internal", ".orb.local", ".crc.testing", ".localhost"}

// productionWords in a context name make devloop refuse it unless the Devfile
// allows it by name, whatever tool wrote it ("kind-prod").
var productionWords = []string{"prod", "production", "prd"}

// IsLocalContext reports whether the kube context named name, whose API
// server is at server, is a cluster on this machine: its name is one a local
// cluster tool writes (kind-*, k3d-*, minikube, docker-desktop,
// rancher-desktop, orbstack, colima, microk8s, crc, ...), its server is where
// that tool puts one (loopback, or a private address for the tools that run
// a VM), and the name does not look like production. An empty server (not
// known yet) is judged by the name alone.
func IsLocalContext(name, server string) bool {
	n := strings.ToLower(name)
	if looksLikeProduction(n) {
		return false
	}
	for _, tool := range localTools {
		if !slices.Contains(tool.names, n) && !slices.ContainsFunc(tool.prefixes, func(p string) bool { return strings.HasPrefix(n, p) }) {
			continue
		}
		return server == "" || localServer(server, tool.vm)
	}
	return false
}

// looksLikeProduction reports whether one of the words of the lower-cased
// context name n (split at anything but letters and digits) is a production
// word.
func looksLikeProduction(n string) bool {
	words := strings.FieldsFunc(n, func(r rune) bool { return (r < 'a' || r > 'z') && (r < '0' || r > '9') })
	return slices.ContainsFunc(words, func(w string) bool { return slices.Contains(productionWords, w) })
}

// localServer reports whether the API server URL is on this machine: a
// loopback or unspecified address (k3d writes 0.0.0.0), localhost or a local
// tool's host name; with vm, also a private or link-local address.
func localServer(server string, vm bool) bool {
	u, err := url.Parse(server)
	if err != nil || u.Host == "" {
		return false
	}
	host := strings.ToLower(u.Hostname())
	if host == "localhost" || slices.ContainsFunc(localHostSuffixes, func(s string) bool { return strings.HasSuffix(host, s) }) {
		return true
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return false
	}
	return ip.IsLoopback() || ip.IsUnspecified() || vm && (ip.IsPrivate() || ip.IsLinkLocalUnicast())
}

// CheckContext returns nil when devloop may deploy to the kube context name
// (API server at server): it is local (IsLocalContext) or listed in allowed,
// the Devfile's allow_k8s_contexts() names. Otherwise the error names the
// context, why it is not taken for local, and the fix. It needs no
// connection: nothing is sent to a cluster before it passes.
func CheckContext(name, server string, allowed []string) error {
	if IsLocalContext(name, server) || slices.Contains(allowed, name) {
		return nil
	}
	if name == "" {
		return fmt.Errorf("no kube context is selected: declare kind_cluster() in the Devfile, or select a local cluster with `kubectl config use-context`")
	}
	why := "does not look like a local cluster"
	switch n := strings.ToLower(name); {
	case looksLikeProduction(n):
		why = "looks like production"
	case server != "" && localServer(server, false):
		why = "has a local address but not the name of a local cluster tool (a tunnel or proxy to a remote cluster looks like this)"
	}
	return fmt.Errorf("kube context %q (server %s) %s, so devloop will not deploy to it: "+
		"if you mean to, add allow_k8s_contexts(%q) to the Devfile, or switch to a local cluster with `kubectl config use-context`",
		name, server, why, name)
}
