package devfile

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// goldenEnviron is the fixed environment golden cases evaluate with, so
// that os.getenv, os.environ and Model.Env give the same answer on every
// machine. PATH holds the standard directories, where sh and coreutils live.
func goldenEnviron() []string {
	return []string{
		"HOME=/home/dev",
		"DEVLOOP_GOLDEN=1",
		"PATH=/usr/local/bin:/usr/bin:/bin",
	}
}

// goldenCases returns the directories testdata/*/* that hold a Devfile or a Tiltfile.
func goldenCases(t *testing.T) []string {
	t.Helper()
	var dirs []string
	for _, name := range []string{"Devfile", "Tiltfile"} {
		ms, err := filepath.Glob(filepath.Join("testdata", "*", "*", name))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			dirs = append(dirs, filepath.Dir(m))
		}
	}
	sort.Strings(dirs)
	return dirs
}

// TestGolden loads every testdata/*/*/Devfile (or Tiltfile) and compares the
// model's JSON with model.golden.json, or the error with error.golden. An
// optional args file holds the args after "--", one per line; print() and
// local() output is compared with stdout.golden when that file exists.
// go test ./devfile -update rewrites the golden files.
func TestGolden(t *testing.T) {
	root, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range goldenCases(t) {
		name := filepath.ToSlash(strings.TrimPrefix(dir, "testdata"+string(filepath.Separator)))
		t.Run(name, func(t *testing.T) {
			absDir, err := filepath.Abs(dir)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(absDir, "Devfile")
			if _, err := os.Stat(path); err != nil {
				path = filepath.Join(absDir, "Tiltfile")
			}
			var args []string
			if b, err := os.ReadFile(filepath.Join(absDir, "args")); err == nil {
				for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
					args = append(args, l)
				}
			}
			var stdout bytes.Buffer
			opts := Options{
				Args:          args,
				Subcommand:    "up",
				Stdout:        &stdout,
				KubeContext:   "kind-devloop",
				KubeNamespace: "default",
				Environ:       goldenEnviron(),
			}
			m, loadErr := Load(context.Background(), path, opts)
			norm := func(s string) string {
				s = strings.ReplaceAll(s, absDir+string(filepath.Separator), "")
				s = strings.ReplaceAll(s, absDir, ".")
				return strings.ReplaceAll(s, root, "$TESTDATA")
			}

			modelFile := filepath.Join(absDir, "model.golden.json")
			errorFile := filepath.Join(absDir, "error.golden")
			stdoutFile := filepath.Join(absDir, "stdout.golden")
			if *update {
				if loadErr != nil {
					writeGolden(t, errorFile, norm(loadErr.Error())+"\n")
					removeGolden(t, modelFile)
				} else {
					writeGolden(t, modelFile, norm(modelJSON(t, m)))
					removeGolden(t, errorFile)
				}
				if stdout.Len() > 0 {
					writeGolden(t, stdoutFile, norm(stdout.String()))
				} else {
					removeGolden(t, stdoutFile)
				}
				return
			}

			if want, err := os.ReadFile(errorFile); err == nil {
				if loadErr == nil {
					t.Fatalf("Load(%s) = model, nil; want error %q", name, want)
				}
				if got := norm(loadErr.Error()) + "\n"; got != string(want) {
					t.Errorf("Load(%s) error =\n%s\nwant\n%s", name, got, want)
				}
			} else {
				if loadErr != nil {
					t.Fatalf("Load(%s) = %v; want a model (or add error.golden)", name, loadErr)
				}
				want, err := os.ReadFile(modelFile)
				if err != nil {
					t.Fatalf("reading golden: %v (run go test ./devfile -update)", err)
				}
				if got := norm(modelJSON(t, m)); got != string(want) {
					t.Errorf("Load(%s) model =\n%s\nwant\n%s", name, got, want)
				}
			}
			if want, err := os.ReadFile(stdoutFile); err == nil {
				if got := norm(stdout.String()); got != string(want) {
					t.Errorf("Load(%s) output =\n%s\nwant\n%s", name, got, want)
				}
			} else if stdout.Len() > 0 {
				t.Errorf("Load(%s) printed %q; want no output (or add stdout.golden)", name, stdout.String())
			}
		})
	}
}

func modelJSON(t *testing.T, m *Model) string {
	t.Helper()
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b) + "\n"
}

func writeGolden(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func removeGolden(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
}
