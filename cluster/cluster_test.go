package cluster

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/devloop-dev/devloop/devfile"
	"github.com/devloop-dev/devloop/kindcluster"
	"github.com/devloop-dev/devloop/kube/localregistry"
)

// writeKubeconfig writes a kubeconfig with one context per name → server.
func writeKubeconfig(t *testing.T, current string, servers map[string]string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: Config\ncurrent-context: " + current + "\nclusters:\n")
	for name, server := range servers {
		fmt.Fprintf(&b, "- name: %s\n  cluster:\n    server: %s\n", name, server)
	}
	b.WriteString("contexts:\n")
	for name := range servers {
		fmt.Fprintf(&b, "- name: %s\n  context:\n    cluster: %s\n    user: u\n", name, name)
	}
	b.WriteString("users:\n- name: u\n  user: {}\n")
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// apiServer serves the KEP-1755 ConfigMap with doc (404 when empty).
func apiServer(t *testing.T, doc string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path != "/api/v1/namespaces/kube-public/configmaps/local-registry-hosting" || doc == "" {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}`)
			return
		}
		fmt.Fprintf(w, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"local-registry-hosting","namespace":"kube-public"},"data":{"localRegistryHosting.v1":%q}}`, doc)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestConnect(t *testing.T) {
	const hosting = "host: localhost:5005\nhostFromContainerRuntime: devloop-registry:5000\n"
	withRegistry := apiServer(t, hosting)
	noRegistry := apiServer(t, "")
	app := []devfile.Image{{Ref: "app", Kind: devfile.ImageDocker}}
	tests := []struct {
		name     string
		model    devfile.Model
		current  string
		servers  map[string]string
		ensure   func(ctx context.Context, c devfile.Cluster) (*kindcluster.Info, error)
		flags    Options // Context and Namespace: --context, --namespace
		context  string
		ns       string // the client's namespace, when the case says
		registry localregistry.Hosting
		err      string
	}{
		{
			name:    "current local context with the cluster's registry",
			model:   devfile.Model{Images: app},
			current: "kind-dev", servers: map[string]string{"kind-dev": withRegistry.URL},
			context:  "kind-dev",
			registry: localregistry.Hosting{Host: "localhost:5005", HostFromContainerRuntime: "devloop-registry:5000"},
		},
		{
			name:  "kind_cluster is ensured and its context used, not the current one",
			model: devfile.Model{Images: app, Cluster: &devfile.Cluster{Name: "dev", Registry: true}},
			ensure: func(ctx context.Context, c devfile.Cluster) (*kindcluster.Info, error) {
				if c.Name != "dev" {
					return nil, fmt.Errorf("ensure(%q), want dev", c.Name)
				}
				return &kindcluster.Info{Name: "dev", Context: "kind-dev"}, nil
			},
			current: "prod", servers: map[string]string{"kind-dev": withRegistry.URL, "prod": "https://k8s.example.com"},
			context:  "kind-dev",
			registry: localregistry.Hosting{Host: "localhost:5005", HostFromContainerRuntime: "devloop-registry:5000"},
		},
		{
			name:  "kind_cluster with a production-looking name is still the local cluster devloop ensured",
			model: devfile.Model{Cluster: &devfile.Cluster{Name: "prod"}},
			ensure: func(ctx context.Context, c devfile.Cluster) (*kindcluster.Info, error) {
				return &kindcluster.Info{Name: "prod", Context: "kind-prod"}, nil
			},
			current: "kind-prod", servers: map[string]string{"kind-prod": noRegistry.URL},
			context: "kind-prod",
		},
		{
			name:    "the same context not ensured by devloop needs allow_k8s_contexts",
			current: "kind-prod", servers: map[string]string{"kind-prod": noRegistry.URL},
			err: `allow_k8s_contexts("kind-prod")`,
		},
		{
			name:  "kind_cluster that cannot be created",
			model: devfile.Model{Cluster: &devfile.Cluster{Name: "dev"}},
			ensure: func(ctx context.Context, c devfile.Cluster) (*kindcluster.Info, error) {
				return nil, errors.New("docker is not running: start it")
			},
			err: "kind cluster dev: docker is not running: start it",
		},
		{
			name:    "--context picks a context that is not the current one",
			current: "prod", servers: map[string]string{"kind-dev": noRegistry.URL, "prod": "https://k8s.example.com"},
			flags:   Options{Context: "kind-dev", Namespace: "team"},
			context: "kind-dev", ns: "team",
		},
		{
			name:    "--context is still checked against allow_k8s_contexts",
			current: "kind-dev", servers: map[string]string{"kind-dev": noRegistry.URL, "prod": "https://k8s.example.com"},
			flags: Options{Context: "prod"},
			err:   `add allow_k8s_contexts("prod") to the Devfile`,
		},
		{
			name:  "--context other than the kind_cluster's",
			model: devfile.Model{Cluster: &devfile.Cluster{Name: "dev"}},
			ensure: func(ctx context.Context, c devfile.Cluster) (*kindcluster.Info, error) {
				return nil, errors.New("ensure must not run")
			},
			flags: Options{Context: "prod"},
			err:   "--context prod: the Devfile declares kind_cluster(), so devloop deploys to its context kind-dev",
		},
		{
			name:    "remote context without allow_k8s_contexts",
			current: "prod", servers: map[string]string{"prod": "https://k8s.example.com"},
			err: `add allow_k8s_contexts("prod") to the Devfile`,
		},
		{
			name:    "default_registry wins over the cluster's",
			model:   devfile.Model{Images: app, Settings: devfile.Settings{DefaultRegistry: "registry.local:5000"}},
			current: "kind-dev", servers: map[string]string{"kind-dev": withRegistry.URL},
			context: "kind-dev", registry: localregistry.Hosting{Host: "registry.local:5000"},
		},
		{
			name:    "images but no registry",
			model:   devfile.Model{Images: app},
			current: "kind-dev", servers: map[string]string{"kind-dev": noRegistry.URL},
			err: `kube context "kind-dev" advertises no local registry`,
		},
		{
			name:    "no images need no registry",
			current: "kind-dev", servers: map[string]string{"kind-dev": noRegistry.URL},
			context: "kind-dev",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kubeconfig := ""
			if tt.servers != nil {
				kubeconfig = writeKubeconfig(t, tt.current, tt.servers)
			}
			ensure := tt.ensure
			if ensure != nil {
				inner := ensure
				ensure = func(ctx context.Context, c devfile.Cluster) (*kindcluster.Info, error) {
					info, err := inner(ctx, c)
					if info != nil {
						info.Kubeconfig = kubeconfig
					}
					return info, err
				}
			}
			env := map[string]string{"XDG_CACHE_HOME": t.TempDir()}
			c, err := Connect(context.Background(), &tt.model, Options{
				Ensure: ensure, Kubeconfig: kubeconfig, Getenv: func(k string) string { return env[k] },
				Context: tt.flags.Context, Namespace: tt.flags.Namespace,
			})
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Connect() error = %v, want it to contain %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Connect() error = %v", err)
			}
			defer c.Close()
			if got := c.Client().Context(); got != tt.context {
				t.Errorf("Connect() context = %q, want %q", got, tt.context)
			}
			if got := c.Client().Namespace(); tt.ns != "" && got != tt.ns {
				t.Errorf("Connect() namespace = %q, want %q", got, tt.ns)
			}
			if c.Registry() != tt.registry {
				t.Errorf("Connect() registry = %+v, want %+v", c.Registry(), tt.registry)
			}
		})
	}
}

