package devfile

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLocalGitRepo(t *testing.T) {
	tests := []struct {
		name    string
		src     string
		git     bool
		want    string // printed, with the Devfile's directory as $DIR
		wantErr string
	}{
		{
			name: "paths joins to the repository",
			src:  "repo = local_git_repo('.')\nprint(repo.paths('svc/a'))\nprint(type(repo), bool(repo))\n",
			git:  true,
			want: "$DIR/svc/a\ngit.Repo True\n",
		},
		{
			name: "relative to the executing file, from a loaded function",
			src:  "load('lib/r.star', 'repo')\nprint(repo().paths('x'))\n",
			git:  true,
			want: "$DIR/x\n",
		},
		{
			name:    "not a repository",
			src:     "local_git_repo('.')\n",
			wantErr: "is not a git repository: it has no .git directory",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeDevfile(t, tt.src, map[string]string{"lib/r.star": "def repo():\n    return local_git_repo('.')\n"})
			dir := filepath.Dir(path)
			if tt.git {
				if err := os.Mkdir(filepath.Join(dir, ".git"), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			var out strings.Builder
			_, err := Load(context.Background(), path, Options{Environ: []string{}, Stdout: &out})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Load(%q) = %v, want an error containing %q", tt.src, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.ReplaceAll(out.String(), dir, "$DIR"); got != tt.want {
				t.Errorf("Load(%q) printed %q, want %q", tt.src, got, tt.want)
			}
		})
	}
}
