package devfile

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// loadK8s writes src as dir/Devfile plus files into a temporary directory
// and loads it with a fixed environment (PATH from this process).
func loadK8s(t *testing.T, src string, files map[string]string) (*Model, error) {
	t.Helper()
	p := writeDevfile(t, src, files)
	return Load(context.Background(), p, Options{Subcommand: "up", Environ: []string{"PATH=" + os.Getenv("PATH"), "HOME=/home/dev"}})
}

// objectYAML returns the YAML of the object kind/name in m.
func objectYAML(t *testing.T, m *Model, kind, name string) string {
	t.Helper()
	for _, r := range m.Resources {
		for _, o := range r.Objects {
			if o.Kind == kind && o.Name == name {
				return o.YAML
			}
		}
	}
	t.Fatalf("no %s %s in the model", kind, name)
	return ""
}

func TestDataObjects(t *testing.T) {
	files := map[string]string{
		"conf/app.ini":   "[server]\nport = 1\n",
		"conf/app.env":   "# comment\nA=1\n  B=\"quoted\"\nFROM_ENV\n",
		"conf/dir/a.txt": "alpha",
		"conf/dir/b.bin": "\xff\xfe",
		"tls/cert.pem":   mustRead(t, "testdata/ext/secret/tls/cert.pem"),
		"tls/key.pem":    mustRead(t, "testdata/ext/secret/tls/key.pem"),
	}
	tests := []struct {
		name, src, kind, obj, want string
	}{
		{
			name: "configmap from files with and without keys",
			src:  "load('ext://configmap', 'configmap_create')\nconfigmap_create('cfg', namespace='ns', from_file=['settings=conf/app.ini', 'conf/app.ini'])\n",
			kind: "ConfigMap", obj: "cfg",
			want: "apiVersion: v1\ndata:\n  app.ini: |\n    [server]\n    port = 1\n  settings: |\n    [server]\n    port = 1\nkind: ConfigMap\nmetadata:\n  name: cfg\n  namespace: ns\n",
		},
		{
			name: "configmap from an env file: values verbatim, bare keys from the environment",
			src:  "load('ext://configmap', 'configmap_create')\nos.putenv('FROM_ENV', 'env-value')\nconfigmap_create('env', from_env_file='conf/app.env')\n",
			kind: "ConfigMap", obj: "env",
			want: "apiVersion: v1\ndata:\n  A: \"1\"\n  B: '\"quoted\"'\n  FROM_ENV: env-value\nkind: ConfigMap\nmetadata:\n  name: env\n",
		},
		{
			name: "configmap from a directory: binary files go to binaryData",
			src:  "load('ext://configmap', 'configmap_yaml')\nk8s_yaml(configmap_yaml('dir', from_file='conf/dir'))\n",
			kind: "ConfigMap", obj: "dir",
			want: "apiVersion: v1\nbinaryData:\n  b.bin: //4=\ndata:\n  a.txt: alpha\nkind: ConfigMap\nmetadata:\n  name: dir\n",
		},
		{
			name: "configmap from a dict",
			src:  "load('ext://configmap', 'configmap_from_dict')\nk8s_yaml(configmap_from_dict('d', inputs={'b': 'x', 'a': 1}))\n",
			kind: "ConfigMap", obj: "d",
			want: "apiVersion: v1\ndata:\n  a: \"1\"\n  b: x\nkind: ConfigMap\nmetadata:\n  name: d\n",
		},
		{
			name: "generic secret: base64, Opaque",
			src:  "load('ext://secret', 'secret_create_generic')\nsecret_create_generic('s', from_file='pw=conf/dir/a.txt')\n",
			kind: "Secret", obj: "s",
			want: "apiVersion: v1\ndata:\n  pw: YWxwaGE=\nkind: Secret\nmetadata:\n  name: s\ntype: Opaque\n",
		},
		{
			name: "secret with a type from a dict",
			src:  "load('ext://secret', 'secret_from_dict', 'secret_yaml_generic')\nk8s_yaml(secret_from_dict('d', namespace='x', inputs={'k': 'v'}))\nk8s_yaml(secret_yaml_generic('t', from_file='conf/dir/a.txt', secret_type='example.com/kind'))\n",
			kind: "Secret", obj: "d",
			want: "apiVersion: v1\ndata:\n  k: dg==\nkind: Secret\nmetadata:\n  name: d\n  namespace: x\ntype: Opaque\n",
		},
		{
			name: "tls secret",
			src:  "load('ext://secret', 'secret_create_tls')\nsecret_create_tls('tls', 'tls/cert.pem', 'tls/key.pem')\n",
			kind: "Secret", obj: "tls",
			want: "kind: Secret\nmetadata:\n  name: tls\ntype: kubernetes.io/tls\n",
		},
		{
			name: "docker registry secret",
			src:  "load('ext://secret', 'secret_create_docker_registry')\nsecret_create_docker_registry('regcred', 'bob', 'pw', server='registry.example.com')\n",
			kind: "Secret", obj: "regcred",
			// {"auths":{"registry.example.com":{"username":"bob","password":"pw","auth":"Ym9iOnB3"}}}
			want: "apiVersion: v1\ndata:\n  .dockerconfigjson: eyJhdXRocyI6eyJyZWdpc3RyeS5leGFtcGxlLmNvbSI6eyJ1c2VybmFtZSI6ImJvYiIsInBhc3N3b3JkIjoicHciLCJhdXRoIjoiWW05aU9uQjMifX19\nkind: Secret\nmetadata:\n  name: regcred\ntype: kubernetes.io/dockerconfigjson\n",
		},
		{
			name: "registry secret from kubectl flags",
			src:  "load('ext://secret', 'secret_yaml_registry')\nk8s_yaml(secret_yaml_registry('regcred', flags_dict={'docker-server': 'registry.example.com', 'docker-username': 'bob', 'docker-password': 'pw'}))\n",
			kind: "Secret", obj: "regcred",
			want: "apiVersion: v1\ndata:\n  .dockerconfigjson: eyJhdXRocyI6eyJyZWdpc3RyeS5leGFtcGxlLmNvbSI6eyJ1c2VybmFtZSI6ImJvYiIsInBhc3N3b3JkIjoicHciLCJhdXRoIjoiWW05aU9uQjMifX19\nkind: Secret\nmetadata:\n  name: regcred\ntype: kubernetes.io/dockerconfigjson\n",
		},
		{
			name: "namespace with labels and annotations",
			src:  "load('ext://namespace', 'namespace_create')\nnamespace_create('team', labels=['team: a', 'tier=b'], annotations={'owner': 'alice'})\n",
			kind: "Namespace", obj: "team",
			want: "apiVersion: v1\nkind: Namespace\nmetadata:\n  annotations:\n    owner: alice\n  labels:\n    team: a\n    tier: b\n  name: team\n",
		},
		{
			name: "allow_duplicates replaces the earlier object",
			src:  "k8s_yaml(blob('apiVersion: v1\\nkind: ConfigMap\\nmetadata: {name: c}\\ndata: {v: old}\\n'))\nk8s_yaml(blob('apiVersion: v1\\nkind: ConfigMap\\nmetadata: {name: c}\\ndata: {v: new}\\n'), allow_duplicates=True)\n",
			kind: "ConfigMap", obj: "c",
			want: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {v: new}\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := loadK8s(t, tt.src, files)
			if err != nil {
				t.Fatalf("Load(%q) error: %v", tt.src, err)
			}
			got := objectYAML(t, m, tt.kind, tt.obj)
			if tt.kind == "Secret" && tt.obj == "tls" {
				if !strings.Contains(got, "  tls.crt: ") || !strings.Contains(got, "  tls.key: ") || !strings.HasSuffix(got, tt.want) {
					t.Errorf("Load(%q) %s %s YAML =\n%s\nwant tls.crt, tls.key and a suffix\n%s", tt.src, tt.kind, tt.obj, got, tt.want)
				}
				return
			}
			if got != tt.want {
				t.Errorf("Load(%q) %s %s YAML =\n%s\nwant\n%s", tt.src, tt.kind, tt.obj, got, tt.want)
			}
		})
	}
}

