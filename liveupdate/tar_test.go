package liveupdate

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// tarEntry is what a test checks of one tar entry.
type tarEntry struct {
	Type     byte
	Mode     int64
	Content  string
	Linkname string
}

// readTar parses a tar stream back, checking that no entry has an owner.
func readTar(t *testing.T, r io.Reader) map[string]tarEntry {
	t.Helper()
	got := map[string]tarEntry{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return got
		}
		if err != nil {
			t.Fatalf("reading tar: %v", err)
		}
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" {
			t.Errorf("tar entry %s owner = %d:%d (%q:%q), want 0:0 without names", h.Name, h.Uid, h.Gid, h.Uname, h.Gname)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		got[h.Name] = tarEntry{Type: h.Typeflag, Mode: h.Mode & 0o7777, Content: string(b), Linkname: h.Linkname}
	}
}

func write(t testing.TB, p, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil { // past the umask
		t.Fatal(err)
	}
}

// srcTree makes a sync root with a file, an executable, a nested directory,
// an empty directory, a symlink inside the root and one pointing outside it,
// and a symlinked directory that leaves the root.
func srcTree(t *testing.T) (root, outside string) {
	t.Helper()
	dir := t.TempDir()
	root, outside = filepath.Join(dir, "src"), filepath.Join(dir, "secret")
	write(t, filepath.Join(outside, "key"), "do not send", 0o600)
	write(t, filepath.Join(root, "main.js"), "console.log(1)\n", 0o644)
	write(t, filepath.Join(root, "run.sh"), "#!/bin/sh\n", 0o755)
	write(t, filepath.Join(root, "lib", "deep", "x.js"), "x", 0o640)
	if err := os.MkdirAll(filepath.Join(root, "empty"), 0o750); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{"link.js": "main.js", "escape": filepath.Join(outside, "key"), "outdir": outside} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	return root, outside
}

func TestWriteTar(t *testing.T) {
	root, outside := srcTree(t)
	mtime := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	if err := os.Chtimes(filepath.Join(root, "main.js"), mtime, mtime); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		copies []Copy
		want   map[string]tarEntry
	}{
		{
			name:   "files keep contents and modes",
			copies: []Copy{{Local: filepath.Join(root, "main.js"), Remote: "/app/main.js", Root: root}, {Local: filepath.Join(root, "run.sh"), Remote: "/app/bin/run", Root: root}},
			want: map[string]tarEntry{
				"app/main.js": {Type: tar.TypeReg, Mode: 0o644, Content: "console.log(1)\n"},
				"app/bin/run": {Type: tar.TypeReg, Mode: 0o755, Content: "#!/bin/sh\n"},
			},
		},
		{
			name:   "symlinks are sent as symlinks, never followed",
			copies: []Copy{{Local: filepath.Join(root, "link.js"), Remote: "/app/link.js", Root: root}, {Local: filepath.Join(root, "escape"), Remote: "/app/escape", Root: root}},
			want: map[string]tarEntry{
				"app/link.js": {Type: tar.TypeSymlink, Mode: 0o777, Linkname: "main.js"},
				"app/escape":  {Type: tar.TypeSymlink, Mode: 0o777, Linkname: filepath.Join(outside, "key")},
			},
		},
		{
			name:   "a directory is sent whole",
			copies: []Copy{{Local: root, Remote: "/app", Root: root}},
			want: map[string]tarEntry{
				"app/":              {Type: tar.TypeDir, Mode: 0o755},
				"app/main.js":       {Type: tar.TypeReg, Mode: 0o644, Content: "console.log(1)\n"},
				"app/run.sh":        {Type: tar.TypeReg, Mode: 0o755, Content: "#!/bin/sh\n"},
				"app/lib/":          {Type: tar.TypeDir, Mode: 0o755},
				"app/lib/deep/":     {Type: tar.TypeDir, Mode: 0o755},
				"app/lib/deep/x.js": {Type: tar.TypeReg, Mode: 0o640, Content: "x"},
				"app/empty/":        {Type: tar.TypeDir, Mode: 0o750},
				"app/link.js":       {Type: tar.TypeSymlink, Mode: 0o777, Linkname: "main.js"},
				"app/escape":        {Type: tar.TypeSymlink, Mode: 0o777, Linkname: filepath.Join(outside, "key")},
				"app/outdir":        {Type: tar.TypeSymlink, Mode: 0o777, Linkname: outside},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := writeTar(&buf, tt.copies); err != nil {
				t.Fatalf("writeTar(%v) = %v", tt.copies, err)
			}
			raw := buf.Bytes()
			if got := readTar(t, bytes.NewReader(raw)); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("writeTar(%v) = %v, want %v", tt.copies, got, tt.want)
			}
			if bytes.Contains(raw, []byte("do not send")) {
				t.Errorf("writeTar(%v) carries the content of a file outside the sync root", tt.copies)
			}
		})
	}

	t.Run("modification time kept", func(t *testing.T) {
		var buf bytes.Buffer
		if err := writeTar(&buf, []Copy{{Local: filepath.Join(root, "main.js"), Remote: "/app/main.js", Root: root}}); err != nil {
			t.Fatal(err)
		}
		h, err := tar.NewReader(&buf).Next()
		if err != nil {
			t.Fatal(err)
		}
		if !h.ModTime.Equal(mtime) {
			t.Errorf("writeTar(main.js) mtime = %v, want %v", h.ModTime, mtime)
		}
	})
}

