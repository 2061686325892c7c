package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"sigs.k8s.io/kind/pkg/apis/config/defaults"

	"github.com/devloop-dev/devloop/doctor"
	"github.com/devloop-dev/devloop/internal/testkit/testenv"
	"github.com/devloop-dev/devloop/web"
)

// clearDoctorEnv makes the environment checks deterministic.
func clearDoctorEnv(t *testing.T) {
	for _, k := range []string{"BUILDKIT_HOST", "DEVLOOP_KIND_NODE_IMAGE", "DEVLOOP_REGISTRY_IMAGE", "DEVLOOP_BUILDKIT_IMAGE"} {
		t.Setenv(k, "")
	}
}

// TestDoctorExample runs `devloop doctor` for real on examples/local: no
// docker, no cluster needed, so every check passes on a machine that can
// run devloop at all.
func TestDoctorExample(t *testing.T) {
	clearDoctorEnv(t)
	t.Setenv("DEVLOOP_REGISTRY_IMAGE", "mirror.local/registry:2")
	port := testenv.FreePort(t)
	path, err := filepath.Abs("../../examples/local/Devfile")
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, "doctor", "-f", "../../examples/local/Devfile", "--port", strconv.Itoa(port), "--", "--port", "9000")
	want := []string{
		"✓ devfile: " + path + " evaluates: 2 local resources, 0 k8s resources, 0 images",
		"✓ docker: not needed",
		"✓ buildkit: not needed",
		"✓ inotify: ",
		"✓ port: " + strconv.Itoa(port) + " is free for the dashboard",
		"✓ kube: not needed: the Devfile has no k8s resources",
		"✓ images: DEVLOOP_REGISTRY_IMAGE=mirror.local/registry:2 (local registry image)",
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if code != 0 || errOut != "" || len(lines) != len(want) {
		t.Fatalf("devloop doctor -f examples/local/Devfile -- --port 9000 = %d, %q, %q; want 0 and %d lines", code, out, errOut, len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("devloop doctor line %d = %q, want prefix %q", i+1, lines[i], w)
		}
	}
}

// fakeDocker answers `docker info` with out or err.
type fakeDocker struct {
	out   string
	err   error
	calls []string
}

func (f *fakeDocker) Run(ctx context.Context, argv ...string) (string, error) {
	f.calls = append(f.calls, strings.Join(argv, " "))
	if argv[1] == "ps" && f.err == nil {
		return "", nil // no such container
	}
	return f.out, f.err
}

// kindDevfile's cluster has no registry: the registry port check is
// doctor's own test (a port of this machine's is not the test's to assume).
const kindDevfile = `kind_cluster(name = "dev", registry = False)
k8s_yaml(blob("""
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: web
"""))
docker_build("web", ".")
`

