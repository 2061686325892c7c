package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/devloop-dev/devloop/devfile"
)

func TestConfigJSONRoundTrip(t *testing.T) {
	path, err := filepath.Abs(filepath.Join("..", "..", "devfile", "testdata", "core", "local_resource", "Devfile"))
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, "config", "-o", "json", "-f", path)
	if code != 0 {
		t.Fatalf("devloop config -o json -f %s = %d, %q; want 0", path, code, errOut)
	}
	var got devfile.Model
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("devloop config -o json output is not a Model: %v\n%s", err, out)
	}
	want, err := devfile.Load(context.Background(), path, devfile.Options{Subcommand: "config"})
	if err != nil {
		t.Fatal(err)
	}
	wantJSON, _ := json.Marshal(want)
	gotJSON, _ := json.Marshal(&got)
	if string(gotJSON) != string(wantJSON) {
		t.Errorf("devloop config -o json round trip =\n%s\nwant\n%s", gotJSON, wantJSON)
	}
	if got.Path != path || len(got.Resources) != 2 || got.Resources[1].Name != "server" {
		t.Errorf("devloop config -o json = path %s, %d resources; want %s with compile and server", got.Path, len(got.Resources), path)
	}
}

func TestConfigOutputs(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "Devfile")
	src := `config.define_string("mode")
cfg = config.parse()
print("mode is", cfg.get("mode", "none"))
kind_cluster(name="dev")
local_resource("api", serve_cmd="./api", trigger_mode=TRIGGER_MODE_MANUAL, labels=["backend"])
local_resource("db", cmd="true", resource_deps=[] if cfg.get("mode") == "fast" else ["api"])
`
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		args       []string
		wantOut    []string
		wantStderr string
	}{
		{"summary", []string{"config", "-f", path},
			[]string{"Devfile: " + path, `Cluster: kind "dev", 1 node(s), registry on localhost:5005`, "api  local  enabled  (manual; labels: backend)", "db  local  enabled  (after: api)"},
			"mode is none"},
		{"yaml with args", []string{"config", "-o", "yaml", "-f", path, "--", "--mode", "fast"},
			[]string{"name: api", "trigger_mode: manual", "resource_deps: []"},
			"mode is fast"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, tt.args...)
			if code != 0 {
				t.Fatalf("devloop %q = %d, %q; want 0", tt.args, code, errOut)
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(out, w) {
					t.Errorf("devloop %q output =\n%s\nwant it to contain %q", tt.args, out, w)
				}
			}
			if !strings.Contains(errOut, tt.wantStderr) {
				t.Errorf("devloop %q stderr = %q, want print() output %q", tt.args, errOut, tt.wantStderr)
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	broken := filepath.Join(dir, "Devfile")
	if err := os.WriteFile(broken, []byte("local_resource('a', cmd='true')\nlocal_resource('b', cmd='true', resource_deps=['nope'])\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"bad resource_deps", []string{"config", "-f", broken}, "Error: " + broken + `:2:15: resource "b" has resource_deps "nope", which is not a resource`},
		{"missing file", []string{"config", "-f", filepath.Join(dir, "nope")}, "check the -f path"},
		{"bad format", []string{"config", "-o", "toml", "-f", broken}, `unknown output format "toml"`},
		{"args before --", []string{"config", "-f", broken, "extra"}, "put Devfile arguments after --"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, tt.args...)
			if code != 1 || !strings.Contains(errOut, tt.want) {
				t.Errorf("devloop %q = %d, %q; want 1 and stderr containing %q", tt.args, code, errOut, tt.want)
			}
			if out != "" {
				t.Errorf("devloop %q printed %q on stdout, want nothing", tt.args, out)
			}
		})
	}
}

func TestConfigDefaultPath(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Tiltfile"), []byte("local_resource('from-tiltfile', cmd='true')\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	code, out, errOut := runCLI(t, "config", "-o", "json")
	if code != 0 || !strings.Contains(out, `"name": "from-tiltfile"`) {
		t.Errorf("devloop config -o json in a Tiltfile directory = %d, %q, %q; want 0 and resource from-tiltfile", code, out, errOut)
	}
}

func TestCurrentKubeContext(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a")
	b := filepath.Join(dir, "b")
	os.WriteFile(a, []byte("contexts:\n- name: other\n  context: {namespace: x}\n"), 0o644)
	os.WriteFile(b, []byte("current-context: kind-dev\ncontexts:\n- name: kind-dev\n  context:\n    namespace: team\n"), 0o644)
	tests := []struct {
		name, kubeconfig, wantName, wantNS string
	}{
		{"merged", a + string(os.PathListSeparator) + b, "kind-dev", "team"},
		{"missing", filepath.Join(dir, "none"), "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name, ns := currentKubeContext(tt.kubeconfig)
			if name != tt.wantName || ns != tt.wantNS {
				t.Errorf("currentKubeContext(%s) = %q, %q, want %q, %q", tt.kubeconfig, name, ns, tt.wantName, tt.wantNS)
			}
		})
	}
	if name, ns := kubeContextNamed(a+string(os.PathListSeparator)+b, "other"); name != "other" || ns != "x" {
		t.Errorf("kubeContextNamed(other) = %q, %q, want other, x (its own namespace, not the current one's)", name, ns)
	}
}

// TestConfigKubeFlags: k8s_context() and k8s_namespace() answer --context
// and --namespace, else the kubeconfig's current context and its namespace.
func TestConfigKubeFlags(t *testing.T) {
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	os.WriteFile(kubeconfig, []byte("current-context: kind-dev\ncontexts:\n- name: kind-dev\n  context: {namespace: team}\n- name: other\n  context: {namespace: x}\n"), 0o644)
	t.Setenv("KUBECONFIG", kubeconfig)
	devfile := filepath.Join(dir, "Devfile")
	os.WriteFile(devfile, []byte("print('ctx=%s ns=%s' % (k8s_context(), k8s_namespace()))\n"), 0o644)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{nil, "ctx=kind-dev ns=team"},
		{[]string{"--context", "other"}, "ctx=other ns=x"},
		{[]string{"--context", "other", "-n", "mine"}, "ctx=other ns=mine"},
	} {
		code, _, errOut := runCLI(t, append([]string{"config", "-f", devfile}, tt.args...)...)
		if code != 0 || !strings.Contains(errOut, tt.want) {
			t.Errorf("devloop config %v = %d, %q; want 0 and %q", tt.args, code, errOut, tt.want)
		}
	}
}