func TestPrepare(t *testing.T) {
	root, _ := srcTree(t)
	tests := []struct {
		name    string
		plan    Plan
		want    Plan
		wantErr string // substring of a *FallBackError's message
	}{
		{
			name: "existing files pass, cleaned",
			plan: Plan{Copy: []Copy{{Local: filepath.Join(root, "main.js"), Remote: "/app//./main.js", Root: root}}, Delete: []string{"/app/old/"}},
			want: Plan{Copy: []Copy{{Local: filepath.Join(root, "main.js"), Remote: "/app/main.js", Root: root}}, Delete: []string{"/app/old"}},
		},
		{
			name: "a file gone since the change is deleted instead",
			plan: Plan{Copy: []Copy{{Local: filepath.Join(root, "gone.js"), Remote: "/app/gone.js", Root: root}}},
			want: Plan{Delete: []string{"/app/gone.js"}},
		},
		{
			name: "a symlink pointing outside is allowed (sent as a link)",
			plan: Plan{Copy: []Copy{{Local: filepath.Join(root, "escape"), Remote: "/app/escape", Root: root}}},
			want: Plan{Copy: []Copy{{Local: filepath.Join(root, "escape"), Remote: "/app/escape", Root: root}}},
		},
		{
			name:    "a file reached through a symlinked directory that leaves the root is refused",
			plan:    Plan{Copy: []Copy{{Local: filepath.Join(root, "outdir", "key"), Remote: "/app/outdir/key", Root: root}}},
			wantErr: "leaves its sync root",
		},
		{
			name:    "a file outside the root is refused",
			plan:    Plan{Copy: []Copy{{Local: filepath.Join(root, "..", "secret", "key"), Remote: "/app/key", Root: root}}},
			wantErr: "is outside its sync root",
		},
		{
			name:    "relative container path",
			plan:    Plan{Delete: []string{"app/x"}},
			wantErr: `container path "app/x" is not absolute`,
		},
		{
			name:    "the container root is never deleted",
			plan:    Plan{Delete: []string{"/app/.."}},
			wantErr: "refusing to write or delete the container's root directory",
		},
		{
			name:    "nor written whole",
			plan:    Plan{Copy: []Copy{{Local: root, Remote: "/", Root: root}}},
			wantErr: "refusing to write or delete the container's root directory",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := prepare(tt.plan)
			if tt.wantErr != "" {
				var fb *FallBackError
				if !errors.As(err, &fb) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("prepare(%+v) = %v, want a *FallBackError containing %q", tt.plan, err, tt.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("prepare(%+v) = %+v, %v, want %+v", tt.plan, got, err, tt.want)
			}
		})
	}
}
