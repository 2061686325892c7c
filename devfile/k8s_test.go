package devfile

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"go.starlark.net/starlark"
)

func TestPortForwardsFromValue(t *testing.T) {
	list := func(vs ...starlark.Value) starlark.Value { return starlark.NewList(vs) }
	tests := []struct {
		name string
		in   starlark.Value
		want []PortForward
	}{
		{"none", starlark.None, nil},
		{"int", starlark.MakeInt(8080), []PortForward{{Local: 8080}}},
		{"string local", starlark.String("8080"), []PortForward{{Local: 8080}}},
		{"local:container", starlark.String("8080:80"), []PortForward{{Local: 8080, Container: 80}}},
		{"host:local:container", starlark.String("0.0.0.0:8080:80"), []PortForward{{Host: "0.0.0.0", Local: 8080, Container: 80}}},
		{"hostname host", starlark.String("localhost:9000:9000"), []PortForward{{Host: "localhost", Local: 9000, Container: 9000}}},
		{"port_forward value", portForwardValue{PortForward{Local: 3000, Container: 80, Name: "ui", LinkPath: "/app"}}, []PortForward{{Local: 3000, Container: 80, Name: "ui", LinkPath: "/app"}}},
		{"mixed list", list(starlark.MakeInt(1), starlark.String("2:3"), portForwardValue{PortForward{Local: 4}}), []PortForward{{Local: 1}, {Local: 2, Container: 3}, {Local: 4}}},
		{"tuple", starlark.Tuple{starlark.MakeInt(5)}, []PortForward{{Local: 5}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := portForwardsFromValue(tt.in)
			if err != nil {
				t.Fatalf("portForwardsFromValue(%s) error: %v", tt.in, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("portForwardsFromValue(%s) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestPortForwardsFromValueErrors(t *testing.T) {
	tests := []struct {
		name string
		in   starlark.Value
		want string
	}{
		{"zero", starlark.MakeInt(0), "0 is not a port"},
		{"too big", starlark.MakeInt(70000), "70000 is not a port"},
		{"not a number", starlark.String("web"), `"web" has local port "web"`},
		{"bad container", starlark.String("8080:http"), `has container port "http"`},
		{"bad host", starlark.String("bad_host!:1:2"), `has host "bad_host!"`},
		{"too many colons", starlark.String("a:1:2:3"), "too many colons"},
		{"empty", starlark.String(""), `has local port ""`},
		{"float", starlark.Float(80), "got float"},
		{"dict", starlark.NewDict(0), "got dict"},
		{"nested list", starlark.NewList([]starlark.Value{starlark.NewList(nil)}), "nested list"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := portForwardsFromValue(tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "accepted forms: 8080") {
				t.Errorf("portForwardsFromValue(%s) error = %v, want it to contain %q and the accepted forms", tt.in, err, tt.want)
			}
		})
	}
}

func TestLookPathIn(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "helm")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "notexec"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		prog    string
		env     []string
		want    string
		wantErr string
	}{
		{"found on PATH", "helm", []string{"PATH=/nonexistent:" + dir}, exe, ""},
		{"not on PATH", "helm", []string{"PATH=/nonexistent"}, "", "the helm binary is not on PATH (/nonexistent)"},
		{"no PATH at all", "helm", nil, "", "the helm binary is not on PATH ()"},
		{"not executable", "notexec", []string{"PATH=" + dir}, "", "not on PATH"},
		{"path given", exe, nil, exe, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := lookPathIn(tt.prog, tt.env)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("lookPathIn(%q) = %q, %v; want error %q", tt.prog, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("lookPathIn(%q) = %q, %v; want %q", tt.prog, got, err, tt.want)
			}
		})
	}
}

func TestParseDotenv(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    [][2]string
		wantErr string
	}{
		{
			name: "plain, comments, blanks, spaces",
			in:   "# comment\nA=1\n\n  B = two words  \nexport C=3\n",
			want: [][2]string{{"A", "1"}, {"B", "two words"}, {"C", "3"}},
		},
		{
			name: "quotes removed, = kept in value",
			in:   "A=\"x=y\"\nB='single'\nC=\"\"\n",
			want: [][2]string{{"A", "x=y"}, {"B", "single"}, {"C", ""}},
		},
		{
			name: "multi-line double-quoted value",
			in:   "KEY=\"-----BEGIN\nline2\nEND-----\"\nNEXT=1\n",
			want: [][2]string{{"KEY", "-----BEGIN\nline2\nEND-----"}, {"NEXT", "1"}},
		},
		{name: "line without =", in: "A=1\njunk\n", wantErr: "2: \"junk\" is not KEY=VALUE"},
		{name: "unclosed quote", in: "A=\"open\nnever closed\n", wantErr: "is not closed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseDotenv(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("parseDotenv(%q) error = %v, want %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parseDotenv(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

// BenchmarkLoadManyWorkloads loads a Devfile registering n Deployments, each
// with a Service, a ConfigMap and a k8s_resource call: the grouping and
// naming cost at the scale where Tilt users report slowness (tilt#5495).
func BenchmarkLoadManyWorkloads(b *testing.B) {
	for _, n := range []int{100, 500} {
		b.Run(fmt.Sprintf("workloads=%d", n), func(b *testing.B) {
			dir := b.TempDir()
			var y, src strings.Builder
			for i := 0; i < n; i++ {
				fmt.Fprintf(&y, "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: svc%d}\nspec:\n  selector: {matchLabels: {app: svc%d}}\n  template:\n    metadata: {labels: {app: svc%d}}\n    spec:\n      containers: [{name: c, image: example/svc%d, ports: [{containerPort: 8080}]}]\n", i, i, i, i)
				fmt.Fprintf(&y, "---\napiVersion: v1\nkind: Service\nmetadata: {name: svc%d}\nspec:\n  selector: {app: svc%d}\n", i, i)
				fmt.Fprintf(&y, "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: svc%d-config}\n", i)
				fmt.Fprintf(&src, "k8s_resource('svc%d', port_forwards=%d, objects=['svc%d-config'])\n", i, 10000+i, i)
			}
			if err := os.WriteFile(filepath.Join(dir, "app.yaml"), []byte(y.String()), 0o644); err != nil {
				b.Fatal(err)
			}
			p := filepath.Join(dir, "Devfile")
			if err := os.WriteFile(p, []byte("k8s_yaml('app.yaml')\n"+src.String()), 0o644); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				m, err := Load(context.Background(), p, Options{Environ: []string{"PATH=/usr/bin"}})
				if err != nil {
					b.Fatal(err)
				}
				if len(m.Resources) != n {
					b.Fatalf("Load: %d resources, want %d", len(m.Resources), n)
				}
			}
		})
	}
}
