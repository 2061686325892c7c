package devfile

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkLoad evaluates a Devfile with 200 local resources, 50 images with
// live updates, YAML encoding and a loaded helper file: the size of a large
// real project, to keep reloads (which run on every Devfile edit) fast.
func BenchmarkLoad(b *testing.B) {
	dir := b.TempDir()
	var src strings.Builder
	src.WriteString("load('lib.star', 'svc')\n")
	for i := 0; i < 50; i++ {
		fmt.Fprintf(&src, "docker_build('example.com/img%d', 'ctx%d', live_update=[sync('ctx%d/src', '/app'), run('make', trigger=['ctx%d/Makefile'])])\n", i, i, i, i)
	}
	src.WriteString("update_settings(suppress_unused_image_warnings=['example.com/img%d' % i for i in range(50)])\n")
	for i := 0; i < 200; i++ {
		deps := ""
		if i > 0 {
			deps = fmt.Sprintf("'svc-%d'", i-1)
		}
		fmt.Fprintf(&src, "svc('svc-%d', [%s])\n", i, deps)
	}
	files := map[string]string{
		"Devfile": src.String(),
		"lib.star": `def svc(name, deps):
    y = encode_yaml({"name": name, "ports": [8080, 8081], "labels": {"app": name}})
    local_resource(name, serve_cmd="./run " + name, deps=["src/" + name], resource_deps=deps,
                   labels=["svc"], readiness_probe=probe(http_get=http_get_action(8080)))
    return decode_yaml(str(y))
`,
	}
	for i := 0; i < 50; i++ {
		files[fmt.Sprintf("ctx%d/Dockerfile", i)] = "FROM scratch\n"
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	path := filepath.Join(dir, "Devfile")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Load(context.Background(), path, Options{Environ: []string{}}); err != nil {
			b.Fatal(err)
		}
	}
}
