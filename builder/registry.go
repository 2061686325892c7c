package builder

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// tagPrefix starts every tag devloop gives an image it built.
const tagPrefix = "devloop-"

// contentTag returns the tag for an image whose inputs hash to digest
// ("sha256:<hex>" or bare hex): tagPrefix plus its first 16 hex digits.
func contentTag(digest string) string {
	hex := strings.TrimPrefix(digest, "sha256:")
	if len(hex) > 16 {
		hex = hex[:16]
	}
	return tagPrefix + hex
}

// repository returns the repository an image ref is pushed to in registry
// host: the ref without tag or digest, with '/' replaced by '_' so that any
// ref fits one path component under the registry, as Tilt's default_registry
// does ("gcr.io/proj/app" → "localhost:5001/gcr.io_proj_app"). With no host,
// the ref's own name is used.
func repository(host, ref string) string {
	base := refName(ref)
	if host == "" {
		return base
	}
	return strings.TrimSuffix(host, "/") + "/" + strings.ReplaceAll(base, "/", "_")
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

// errManifestNotFound is returned by registryClient.Head when the registry
// has no such manifest.
var errManifestNotFound = errors.New("manifest not found")

// registryClient asks registries for manifest digests with
// go-containerregistry. It logs in with docker's credentials (config.json
// and credential helpers, as `docker login` leaves them), so private
// registries work, and speaks plain HTTP to loopback hosts, as BuildKit does.
type registryClient struct {
	keychain authn.Keychain
}

// registryTimeout bounds one question to a registry (with its token round
// trip and retries): the no-op path asks once per image, and a registry
// that hangs must not hang a rebuild.
const registryTimeout = 10 * time.Second

func newRegistryClient() registryClient {
	return registryClient{keychain: authn.DefaultKeychain}
}

// Head returns the digest of the manifest repo:reference (repo is
// "host/path"; reference a tag or a "sha256:..." digest) without
// downloading it. A registry that does not answer HEAD with a digest is
// asked with GET.
func (c registryClient) Head(ctx context.Context, repo, reference string) (string, error) {
	ref, err := parseReference(repo, reference)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, registryTimeout)
	defer cancel()
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(c.keychain), remote.WithUserAgent("devloop")}
	desc, err := remote.Head(ref, opts...)
	if err == nil {
		return desc.Digest.String(), nil
	}
	if ctx.Err() == nil && !answered(err) {
		if d, gerr := remote.Get(ref, opts...); gerr == nil {
			return d.Digest.String(), nil
		}
	}
	return "", registryError(ref, err)
}

// parseReference names repo:reference, insecure (plain HTTP allowed) on a
// loopback host.
func parseReference(repo, reference string) (name.Reference, error) {
	s := repo + ":" + reference
	if strings.HasPrefix(reference, "sha256:") {
		s = repo + "@" + reference
	}
	ref, err := name.ParseReference(s)
	if err != nil {
		return nil, fmt.Errorf("image reference %s: %w", s, err)
	}
	if isLoopback(ref.Context().RegistryStr()) {
		return name.ParseReference(s, name.Insecure)
	}
	return ref, nil
}

// answered reports whether err is the registry's considered answer (no
// such manifest, or no access), which asking again with GET cannot change.
func answered(err error) bool {
	var terr *transport.Error
	if !errors.As(err, &terr) {
		return false
	}
	switch terr.StatusCode {
	case http.StatusNotFound, http.StatusUnauthorized, http.StatusForbidden:
		return true
	}
	return false
}

// registryError says which registry failed to answer for ref, and what to
// do about it.
func registryError(ref name.Reference, err error) error {
	host := ref.Context().RegistryStr()
	var terr *transport.Error
	if errors.As(err, &terr) {
		switch terr.StatusCode {
		case http.StatusNotFound:
			return fmt.Errorf("registry %s has no %s: %w", host, ref, errManifestNotFound)
		case http.StatusUnauthorized, http.StatusForbidden:
			return fmt.Errorf("registry %s refuses to show %s (%w): log in with `docker login %s`; devloop uses docker's credentials and credential helpers", host, ref, err, host)
		}
	}
	return fmt.Errorf("asking registry %s for %s: %w; check that the registry runs and is reachable from this machine", host, ref, err)
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
