package builder

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/moby/buildkit/client"
)

// Docker's embedded BuildKit is reached as buildx's "docker" driver reaches
// it: docker's API upgrades POST /grpc to a raw HTTP/2 connection that
// serves BuildKit's control API, and POST /session to one that carries the
// build's session (context files, credentials, secrets) back to devloop.
// Docker 18.09 and later on Linux have both endpoints; devloop is tested
// against Debian's docker.io 20.10, whose BuildKit is v0.8 (docs/building.md).

// mobyExporter is the exporter of docker's embedded BuildKit: it puts the
// image into docker's image store. Its push attribute does nothing before
// docker 23, so devloop pushes with the docker CLI.
const mobyExporter = "moby"

// defaultDockerHost is docker's API socket when neither DOCKER_HOST nor the
// docker CLI's context says otherwise.
const defaultDockerHost = "unix:///var/run/docker.sock"

// hijackTimeout bounds the HTTP upgrade of one connection to docker: a
// local daemon answers at once; a stuck one must not hang a build.
const hijackTimeout = 30 * time.Second

// dockerHost returns the address of docker's API: DOCKER_HOST, else the
// endpoint of the docker CLI's current context, else the default socket.
func dockerHost(ctx context.Context, getenv func(string) string, docker string, run runner) string {
	if h := getenv("DOCKER_HOST"); h != "" {
		return h
	}
	if out, err := run.Run(ctx, docker, "context", "inspect", "--format", "{{.Endpoints.docker.Host}}"); err == nil {
		if h := strings.TrimSpace(out); h != "" {
			return h
		}
	}
	return defaultDockerHost
}

// checkDockerHost says whether devloop can dial docker's API at host
// itself: plain unix:// and tcp:// only.
func checkDockerHost(host string, getenv func(string) string) error {
	u, err := url.Parse(host)
	if err != nil {
		return fmt.Errorf("docker address %q: %w", host, err)
	}
	switch u.Scheme {
	case "unix":
		return nil
	case "tcp":
		if getenv("DOCKER_TLS_VERIFY") != "" || getenv("DOCKER_CERT_PATH") != "" {
			return fmt.Errorf("docker at %s needs TLS, which devloop does not speak to docker", host)
		}
		return nil
	default:
		return fmt.Errorf("docker at %s is reached through %s://, which devloop does not dial (only unix:// and tcp://)", host, u.Scheme)
	}
}

// daemonClient returns a BuildKit client of docker's embedded BuildKit at
// host. It dials on first use.
func daemonClient(ctx context.Context, host string) (*client.Client, error) {
	return client.New(ctx, "",
		client.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			return hijack(ctx, host, "/grpc", "h2c", nil)
		}),
		client.WithSessionDialer(func(ctx context.Context, proto string, meta map[string][]string) (net.Conn, error) {
			return hijack(ctx, host, "/session", proto, meta)
		}))
}

// hijack asks docker at host to upgrade POST path to proto and returns the
// raw connection. meta becomes request headers (the session's ID and name).
func hijack(ctx context.Context, host, path, proto string, meta map[string][]string) (net.Conn, error) {
	u, err := url.Parse(host)
	if err != nil {
		return nil, fmt.Errorf("docker address %q: %w", host, err)
	}
	network, addr := u.Scheme, u.Host
	if network == "unix" {
		addr = u.Path
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, fmt.Errorf("dialing docker at %s: %w", host, err)
	}
	deadline := time.Now().Add(hijackTimeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	_ = conn.SetDeadline(deadline)
	req, err := http.NewRequest(http.MethodPost, "http://docker"+path, nil)
	if err != nil {
		conn.Close()
		return nil, err
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", proto)
	for k, v := range meta {
		req.Header[k] = v
	}
	if err := req.Write(conn); err != nil {
		conn.Close()
		return nil, fmt.Errorf("docker at %s: POST %s: %w", host, path, err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("docker at %s: POST %s: %w", host, path, err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		var body [512]byte
		n, _ := resp.Body.Read(body[:])
		conn.Close()
		return nil, fmt.Errorf("docker at %s: POST %s answered %s, not an upgrade: %s", host, path, resp.Status, strings.TrimSpace(string(body[:n])))
	}
	_ = conn.SetDeadline(time.Time{})
	return &bufferedConn{Conn: conn, r: br}, nil
}

// bufferedConn reads first what the HTTP response reader buffered past
// the upgrade response (the server's first HTTP/2 frames).
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// tagBasesInDocker puts each Devfile image that p builds FROM into docker's
// image store under the names its Dockerfile uses. The Dockerfile frontend
// of docker's embedded BuildKit before v0.10 (docker 20.10 and older)
// ignores named contexts, but it looks for an image in docker's store
// before any registry.
func (b *Builder) tagBasesInDocker(ctx context.Context, p *plan) error {
	for dep, names := range p.docker.uses {
		ref := p.deps[dep].Reference
		if _, err := b.run.Run(ctx, b.cfg.Docker, "image", "inspect", "--format", "{{.Id}}", ref); err != nil {
			if _, err := b.run.Run(ctx, b.cfg.Docker, "pull", ref); err != nil {
				return fmt.Errorf("image %s: its base image %s is not in docker's image store, and pulling %s failed: %w", p.img.Ref, dep, ref, err)
			}
		}
		for _, n := range names {
			if _, err := b.run.Run(ctx, b.cfg.Docker, "tag", ref, n); err != nil {
				return fmt.Errorf("image %s: tagging its base image %s as %s in docker: %w", p.img.Ref, ref, n, err)
			}
		}
	}
	return nil
}

// pushFromDocker pushes p's image from docker's image store with the
// docker CLI and returns the digest the registry has for it.
func (b *Builder) pushFromDocker(ctx context.Context, p *plan) (string, Step, error) {
	start := time.Now()
	name := "pushing " + p.image + " (docker push)"
	b.progress(p.img.Ref, Progress{Kind: ProgressStep, Step: name})
	if _, err := b.run.Run(ctx, b.cfg.Docker, "push", p.image); err != nil {
		b.progress(p.img.Ref, Progress{Kind: ProgressStep, Step: name, Done: true, Duration: time.Since(start), Error: err.Error()})
		return "", Step{}, fmt.Errorf("image %s: pushing %s from docker's image store: %w; docker pushes over plain HTTP only to registries on 127.0.0.0/8 (localhost) and those in its insecure-registries setting", p.img.Ref, p.image, err)
	}
	st := Step{Name: name, Duration: time.Since(start)}
	b.progress(p.img.Ref, Progress{Kind: ProgressStep, Step: name, Done: true, Duration: st.Duration})
	d, err := b.reg.Head(ctx, p.repo, p.tag)
	if err != nil {
		return "", st, fmt.Errorf("image %s: docker pushed %s, but the registry does not answer for it: %w", p.img.Ref, p.image, err)
	}
	return d, st, nil
}

// localImageID returns the ID of image in docker's image store.
func (b *Builder) localImageID(ctx context.Context, image string) (string, error) {
	out, err := b.run.Run(ctx, b.cfg.Docker, "image", "inspect", "--format", "{{.Id}}", image)
	return strings.TrimSpace(out), err
}
