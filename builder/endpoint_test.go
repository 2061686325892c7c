package builder

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/moby/buildkit/client"
)

// fakeRunner answers commands from a script keyed by argv[1] (the docker
// verb) and records every call.
type fakeRunner struct {
	answers map[string]fakeAnswer
	calls   [][]string
}

type fakeAnswer struct {
	out string
	err error
}

func (f *fakeRunner) Run(ctx context.Context, argv ...string) (string, error) {
	f.calls = append(f.calls, argv)
	a, ok := f.answers[argv[1]]
	if !ok {
		return "", errors.New("unexpected command " + strings.Join(argv, " "))
	}
	return a.out, a.err
}

func (f *fakeRunner) verbs() []string {
	var out []string
	for _, c := range f.calls {
		out = append(out, c[1])
	}
	return out
}

func TestResolveEndpoint(t *testing.T) {
	noSuchContainer := fakeAnswer{err: errors.New("Error: No such object: devloop-buildkitd")}
	tests := []struct {
		name        string
		env         map[string]string
		host, image string
		answers     map[string]fakeAnswer
		want        Endpoint
		wantVerbs   []string
		wantRunArg  string
		wantErr     string
	}{
		{
			name: "BUILDKIT_HOST wins",
			env:  map[string]string{"BUILDKIT_HOST": "tcp://10.0.0.1:1234"},
			host: "unix:///devfile.sock",
			want: Endpoint{Address: "tcp://10.0.0.1:1234", Reason: "BUILDKIT_HOST is set"},
		},
		{
			name: "BUILDKIT_HOST kube-pod",
			env:  map[string]string{"BUILDKIT_HOST": "kube-pod://buildkitd-0?context=kind-dev&namespace=ci"},
			want: Endpoint{Address: "kube-pod://buildkitd-0?context=kind-dev&namespace=ci", Reason: "BUILDKIT_HOST is set"},
		},
		{
			name: "Devfile address",
			host: "kube-pod://buildkitd-0?namespace=ci",
			want: Endpoint{Address: "kube-pod://buildkitd-0?namespace=ci", Reason: "the Devfile sets the BuildKit address"},
		},
		{
			name:      "managed container reused",
			answers:   map[string]fakeAnswer{"version": {out: "27.0"}, "inspect": {out: "true\n"}},
			want:      Endpoint{Address: "docker-container://devloop-buildkitd", Reason: "no BuildKit address is configured: reused the devloop-managed container devloop-buildkitd (image moby/buildkit:v0.33.1)"},
			wantVerbs: []string{"version", "inspect"},
		},
		{
			name:      "managed container restarted",
			answers:   map[string]fakeAnswer{"version": {out: "27.0"}, "inspect": {out: "false\n"}, "start": {}},
			want:      Endpoint{Address: "docker-container://devloop-buildkitd", Reason: "no BuildKit address is configured: restarted the devloop-managed container devloop-buildkitd (image moby/buildkit:v0.33.1)"},
			wantVerbs: []string{"version", "inspect", "start"},
		},
		{
			name:       "managed container started from DEVLOOP_BUILDKIT_IMAGE",
			env:        map[string]string{"DEVLOOP_BUILDKIT_IMAGE": "mirror.local/buildkit:v0.33.1"},
			answers:    map[string]fakeAnswer{"version": {out: "27.0"}, "inspect": noSuchContainer, "run": {out: "abc\n"}},
			want:       Endpoint{Address: "docker-container://devloop-buildkitd", Reason: "no BuildKit address is configured: started the devloop-managed container devloop-buildkitd (image mirror.local/buildkit:v0.33.1)"},
			wantVerbs:  []string{"version", "inspect", "run"},
			wantRunArg: "mirror.local/buildkit:v0.33.1",
		},
		{
			name:       "Config image beats the environment",
			env:        map[string]string{"DEVLOOP_BUILDKIT_IMAGE": "mirror.local/buildkit:v0.33.1"},
			image:      "other/buildkit:1",
			answers:    map[string]fakeAnswer{"version": {}, "inspect": noSuchContainer, "run": {}},
			want:       Endpoint{Address: "docker-container://devloop-buildkitd", Reason: "no BuildKit address is configured: started the devloop-managed container devloop-buildkitd (image other/buildkit:1)"},
			wantVerbs:  []string{"version", "inspect", "run"},
			wantRunArg: "other/buildkit:1",
		},
		{
			name:      "no docker",
			answers:   map[string]fakeAnswer{"version": {err: errors.New("Cannot connect to the Docker daemon")}},
			wantVerbs: []string{"version"},
			wantErr:   "docker is not reachable to start a buildkitd container or to lend its embedded BuildKit (Cannot connect to the Docker daemon): start docker, or set BUILDKIT_HOST",
		},
		{
			name:      "image cannot be pulled: docker's embedded BuildKit",
			answers:   map[string]fakeAnswer{"version": {out: "20.10.24\n"}, "inspect": noSuchContainer, "run": {err: errors.New("pull access denied")}, "context": {out: "unix:///var/run/docker.sock\n"}},
			want:      Endpoint{Address: "unix:///var/run/docker.sock", Reason: "no BuildKit address is configured and starting the buildkitd container devloop-buildkitd from image moby/buildkit:v0.33.1 failed (pull access denied); air-gapped: mirror the image and set DEVLOOP_BUILDKIT_IMAGE: using the embedded BuildKit of docker 20.10.24"},
			wantVerbs: []string{"version", "inspect", "run", "context"},
		},
		{
			name:      "embedded BuildKit at DOCKER_HOST",
			env:       map[string]string{"DOCKER_HOST": "tcp://127.0.0.1:2375"},
			answers:   map[string]fakeAnswer{"version": {out: "27.0"}, "inspect": {out: "false\n"}, "start": {err: errors.New("container is marked for removal")}},
			want:      Endpoint{Address: "tcp://127.0.0.1:2375", Reason: "no BuildKit address is configured and restarting the buildkitd container devloop-buildkitd failed (container is marked for removal); remove it with `docker rm -f devloop-buildkitd` to let devloop recreate it: using the embedded BuildKit of docker 27.0"},
			wantVerbs: []string{"version", "inspect", "start"},
		},
		{
			name:      "context inspect fails: the default socket",
			answers:   map[string]fakeAnswer{"version": {out: "20.10.24"}, "inspect": noSuchContainer, "run": {err: errors.New("pull access denied")}, "context": {err: errors.New("unknown command")}},
			want:      Endpoint{Address: "unix:///var/run/docker.sock", Reason: "no BuildKit address is configured and starting the buildkitd container devloop-buildkitd from image moby/buildkit:v0.33.1 failed (pull access denied); air-gapped: mirror the image and set DEVLOOP_BUILDKIT_IMAGE: using the embedded BuildKit of docker 20.10.24"},
			wantVerbs: []string{"version", "inspect", "run", "context"},
		},
		{
			name:      "docker over ssh: no embedded BuildKit",
			env:       map[string]string{"DOCKER_HOST": "ssh://me@build-box"},
			answers:   map[string]fakeAnswer{"version": {out: "27.0"}, "inspect": noSuchContainer, "run": {err: errors.New("pull access denied")}},
			wantVerbs: []string{"version", "inspect", "run"},
			wantErr:   "from image moby/buildkit:v0.33.1 failed (pull access denied); air-gapped: mirror the image and set DEVLOOP_BUILDKIT_IMAGE, and docker's embedded BuildKit cannot be used: docker at ssh://me@build-box is reached through ssh://, which devloop does not dial (only unix:// and tcp://); set BUILDKIT_HOST",
		},
		{
			name:      "docker over TLS: no embedded BuildKit",
			env:       map[string]string{"DOCKER_HOST": "tcp://docker.example.com:2376", "DOCKER_TLS_VERIFY": "1"},
			answers:   map[string]fakeAnswer{"version": {out: "27.0"}, "inspect": noSuchContainer, "run": {err: errors.New("pull access denied")}},
			wantVerbs: []string{"version", "inspect", "run"},
			wantErr:   "docker at tcp://docker.example.com:2376 needs TLS, which devloop does not speak to docker",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run := &fakeRunner{answers: tt.answers}
			getenv := func(k string) string { return tt.env[k] }
			got, err := resolveEndpoint(context.Background(), getenv, tt.host, "docker", tt.image, managedContainer, run)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("resolveEndpoint() error = %v, want one containing %q", err, tt.wantErr)
				}
			} else if err != nil || got.Address != tt.want.Address || got.Reason != tt.want.Reason {
				t.Errorf("resolveEndpoint() = %+v, %v, want %+v", got, err, tt.want)
			}
			if !slices.Equal(run.verbs(), tt.wantVerbs) {
				t.Errorf("docker verbs = %v, want %v", run.verbs(), tt.wantVerbs)
			}
			if tt.wantRunArg != "" {
				last := run.calls[len(run.calls)-1]
				if last[len(last)-1] != tt.wantRunArg || !slices.Contains(last, "--privileged") || !slices.Contains(last, "host") {
					t.Errorf("docker run argv = %v, want a privileged host-network container of %s", last, tt.wantRunArg)
				}
			}
		})
	}
}

// TestKubePodAddresses checks that BuildKit's client knows kube-pod://
// (devloop links its connection helper) without dialing: the pod is
// reached with kubectl only on the first call. kubepod_e2e_test.go builds
// through a real buildkitd pod.
func TestKubePodAddresses(t *testing.T) {
	tests := []struct {
		addr    string
		wantErr string
	}{
		{addr: "kube-pod://buildkitd-0"},
		{addr: "kube-pod://buildkitd-0?context=kind-dev&namespace=ci&container=buildkitd"},
		{addr: "kube-pod://Buildkitd_0", wantErr: "unsupported pod name"},
		{addr: "kube-pod://buildkitd-0?namespace=Bad_NS", wantErr: "unsupported namespace name"},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			c, err := client.New(context.Background(), tt.addr)
			if err == nil {
				c.Close()
			}
			if (err != nil) != (tt.wantErr != "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("client.New(%q) error = %v, want %q", tt.addr, err, tt.wantErr)
			}
		})
	}
}
