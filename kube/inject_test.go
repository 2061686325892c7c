package kube

import (
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestRefName(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{name: "short", in: "nginx", want: "docker.io/library/nginx"},
		{name: "short tag", in: "nginx:1.25", want: "docker.io/library/nginx"},
		{name: "user", in: "me/app:v1", want: "docker.io/me/app"},
		{name: "index", in: "index.docker.io/me/app", want: "docker.io/me/app"},
		{name: "registry port", in: "localhost:5005/app", want: "localhost:5005/app"},
		{name: "registry port tag", in: "localhost:5005/app:devloop-1", want: "localhost:5005/app"},
		{name: "digest", in: "gcr.io/p/app@sha256:abc", want: "gcr.io/p/app"},
		{name: "tag and digest", in: "gcr.io/p/app:v1@sha256:abc", want: "gcr.io/p/app"},
		{name: "localhost", in: "localhost/app", want: "localhost/app"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := refName(tt.in); got != tt.want {
				t.Errorf("refName(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func mustDecode(t *testing.T, y string) *unstructured.Unstructured {
	t.Helper()
	objs, err := Decode([]byte(y))
	if err != nil || len(objs) != 1 {
		t.Fatalf("Decode = %d objects, %v; want 1 object", len(objs), err)
	}
	return objs[0]
}

const deploymentYAML = `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      initContainers:
      - name: migrate
        image: app:latest
      containers:
      - name: web
        image: docker.io/library/app:v1
        imagePullPolicy: Always
      - name: sidecar
        image: envoy:1.30
`

const cronJobYAML = `
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly}
spec:
  schedule: "0 0 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers:
          - {name: job, image: "worker"}
`

func containerImages(spec map[string]any) map[string][2]string {
	out := map[string][2]string{}
	for _, key := range []string{"initContainers", "containers"} {
		list, _ := spec[key].([]any)
		for _, c := range list {
			cm := c.(map[string]any)
			pp, _ := cm["imagePullPolicy"].(string)
			out[cm["name"].(string)] = [2]string{cm["image"].(string), pp}
		}
	}
	return out
}

func TestPrepareInjectsImages(t *testing.T) {
	built := "localhost:5005/app@sha256:1111"
	tests := []struct {
		name         string
		yaml         string
		images       map[string]string
		specPath     []string
		want         map[string][2]string
		wantInjected []string
	}{
		{
			name:     "containers and init containers, any tag",
			yaml:     deploymentYAML,
			images:   map[string]string{"app": built},
			specPath: []string{"spec", "template", "spec"},
			want: map[string][2]string{
				"migrate": {built, "IfNotPresent"},
				"web":     {built, "IfNotPresent"},
				"sidecar": {"envoy:1.30", ""},
			},
			wantInjected: []string{"app:latest", "docker.io/library/app:v1"},
		},
		{
			name:     "no images leaves containers alone",
			yaml:     deploymentYAML,
			specPath: []string{"spec", "template", "spec"},
			want: map[string][2]string{
				"migrate": {"app:latest", ""},
				"web":     {"docker.io/library/app:v1", "Always"},
				"sidecar": {"envoy:1.30", ""},
			},
		},
		{
			name:         "cronjob template",
			yaml:         cronJobYAML,
			images:       map[string]string{"worker:dev": "localhost:5005/worker@sha256:2"},
			specPath:     []string{"spec", "jobTemplate", "spec", "template", "spec"},
			want:         map[string][2]string{"job": {"localhost:5005/worker@sha256:2", "IfNotPresent"}},
			wantInjected: []string{"worker"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := mustDecode(t, tt.yaml)
			orig := in.DeepCopy()
			out, injected, err := prepare(in, tt.images)
			if err != nil {
				t.Fatalf("prepare = %v", err)
			}
			if !reflect.DeepEqual(in, orig) {
				t.Errorf("prepare modified its input")
			}
			spec, _, _ := unstructured.NestedMap(out.Object, tt.specPath...)
			if got := containerImages(spec); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("prepare(%s) containers = %v, want %v", tt.name, got, tt.want)
			}
			if !reflect.DeepEqual(injected, tt.wantInjected) {
				t.Errorf("prepare(%s) injected = %q, want %q", tt.name, injected, tt.wantInjected)
			}
		})
	}
}

func TestPrepareLabelsAndHashes(t *testing.T) {
	dep := mustDecode(t, deploymentYAML)
	out, _, err := prepare(dep, map[string]string{"app": "localhost:5005/app@sha256:1"})
	if err != nil {
		t.Fatal(err)
	}
	if got := out.GetLabels()[managedByLabel]; got != managedByValue {
		t.Errorf("prepare: object label %s = %q, want %q", managedByLabel, got, managedByValue)
	}
	tmplLabels, _, _ := unstructured.NestedStringMap(out.Object, "spec", "template", "metadata", "labels")
	if tmplLabels[managedByLabel] != managedByValue || tmplLabels["app"] != "web" || len(tmplLabels[templateHashLabel]) != 16 {
		t.Errorf("prepare: template labels = %v, want app=web, %s=%s and a 16-char %s", tmplLabels, managedByLabel, managedByValue, templateHashLabel)
	}
	sel, _, _ := unstructured.NestedStringMap(out.Object, "spec", "selector", "matchLabels")
	if !reflect.DeepEqual(sel, map[string]string{"app": "web"}) {
		t.Errorf("prepare: selector = %v, want unchanged app=web", sel)
	}

	hash := func(images map[string]string) (string, string) {
		o, _, err := prepare(dep, images)
		if err != nil {
			t.Fatal(err)
		}
		l, _, _ := unstructured.NestedString(o.Object, "spec", "template", "metadata", "labels", templateHashLabel)
		return o.GetAnnotations()[configHashAnnotation], l
	}
	a1, t1 := hash(map[string]string{"app": "localhost:5005/app@sha256:1"})
	a2, t2 := hash(map[string]string{"app": "localhost:5005/app@sha256:1"})
	b1, tb := hash(map[string]string{"app": "localhost:5005/app@sha256:2"})
	if a1 != a2 || t1 != t2 {
		t.Errorf("prepare twice with the same input: hashes %s/%s and %s/%s, want equal", a1, t1, a2, t2)
	}
	if a1 == b1 || t1 == tb {
		t.Errorf("prepare with another image digest: hashes %s/%s and %s/%s, want different", a1, t1, b1, tb)
	}

	pod := mustDecode(t, "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: app}]}\n")
	out, _, err = prepare(pod, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, found, _ := unstructured.NestedString(out.Object, "metadata", "labels", templateHashLabel); found {
		t.Errorf("prepare(Pod) set %s on the pod itself; a pod is not a template", templateHashLabel)
	}
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    int
		wantErr bool
	}{
		{name: "two documents and an empty one", in: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n", want: 2},
		{name: "json", in: `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"}}`, want: 1},
		{name: "no kind", in: "apiVersion: v1\nmetadata: {name: a}\n", wantErr: true},
		{name: "no name", in: "apiVersion: v1\nkind: ConfigMap\n", wantErr: true},
		{name: "bad yaml", in: "a: [", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode([]byte(tt.in))
			if (err != nil) != tt.wantErr || len(got) != tt.want {
				t.Errorf("Decode(%q) = %d objects, %v; want %d objects, error %v", tt.in, len(got), err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestPrepareStatefulSetParallel(t *testing.T) {
	tests := []struct {
		name, policy, want string
	}{
		{name: "unset becomes Parallel", want: "Parallel"},
		{name: "explicit order kept", policy: "podManagementPolicy: OrderedReady\n  ", want: "OrderedReady"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sts := mustDecode(t, "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: db}\nspec:\n  "+tt.policy+
				"serviceName: db\n  selector: {matchLabels: {app: db}}\n  template:\n    metadata: {labels: {app: db}}\n    spec: {containers: [{name: db, image: postgres}]}\n")
			out, _, err := prepare(sts, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got, _, _ := unstructured.NestedString(out.Object, "spec", "podManagementPolicy"); got != tt.want {
				t.Errorf("prepare(StatefulSet %s) podManagementPolicy = %q, want %q", tt.name, got, tt.want)
			}
		})
	}
}
