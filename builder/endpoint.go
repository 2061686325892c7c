package builder

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Endpoint is where BuildKit runs and why devloop chose it; the engine
// shows both to the user.
type Endpoint struct {
	// Address is a BuildKit address (unix://, tcp://, docker-container://,
	// kube-pod://), or docker's API address for docker's embedded BuildKit.
	Address string
	// Reason says why this BuildKit was chosen, e.g. "BUILDKIT_HOST is set".
	Reason string
	// starting is set when devloop just started buildkitd, which may not
	// listen yet: the first contact then waits for it.
	starting bool
	// managed names the devloop-managed container, when it is one.
	managed string
	// daemon is docker's API address when this is docker's embedded BuildKit.
	daemon string
}

// managedContainer is the name of the buildkitd container devloop starts
// when no BuildKit address is configured, and reuses afterwards.
const managedContainer = "devloop-buildkitd"

// defaultBuildKitImage is the image of the managed buildkitd container when
// neither Config.BuildKitImage nor DEVLOOP_BUILDKIT_IMAGE names one. It
// matches the BuildKit client devloop is built with.
const defaultBuildKitImage = "moby/buildkit:v0.33.1"

// runner runs a program and returns its standard output; on failure the
// error carries its standard error. It is the seam over the docker CLI.
type runner interface {
	Run(ctx context.Context, argv ...string) (string, error)
}

// resolveEndpoint picks where BuildKit runs, in this order: BUILDKIT_HOST;
// the Devfile's address (Config.Host); a devloop-managed buildkitd container
// started with the docker CLI (reused when already there); docker's
// embedded BuildKit, when the managed container cannot start (typically:
// its image cannot be pulled). The Endpoint's Reason says which and why.
func resolveEndpoint(ctx context.Context, getenv func(string) string, host, docker, image, container string, run runner) (Endpoint, error) {
	if h := getenv("BUILDKIT_HOST"); h != "" {
		return Endpoint{Address: h, Reason: "BUILDKIT_HOST is set"}, nil
	}
	if host != "" {
		return Endpoint{Address: host, Reason: "the Devfile sets the BuildKit address"}, nil
	}
	if image == "" {
		image = getenv("DEVLOOP_BUILDKIT_IMAGE")
	}
	if image == "" {
		image = defaultBuildKitImage
	}
	version, err := run.Run(ctx, docker, "version", "--format", "{{.Server.Version}}")
	if err != nil {
		return Endpoint{}, fmt.Errorf("no BuildKit to build with: BUILDKIT_HOST is not set, the Devfile names no BuildKit, and docker is not reachable to start a buildkitd container or to lend its embedded BuildKit (%w): start docker, or set BUILDKIT_HOST to a running buildkitd (unix://, tcp://, docker-container://, kube-pod://)", err)
	}
	how, err := ensureManagedContainer(ctx, docker, image, container, run)
	if err == nil {
		return Endpoint{
			Address:  "docker-container://" + container,
			Reason:   fmt.Sprintf("no BuildKit address is configured: %s the devloop-managed container %s (image %s)", how, container, image),
			starting: how != "reused",
			managed:  container,
		}, nil
	}
	daemon := dockerHost(ctx, getenv, docker, run)
	if herr := checkDockerHost(daemon, getenv); herr != nil {
		return Endpoint{}, fmt.Errorf("no BuildKit to build with: BUILDKIT_HOST is not set, the Devfile names no BuildKit, %w, and docker's embedded BuildKit cannot be used: %v; set BUILDKIT_HOST to a running buildkitd (unix://, tcp://, docker-container://, kube-pod://)", err, herr)
	}
	return Endpoint{
		Address: daemon,
		Reason:  fmt.Sprintf("no BuildKit address is configured and %v: using the embedded BuildKit of docker %s", err, strings.TrimSpace(version)),
		daemon:  daemon,
	}, nil
}

// ensureManagedContainer makes sure the managed buildkitd container runs,
// and says whether it "reused", "restarted" or "started" it. The container
// uses the host network so that it pushes to registries published on
// localhost (the kind registry) and pulls from whatever this machine reaches.
func ensureManagedContainer(ctx context.Context, docker, image, name string, run runner) (string, error) {
	state, err := run.Run(ctx, docker, "inspect", "--format", "{{.State.Running}}", name)
	switch {
	case err == nil && strings.TrimSpace(state) == "true":
		return "reused", nil
	case err == nil:
		if _, err := run.Run(ctx, docker, "start", name); err != nil {
			return "", fmt.Errorf("restarting the buildkitd container %s failed (%w); remove it with `docker rm -f %s` to let devloop recreate it", name, err, name)
		}
		return "restarted", nil
	}
	_, err = run.Run(ctx, docker, "run", "--detach", "--name", name,
		"--privileged", "--network", "host", "--restart", "unless-stopped",
		"--label", "dev.devloop.managed=true", image)
	if err != nil {
		return "", fmt.Errorf("starting the buildkitd container %s from image %s failed (%w); air-gapped: mirror the image and set DEVLOOP_BUILDKIT_IMAGE", name, image, err)
	}
	return "started", nil
}

var errEmptyCommand = errors.New("empty command")
