package kindcluster

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"

	"sigs.k8s.io/kind/pkg/log"

	"github.com/devloop-dev/devloop/internal/dockercli"
)

// docker runs one docker CLI command and returns its standard output.
type docker interface {
	run(ctx context.Context, stdin []byte, args ...string) (string, error)
}

// dockerCLI runs the docker binary.
type dockerCLI struct{ path string }

// errNoDocker says the docker CLI is missing.
var errNoDocker = errors.New("docker is not installed: install Docker (https://docs.docker.com/engine/install/) and make sure `docker` is on PATH")

func (d *dockerCLI) run(ctx context.Context, stdin []byte, args ...string) (string, error) {
	out, err := dockercli.Run(ctx, stdin, append([]string{d.path}, args...)...)
	if errors.Is(err, dockercli.ErrNotFound) {
		return "", errNoDocker
	}
	return out, err
}

func (m *Manager) checkDocker(ctx context.Context) error {
	_, err := m.docker.run(ctx, nil, "info", "--format", "{{.ServerVersion}}")
	switch {
	case errors.Is(err, errNoDocker):
		return err
	case err != nil && ctx.Err() != nil:
		return err
	case err != nil:
		return fmt.Errorf("docker is not running or not reachable (%w): start Docker (e.g. `sudo systemctl start docker`) and check that `docker info` works", err)
	}
	return nil
}

type node struct {
	name    string
	running bool
}

// nodes lists the node containers of kind cluster name, as kind finds them:
// by the cluster label.
func (m *Manager) nodes(ctx context.Context, name string) ([]node, error) {
	out, err := m.docker.run(ctx, nil, "ps", "-a", "--filter", "label="+kindClusterLabel+"="+name, "--format", "{{.Names}}\t{{.State}}")
	if err != nil {
		return nil, fmt.Errorf("listing the nodes of kind cluster %q: %w", name, err)
	}
	var nodes []node
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		n, state, _ := strings.Cut(strings.TrimSpace(line), "\t")
		if n != "" {
			nodes = append(nodes, node{name: n, running: state == "running"})
		}
	}
	return nodes, nil
}

// isDevloop reports whether devloop created the cluster: its nodes carry
// the marker file. docker cp reads it from stopped containers too.
func (m *Manager) isDevloop(ctx context.Context, name string, nodes []node) (bool, error) {
	for _, n := range nodes {
		out, err := m.docker.run(ctx, nil, "cp", n.name+":"+markerFile, "-")
		if err != nil {
			if strings.Contains(err.Error(), "Could not find the file") || strings.Contains(err.Error(), "No such") {
				continue
			}
			return false, fmt.Errorf("reading devloop's marker in node %s of kind cluster %q: %w", n.name, name, err)
		}
		if content, ok := untarOne(out); ok && strings.TrimSpace(content) == name {
			return true, nil
		}
	}
	return false, nil
}

// untarOne returns the content of the first file of the tar stream s.
func untarOne(s string) (string, bool) {
	tr := tar.NewReader(strings.NewReader(s))
	if _, err := tr.Next(); err != nil {
		return "", false
	}
	b, err := io.ReadAll(tr)
	return string(b), err == nil
}

// registryState is an existing registry container.
type registryState struct {
	name     string
	cluster  string // MarkerLabel value; empty when devloop did not create it
	running  bool
	port     string // published host port
	networks []string
}

const registryInspectFormat = `{{index .Config.Labels "` + MarkerLabel + `"}}|{{.State.Running}}|` +
	`{{range $p, $b := .HostConfig.PortBindings}}{{range $b}}{{.HostPort}}{{end}}{{end}}|` +
	`{{range $k, $v := .NetworkSettings.Networks}}{{$k}},{{end}}`

// inspectRegistry returns the registry container of cluster, or nil.
func (m *Manager) inspectRegistry(ctx context.Context, cluster string) (*registryState, error) {
	name := registryName(cluster)
	out, err := m.docker.run(ctx, nil, "inspect", "--type", "container", "--format", registryInspectFormat, name)
	if err != nil {
		if strings.Contains(err.Error(), "No such") {
			return nil, nil
		}
		return nil, fmt.Errorf("inspecting registry container %s: %w", name, err)
	}
	f := strings.Split(strings.TrimSpace(out), "|")
	if len(f) != 4 {
		return nil, fmt.Errorf("inspecting registry container %s: unexpected output %q", name, out)
	}
	r := &registryState{name: name, cluster: f[0], running: f[1] == "true", port: f[2]}
	for _, n := range strings.Split(f[3], ",") {
		if n != "" {
			r.networks = append(r.networks, n)
		}
	}
	return r, nil
}

