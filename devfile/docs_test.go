package devfile

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"go.starlark.net/starlarkstruct"
)

// TestBuiltinsDocumented checks that every predeclared name, and every
// member of the os, os.path, shlex, sys and config modules, appears in the
// Devfile reference docs.
func TestBuiltinsDocumented(t *testing.T) {
	var docs strings.Builder
	for _, name := range []string{"devfile.md", "devfile-kubernetes.md"} {
		b, err := os.ReadFile(filepath.Join("..", "docs", name))
		if err != nil {
			t.Fatalf("reading the docs: %v", err)
		}
		docs.Write(b)
	}
	text := docs.String()
	s := newState("/nonexistent/Devfile", Options{Environ: []string{}})
	var names []string
	var addModule func(prefix string, m *starlarkstruct.Module)
	addModule = func(prefix string, m *starlarkstruct.Module) {
		for member, v := range m.Members {
			if sub, ok := v.(*starlarkstruct.Module); ok {
				addModule(prefix+member+".", sub)
				continue
			}
			names = append(names, prefix+member)
		}
	}
	for name, v := range s.predeclared {
		if m, ok := v.(*starlarkstruct.Module); ok {
			addModule(name+".", m)
			continue
		}
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		short := name[strings.LastIndex(name, ".")+1:]
		if !strings.Contains(text, name) && !(strings.HasPrefix(name, "os.path.") && strings.Contains(text, "`"+short)) {
			t.Errorf("builtin %s is not in docs/devfile.md or docs/devfile-kubernetes.md", name)
		}
	}
}

func TestLoadNoExec(t *testing.T) {
	path := writeDevfile(t, "local('touch ran')\n", nil)
	_, err := Load(context.Background(), path, Options{NoExec: true})
	if err == nil || !strings.Contains(err.Error(), "does not run commands") {
		t.Fatalf("Load(NoExec) = %v, want an error saying commands are not run", err)
	}
	if _, statErr := os.Stat(filepath.Join(filepath.Dir(path), "ran")); statErr == nil {
		t.Errorf("Load(NoExec) ran the command")
	}
}