// TestHelloExample keeps examples/hello loadable and shaped as its README
// says: a cluster, the binary, one image, the service forwarded.
func TestHelloExample(t *testing.T) {
	m, err := devfile.Load(context.Background(), "../examples/hello/Devfile", devfile.Options{Args: []string{"--port", "9000"}, Subcommand: "up"})
	if err != nil {
		t.Fatal(err)
	}
	if m.Cluster == nil || m.Cluster.Name != "devloop-hello" || !m.Cluster.Registry {
		t.Errorf("cluster = %+v, want devloop-hello with a registry", m.Cluster)
	}
	var names []string
	for _, r := range m.Resources {
		names = append(names, string(r.Kind)+":"+r.Name)
	}
	if got, want := strings.Join(names, " "), "k8s:hello local:hello-bin"; got != want {
		t.Fatalf("resources = %q, want %q", got, want)
	}
	hello := m.Resources[0]
	if len(hello.Objects) != 2 || len(hello.Images) != 1 || hello.Images[0] != "hello" {
		t.Errorf("hello objects %d, images %q; want the Deployment and Service, image hello", len(hello.Objects), hello.Images)
	}
	if len(hello.PortForwards) != 1 || hello.PortForwards[0].Local != 9000 || hello.PortForwards[0].Container != 8080 {
		t.Errorf("hello port_forwards = %+v, want 9000:8080", hello.PortForwards)
	}
	if !Needed(m) || !hasLocal(m) {
		t.Errorf("Needed = %v, hasLocal = %v, want both", Needed(m), hasLocal(m))
	}
}
