package kube

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	dynfake "k8s.io/client-go/dynamic/fake"
	clienttesting "k8s.io/client-go/testing"
)

// staticMapper is a RESTMapper over a fixed list of kinds; Reset is a no-op.
type staticMapper struct{ meta.RESTMapper }

func (staticMapper) Reset() {}

var (
	deploymentsGVR = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	jobsGVR        = schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "jobs"}
	namespacesGVR  = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
)

func newFakeDynamic(t *testing.T) (*Client, *dynfake.FakeDynamicClient) {
	t.Helper()
	m := meta.NewDefaultRESTMapper(nil)
	m.Add(schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, meta.RESTScopeNamespace)
	m.Add(schema.GroupVersionKind{Group: "batch", Version: "v1", Kind: "Job"}, meta.RESTScopeNamespace)
	m.Add(schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}, meta.RESTScopeRoot)
	dyn := dynfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		deploymentsGVR: "DeploymentList", jobsGVR: "JobList", namespacesGVR: "NamespaceList",
	})
	uid := 0
	// The fake tracker does not assign UIDs; the API server does.
	dyn.PrependReactor("patch", "*", func(a clienttesting.Action) (bool, runtime.Object, error) {
		pa := a.(clienttesting.PatchAction)
		if pa.GetPatchType() != types.ApplyPatchType {
			return false, nil, nil
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(pa.GetPatch()); err != nil {
			return true, nil, err
		}
		uid++
		u.SetUID(types.UID("uid-" + string(rune('0'+uid))))
		tr := dyn.Tracker()
		if _, err := tr.Get(pa.GetResource(), pa.GetNamespace(), pa.GetName()); err == nil {
			return true, u, tr.Update(pa.GetResource(), u, pa.GetNamespace())
		}
		return true, u, tr.Create(pa.GetResource(), u, pa.GetNamespace())
	})
	c := newClient(Config{Context: "kind-test", Namespace: "dev"}, nil, nil, dyn, staticMapper{m})
	return c, dyn
}

// patches returns the server-side apply patches the fake saw, checking the
// field manager and force flag of each.
func patches(t *testing.T, dyn *dynfake.FakeDynamicClient) []string {
	t.Helper()
	var out []string
	for _, a := range dyn.Actions() {
		pa, ok := a.(clienttesting.PatchActionImpl)
		if !ok {
			continue
		}
		if pa.GetPatchType() != types.ApplyPatchType {
			t.Errorf("patch of %s has type %s, want %s", pa.GetName(), pa.GetPatchType(), types.ApplyPatchType)
		}
		opts := pa.PatchOptions
		if opts.FieldManager != fieldManager || opts.Force == nil || !*opts.Force {
			t.Errorf("patch of %s: field manager %q, force %v; want %q, force true", pa.GetName(), opts.FieldManager, opts.Force, fieldManager)
		}
		out = append(out, pa.GetResource().Resource+"/"+pa.GetNamespace()+"/"+pa.GetName())
	}
	return out
}

