package builder

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"
)

// Registry is where built images are pushed, as KEP-1755 describes it.
type Registry struct {
	// Host is the registry as seen from this machine, e.g. "localhost:5001".
	Host string `yaml:"host"`
	// HostFromClusterNetwork is the registry as seen from pods, when it differs.
	HostFromClusterNetwork string `yaml:"hostFromClusterNetwork"`
	// HostFromContainerRuntime is the registry as the nodes' container runtime
	// pulls from it, when it differs from Host.
	HostFromContainerRuntime string `yaml:"hostFromContainerRuntime"`
	// Help is a URL explaining how the registry is set up.
	Help string `yaml:"help"`
}

// LocalRegistryHostingKey is the ConfigMap key that KEP-1755 defines in
// kube-public/local-registry-hosting.
const LocalRegistryHostingKey = "localRegistryHosting.v1"

// ParseLocalRegistryHosting parses the data of the KEP-1755 ConfigMap
// kube-public/local-registry-hosting into a Registry. It returns an error when
// the key is missing, the YAML is malformed or no host is given.
func ParseLocalRegistryHosting(data map[string]string) (Registry, error) {
	raw, ok := data[LocalRegistryHostingKey]
	if !ok {
		return Registry{}, fmt.Errorf("configmap kube-public/local-registry-hosting has no key %q: the cluster does not advertise a local registry (KEP-1755); set default_registry() in the Devfile", LocalRegistryHostingKey)
	}
	var r Registry
	if err := yaml.Unmarshal([]byte(raw), &r); err != nil {
		return Registry{}, fmt.Errorf("parsing %s of configmap kube-public/local-registry-hosting: %w", LocalRegistryHostingKey, err)
	}
	r.Host = strings.TrimSpace(r.Host)
	if r.Host == "" {
		return Registry{}, fmt.Errorf("%s of configmap kube-public/local-registry-hosting has no host: fix the configmap or set default_registry() in the Devfile", LocalRegistryHostingKey)
	}
	return r, nil
}

// ContainerRuntimeHost returns the registry host the cluster's nodes pull from.
func (r Registry) ContainerRuntimeHost() string {
	if r.HostFromContainerRuntime != "" {
		return r.HostFromContainerRuntime
	}
	return r.Host
}

// TagPrefix starts every tag devloop gives an image it built.
const TagPrefix = "devloop-"

// Tag returns the tag for an image whose inputs hash to digest
// ("sha256:<hex>" or bare hex): TagPrefix plus its first 16 hex digits.
func Tag(digest string) string {
	hex := strings.TrimPrefix(digest, "sha256:")
	if len(hex) > 16 {
		hex = hex[:16]
	}
	return TagPrefix + hex
}

// Repository returns the repository an image ref is pushed to in registry
// host: the ref without tag or digest, with '/' replaced by '_' so that any
// ref fits one path component under the registry, as Tilt's default_registry
// does ("gcr.io/proj/app" → "localhost:5001/gcr.io_proj_app"). With no host,
// the ref's own name is used.
func Repository(host, ref string) string {
	name := refName(ref)
	if host == "" {
		return name
	}
	return strings.TrimSuffix(host, "/") + "/" + strings.ReplaceAll(name, "/", "_")
}

// refName strips a tag or digest from an image reference.
func refName(ref string) string {
	if i := strings.Index(ref, "@"); i >= 0 {
		ref = ref[:i]
	}
	slash := strings.LastIndex(ref, "/")
	if i := strings.LastIndex(ref, ":"); i > slash {
		ref = ref[:i]
	}
	return ref
}

// splitRepository splits "host/path" into the registry host and the path. A
// first component without '.', ':' or "localhost" is not a host: such names
// live on Docker Hub.
func splitRepository(name string) (host, path string) {
	i := strings.Index(name, "/")
	if i < 0 {
		return "docker.io", "library/" + name
	}
	first := name[:i]
	if !strings.ContainsAny(first, ".:") && first != "localhost" {
		return "docker.io", name
	}
	return first, name[i+1:]
}

// manifestAccept lists the manifest media types devloop understands, so the
// registry answers HEAD with the digest BuildKit pushed (index or manifest).
var manifestAccept = strings.Join([]string{
	"application/vnd.oci.image.index.v1+json",
	"application/vnd.docker.distribution.manifest.list.v2+json",
	"application/vnd.oci.image.manifest.v1+json",
	"application/vnd.docker.distribution.manifest.v2+json",
}, ", ")

