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

func obj(apiVersion, kind, ns, name string) *k8sObject {
	return &k8sObject{APIVersion: apiVersion, Kind: kind, Namespace: ns, Name: name}
}

func TestUniqueNames(t *testing.T) {
	tests := []struct {
		name string
		in   []*k8sObject
		want []string
	}{
		{
			name: "distinct names stay short",
			in:   []*k8sObject{obj("apps/v1", "Deployment", "", "web"), obj("apps/v1", "StatefulSet", "", "db")},
			want: []string{"web", "db"},
		},
		{
			name: "same name, different kinds",
			in:   []*k8sObject{obj("apps/v1", "Deployment", "", "web"), obj("batch/v1", "Job", "", "web"), obj("apps/v1", "StatefulSet", "", "db")},
			want: []string{"web:deployment", "web:job", "db"},
		},
		{
			name: "same name and kind, different namespaces (unset is default)",
			in:   []*k8sObject{obj("apps/v1", "Deployment", "", "web"), obj("apps/v1", "Deployment", "staging", "web")},
			want: []string{"web:deployment:default", "web:deployment:staging"},
		},
		{
			name: "same name, kind and namespace, different groups",
			in:   []*k8sObject{obj("apps/v1", "Deployment", "a", "web"), obj("extensions/v1beta1", "Deployment", "a", "web")},
			want: []string{"web:deployment:a:apps", "web:deployment:a:extensions"},
		},
		{
			name: "identical objects get an index",
			in:   []*k8sObject{obj("v1", "Pod", "", "p"), obj("v1", "Pod", "", "p")},
			want: []string{"p:pod:default:core:0", "p:pod:default:core:1"},
		},
		{
			name: "names are lower-cased",
			in:   []*k8sObject{obj("v1", "Pod", "", "P")},
			want: []string{"p"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := uniqueNames(tt.in); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("uniqueNames(%s) = %v, want %v", tt.name, got, tt.want)
			}
		})
	}
}

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

func TestResolveContainerPort(t *testing.T) {
	tests := []struct {
		name     string
		local    int
		declared []int
		want     int
	}{
		{"declared equal to local", 9090, []int{8080, 9090}, 9090},
		{"first declared", 8000, []int{8080, 9090}, 8080},
		{"none declared", 8000, nil, 8000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := resolveContainerPort(tt.local, tt.declared); got != tt.want {
				t.Errorf("resolveContainerPort(%d, %v) = %d, want %d", tt.local, tt.declared, got, tt.want)
			}
		})
	}
}

func TestImageMatcher(t *testing.T) {
	im := newImageMatcher([]Image{
		{Ref: "web"},
		{Ref: "gcr.io/team/api"},
		{Ref: "worker:dev"},
		{Ref: "sidecar", MatchInEnvVars: true},
	})
	tests := []struct {
		name string
		ref  string
		want string
	}{
		{"same name", "web", "web"},
		{"tag ignored", "web:1.2", "web"},
		{"docker hub long form", "docker.io/library/web:latest", "web"},
		{"digest", "web@sha256:" + strings.Repeat("a", 64), "web"},
		{"registry kept", "gcr.io/team/api:v3", "gcr.io/team/api"},
		{"other registry", "quay.io/team/api", ""},
		{"tagged ref matches its tag", "worker:dev", "worker:dev"},
		{"tagged ref ignores other tags", "worker:prod", ""},
		{"prefix is not a match", "webapp", ""},
		{"invalid ref", "Not A Ref", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := im.match(tt.ref); got != tt.want {
				t.Errorf("match(%q) = %q, want %q", tt.ref, got, tt.want)
			}
		})
	}
	if got := im.matchEnv("sidecar:v2"); got != "sidecar" {
		t.Errorf("matchEnv(sidecar:v2) = %q, want sidecar", got)
	}
	if got := im.matchEnv("web"); got != "" {
		t.Errorf("matchEnv(web) = %q, want \"\" (web is not match_in_env_vars)", got)
	}
}