func TestApply(t *testing.T) {
	ctx := context.Background()
	c, dyn := newFakeDynamic(t)
	ns := mustDecode(t, "apiVersion: v1\nkind: Namespace\nmetadata: {name: dev}\n")
	dep := mustDecode(t, deploymentYAML)
	images := map[string]string{"app": "localhost:5005/app@sha256:1"}

	got, err := c.Apply(ctx, []*unstructured.Unstructured{dep, ns}, images)
	if err != nil {
		t.Fatalf("Apply = %v", err)
	}
	if len(got) != 2 || got[0].Kind != "Namespace" || got[1].Kind != "Deployment" {
		t.Fatalf("Apply = %+v, want the namespace then the deployment", got)
	}
	if !got[1].Changed || got[1].Namespace != "dev" || got[1].UID == "" {
		t.Errorf("Apply: deployment = %+v, want changed, namespace dev (the default), a UID", got[1])
	}
	if want := []string{"namespaces//dev", "deployments/dev/web"}; strings.Join(patches(t, dyn), " ") != strings.Join(want, " ") {
		t.Errorf("Apply: patches = %v, want %v", patches(t, dyn), want)
	}
	live, err := dyn.Resource(deploymentsGVR).Namespace("dev").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	image, _, _ := unstructured.NestedSlice(live.Object, "spec", "template", "spec", "containers")
	if img := image[0].(map[string]any)["image"]; img != images["app"] {
		t.Errorf("Apply: live image = %v, want %s", img, images["app"])
	}
	if live.GetLabels()[managedByLabel] != managedByValue {
		t.Errorf("Apply: live labels = %v, want %s=%s", live.GetLabels(), managedByLabel, managedByValue)
	}

	t.Run("unchanged is skipped", func(t *testing.T) {
		dyn.ClearActions()
		got, err := c.Apply(ctx, []*unstructured.Unstructured{dep}, images)
		if err != nil {
			t.Fatal(err)
		}
		if p := patches(t, dyn); len(p) != 0 || got[0].Changed || got[0].UID == "" {
			t.Errorf("Apply(same) = %+v with patches %v, want unchanged with its UID and no patch", got, p)
		}
	})
	t.Run("new digest is applied", func(t *testing.T) {
		dyn.ClearActions()
		got, err := c.Apply(ctx, []*unstructured.Unstructured{dep}, map[string]string{"app": "localhost:5005/app@sha256:2"})
		if err != nil {
			t.Fatal(err)
		}
		if p := patches(t, dyn); len(p) != 1 || !got[0].Changed {
			t.Errorf("Apply(new digest) = %+v with patches %v, want one patch", got, p)
		}
	})
	t.Run("immutable field replaces the object", func(t *testing.T) {
		dyn.ClearActions()
		job := mustDecode(t, "apiVersion: batch/v1\nkind: Job\nmetadata: {name: migrate}\nspec: {template: {spec: {restartPolicy: Never, containers: [{name: m, image: app}]}}}\n")
		if _, err := c.Apply(ctx, []*unstructured.Unstructured{job}, images); err != nil {
			t.Fatal(err)
		}
		refused := false
		dyn.PrependReactor("patch", "jobs", func(a clienttesting.Action) (bool, runtime.Object, error) {
			if refused {
				return false, nil, nil
			}
			refused = true
			return true, nil, apierrors.NewInvalid(schema.GroupKind{Group: "batch", Kind: "Job"}, "migrate",
				field.ErrorList{field.Invalid(field.NewPath("spec", "template"), "x", "field is immutable")})
		})
		got, err := c.Apply(ctx, []*unstructured.Unstructured{job}, map[string]string{"app": "localhost:5005/app@sha256:3"})
		if err != nil {
			t.Fatalf("Apply(changed job) = %v", err)
		}
		var verbs []string
		for _, a := range dyn.Actions() {
			if a.GetResource() == jobsGVR {
				verbs = append(verbs, a.GetVerb())
			}
		}
		want := "get patch get patch delete get patch" // create; then get, refused patch, delete, gone, patch
		if strings.Join(verbs, " ") != want || !got[0].Changed {
			t.Errorf("Apply(changed job) verbs = %v, want %s", verbs, want)
		}
	})
	t.Run("generateName refused", func(t *testing.T) {
		gen := mustDecode(t, "apiVersion: batch/v1\nkind: Job\nmetadata: {generateName: run-}\nspec: {template: {spec: {containers: [{name: m, image: app}]}}}\n")
		if _, err := c.Apply(ctx, []*unstructured.Unstructured{gen}, nil); err == nil || !strings.Contains(err.Error(), "give it a metadata.name") {
			t.Errorf("Apply(generateName) = %v, want the metadata.name error", err)
		}
	})
	t.Run("remote context refused", func(t *testing.T) {
		remote := newClient(Config{Context: "prod"}, nil, nil, dyn, c.mapper)
		remote.server = "https://10.1.1.1"
		if _, err := remote.Apply(ctx, []*unstructured.Unstructured{dep}, nil); err == nil || !strings.Contains(err.Error(), "allow_k8s_contexts") {
			t.Errorf("Apply on context prod = %v, want the allow_k8s_contexts error", err)
		}
	})
}

// TestApplyWaitsForServiceAccount: in a namespace made a moment ago the API
// server refuses pods until the controller manager has created the default
// service account; Apply tries again until it exists, and an account that
// never appears fails with the API's error after serviceAccountWait.
func TestApplyWaitsForServiceAccount(t *testing.T) {
	refuse := func(dyn *dynfake.FakeDynamicClient, times int) *int {
		calls := 0
		dyn.PrependReactor("patch", "deployments", func(a clienttesting.Action) (bool, runtime.Object, error) {
			calls++
			if times < 0 || calls <= times {
				return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "apps", Resource: "deployments"}, "app",
					errors.New(`error looking up service account dev/default: serviceaccount "default" not found`))
			}
			return false, nil, nil
		})
		return &calls
	}
	t.Run("appears", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			c, dyn := newFakeDynamic(t)
			calls := refuse(dyn, 3)
			start := time.Now()
			got, err := c.Apply(t.Context(), []*unstructured.Unstructured{mustDecode(t, deploymentYAML)}, nil)
			if err != nil {
				t.Fatalf("Apply = %v, want success once the service account exists", err)
			}
			if len(got) != 1 || !got[0].Changed || got[0].UID == "" {
				t.Errorf("Apply = %+v, want the deployment applied", got)
			}
			if *calls != 4 {
				t.Errorf("patch calls = %d, want 4 (3 refused, 1 applied)", *calls)
			}
			if waited := time.Since(start); waited != 3*serviceAccountPoll {
				t.Errorf("waited %v, want %v", waited, 3*serviceAccountPoll)
			}
		})
	})
	t.Run("never", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			c, dyn := newFakeDynamic(t)
			refuse(dyn, -1)
			start := time.Now()
			_, err := c.Apply(t.Context(), []*unstructured.Unstructured{mustDecode(t, deploymentYAML)}, nil)
			if err == nil || !strings.Contains(err.Error(), `serviceaccount "default" not found`) || !apierrors.IsForbidden(errors.Unwrap(err)) {
				t.Fatalf("Apply = %v, want the API's forbidden error", err)
			}
			if waited := time.Since(start); waited < serviceAccountWait || waited > serviceAccountWait+serviceAccountPoll {
				t.Errorf("gave up after %v, want %v", waited, serviceAccountWait)
			}
		})
	})
	t.Run("other refusals fail at once", func(t *testing.T) {
		c, dyn := newFakeDynamic(t)
		dyn.PrependReactor("patch", "deployments", func(a clienttesting.Action) (bool, runtime.Object, error) {
			return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "apps", Resource: "deployments"}, "app", errors.New("user cannot patch"))
		})
		if _, err := c.Apply(context.Background(), []*unstructured.Unstructured{mustDecode(t, deploymentYAML)}, nil); err == nil || !strings.Contains(err.Error(), "user cannot patch") {
			t.Fatalf("Apply = %v, want the refusal", err)
		}
	})
}