// checkRegistry finds problems before creating anything: a container of the
// registry's name that devloop did not create, or the port taken.
func (m *Manager) checkRegistry(ctx context.Context, s spec) (*registryState, error) {
	reg, err := m.inspectRegistry(ctx, s.name)
	if err != nil {
		return nil, err
	}
	if reg != nil && reg.cluster != s.name {
		return nil, fmt.Errorf("a container named %s exists but devloop did not create it: remove it (`docker rm -f %s`) or set kind_cluster(registry=False)", reg.name, reg.name)
	}
	if reg != nil && reg.port == strconv.Itoa(s.registryPort) {
		return reg, nil
	}
	if err := portFree(s.registryPort); err != nil {
		return nil, err
	}
	return reg, nil
}

func portFree(port int) error {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("registry port %d on 127.0.0.1 is in use by another program (%w): stop it, or choose another port with kind_cluster(registry_port=...)", port, err)
	}
	return l.Close()
}

// ensureRegistry starts the registry container on the kind network:
// creating it, starting it when stopped, recreating it when registry_port
// changed, and connecting it to the network when it is not.
func (m *Manager) ensureRegistry(ctx context.Context, s spec, reg *registryState) error {
	if reg != nil && reg.port != strconv.Itoa(s.registryPort) {
		m.progressf("Recreating registry %s on port %d (was %s)", reg.name, s.registryPort, reg.port)
		if _, err := m.docker.run(ctx, nil, "rm", "-f", reg.name); err != nil {
			return fmt.Errorf("removing registry container %s: %w", reg.name, err)
		}
		reg = nil
	}
	if reg == nil {
		m.progressf("Starting registry %s on %s (image %s)", s.registryName(), s.registryHost(), s.registryImage)
		_, err := m.docker.run(ctx, nil, "run", "-d", "--restart=always", "--name", s.registryName(),
			"--label", MarkerLabel+"="+s.name, "--network", kindNetwork,
			"-p", fmt.Sprintf("127.0.0.1:%d:%d", s.registryPort, registryContainerPort), s.registryImage)
		if err != nil {
			if strings.Contains(err.Error(), "port is already allocated") || strings.Contains(err.Error(), "address already in use") {
				return fmt.Errorf("registry port %d on 127.0.0.1 is in use (%w): choose another port with kind_cluster(registry_port=...)", s.registryPort, err)
			}
			return fmt.Errorf("starting registry container %s from %s: %w (set kind_cluster(registry_image=...) or DEVLOOP_REGISTRY_IMAGE to an image you have)", s.registryName(), s.registryImage, err)
		}
		return nil
	}
	if !reg.running {
		m.progressf("Starting stopped registry %s", reg.name)
		if _, err := m.docker.run(ctx, nil, "start", reg.name); err != nil {
			return fmt.Errorf("starting registry container %s: %w", reg.name, err)
		}
	}
	for _, n := range reg.networks {
		if n == kindNetwork {
			return nil
		}
	}
	if _, err := m.docker.run(ctx, nil, "network", "connect", kindNetwork, reg.name); err != nil {
		return fmt.Errorf("connecting registry container %s to the %s network: %w", reg.name, kindNetwork, err)
	}
	return nil
}

// V returns kind's logger at a verbosity: level 0 lines are progress.
func (k *kindLogger) V(level log.Level) log.InfoLogger {
	return kindInfo{k: k, progress: level == 0}
}

type kindInfo struct {
	k        *kindLogger
	progress bool
}

func (i kindInfo) Info(msg string) {
	// kind announces each step ("• Starting control-plane ...") and then
	// its end ("✓ Starting control-plane"): both are shown, so that a step
	// that takes twenty seconds says what is being waited for meanwhile.
	if i.progress {
		i.k.line(msg)
		return
	}
	i.k.log.Debug(strings.TrimSpace(msg))
}

func (i kindInfo) Infof(format string, args ...any) { i.Info(fmt.Sprintf(format, args...)) }
func (i kindInfo) Enabled() bool                    { return true }
