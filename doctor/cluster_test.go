package doctor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/devloop-dev/devloop/devfile"
	"github.com/devloop-dev/devloop/internal/testkit/testenv"
	"github.com/devloop-dev/devloop/web"
)

// dockerWorld answers the docker CLI as a machine with these containers
// (name → state) and images would.
type dockerWorld struct {
	containers map[string]string
	images     map[string]bool
}

func (w dockerWorld) Run(_ context.Context, argv ...string) (string, error) {
	switch argv[1] {
	case "info":
		return "27.3.1\n", nil
	case "ps":
		for _, a := range argv {
			if name, ok := strings.CutPrefix(a, "name=^"); ok {
				return w.containers[strings.TrimSuffix(name, "$")] + "\n", nil
			}
		}
	case "image":
		if w.images[argv[len(argv)-1]] {
			return "sha256:1\n", nil
		}
		return "", errors.New("Error response from daemon: No such image")
	}
	return "", fmt.Errorf("unexpected docker %q", argv)
}

// listen holds a port on 127.0.0.1 for the test and returns it.
func listen(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().(*net.TCPAddr).Port
}

func TestCheckCluster(t *testing.T) {
	held := listen(t)
	env := map[string]string{"DEVLOOP_KIND_NODE_IMAGE": "mirror/node:1", "DEVLOOP_REGISTRY_IMAGE": "mirror/registry:2"}
	getenv := func(k string) string { return env[k] }
	tests := []struct {
		name  string
		world dockerWorld
		c     devfile.Cluster
		want  []check
	}{
		{"exists, registry running on its port", dockerWorld{containers: map[string]string{"dev-control-plane": "running", "devloop-dev-registry": "running"}},
			devfile.Cluster{Name: "dev", Registry: true, RegistryPort: held},
			[]check{{OK, "kind cluster dev exists (running); devloop up reuses it", ""}, {OK, "is the cluster's registry devloop-dev-registry, running", ""}}},
		{"stopped", dockerWorld{containers: map[string]string{"dev-control-plane": "exited"}}, devfile.Cluster{Name: "dev"},
			[]check{{OK, "exists but is exited; devloop up starts it", ""}}},
		{"to create, images here, port free", dockerWorld{images: map[string]bool{"mirror/node:1": true, "mirror/registry:2": true}},
			devfile.Cluster{Name: "dev", Registry: true, RegistryPort: testenv.FreePort(t)},
			[]check{{OK, "creates it from node image mirror/node:1 (on this machine)", ""}, {OK, "is free for the cluster's registry", ""}}},
		{"to create, offline", dockerWorld{}, devfile.Cluster{Name: "dev", Registry: true, RegistryPort: held},
			[]check{
				{Warn, "its node image mirror/node:1 is not on this machine: devloop up pulls it", "set DEVLOOP_KIND_NODE_IMAGE"},
				{Warn, "the registry image mirror/registry:2 is not on this machine", "set DEVLOOP_REGISTRY_IMAGE"},
				{Fail, "is in use by another program", "kind_cluster(registry_port=N)"},
			}},
		{"bad name", dockerWorld{}, devfile.Cluster{Name: "Bad_Name"}, []check{{Fail, "is not valid", "fix kind_cluster()"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := checkCluster(context.Background(), tt.world, "docker", time.Second, tt.c, getenv)
			if len(rs) != len(tt.want) {
				t.Fatalf("checkCluster(%s) = %v, want %d results", tt.name, rs, len(tt.want))
			}
			for i, w := range tt.want {
				w.match(t, fmt.Sprintf("checkCluster(%s)[%d]", tt.name, i), rs[i])
			}
		})
	}
}

func TestCheckForwards(t *testing.T) {
	held, free := listen(t), testenv.FreePort(t)
	model := func(ports ...int) *devfile.Model {
		r := devfile.Resource{Name: "api"}
		for _, p := range ports {
			r.PortForwards = append(r.PortForwards, devfile.PortForward{Local: p, Container: 80})
		}
		return &devfile.Model{Resources: []devfile.Resource{r}}
	}
	if rs := checkForwards(model()); len(rs) != 0 {
		t.Errorf("checkForwards(no forwards) = %v, want nothing", rs)
	}
	rs := checkForwards(model(free))
	if len(rs) != 1 {
		t.Fatalf("checkForwards(free) = %v, want one result", rs)
	}
	check{OK, "1 port forward, every local port free", ""}.match(t, "checkForwards(free)", rs[0])
	rs = checkForwards(model(free, held))
	if len(rs) != 1 {
		t.Fatalf("checkForwards(held) = %v, want one result", rs)
	}
	check{Warn, fmt.Sprintf("in use: 127.0.0.1:%d (api)", held), "change port_forwards"}.match(t, "checkForwards(held)", rs[0])
}

// TestRunBuildKitNeedsDocker: without BUILDKIT_HOST devloop starts its own
// buildkitd with docker, so a docker that does not answer fails the
// buildkit line too (it used to say ✓).
func TestRunBuildKitNeedsDocker(t *testing.T) {
	m := &devfile.Model{Images: []devfile.Image{{Ref: "app", Kind: devfile.ImageDocker}}}
	d, err := New(Config{Getenv: func(string) string { return "" }, Port: testenv.FreePort(t)}, Deps{
		Load:        func(context.Context) (*devfile.Model, error) { return m, nil },
		Runner:      &fakeRunner{err: map[string]error{"info": errors.New("Cannot connect to the Docker daemon")}},
		Inotify:     fstest.MapFS{"max_user_watches": {Data: []byte("524288\n")}, "max_user_instances": {Data: []byte("128\n")}},
		Tree:        fstest.MapFS{},
		DaemonState: func(int) (web.State, error) { return web.State{}, errors.New("none") },
	})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := d.Run(context.Background(), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if r.Check == "buildkit" {
			check{Fail, "docker does not answer, so devloop cannot start its own buildkitd", "BUILDKIT_HOST"}.match(t, "buildkit", r)
			return
		}
	}
	t.Fatalf("Run = %v, want a buildkit line", rs)
}
