package kindcluster

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/devloop-dev/devloop/internal/testkit/testenv"
)

// TestDockerCLI runs the real docker seam: output, a failing
// command's stderr in the error, and a missing binary.
func TestDockerCLI(t *testing.T) {
	missing := &dockerCLI{path: filepath.Join(t.TempDir(), "docker")}
	if _, err := missing.run(t.Context(), nil, "info"); !errors.Is(err, errNoDocker) {
		t.Errorf("run with a missing docker = %v, want errNoDocker", err)
	}
	m := newManager(Config{}, &dockerCLI{path: "no-such-docker-binary"}, nil, nil)
	if err := m.checkDocker(t.Context()); err == nil || !strings.Contains(err.Error(), "docker is not installed") {
		t.Errorf("checkDocker without docker = %v, want the not-installed error", err)
	}

	d := &dockerCLI{path: testenv.LookPath(t, "docker", "docker.io")}
	if _, err := d.run(t.Context(), nil, "info", "--format", "{{.ServerVersion}}"); err != nil {
		if testenv.Strict() {
			t.Fatalf("docker info = %v", err)
		}
		t.Skipf("integration test skipped: docker is not running (%v): start dockerd (make e2e-env does)", err)
	}
	tests := []struct {
		name    string
		args    []string
		want    string
		wantErr string
	}{
		{name: "output", args: []string{"version", "--format", "client {{.Client.Os}}"}, want: "client linux\n"},
		{name: "stderr in the error", args: []string{"inspect", "--type", "container", "devloop-no-such-container"}, wantErr: "No such"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := d.run(t.Context(), nil, tt.args...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("docker %v = %q, %v; want an error containing %q", tt.args, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("docker %v = %q, %v; want %q", tt.args, got, err, tt.want)
			}
		})
	}
}

func TestKindLogger(t *testing.T) {
	var progress strings.Builder
	k := &kindLogger{log: logger(Config{}), progress: &progress}
	k.V(0).Info(" • Preparing nodes 📦  ...")
	k.V(0).Infof(" ✓ %s", "Preparing nodes 📦")
	k.V(1).Info("debug detail")
	k.Warn("low disk")
	if got, want := progress.String(), "kind: • Preparing nodes 📦  ...\nkind: ✓ Preparing nodes 📦\nkind: warning: low disk\n"; got != want {
		t.Errorf("kind logger progress = %q, want %q", got, want)
	}
}