// errManifestNotFound is returned by registryClient.Head when the registry
// answers 404 for a manifest.
var errManifestNotFound = errors.New("manifest not found")

// registryClient asks registries for manifest digests over the distribution
// HTTP API: plain HTTP for loopback hosts (as BuildKit does), HTTPS
// otherwise, with anonymous bearer tokens when a registry asks for them.
type registryClient struct {
	http *http.Client

	mu     sync.Mutex
	tokens map[string]string // scope → bearer token
}

// registryTimeout bounds one registry round trip: the no-op path does a HEAD
// per image, and a registry that hangs must not hang a rebuild.
const registryTimeout = 10 * time.Second

func newRegistryClient() *registryClient {
	return &registryClient{http: &http.Client{Timeout: registryTimeout}, tokens: map[string]string{}}
}

// Head returns the digest of the manifest name:reference ("host/path" and a
// tag or "sha256:..." digest) without downloading it.
func (c *registryClient) Head(ctx context.Context, name, reference string) (string, error) {
	host, path := splitRepository(name)
	endpoint := host
	if host == "docker.io" {
		endpoint = "registry-1.docker.io"
	}
	scheme := "https"
	if isLoopback(host) {
		scheme = "http"
	}
	u := fmt.Sprintf("%s://%s/v2/%s/manifests/%s", scheme, endpoint, path, reference)
	scope := "repository:" + path + ":pull"
	resp, err := c.do(ctx, u, scope)
	if err != nil {
		return "", err
	}
	if resp.StatusCode == http.StatusUnauthorized {
		challenge := resp.Header.Get("Www-Authenticate")
		resp.Body.Close()
		if err := c.fetchToken(ctx, challenge, scope); err != nil {
			return "", fmt.Errorf("HEAD %s: %w", u, err)
		}
		if resp, err = c.do(ctx, u, scope); err != nil {
			return "", err
		}
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return "", fmt.Errorf("HEAD %s: %w", u, errManifestNotFound)
	case resp.StatusCode != http.StatusOK:
		return "", fmt.Errorf("HEAD %s: %s", u, resp.Status)
	}
	d := resp.Header.Get("Docker-Content-Digest")
	if d == "" {
		return "", fmt.Errorf("HEAD %s: no Docker-Content-Digest header in the answer", u)
	}
	return d, nil
}

func (c *registryClient) do(ctx context.Context, u, scope string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", manifestAccept)
	c.mu.Lock()
	tok := c.tokens[scope]
	c.mu.Unlock()
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("HEAD %s: %w", u, err)
	}
	return resp, nil
}

// fetchToken gets an anonymous token for a "Bearer realm=...,service=..."
// challenge, as public registries hand out for pulls.
func (c *registryClient) fetchToken(ctx context.Context, challenge, scope string) error {
	params, ok := parseBearer(challenge)
	if !ok {
		return fmt.Errorf("registry asks for credentials (%q): devloop only reads public or unauthenticated registries here", challenge)
	}
	q := url.Values{}
	if s := params["service"]; s != "" {
		q.Set("service", s)
	}
	q.Set("scope", scope)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, params["realm"]+"?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("getting a registry token: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("getting a registry token: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("getting a registry token from %s: %s", params["realm"], resp.Status)
	}
	var tok struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(body, &tok); err != nil {
		return fmt.Errorf("parsing the registry token from %s: %w", params["realm"], err)
	}
	t := tok.Token
	if t == "" {
		t = tok.AccessToken
	}
	c.mu.Lock()
	c.tokens[scope] = t
	c.mu.Unlock()
	return nil
}

// parseBearer parses `Bearer realm="...",service="...",scope="..."`.
func parseBearer(h string) (map[string]string, bool) {
	rest, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		return nil, false
	}
	out := map[string]string{}
	for _, part := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		out[k] = strings.Trim(v, `"`)
	}
	return out, out["realm"] != ""
}

// isLoopback reports whether a registry host ("localhost:5001",
// "127.0.0.1:5000", "[::1]:5000") is on this machine, where plain HTTP is
// the norm.
func isLoopback(host string) bool {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(h, "[]"))
	return ip != nil && ip.IsLoopback()
}
