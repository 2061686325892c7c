package manifest

import (
	"reflect"
	"strings"
	"testing"
)

func objIDs(objs []*Object) []string {
	out := []string{}
	for _, o := range objs {
		out = append(out, o.APIVersion+"/"+o.Kind+"/"+o.Namespace+"/"+o.Name)
	}
	return out
}

func TestParseK8sYAML(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{
			name: "single document",
			in:   "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n",
			want: []string{"v1/Service//web"},
		},
		{
			name: "multi-document with empty and comment-only documents",
			in: "---\n# just a comment\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: shop\n" +
				"---\n\n---   \napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n...\n",
			want: []string{"apps/v1/Deployment/shop/web", "v1/ConfigMap//cfg"},
		},
		{
			name: "List is flattened",
			in: `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata: {name: a}
- apiVersion: v1
  kind: Service
  metadata: {name: b, namespace: x}
`,
			want: []string{"v1/Service//a", "v1/Service/x/b"},
		},
		{
			name: "typed list kinds are flattened too",
			in:   "apiVersion: v1\nkind: ServiceList\nitems:\n- {apiVersion: v1, kind: Service, metadata: {name: a}}\n",
			want: []string{"v1/Service//a"},
		},
		{
			name: "CRLF line endings",
			in:   "apiVersion: v1\r\nkind: Service\r\nmetadata:\r\n  name: a\r\n---\r\napiVersion: v1\r\nkind: Service\r\nmetadata:\r\n  name: b\r\n",
			want: []string{"v1/Service//a", "v1/Service//b"},
		},
		{
			name: "empty stream",
			in:   "\n# nothing here\n",
			want: []string{},
		},
		{
			name: "document marker with a comment",
			in:   "--- # first\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n",
			want: []string{"v1/Namespace//shop"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := Parse(tt.in, "in.yaml")
			if err != nil {
				t.Fatalf("Parse(%q) error: %v", tt.in, err)
			}
			if got := objIDs(objs); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseK8sYAMLKeepsDocumentText(t *testing.T) {
	in := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a # keep me\ndata:\n  n: \"007\"\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n"
	objs, err := Parse(in, "in.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if want := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a # keep me\ndata:\n  n: \"007\"\n"; objs[0].YAML != want {
		t.Errorf("Parse(...)[0].YAML = %q, want %q", objs[0].YAML, want)
	}
	if got := Join(objs); got != in {
		t.Errorf("Join(Parse(in)) = %q, want %q", got, in)
	}
}

func TestParseK8sYAMLErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"bad YAML names the document and its line", "apiVersion: v1\nkind: A\nmetadata: {name: a}\n---\nkind: [\n", "in.yaml:5: YAML document 2:"},
		{"no kind", "apiVersion: v1\nmetadata:\n  name: a\n", "in.yaml:1: YAML document 1: object has no kind"},
		{"no apiVersion", "kind: Service\nmetadata:\n  name: a\n", "object has no apiVersion"},
		{"no name", "apiVersion: v1\nkind: Service\nmetadata: {}\n", "Service has no metadata.name"},
		{"unquoted boolean namespace", "apiVersion: v1\nkind: Service\nmetadata: {name: a, namespace: y}\n", "metadata.namespace is a boolean, want a string: quote it"},
		{"numeric name", "apiVersion: v1\nkind: Service\nmetadata: {name: 123}\n", "metadata.name is a number, want a string"},
		{"a scalar", "hello\n", "not a Kubernetes object (want a mapping with apiVersion, kind and metadata, got a string)"},
		{"a list", "- a\n- b\n", "got a list"},
		{"List item not an object", "apiVersion: v1\nkind: List\nitems: [3]\n", "List item 1 is a number, want an object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.in, "in.yaml")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse(%q) error = %v, want it to contain %q", tt.in, err, tt.want)
			}
		})
	}
}

func mustObj(t *testing.T, y string) *Object {
	t.Helper()
	objs, err := Parse(y, "test.yaml")
	if err != nil || len(objs) != 1 {
		t.Fatalf("Parse(%q) = %d objects, %v; want 1", y, len(objs), err)
	}
	return objs[0]
}

const deploymentYAML = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {tier: front}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata:
      labels: {app: web, tier: front}
    spec:
      initContainers:
      - name: migrate
        image: web-migrate:latest
      containers:
      - name: web
        image: example.com/web:v1
        ports: [{containerPort: 8080}, {containerPort: 9090}]
        env: [{name: SIDECAR, value: "sidecar-img"}]
      - name: proxy
        image: envoy
`

const cronJobYAML = `apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly}
spec:
  schedule: "0 0 * * *"
  jobTemplate:
    spec:
      template:
        metadata: {labels: {job: nightly}}
        spec:
          containers: [{name: run, image: report}]
