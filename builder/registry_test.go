package builder

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// testRegistry is an in-memory registry on 127.0.0.1 that wants user:pass
// when auth is set, holding one image at app:v1.
func testRegistry(t *testing.T, auth bool) (host, digest string) {
	t.Helper()
	h := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); auth && (!ok || u != "user" || p != "pass") {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	host = strings.TrimPrefix(srv.URL, "http://")
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(host+"/app:v1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	var opts []remote.Option
	if auth {
		opts = append(opts, remote.WithAuth(&authn.Basic{Username: "user", Password: "pass"}))
	}
	if err := remote.Write(ref, img, opts...); err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return host, d.String()
}

// dockerConfig writes a docker config.json that logs in to host (when
// given) and points DOCKER_CONFIG at it, as `docker login` would leave it.
func dockerConfig(t *testing.T, host string) {
	dir := t.TempDir()
	auths := "{}"
	if host != "" {
		auths = `{"` + host + `":{"auth":"` + base64.StdEncoding.EncodeToString([]byte("user:pass")) + `"}}`
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"auths":`+auths+`}`), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKER_CONFIG", dir)
}

func TestRegistryClientHead(t *testing.T) {
	open, openDigest := testRegistry(t, false)
	private, privateDigest := testRegistry(t, true)
	tests := []struct {
		name      string
		repo, ref string
		login     string // host the docker config logs in to
		want      string
		wantErr   []string
		notFound  bool
	}{
		{name: "anonymous tag", repo: open + "/app", ref: "v1", want: openDigest},
		{name: "anonymous digest", repo: open + "/app", ref: openDigest, want: openDigest},
		{name: "missing tag", repo: open + "/app", ref: "v2", notFound: true,
			wantErr: []string{"registry " + open + " has no " + open + "/app:v2"}},
		{name: "logged in", repo: private + "/app", ref: "v1", login: private, want: privateDigest},
		{name: "not logged in", repo: private + "/app", ref: "v1",
			wantErr: []string{"registry " + private + " refuses to show", "docker login " + private}},
		{name: "no registry", repo: "127.0.0.1:1/app", ref: "v1",
			wantErr: []string{"asking registry 127.0.0.1:1 for 127.0.0.1:1/app:v1", "reachable from this machine"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dockerConfig(t, tt.login)
			got, err := newRegistryClient().Head(context.Background(), tt.repo, tt.ref)
			if tt.wantErr == nil {
				if err != nil || got != tt.want {
					t.Fatalf("Head(%s, %s) = %q, %v, want %q", tt.repo, tt.ref, got, err, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("Head(%s, %s) = %q, want an error", tt.repo, tt.ref, got)
			}
			t.Logf("error: %v", err)
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Head(%s, %s) error = %v, want it to contain %q", tt.repo, tt.ref, err, w)
				}
			}
			if errors.Is(err, errManifestNotFound) != tt.notFound {
				t.Errorf("Head(%s, %s) error = %v, errors.Is(errManifestNotFound) = %v, want %v", tt.repo, tt.ref, err, !tt.notFound, tt.notFound)
			}
		})
	}
}
