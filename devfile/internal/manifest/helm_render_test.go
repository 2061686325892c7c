package manifest

import (
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// shopChart is a chart that uses what real charts use: values, release
// fields, include and tpl helpers, Capabilities, a vendored subchart behind
// a condition, a CRD in crds/ and a test hook.
var shopChart = map[string]string{
	"Chart.yaml": `apiVersion: v2
name: shop
version: 0.1.0
appVersion: "1.2.3"
dependencies:
  - name: cache
    version: 0.1.0
    condition: cache.enabled
`,
	"values.yaml": `replicas: 1
image:
  repository: example/shop
  tag: latest
greeting: "hello from {{ .Release.Name }}"
cache:
  enabled: true
  size: 64Mi
`,
	"templates/_helpers.tpl": `{{- define "shop.fullname" -}}
{{ .Release.Name }}-{{ .Chart.Name }}
{{- end -}}
{{- define "shop.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
`,
	"templates/deployment.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "shop.fullname" . }}
  labels:
    {{- include "shop.labels" . | nindent 4 }}
spec:
  replicas: {{ .Values.replicas }}
  selector:
    matchLabels:
      {{- include "shop.labels" . | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "shop.labels" . | nindent 8 }}
    spec:
      containers:
        - name: shop
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
          env:
            - name: GREETING
              value: {{ tpl .Values.greeting . | quote }}
            - name: NAMESPACE
              value: {{ .Release.Namespace }}
            - name: APP_VERSION
              value: {{ .Chart.AppVersion | quote }}
            - name: KUBE
              value: {{ if semverCompare "<1.31-0" .Capabilities.KubeVersion.Version }}legacy{{ else }}current{{ end }}
`,
	"templates/service.yaml": `apiVersion: v1
kind: Service
metadata:
  name: {{ include "shop.fullname" . }}
  namespace: {{ .Release.Namespace }}
spec:
  selector:
    {{- include "shop.labels" . | nindent 4 }}
  ports:
    - port: 80
`,
	"templates/tests/test-connection.yaml": `apiVersion: v1
kind: Pod
metadata:
  name: {{ include "shop.fullname" . }}-test
  annotations:
    "helm.sh/hook": test
spec:
  containers:
    - name: wget
      image: busybox
      args: ["wget", "{{ include "shop.fullname" . }}:80"]
  restartPolicy: Never
`,
	"crds/widgets.yaml": `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  names: {kind: Widget, plural: widgets}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema: {type: object}
`,
	"charts/cache/Chart.yaml":  "apiVersion: v2\nname: cache\nversion: 0.1.0\n",
	"charts/cache/values.yaml": "size: 32Mi\n",
	"charts/cache/templates/configmap.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-cache
data:
  size: {{ .Values.size | quote }}
  chart: {{ .Chart.Name }}
`,
}

// writeFiles writes files (relative path to content) under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, text := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// helmCase is one request against shopChart; chart and values paths are
// relative to the directory the test writes.
type helmCase struct {
	name string
	req  HelmRequest
}

var helmCases = []helmCase{
	{name: "defaults", req: HelmRequest{}},
	{
		name: "release namespace values and set",
		req: HelmRequest{Name: "web", Namespace: "dev", Values: []string{"values-dev.yaml", "values-extra.yaml"},
			Set: []string{"replicas=3", "cache.size=128Mi"}},
	},
	{
		name: "skip crds, kube version, subchart disabled",
		req:  HelmRequest{Name: "web", SkipCRDs: true, KubeVersion: "1.30.0", Set: []string{"cache.enabled=false"}},
	},
}

// writeShop writes shopChart and two values files into a new directory and
// returns c's request with absolute paths.
func writeShop(t *testing.T, c helmCase) HelmRequest {
	t.Helper()
	dir := t.TempDir()
	writeFiles(t, filepath.Join(dir, "chart"), shopChart)
	writeFiles(t, dir, map[string]string{
		"values-dev.yaml":   "replicas: 2\nimage:\n  tag: dev\n",
		"values-extra.yaml": "image:\n  tag: extra\ngreeting: \"hi {{ .Release.Namespace }}\"\n",
	})
	req := c.req
	req.Chart = filepath.Join(dir, "chart")
	req.Values = nil
	for _, v := range c.req.Values {
		req.Values = append(req.Values, filepath.Join(dir, v))
	}
	return req
}

func goldenName(name string) string {
	return filepath.Join("testdata", "helm", strings.NewReplacer(" ", "_", ",", "").Replace(name)+".golden")
}

// TestHelmRender renders shopChart in-process and compares the output with
// testdata/helm/*.golden (go test -update rewrites them). Under go test the
// SDK's default Kubernetes version is v1.20, so defaults.golden says legacy.
func TestHelmRender(t *testing.T) {
	for _, c := range helmCases {
		t.Run(c.name, func(t *testing.T) {
			req := writeShop(t, c)
			got, err := req.Render(context.Background())
			if err != nil {
				t.Fatalf("Render(%+v) error: %v", c.req, err)
			}
			file := goldenName(c.name)
			if *update {
				if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("%v (run go test -update to write it)", err)
			}
			if got != string(want) {
				t.Errorf("Render(%+v) =\n%s\nwant (%s)\n%s", c.req, got, file, want)
			}
		})
	}
}

// TestHelmRenderMatchesHelmTemplate runs a real helm binary on the same
// requests and wants Render's output byte for byte. It needs helm: HELM_BIN,
// or helm on PATH.
func TestHelmRenderMatchesHelmTemplate(t *testing.T) {
	bin := os.Getenv("HELM_BIN")
	if bin == "" {
		p, err := exec.LookPath("helm")
		if err != nil {
			t.Skip("no helm binary to compare with: set HELM_BIN or put helm on PATH (go build helm.sh/helm/v4/cmd/helm makes one)")
		}
		bin = p
	}
	// Under go test the SDK's default Kubernetes version is v1.20
	// (testing.Testing()); a helm binary's, like devloop's, follows the
	// client-go it was built with. Give the binary's to both sides.
	kube, err := exec.Command(bin, "version", "--template", "{{.KubeClientVersion}}").Output()
	if err != nil {
		t.Fatalf("%s version: %v", bin, err)
	}
	for _, c := range helmCases {
		t.Run(c.name, func(t *testing.T) {
			req := writeShop(t, c)
			if req.KubeVersion == "" {
				req.KubeVersion = string(kube)
			}
			want, err := req.Render(context.Background())
			if err != nil {
				t.Fatalf("Render(%+v) error: %v", c.req, err)
			}
			argv := req.Argv()
			cmd := exec.Command(bin, argv[1:]...)
			home := t.TempDir()
			// A helm of its own: no user config, no kube context (so the
			// namespace is helm's default, as Render's).
			cmd.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "KUBECONFIG=" + filepath.Join(home, "none"),
				"HELM_CONFIG_HOME=" + filepath.Join(home, "config"), "HELM_CACHE_HOME=" + filepath.Join(home, "cache"),
				"HELM_DATA_HOME=" + filepath.Join(home, "data")}
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, stderr.String())
			}
			if string(out) != want {
				t.Errorf("%s printed\n%s\nRender = \n%s", strings.Join(argv, " "), out, want)
			}
		})
	}
}

func TestHelmRenderErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string // over shopChart; "" removes a file
		req   HelmRequest
		want  string
	}{
		{
			name:  "dependency not vendored",
			files: map[string]string{"Chart.yaml": "apiVersion: v2\nname: shop\nversion: 0.1.0\ndependencies:\n  - name: db\n    version: 1.0.0\n    repository: https://charts.example.com\n"},
			want:  "chart shop: found in Chart.yaml, but missing in charts/ directory: db: vendor them there",
		},
		{
			name:  "library chart",
			files: map[string]string{"Chart.yaml": "apiVersion: v2\nname: shop\nversion: 0.1.0\ntype: library\n"},
			want:  "chart shop is a library chart, which renders nothing by itself",
		},
		{
			name:  "template fails",
			files: map[string]string{"templates/fail.yaml": "{{ fail \"set image.tag\" }}\n"},
			want:  "set image.tag",
		},
		{
			name:  "template does not parse",
			files: map[string]string{"templates/bad.yaml": "{{ .Values.image.tag \n"},
			want:  "shop/templates/bad.yaml",
		},
		{name: "bad kube version", req: HelmRequest{KubeVersion: "one"}, want: `kube_version "one"`},
		{name: "bad set", req: HelmRequest{Set: []string{"a.b"}}, want: "failed parsing --set data"},
		{name: "missing values file", req: HelmRequest{Values: []string{"/nonexistent/values.yaml"}}, want: "/nonexistent/values.yaml"},
		{name: "no Chart.yaml", files: map[string]string{"Chart.yaml": ""}, want: "unable to detect chart at"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, shopChart)
			writeFiles(t, dir, tt.files)
			for name, text := range tt.files {
				if text == "" {
					if err := os.Remove(filepath.Join(dir, name)); err != nil {
						t.Fatal(err)
					}
				}
			}
			req := tt.req
			req.Chart = dir
			_, err := req.Render(context.Background())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Render(%+v) error = %v, want it to contain %q", tt.req, err, tt.want)
			}
		})
	}
}