`

func TestContainerImagesAndPodTemplates(t *testing.T) {
	tests := []struct {
		name       string
		yaml       string
		wantImages []string
		wantLabels []map[string]string
		wantPorts  []int
	}{
		{
			name:       "deployment: init containers first",
			yaml:       deploymentYAML,
			wantImages: []string{"web-migrate:latest", "example.com/web:v1", "envoy"},
			wantLabels: []map[string]string{{"app": "web", "tier": "front"}},
			wantPorts:  []int{8080, 9090},
		},
		{
			name:       "cronjob template is nested in jobTemplate",
			yaml:       cronJobYAML,
			wantImages: []string{"report"},
			wantLabels: []map[string]string{{"job": "nightly"}},
		},
		{
			name:       "bare pod has containers and no template",
			yaml:       "apiVersion: v1\nkind: Pod\nmetadata: {name: p, labels: {a: b}}\nspec:\n  containers: [{name: c, image: busybox}]\n",
			wantImages: []string{"busybox"},
		},
		{
			name: "service has neither",
			yaml: "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n  selector: {app: web}\n",
		},
		{
			name:       "custom resource with a pod template",
			yaml:       "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: r}\nspec:\n  template:\n    metadata: {labels: {app: r}}\n    spec:\n      containers: [{name: c, image: rollout-app}]\n",
			wantImages: []string{"rollout-app"},
			wantLabels: []map[string]string{{"app": "r"}},
		},
		{
			name: "CRD schema mentioning containers is not a workload",
			yaml: "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.example.com}\nspec:\n  versions:\n  - name: v1\n    schema:\n      openAPIV3Schema:\n        properties:\n          spec:\n            properties:\n              template:\n                properties:\n                  spec:\n                    properties:\n                      containers: {type: array}\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := mustObj(t, tt.yaml)
			if got := o.ContainerImages(); !reflect.DeepEqual(got, tt.wantImages) {
				t.Errorf("containerImages() = %v, want %v", got, tt.wantImages)
			}
			if got := o.PodTemplateLabels(); !reflect.DeepEqual(got, tt.wantLabels) {
				t.Errorf("podTemplateLabels() = %v, want %v", got, tt.wantLabels)
			}
			if got := o.ContainerPorts(); !reflect.DeepEqual(got, tt.wantPorts) {
				t.Errorf("containerPorts() = %v, want %v", got, tt.wantPorts)
			}
		})
	}
}

func TestSelectsPodsOf(t *testing.T) {
	web := mustObj(t, deploymentYAML)
	webInShop := mustObj(t, strings.Replace(deploymentYAML, "name: web\n  labels", "name: web\n  namespace: shop\n  labels", 1))
	svc := func(ns, selector string) *Object {
		y := "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\n"
		if ns != "" {
			y += "  namespace: " + ns + "\n"
		}
		return mustObj(t, y+"spec:\n  selector: "+selector+"\n")
	}
	tests := []struct {
		name     string
		svc      *Object
		workload *Object
		want     bool
	}{
		{"subset of template labels", svc("", "{app: web}"), web, true},
		{"all template labels", svc("", "{app: web, tier: front}"), web, true},
		{"different value", svc("", "{app: api}"), web, false},
		{"label the template lacks", svc("", "{app: web, zone: a}"), web, false},
		{"empty selector selects nothing", svc("", "{}"), web, false},
		{"service without namespace matches any namespace", svc("", "{app: web}"), webInShop, true},
		{"service in default matches any namespace", svc("default", "{app: web}"), webInShop, true},
		{"service in the workload's namespace", svc("shop", "{app: web}"), webInShop, true},
		{"service in another namespace", svc("other", "{app: web}"), webInShop, false},
		{"service in a namespace, workload in default", svc("shop", "{app: web}"), web, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.svc.SelectsPodsOf(tt.workload); got != tt.want {
				t.Errorf("selectsPodsOf(%s) = %v, want %v", tt.workload.ID(), got, tt.want)
			}
		})
	}
}

func TestSetNamespace(t *testing.T) {
	tests := []struct {
		name string
		in   string
		deep bool
		want []string // substrings of the result
	}{
		{
			name: "deployment and its pod template",
			in:   deploymentYAML,
			deep: true,
			want: []string{"  name: web\n  namespace: dev\n", "    metadata:\n      labels:\n        app: web\n        tier: front\n      namespace: dev\n"},
		},
		{
			name: "rolebinding subjects",
			in:   "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: rb, namespace: old}\nsubjects:\n- {kind: ServiceAccount, name: sa}\n- {kind: User, name: bob}\n",
			deep: true,
			want: []string{"- kind: ServiceAccount\n  name: sa\n  namespace: dev\n", "- kind: User\n  name: bob\n"},
		},
		{
			name: "shallow leaves the template alone",
			in:   deploymentYAML,
			want: []string{"  namespace: dev\n", "      labels:\n        app: web\n        tier: front\n    spec:"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := mustObj(t, tt.in)
			if err := o.SetNamespace("dev", tt.deep); err != nil {
				t.Fatal(err)
			}
			if o.Namespace != "dev" {
				t.Errorf("setNamespace: Namespace = %q, want dev", o.Namespace)
			}
			for _, w := range tt.want {
				if !strings.Contains(o.YAML, w) {
					t.Errorf("setNamespace(dev, %v) YAML =\n%s\nwant it to contain\n%s", tt.deep, o.YAML, w)
				}
			}
		})
	}
}

// FuzzParseK8sYAML checks that no input makes the parser or the object
// helpers panic, and that parsed objects keep their identity fields.
func FuzzParseK8sYAML(f *testing.F) {
	f.Add(deploymentYAML)
	f.Add(cronJobYAML)
	f.Add("apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Service, metadata: {name: a}, spec: {selector: {a: b}}}\n")
	f.Add("---\n--- # c\n...\nkind: [\n")
	f.Fuzz(func(t *testing.T, in string) {
		objs, err := Parse(in, "fuzz.yaml")
		if err != nil {
			return
		}
		for _, o := range objs {
			if o.APIVersion == "" || o.Kind == "" {
				t.Fatalf("Parse(%q) gave an object without apiVersion or kind: %+v", in, o)
			}
			o.ContainerImages()
			o.ContainerPorts()
			o.ContainerEnvValues()
			labels := o.PodTemplateLabels()
			o.SelectsPods(labels, o.NamespaceOrDefault())
			_ = PotentialNames(o)
			if err := o.SetNamespace("fuzz", true); err != nil && o.Content["metadata"] != nil {
				if _, ok := o.Content["metadata"].(map[string]any); ok {
					t.Fatalf("setNamespace on %q: %v", in, err)
				}
			}
		}
	})
}
