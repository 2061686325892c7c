package watch

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestFilterMatch(t *testing.T) {
	tests := []struct {
		name  string
		root  Root
		path  string
		want  bool
		wantD bool // descend, when path is a directory
	}{
		{name: "root itself", root: Root{Path: "/r"}, path: "/r", want: true, wantD: true},
		{name: "plain file", root: Root{Path: "/r"}, path: "/r/main.go", want: true, wantD: true},
		{name: "outside the root", root: Root{Path: "/r"}, path: "/rr/main.go", want: false},
		{name: "parent of the root", root: Root{Path: "/r/sub"}, path: "/r", want: false},
		{name: "file root", root: Root{Path: "/r/Devfile"}, path: "/r/Devfile", want: true, wantD: true},
		{name: "file root sibling", root: Root{Path: "/r/Devfile"}, path: "/r/Devfile.bak", want: false},
		{name: ".git dir", root: Root{Path: "/r"}, path: "/r/.git", want: false},
		{name: "inside .git", root: Root{Path: "/r"}, path: "/r/.git/objects/ab", want: false},
		{name: "nested .git", root: Root{Path: "/r"}, path: "/r/vendor/x/.git/HEAD", want: false},
		{name: ".gitignore is kept", root: Root{Path: "/r"}, path: "/r/.gitignore", want: true, wantD: true},
		{name: "vim swap", root: Root{Path: "/r"}, path: "/r/.main.go.swp", want: false, wantD: true},
		{name: "vim second swap", root: Root{Path: "/r"}, path: "/r/.main.go.swo", want: false, wantD: true},
		{name: "vim write test", root: Root{Path: "/r"}, path: "/r/src/4913", want: false, wantD: true},
		{name: "tilde backup", root: Root{Path: "/r"}, path: "/r/main.go~", want: false, wantD: true},
		{name: "emacs lock", root: Root{Path: "/r"}, path: "/r/.#main.go", want: false, wantD: true},
		{name: "emacs auto-save", root: Root{Path: "/r"}, path: "/r/#main.go#", want: false, wantD: true},
		{name: "jetbrains temp", root: Root{Path: "/r"}, path: "/r/main.go___jb_tmp___", want: false, wantD: true},
		{name: "jetbrains old", root: Root{Path: "/r"}, path: "/r/main.go___jb_old___", want: false, wantD: true},
		{name: "a hidden file is kept", root: Root{Path: "/r"}, path: "/r/.env", want: true, wantD: true},
		{name: "ignored dir", root: Root{Path: "/r", Ignore: []string{"node_modules"}}, path: "/r/node_modules", want: false, wantD: false},
		{name: "below an ignored dir", root: Root{Path: "/r", Ignore: []string{"node_modules"}}, path: "/r/node_modules/x/y.js", want: false, wantD: false},
		{name: "leading slash pattern", root: Root{Path: "/r", Ignore: []string{"/build/"}}, path: "/r/build/out", want: false, wantD: false},
		{name: "glob", root: Root{Path: "/r", Ignore: []string{"*.log"}}, path: "/r/x.log", want: false, wantD: false},
		{name: "glob is not recursive", root: Root{Path: "/r", Ignore: []string{"*.log"}}, path: "/r/sub/x.log", want: true, wantD: true},
		{name: "double star", root: Root{Path: "/r", Ignore: []string{"**/*.log"}}, path: "/r/sub/x.log", want: false, wantD: false},
		{
			name: "re-included dir", root: Root{Path: "/r", Ignore: []string{"node_modules", "!node_modules/keep"}},
			path: "/r/node_modules/keep/a.js", want: true, wantD: true,
		},
		{
			name: "excluded parent of a re-include is descended", root: Root{Path: "/r", Ignore: []string{"node_modules", "!node_modules/keep"}},
			path: "/r/node_modules", want: false, wantD: true,
		},
		{
			name: "sibling of a re-include", root: Root{Path: "/r", Ignore: []string{"node_modules", "!node_modules/keep"}},
			path: "/r/node_modules/other", want: false, wantD: false,
		},
		{
			name: "re-include with a glob", root: Root{Path: "/r", Ignore: []string{"docs", "!docs/*.md"}},
			path: "/r/docs", want: false, wantD: true,
		},
		{
			name: "re-include with double star descends anything excluded", root: Root{Path: "/r", Ignore: []string{"gen", "!**/keep.txt"}},
			path: "/r/gen/a/b", want: false, wantD: true,
		},
		{
			name: "re-include then exclude again", root: Root{Path: "/r", Ignore: []string{"a", "!a/b", "a/b/c"}},
			path: "/r/a/b/c/d", want: false, wantD: false,
		},
		{name: "only keeps listed", root: Root{Path: "/r", Only: []string{"src"}}, path: "/r/src/a.go", want: true, wantD: true},
		{name: "only drops others", root: Root{Path: "/r", Only: []string{"src"}}, path: "/r/docs/a.md", want: false, wantD: false},
		{name: "only descends towards a listed path", root: Root{Path: "/r", Only: []string{"web/app"}}, path: "/r/web", want: false, wantD: true},
		{name: "only then ignore", root: Root{Path: "/r", Only: []string{"src"}, Ignore: []string{"src/gen"}}, path: "/r/src/gen/x.go", want: false, wantD: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := NewFilter(tt.root)
			if err != nil {
				t.Fatalf("NewFilter(%+v) = %v", tt.root, err)
			}
			if got := f.Match(tt.path); got != tt.want {
				t.Errorf("Filter(%+v).Match(%q) = %v, want %v", tt.root, tt.path, got, tt.want)
			}
			if got := f.descend(tt.path); got != tt.wantD {
				t.Errorf("Filter(%+v).descend(%q) = %v, want %v", tt.root, tt.path, got, tt.wantD)
			}
		})
	}
}

func TestNewFilterErrors(t *testing.T) {
	tests := []struct {
		name string
		root Root
	}{
		{name: "empty path", root: Root{}},
		{name: "bad ignore pattern", root: Root{Path: "/r", Ignore: []string{"[a-"}}},
		{name: "bare exclamation", root: Root{Path: "/r", Ignore: []string{"!"}}},
		{name: "bad only pattern", root: Root{Path: "/r", Only: []string{"[a-"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if f, err := NewFilter(tt.root); err == nil {
				t.Errorf("NewFilter(%+v) = %v, nil; want an error", tt.root, f)
			}
		})
	}
}

func TestReadIgnoreFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, ".dockerignore")
	if err := os.WriteFile(path, []byte("# comment\n\n/node_modules/\n!node_modules/keep\n  *.log  \n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path string
		want []string
	}{
		{name: "patterns", path: path, want: []string{"node_modules", "!node_modules/keep", "*.log"}},
		{name: "missing file", path: filepath.Join(dir, "nope"), want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadIgnoreFile(tt.path)
			if err != nil || !slices.Equal(got, tt.want) {
				t.Errorf("ReadIgnoreFile(%s) = %q, %v; want %q, nil", tt.path, got, err, tt.want)
			}
		})
	}
}
