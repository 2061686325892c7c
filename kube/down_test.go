package kube

import (
	"context"
	"fmt"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// job returns a Job in namespace dev with the given annotations.
func job(t *testing.T, name string, annotations string) *unstructured.Unstructured {
	t.Helper()
	return mustDecode(t, fmt.Sprintf(`apiVersion: batch/v1
kind: Job
metadata:
  name: %s
  namespace: dev
  annotations: {%s}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: c, image: busybox}]
`, name, annotations))
}

func TestDeleteManaged(t *testing.T) {
	ctx := context.Background()
	c, dyn := newFakeDynamic(t)
	ns := mustDecode(t, "apiVersion: v1\nkind: Namespace\nmetadata: {name: dev}\n")
	objs := []*unstructured.Unstructured{
		ns,
		mustDecode(t, deploymentYAML),
		job(t, "keep-devloop", `devloop.dev/down-policy: keep`),
		job(t, "keep-tilt", `tilt.dev/down-policy: keep`),
		job(t, "migrate", ``),
	}
	if _, err := c.Apply(ctx, objs, nil); err != nil {
		t.Fatalf("Apply = %v", err)
	}
	// Someone else's Job with a name the Devfile also uses: not devloop's.
	foreign := job(t, "foreign", ``)
	if _, err := dyn.Resource(jobsGVR).Namespace("dev").Create(ctx, foreign, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The live object's annotation counts too.
	live := job(t, "keep-live", ``)
	if _, err := c.Apply(ctx, []*unstructured.Unstructured{live}, nil); err != nil {
		t.Fatal(err)
	}
	got, err := dyn.Resource(jobsGVR).Namespace("dev").Get(ctx, "keep-live", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got.SetAnnotations(map[string]string{downPolicyAnnotation: downPolicyKeep})
	if _, err := dyn.Resource(jobsGVR).Namespace("dev").Update(ctx, got, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	never := job(t, "never-applied", ``)
	all := append(objs, foreign, live, never)

	tests := []struct {
		name   string
		opts   DownOptions
		gvr    schema.GroupVersionResource
		ns     string
		object string
		action DownAction
		exists bool
	}{
		{name: "applied deployment", gvr: deploymentsGVR, ns: "dev", object: "web", action: DownDeleted},
		{name: "applied job", gvr: jobsGVR, ns: "dev", object: "migrate", action: DownDeleted},
		{name: "devloop keep annotation", gvr: jobsGVR, ns: "dev", object: "keep-devloop", action: DownKept, exists: true},
		{name: "tilt keep annotation", gvr: jobsGVR, ns: "dev", object: "keep-tilt", action: DownKept, exists: true},
		{name: "keep annotation on the live object", gvr: jobsGVR, ns: "dev", object: "keep-live", action: DownKept, exists: true},
		{name: "not created by devloop", gvr: jobsGVR, ns: "dev", object: "foreign", action: DownKept, exists: true},
		{name: "never applied", gvr: jobsGVR, ns: "dev", object: "never-applied", action: DownGone},
		{name: "namespace kept by default", gvr: namespacesGVR, object: "dev", action: DownKept, exists: true},
	}
	res, err := c.DeleteManaged(ctx, all, DownOptions{})
	if err != nil {
		t.Fatalf("DeleteManaged = %v", err)
	}
	if len(res) != len(all) {
		t.Fatalf("DeleteManaged = %d results, want %d: %+v", len(res), len(all), res)
	}
	if last := res[len(res)-1]; last.Ref.Kind != "Namespace" {
		t.Errorf("DeleteManaged: last result is %s, want the Namespace (reverse apply order)", last.Ref)
	}
	byName := map[string]DownResult{}
	for _, r := range res {
		byName[r.Ref.Name] = r
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := byName[tt.object]
			if r.Action != tt.action {
				t.Errorf("DeleteManaged: %s = %s (%s), want %s", tt.object, r.Action, r.Why, tt.action)
			}
			var err error
			if tt.ns != "" {
				_, err = dyn.Resource(tt.gvr).Namespace(tt.ns).Get(ctx, tt.object, metav1.GetOptions{})
			} else {
				_, err = dyn.Resource(tt.gvr).Get(ctx, tt.object, metav1.GetOptions{})
			}
			if exists := err == nil; exists != tt.exists || (err != nil && !apierrors.IsNotFound(err)) {
				t.Errorf("after DeleteManaged, %s exists = %v (%v), want %v", tt.object, exists, err, tt.exists)
			}
		})
	}

	t.Run("--delete-namespaces", func(t *testing.T) {
		res, err := c.DeleteManaged(ctx, []*unstructured.Unstructured{ns}, DownOptions{DeleteNamespaces: true})
		if err != nil || len(res) != 1 || res[0].Action != DownDeleted {
			t.Fatalf("DeleteManaged(namespace, DeleteNamespaces) = %+v, %v; want it deleted", res, err)
		}
	})

	t.Run("remote context refused", func(t *testing.T) {
		remote := newClient(Config{Context: "prod", Namespace: "dev"}, nil, nil, dyn, c.mapper)
		remote.server = "https://prod.example.com"
		if _, err := remote.DeleteManaged(ctx, all, DownOptions{}); err == nil || !strings.Contains(err.Error(), "allow_k8s_contexts") {
			t.Errorf("DeleteManaged on context prod = %v, want a refusal naming allow_k8s_contexts", err)
		}
	})
}
