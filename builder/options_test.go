package builder

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/devloop-dev/devloop/devfile"
)

// TestBuildOptions checks each docker_build option against a real
// BuildKit: the Dockerfiles test inside RUN steps what they received, so a
// build succeeds only when the option reached BuildKit, and each option has
// a case without it that must fail.
func TestBuildOptions(t *testing.T) {
	r := newRig(t)
	base := baseImage(t, r)
	secretFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(secretFile, []byte("s3cret-"+nonce(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	secret, _ := os.ReadFile(secretFile)
	from := "FROM " + base.Reference + "\n"
	greeting := "hello-" + nonce(t)
	staged := from[:len(from)-1] + " AS good\nRUN echo " + nonce(t) + " > /ok\nFROM " + base.Reference + " AS broken\nRUN false\n"
	tests := []struct {
		name    string
		files   map[string]string
		img     func(img devfile.Image) devfile.Image
		wantErr string
	}{
		{
			name:  "build_args",
			files: map[string]string{"Dockerfile": from + "ARG GREETING\nRUN test \"$GREETING\" = " + greeting + "\n"},
			img: func(img devfile.Image) devfile.Image {
				img.BuildArgs = map[string]string{"GREETING": greeting}
				return img
			},
		},
		{
			name:    "build_args missing",
			files:   map[string]string{"Dockerfile": from + "ARG GREETING\nRUN test \"$GREETING\" = hello-" + nonce(t) + "\n"},
			img:     func(img devfile.Image) devfile.Image { return img },
			wantErr: "Dockerfile:3",
		},
		{
			name:  "target (with dockerfile_contents) skips later stages",
			files: map[string]string{"unused.txt": "x"},
			img: func(img devfile.Image) devfile.Image {
				img.Dockerfile, img.DockerfileContents, img.Target = "", staged, "good"
				return img
			},
		},
		{
			name:    "no target builds the last stage",
			files:   map[string]string{"Dockerfile": staged},
			img:     func(img devfile.Image) devfile.Image { return img },
			wantErr: "Dockerfile:4",
		},
		{
			name: "only and ignore",
			files: map[string]string{
				"Dockerfile":   from + "COPY . /ctx\nRUN test -f /ctx/src/keep.txt && test ! -e /ctx/src/skip.txt && test ! -e /ctx/docs\n",
				"src/keep.txt": nonce(t), "src/skip.txt": "x", "docs/a.md": "x",
			},
			img: func(img devfile.Image) devfile.Image {
				img.Only = []string{"src", "Dockerfile"}
				img.Ignore = []string{"src/skip.txt"}
				return img
			},
		},
		{
			name: "without only everything is sent",
			files: map[string]string{
				"Dockerfile":   from + "COPY . /ctx\nRUN test -f /ctx/src/keep.txt && test ! -e /ctx/src/skip.txt && test ! -e /ctx/docs\n",
				"src/keep.txt": nonce(t), "src/skip.txt": "x", "docs/a.md": "x",
			},
			img:     func(img devfile.Image) devfile.Image { return img },
			wantErr: "Dockerfile:3",
		},
		{
			name:  "secret from a file",
			files: map[string]string{"Dockerfile": from + "RUN --mount=type=secret,id=tok,required=true test \"$(cat /run/secrets/tok)\" = " + string(secret) + "\n"},
			img: func(img devfile.Image) devfile.Image {
				img.Secret = []string{"id=tok,src=" + secretFile}
				img.Platform = "linux/amd64"
				return img
			},
		},
		{
			name:    "secret missing",
			files:   map[string]string{"Dockerfile": from + "RUN --mount=type=secret,id=tok,required=true echo " + nonce(t) + "\n"},
			img:     func(img devfile.Image) devfile.Image { return img },
			wantErr: "Dockerfile:2",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, tt.files)
			img := tt.img(dockerImage("opts", dir))
			res, err := r.builder.buildOne(context.Background(), img)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("buildOne(%s) error = %v, want one containing %q", tt.name, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("buildOne(%s) error = %v", tt.name, err)
			}
			if !r.reg.Has(t, "opts", res.Digest) {
				t.Errorf("registry lacks %s", res.Reference)
			}
		})
	}
}