func TestHelmArgv(t *testing.T) {
	tests := []struct {
		name string
		in   helmRequest
		want []string
	}{
		{
			name: "defaults: release chart, CRDs included",
			in:   helmRequest{Chart: "/p/chart"},
			want: []string{"helm", "template", "chart", "/p/chart", "--include-crds"},
		},
		{
			name: "everything",
			in: helmRequest{Chart: "/p/chart", Name: "shop", Namespace: "dev", KubeVersion: "1.30",
				SkipCRDs: true, Values: []string{"/p/a.yaml", "/p/b.yaml"}, Set: []string{"image.tag=dev", "replicas=2"}},
			want: []string{"helm", "template", "shop", "/p/chart", "--namespace", "dev", "--kube-version", "1.30",
				"--values", "/p/a.yaml", "--values", "/p/b.yaml", "--set", "image.tag=dev", "--set", "replicas=2"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.in.argv(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("argv(%+v) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestDropHelmTests(t *testing.T) {
	in := "---\n# Source: shop/templates/svc.yaml\napiVersion: v1\nkind: Service\n---\n# Source: shop/templates/tests/test-connection.yaml\napiVersion: v1\nkind: Pod\n---\n# Source: shop/templates/deploy.yaml\nkind: Deployment\n"
	want := "# Source: shop/templates/svc.yaml\napiVersion: v1\nkind: Service\n---\n# Source: shop/templates/deploy.yaml\nkind: Deployment\n"
	if got := dropHelmTests(in); got != want {
		t.Errorf("dropHelmTests(...) = %q, want %q", got, want)
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

func TestKustomizeOptions(t *testing.T) {
	tests := []struct {
		name      string
		flags     []string
		wantNone  bool
		wantHelm  bool
		wantError string
	}{
		{name: "defaults"},
		{name: "load restrictor with =", flags: []string{"--load-restrictor=LoadRestrictionsNone"}, wantNone: true},
		{name: "load restrictor separate", flags: []string{"--load-restrictor", "LoadRestrictionsNone"}, wantNone: true},
		{name: "enable helm", flags: []string{"--enable-helm"}, wantHelm: true},
		{name: "missing value", flags: []string{"--load-restrictor"}, wantError: "--load-restrictor needs a value"},
		{name: "bad value", flags: []string{"--load-restrictor=sometimes"}, wantError: "want LoadRestrictionsRootOnly or LoadRestrictionsNone"},
		{name: "unknown flag", flags: []string{"--enable-alpha-plugins"}, wantError: "pass kustomize_bin="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts, err := kustomizeOptions(tt.flags)
			if tt.wantError != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantError) {
					t.Errorf("kustomizeOptions(%q) error = %v, want %q", tt.flags, err, tt.wantError)
				}
				return
			}
			if err != nil {
				t.Fatalf("kustomizeOptions(%q) error: %v", tt.flags, err)
			}
			if got := opts.LoadRestrictions.String() == "LoadRestrictionsNone"; got != tt.wantNone {
				t.Errorf("kustomizeOptions(%q).LoadRestrictions = %v, want none=%v", tt.flags, opts.LoadRestrictions, tt.wantNone)
			}
			if got := opts.PluginConfig.HelmConfig.Enabled; got != tt.wantHelm {
				t.Errorf("kustomizeOptions(%q) helm enabled = %v, want %v", tt.flags, got, tt.wantHelm)
			}
		})
	}
}

func TestParseSimpleJSONPath(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []string
		wantErr bool
	}{
		{name: "braced", in: "{.spec.image}", want: []string{"spec", "image"}},
		{name: "bare", in: ".spec.runtime.image", want: []string{"spec", "runtime", "image"}},
		{name: "list", in: "{.spec.containers[*].image}", want: []string{"spec", "containers", "[*]", "image"}},
		{name: "filter unsupported", in: `{.spec.params[?(@.name=="image")].value}`, wantErr: true},
		{name: "no leading dot", in: "spec.image", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseSimpleJSONPath(tt.in)
			if (err != nil) != tt.wantErr || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parseSimpleJSONPath(%q) = %q, %v; want %q (error %v)", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
	o := mustObj(t, "apiVersion: x/v1\nkind: Fn\nmetadata: {name: f}\nspec:\n  image: one\n  containers: [{image: two}, {image: three}]\n")
	path, _ := parseSimpleJSONPath("{.spec.containers[*].image}")
	if got, want := extractPath(o.Content, path), []string{"two", "three"}; !reflect.DeepEqual(got, want) {
		t.Errorf("extractPath(containers[*].image) = %q, want %q", got, want)
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

func TestObjectSelector(t *testing.T) {
	deploy := obj("apps/v1", "Deployment", "", "web-api")
	tests := []struct {
		name                          string
		apiVersion, kind, objName, ns string
		want                          bool
	}{
		{name: "empty matches all", want: true},
		{name: "kind case-insensitive", kind: "deployment", want: true},
		{name: "name is a partial match as in Tilt", objName: "api", want: true},
		{name: "anchored regexp", objName: "^api$", want: false},
		{name: "unset namespace is default", ns: "default", want: true},
		{name: "other namespace", ns: "prod", want: false},
		{name: "api version", apiVersion: "apps/v1", want: true},
		{name: "wrong kind", kind: "Service", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sel, err := newObjectSelector(tt.apiVersion, tt.kind, tt.objName, tt.ns)
			if err != nil {
				t.Fatal(err)
			}
			if got := sel.matches(deploy); got != tt.want {
				t.Errorf("newObjectSelector(%q, %q, %q, %q).matches(web-api) = %v, want %v", tt.apiVersion, tt.kind, tt.objName, tt.ns, got, tt.want)
			}
		})
	}
	if _, err := newObjectSelector("", "(", "", ""); err == nil || !strings.Contains(err.Error(), "kind: \"(\" is not a valid regular expression") {
		t.Errorf("newObjectSelector(kind=\"(\") error = %v, want a regexp error naming kind", err)
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