func mustRead(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestK8sErrors checks the message and the position of errors in the
// Kubernetes builtins and extensions.
func TestK8sErrors(t *testing.T) {
	deploy := "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    spec:\n      containers: [{name: web, image: example/web}]\n"
	files := map[string]string{
		"app.yaml":     deploy,
		"bad.yaml":     "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\nkind: [oops\n",
		"tls/cert.pem": mustRead(t, "testdata/ext/secret/tls/cert.pem"),
		"other.pem":    mustRead(t, "testdata/ext/secret/tls/cert.pem"),
		"dir/x.yaml":   deploy,
		"bad.env":      "A=1\nnot a pair\n",
		"conf.ini":     "x",

		"depchart/Chart.yaml":        "apiVersion: v2\nname: shop\nversion: 0.1.0\ndependencies: [{name: db, version: 1.0.0, repository: 'https://charts.example.com'}]\n",
		"failchart/Chart.yaml":       "apiVersion: v2\nname: fail\nversion: 0.1.0\n",
		"failchart/templates/x.yaml": "{{ fail \"set image\" }}\n",
	}
	tests := []struct {
		name, src, want string
	}{
		{"k8s_yaml None", "k8s_yaml(None)\n", "Devfile:1:9: k8s_yaml: got None"},
		{"k8s_yaml empty blob", "k8s_yaml(blob(''))\n", "Devfile:1:9: k8s_yaml: the YAML from blob() is empty"},
		{"k8s_yaml wrong type", "k8s_yaml(3)\n", "k8s_yaml: got int, want a path"},
		{"k8s_yaml list with a number", "k8s_yaml(['app.yaml', 3])\n", "k8s_yaml: list element 3 is int"},
		{"k8s_yaml directory", "k8s_yaml('dir')\n", "k8s_yaml: dir is a directory"},
		{"k8s_yaml device", "k8s_yaml('/dev/zero')\n", "k8s_yaml: reading /dev/zero: read /dev/zero: not a regular file"},
		{"configmap from a device", "load('ext://configmap', 'configmap_create')\nconfigmap_create('c', from_file='z=/dev/zero')\n", "not a regular file"},
		{"k8s_yaml bad YAML names file and line", "k8s_yaml('bad.yaml')\n", "k8s_yaml: bad.yaml:5: YAML document 2:"},
		{"k8s_resource old form", "k8s_resource('web', 'app.yaml')\n", `k8s_resource: new_name "app.yaml" looks like a YAML file: register YAML with k8s_yaml("app.yaml")`},
		{"k8s_resource upper case", "k8s_yaml('app.yaml')\nk8s_resource('Web')\n", `no Kubernetes workload resource named "Web"; resource names are lower case: did you mean "web"?`},
		{"k8s_resource resource_deps unknown", "k8s_yaml('app.yaml')\nk8s_resource('web', resource_deps=['nope'])\n", `Devfile:2:13: resource "web" has resource_deps "nope", which is not a resource`},
		{"k8s_resource with nothing", "k8s_resource()\n", "k8s_resource: no resource named"},
		{"k8s_resource bad auto_init", "k8s_yaml('app.yaml')\nk8s_resource('web', auto_init='yes')\n", `Devfile:2:13: k8s_resource "web": auto_init: got string`},
		{"k8s_resource bad pod_readiness", "k8s_resource('web', pod_readiness='soon')\n", `pod_readiness: "soon" is not one of`},
		{"k8s_resource bad selector", "k8s_resource('web', extra_pod_selectors=['app'])\n", "extra_pod_selectors: element \"app\" is string"},
		{"k8s_resource unknown, no workloads", "k8s_resource('web')\n", "Devfile:1:13: k8s_resource: no Kubernetes workload resource named \"web\"; there are no Kubernetes workloads"},
		{"k8s_resource names a local resource", "local_resource('web', cmd='true')\nk8s_resource('web')\n", `("web" is a local_resource; k8s_resource configures Kubernetes resources only)`},
		{"k8s_resource new_name clashes with a local resource", "k8s_yaml('app.yaml')\nlocal_resource('site', cmd='true')\nk8s_resource('web', new_name='site')\n", `Devfile:3:13: k8s_resource: renaming "web" to "site": a local resource named "site" already exists`},
		{"objects fragment ambiguous", "k8s_yaml(blob('apiVersion: v1\\nkind: ConfigMap\\nmetadata: {name: c}\\n---\\napiVersion: v1\\nkind: Secret\\nmetadata: {name: c}\\n'))\nk8s_resource(new_name='x', objects=['c'])\n", `"c" matches 2 objects ("c:configmap:default", "c:secret:default"): add the kind and namespace to pick one`},
		{"port_forward bad host", "port_forward(80, host='a b')\n", `port_forward: host "a b" is not a hostname`},
		{"port_forward bad port", "port_forward(99999)\n", "port_forward: local_port 99999 is not a port"},
		{"filter_yaml bad regexp", "filter_yaml('app.yaml', name='(')\n", `filter_yaml: name: "(" is not a valid regular expression`},
		{"workload function with two params", "def f(a, b):\n  return a\nworkload_to_resource_function(f)\n", "workload_to_resource_function: f takes 2 parameters, want 1"},
		{"workload function returns a number", "workload_to_resource_function(lambda w: 3)\nk8s_yaml('app.yaml')\n", `Devfile:1:30: workload_to_resource_function: naming "web:deployment:default": the function returned 3, want a non-empty string`},
		{"workload function fails", "def f(w):\n  fail('nope')\nworkload_to_resource_function(f)\nk8s_yaml('app.yaml')\n", "Devfile:3:30: workload_to_resource_function: naming \"web:deployment:default\": fail: nope"},
		{"workload function registers YAML", "def f(w):\n  k8s_yaml('app.yaml')\n  return 'x'\nworkload_to_resource_function(f)\nk8s_yaml(blob('apiVersion: batch/v1\\nkind: Job\\nmetadata: {name: j}\\n'))\n", "k8s_yaml cannot be called from the workload_to_resource_function function"},
		{"workload function names collide", "workload_to_resource_function(lambda w: 'same')\nk8s_yaml(['app.yaml', blob('apiVersion: batch/v1\\nkind: Job\\nmetadata: {name: j}\\n')])\n", `both "web:deployment:default" and "j:job:default" map to resource name "same"`},
		{"k8s_kind image_object", "k8s_kind('Fn', image_object={'json_path': '{.spec}'})\n", "k8s_kind: image_object is not supported"},
		{"k8s_kind unsupported path", "k8s_kind('Fn', image_json_path='{.spec.a[?(@.x)]}')\n", "k8s_kind: image_json_path: \"{.spec.a[?(@.x)]}\" is not supported"},
		{"helm chart missing", "helm('nochart')\n", "Devfile:1:5: helm: chart directory nochart does not exist"},
		{"helm chart is a file", "helm('app.yaml')\n", "helm: app.yaml is not a directory"},
		{"helm remote chart", "helm('oci://registry.example.com/charts/shop')\n", "Devfile:1:5: helm: oci://registry.example.com/charts/shop is a remote chart: helm() renders local chart directories only; fetch it once (helm pull oci://registry.example.com/charts/shop --untar)"},
		{"helm dependency not vendored", "helm('depchart')\n", "Devfile:1:5: helm: rendering depchart: chart shop: found in Chart.yaml, but missing in charts/ directory: db: vendor them there"},
		{"helm template fails", "helm('failchart')\n", "Devfile:1:5: helm: rendering failchart: execution error at (fail/templates/x.yaml:1:3): set image"},
		{"kustomize missing dir", "kustomize('nodir')\n", "kustomize: nodir is not a directory"},
		{"kustomize without kustomization", "kustomize('dir')\n", "kustomize: building dir:"},
		{"kustomize unsupported flag", "kustomize('dir', flags=['--enable-alpha-plugins'])\n", "pass kustomize_bin="},
		{"kustomize_bin missing", "kustomize('dir', kustomize_bin='no-such-kustomize')\n", "kustomize: the no-such-kustomize binary is not on PATH"},
		{"cmd_button without resource", "load('ext://uibutton', 'cmd_button')\ncmd_button('b', argv=['true'])\n", `Devfile:2:11: cmd_button "b": resource= is required`},
		{"cmd_button argv string", "load('ext://uibutton', 'cmd_button', 'location')\ncmd_button('b', argv='make', location=location.NAV)\n", `cmd_button "b": argv is a string: pass a list`},
		{"cmd_button unknown resource", "load('ext://uibutton', 'cmd_button')\nlocal_resource('db', cmd='true')\ncmd_button('b', resource='dbb', argv=['true'])\n", `Devfile:3:11: cmd_button "b": resource "dbb" does not exist: the resources are "db"`},
		{"cmd_button bad location", "load('ext://uibutton', 'cmd_button')\ncmd_button('b', argv=['true'], location='footer')\n", `location "footer" is not location.RESOURCE`},
		{"cmd_button duplicate", "load('ext://uibutton', 'cmd_button', 'location')\ncmd_button('b', argv=['true'], location=location.NAV)\ncmd_button('b', argv=['true'], location=location.NAV)\n", `cmd_button: a button named "b" was already declared at`},
		{"text_input bad name", "load('ext://uibutton', 'text_input')\ntext_input('my var')\n", `text_input: name "my var" is not an environment variable name`},
		{"choice_input without choices", "load('ext://uibutton', 'choice_input')\nchoice_input('SIZE')\n", `choice_input "SIZE": choices is empty`},
		{"configmap without data", "load('ext://configmap', 'configmap_create')\nconfigmap_create('c')\n", `configmap_create "c": no data: pass from_file`},
		{"configmap both sources", "load('ext://configmap', 'configmap_create')\nconfigmap_create('c', from_file='conf.ini', from_env_file='bad.env')\n", "pass from_file or from_env_file, not both"},
		{"configmap missing file", "load('ext://configmap', 'configmap_create')\nconfigmap_create('c', from_file='k=missing.ini')\n", `from_file "k=missing.ini": missing.ini does not exist`},
		{"configmap bad key", "load('ext://configmap', 'configmap_create')\nconfigmap_create('c', from_file='a key=conf.ini')\n", `"a key" is not a valid key`},
		{"configmap bad name", "load('ext://configmap', 'configmap_create')\nconfigmap_create('Bad_Name', from_file='conf.ini')\n", `configmap_create: name "Bad_Name": use lower-case letters`},
		{"secret env file list", "load('ext://secret', 'secret_create_generic')\nsecret_create_generic('s', from_env_file=['a', 'b'])\n", "from_env_file: got list, want one path"},
		{"secret registry unknown flag", "load('ext://secret', 'secret_yaml_registry')\nsecret_yaml_registry('r', flags_dict={'docker-user': 'bob'})\n", `flags_dict: "docker-user" is not a docker-registry flag`},
		{"secret tls pair mismatch", "load('ext://secret', 'secret_create_tls')\nsecret_create_tls('t', 'tls/cert.pem', 'other.pem')\n", `secret_create_tls "t": tls/cert.pem and other.pem are not a PEM certificate and its private key`},
		{"namespace bad name", "load('ext://namespace', 'namespace_create')\nnamespace_create('Team_A')\n", `namespace_create: namespace "Team_A": use lower-case letters`},
		{"namespace_inject wrong type", "load('ext://namespace', 'namespace_inject')\nnamespace_inject(3, 'x')\n", "namespace_inject: got int, want a path or a blob"},
		{"namespace bad label", "load('ext://namespace', 'namespace_yaml')\nnamespace_yaml('a', labels=['novalue'])\n", `labels: "novalue" is not "key: value"`},
		{"dotenv bad line", "load('ext://dotenv', 'dotenv')\ndotenv('bad.env')\n", `Devfile:2:7: dotenv: bad.env:2: "not a pair" is not KEY=VALUE`},
		{"restart without live_update steps", "load('ext://restart_process', 'docker_build_with_restart')\ndocker_build_with_restart('img', '.', 'run', live_update=[])\n", "docker_build_with_restart: live_update is empty"},
		{"restart missing entrypoint", "load('ext://restart_process', 'docker_build_with_restart')\ndocker_build_with_restart('img', '.', live_update=[])\n", "docker_build_with_restart: missing argument for entrypoint"},
		{"restart bad exit_policy", "load('ext://restart_process', 'docker_build_with_restart')\ndocker_build_with_restart('img', '.', 'run', [sync('.', '/app')], exit_policy='stop')\n", `exit_policy: "stop" is not "restart" or "continue"`},
		{"restart unknown kwarg reaches docker_build", "load('ext://restart_process', 'docker_build_with_restart')\ndocker_build_with_restart('img', '.', 'run', [sync('.', '/app')], colour='red')\n", "docker_build: unexpected keyword argument \"colour\""},
		{"docker_build ignore is a dict", "docker_build('img', '.', ignore={})\n", "Devfile:1:13: docker_build: ignore: got dict, want a string or a list of strings"},
		{"docker_build positional build_args not strings", "docker_build('img', '.', {'A': []})\n", `Devfile:1:13: docker_build: build_args: value of "A" is list, want a string`},
		{"custom_build env value not a string", "custom_build('img', 'make', ['.'], env={'A': []})\n", `Devfile:1:13: custom_build: env: value of "A" is list, want a string`},
		{"unknown symbol of an extension", "load('ext://namespace', 'namespace_delete')\n", "namespace_delete"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadK8s(t, tt.src, files)
			if err == nil {
				t.Fatalf("Load(%q) = model, nil; want error %q", tt.src, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Load(%q) error = %q, want it to contain %q", tt.src, err.Error(), tt.want)
			}
		})
	}
}

func TestInvalidImageRefIsAWarning(t *testing.T) {
	src := "k8s_yaml(blob('apiVersion: v1\\nkind: Pod\\nmetadata: {name: p}\\nspec:\\n  containers: [{name: c, image: \"UPPER/Case\"}]\\n'))\n"
	m, err := loadK8s(t, src, nil)
	if err != nil {
		t.Fatalf("Load(%q) error: %v", src, err)
	}
	if m.Resource("p") == nil {
		t.Errorf("Load(%q): no resource p; want the Pod to stay a workload", src)
	}
	want := `Devfile:1:9: Pod p: image "UPPER/Case" is not a valid image reference`
	found := false
	for _, w := range m.Warnings {
		found = found || strings.Contains(w, want)
	}
	if !found {
		t.Errorf("Load(%q) warnings = %q, want one containing %q", src, m.Warnings, want)
	}
}

// TestHelmRender renders a real chart with no helm binary on PATH, and
// under Options.NoExec, since helm() runs no command.
func TestHelmRender(t *testing.T) {
	files := map[string]string{
		"chart/Chart.yaml":             "apiVersion: v2\nname: shop\nversion: 0.1.0\n",
		"chart/values.yaml":            "image: example/shop\n",
		"chart/templates/deploy.yaml":  "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}-web\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers: [{name: web, image: {{ .Values.image }}}]\n",
		"chart/templates/tests/t.yaml": "apiVersion: v1\nkind: Pod\nmetadata:\n  name: t\n  annotations: {helm.sh/hook: test}\nspec:\n  containers: [{name: t, image: busybox}]\n",
	}
	p := writeDevfile(t, "k8s_yaml(helm('chart', namespace='dev', set=['image=example/other']))\n", files)
	m, err := Load(context.Background(), p, Options{NoExec: true, Environ: []string{"PATH=/nonexistent"}})
	if err != nil {
		t.Fatalf("Load(helm chart) error: %v", err)
	}
	r := m.Resource("chart-web")
	if r == nil || len(r.Objects) != 1 || r.Objects[0].Namespace != "dev" || !strings.Contains(r.Objects[0].YAML, "example/other") {
		t.Fatalf("Load(helm chart) resource chart-web = %+v, want the Deployment in namespace dev with image example/other", r)
	}
	if m.Resource("t") != nil {
		t.Errorf("Load(helm chart) kept the chart's test pod; want it dropped")
	}
}

// TestNoExec checks that kustomize(kustomize_bin=) runs nothing
// when Options.NoExec is set (the fuzzer's setting).
func TestNoExec(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "ran")
	tool := filepath.Join(dir, "tool")
	if err := os.WriteFile(tool, []byte("#!/bin/sh\ntouch "+marker+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "chart"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, src string }{
		{"kustomize_bin", "kustomize('chart', kustomize_bin='" + tool + "')\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, "Devfile")
			if err := os.WriteFile(p, []byte(tt.src), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Load(context.Background(), p, Options{NoExec: true, Environ: []string{"PATH=" + dir}})
			if err == nil || !strings.Contains(err.Error(), "is disabled (Options.NoExec)") {
				t.Errorf("Load(%q) with NoExec error = %v, want it to say running is disabled", tt.src, err)
			}
			if _, err := os.Stat(marker); err == nil {
				t.Errorf("Load(%q) with NoExec ran the tool", tt.src)
			}
		})
	}
}

// TestGrouping states the grouping rules one at a time: which resource
// each object lands in.
func TestGrouping(t *testing.T) {
	deploy := func(name, ns, app string) string {
		return fmt.Sprintf("---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: %s, namespace: %s}\nspec:\n  template:\n    metadata: {labels: {app: %s}}\n    spec:\n      containers: [{name: c, image: example/%s}]\n", name, ns, app, name)
	}
	svc := func(name, ns, selector string) string {
		return fmt.Sprintf("---\napiVersion: v1\nkind: Service\nmetadata: {name: %s, namespace: %s}\nspec:\n  selector: %s\n", name, ns, selector)
	}
	tests := []struct {
		name string
		yaml string
		want map[string]string // object "kind/name" -> resource
	}{
		{
			name: "a Service selecting two workloads joins the first in YAML order",
			yaml: deploy("a", "default", "shared") + deploy("b", "default", "shared") + svc("s", "default", "{app: shared}"),
			want: map[string]string{"Deployment/a": "a", "Deployment/b": "b", "Service/s": "a"},
		},
		{
			name: "a Service without selector is uncategorized",
			yaml: deploy("a", "default", "a") + svc("s", "default", "{}"),
			want: map[string]string{"Deployment/a": "a", "Service/s": "uncategorized"},
		},
		{
			name: "a Service in another namespace is uncategorized",
			yaml: deploy("a", "team-a", "a") + svc("s", "team-b", "{app: a}"),
			want: map[string]string{"Deployment/a": "a", "Service/s": "uncategorized"},
		},
		{
			name: "a Service before its workload in the YAML still joins it",
			yaml: svc("s", "default", "{app: a}") + deploy("a", "default", "a"),
			want: map[string]string{"Deployment/a": "a", "Service/s": "a"},
		},
		{
			name: "a Job without a built image is a workload",
			yaml: "---\napiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\nspec:\n  template:\n    spec:\n      containers: [{name: c, image: busybox}]\n",
			want: map[string]string{"Job/j": "j"},
		},
		{
			name: "a pod template without images is a resource by name",
			yaml: "---\napiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: agent}\nspec:\n  template:\n    metadata: {labels: {app: agent}}\n    spec:\n      containers: [{name: c}]\n" + svc("agent", "default", "{app: agent}"),
			want: map[string]string{"DaemonSet/agent": "agent", "Service/agent": "agent"},
		},
		{
			name: "ConfigMaps, Secrets and PVCs stay uncategorized, as in Tilt; names count workloads only",
			yaml: deploy("a", "default", "a") + "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: a}\n---\napiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: a}\n",
			want: map[string]string{"Deployment/a": "a", "ConfigMap/a": "uncategorized", "Secret/a": "uncategorized", "PersistentVolumeClaim/a": "uncategorized"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := loadK8s(t, "k8s_yaml('app.yaml')\n", map[string]string{"app.yaml": tt.yaml})
			if err != nil {
				t.Fatalf("Load error: %v", err)
			}
			got := map[string]string{}
			for _, r := range m.Resources {
				for _, o := range r.Objects {
					got[o.Kind+"/"+o.Name] = r.Name
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("grouping of\n%s= %v, want %v", tt.yaml, got, tt.want)
			}
		})
	}
}