func TestDoctorDecisions(t *testing.T) {
	proc := fstest.MapFS{
		"max_user_watches":   {Data: []byte("524288\n")},
		"max_user_instances": {Data: []byte("128\n")},
	}
	noDaemon := func(port int) (web.State, error) { return web.State{}, errors.New("no devloop") }
	kubeFails := func() (string, string, error) {
		return "", "", errors.New("kubeconfig must not be read with kind_cluster")
	}
	tests := []struct {
		name     string
		devfile  string
		docker   *fakeDocker
		wantCode int
		want     []string // line prefixes, in order
		wantErr  string
		wantRun  []string
	}{
		{
			name: "docker answers", devfile: kindDevfile,
			docker:   &fakeDocker{out: "27.3.1\n"},
			wantCode: 0,
			want: []string{
				"✓ devfile: ", "✓ docker: daemon 27.3.1 answering; needed: kind_cluster \"dev\" runs in docker; without BUILDKIT_HOST, images build in devloop's buildkitd container",
				"✓ buildkit: BUILDKIT_HOST is not set",
				"✓ cluster: kind cluster dev does not exist yet; devloop up creates it from node image kindest/node:",
				"✓ inotify: max_user_watches 524288, max_user_instances 128; the project has 1 directory",
				"✓ port: ", "✓ kube: the Devfile's kind_cluster \"dev\" is used",
			},
			wantRun: []string{"docker info --format {{.ServerVersion}}", "docker ps -a --filter name=^dev-control-plane$ --format {{.State}}",
				"docker image inspect --format {{.Id}} " + defaults.Image},
		},
		{
			name: "docker down", devfile: kindDevfile,
			docker:   &fakeDocker{err: errors.New("docker info: exit status 1: Cannot connect to the Docker daemon at unix:///var/run/docker.sock")},
			wantCode: 1,
			want: []string{
				"✓ devfile: ", "✗ docker: the docker daemon is not answering (docker info: exit status 1: Cannot connect to the Docker daemon",
				"✗ buildkit: BUILDKIT_HOST is not set and docker does not answer", "✓ inotify: ", "✓ port: ", "✓ kube: ",
			},
			wantErr: "Error: 2 of 6 checks failed: apply the fixes on the ✗ lines above",
			wantRun: []string{"docker info --format {{.ServerVersion}}"},
		},
		{
			name: "Devfile error", devfile: "kind_cluster(name = \"dev\")\nlocal_resource()\n",
			docker:   &fakeDocker{},
			wantCode: 1,
			want:     []string{"✗ devfile: {{DEVFILE}}:2:15: ", "✓ inotify: ", "✓ port: "},
			wantErr:  "Error: 1 of 3 checks failed",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearDoctorEnv(t)
			dir := t.TempDir()
			path := filepath.Join(dir, "Devfile")
			if err := os.WriteFile(path, []byte(tt.devfile), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			var out, errb bytes.Buffer
			s := Streams{In: strings.NewReader(""), Out: &out, Err: &errb}
			err := runDoctor(context.Background(), doctorConfig{file: path, port: testenv.FreePort(t)}, s,
				doctor.Deps{Runner: tt.docker, Inotify: proc, DaemonState: noDaemon, KubeContext: kubeFails})
			code := 0
			var ee *exitError
			if errors.As(err, &ee) {
				code = ee.code
				errb.WriteString("Error: " + err.Error())
			} else if err != nil {
				t.Fatalf("runDoctor(%s) = %v, want nil or an exit error", tt.name, err)
			}
			lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
			if code != tt.wantCode || len(lines) != len(tt.want) || !strings.HasPrefix(errb.String(), tt.wantErr) {
				t.Fatalf("runDoctor(%s) = exit %d, %q, %q; want exit %d, %d lines, error %q", tt.name, code, out.String(), errb.String(), tt.wantCode, len(tt.want), tt.wantErr)
			}
			for i, w := range tt.want {
				w = strings.ReplaceAll(w, "{{DEVFILE}}", path)
				if !strings.HasPrefix(lines[i], w) {
					t.Errorf("runDoctor(%s) line %d = %q, want prefix %q", tt.name, i+1, lines[i], w)
				}
			}
			if strings.Join(tt.docker.calls, "\n") != strings.Join(tt.wantRun, "\n") {
				t.Errorf("runDoctor(%s) ran %q, want %q", tt.name, tt.docker.calls, tt.wantRun)
			}
		})
	}
}

func TestDoctorArgs(t *testing.T) {
	clearDoctorEnv(t)
	port := strconv.Itoa(testenv.FreePort(t))
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string
		wantErr  string
	}{
		{"before --", []string{"doctor", "extra"}, 1, "", "put Devfile arguments after --"},
		{"to config.parse", []string{"doctor", "-f", "../../examples/local", "--port", port, "--", "--port", "x"}, 1,
			"examples/local/Devfile:6:11: int: invalid literal with base 10: x", "1 of 3 checks failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, tt.args...)
			if code != tt.wantCode || !strings.Contains(out, tt.wantOut) || !strings.Contains(errOut, tt.wantErr) {
				t.Errorf("devloop %s = %d, %q, %q; want %d, output containing %q, error containing %q", strings.Join(tt.args, " "), code, out, errOut, tt.wantCode, tt.wantOut, tt.wantErr)
			}
		})
	}
}
