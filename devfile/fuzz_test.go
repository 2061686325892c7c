package devfile

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// fuzzMaxSteps keeps each fuzz input fast: a few milliseconds of Starlark.
const fuzzMaxSteps = 100_000

// bigAlloc matches inputs that could ask for gigabytes in a handful of
// steps ("x" * 999999999, 1 << 40): the step bound does not limit memory,
// and the fuzzer runs on shared machines.
var bigAlloc = regexp.MustCompile(`[0-9]{7,}|<<|\*=|\*\s*[A-Za-z_(]`)

// FuzzLoad feeds arbitrary Devfile source through Load: it must return a
// model or an error, never panic (Load turns panics into "internal error",
// which fails here) and never hang (the step bound).
func FuzzLoad(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*/*/Devfile")
	for _, p := range seeds {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(string(b))
		}
	}
	for _, s := range []string{
		"",
		"load('x.star', 'y')",
		"load('ext://restart_process', 'docker_build_with_restart')",
		"def f():\n  return f()\nf()",
		"x = {}\nx['a'] = x\nencode_yaml(x)",
		"decode_yaml('a: [1, {b: 2}]\\n---\\nc: d')",
		"decode_json('{\"a\": [1, 2.5, true, null]}')",
		"config.define_string('a', args=True)\nconfig.parse()",
		"docker_build('a', '.', live_update=[run('x'), sync('.', '/a')])",
		"local_resource('a', cmd='x', resource_deps=['a'])",
		"kind_cluster(name='dev', nodes=2)",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		if bigAlloc.MatchString(src) {
			t.Skip("input could allocate gigabytes")
		}
		dir := t.TempDir()
		path := filepath.Join(dir, "Devfile")
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Load(context.Background(), path, Options{MaxSteps: fuzzMaxSteps, NoExec: true, Environ: []string{}})
		if err != nil && strings.Contains(err.Error(), "internal error") {
			t.Fatalf("Load(%q) = %v", src, err)
		}
	})
}
