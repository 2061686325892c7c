package kube

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
)

// Ref names one Kubernetes object.
type Ref struct {
	APIVersion string    `json:"api_version"`
	Kind       string    `json:"kind"`
	Namespace  string    `json:"namespace,omitempty"`
	Name       string    `json:"name"`
	UID        types.UID `json:"uid,omitempty"`
}

func (r Ref) String() string {
	s := strings.ToLower(r.Kind) + "/" + r.Name
	if r.Namespace != "" {
		s += " in namespace " + r.Namespace
	}
	return s
}

// Applied is the outcome of applying one object.
type Applied struct {
	Ref
	// Changed is false when the live object already had this content and
	// the apply was skipped.
	Changed bool
	// Images are the Devfile image refs injected into the object.
	Images []string
	// TemplateHashes are the templateHashLabel values of the object's pod
	// templates; empty when it has none.
	TemplateHashes []string
	// RunsPods is true for a Pod and for objects with pod templates.
	RunsPods bool
}

// Decode parses YAML or JSON holding one or more Kubernetes objects. Empty
// documents are skipped.
func Decode(data []byte) ([]*unstructured.Unstructured, error) {
	d := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []*unstructured.Unstructured
	for i := 1; ; i++ {
		var m map[string]any
		if err := d.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, fmt.Errorf("decoding YAML document %d: %w", i, err)
		}
		if len(m) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: m}
		if u.GetKind() == "" || u.GetAPIVersion() == "" {
			return nil, fmt.Errorf("decoding YAML document %d: apiVersion and kind are required", i)
		}
		if u.GetName() == "" && u.GetGenerateName() == "" {
			return nil, fmt.Errorf("decoding YAML document %d (%s): metadata.name is required", i, u.GetKind())
		}
		out = append(out, u)
	}
}

// applyOrder puts the objects others depend on first: namespaces, CRDs,
// then storage, config and RBAC, then everything else in the given order.
func applyOrder(kind string) int {
	switch kind {
	case "Namespace":
		return 0
	case "CustomResourceDefinition":
		return 1
	case "PriorityClass", "StorageClass", "PersistentVolume", "ServiceAccount", "ClusterRole", "Role":
		return 2
	case "ClusterRoleBinding", "RoleBinding", "ConfigMap", "Secret", "PersistentVolumeClaim":
		return 3
	}
	return 4
}

// Apply applies objs by server-side apply as field manager "devloop", with
// the images of images (Devfile ref → built ref) injected and devloop's labels
// set (see prepare). Objects whose live copy already carries the same config
// hash are not sent again. Conflicts are forced: devloop owns the manifests
// it deploys, and a field last set by kubectl (a manual scale, an old
// client-side apply) must not stop every redeploy with an error the user
// cannot act on from the loop. An object whose change touches an immutable
// field (a Job's template) is deleted and created again, as Tilt does.
//
// Apply refuses contexts that are neither local nor in
// Config.AllowedContexts (see CheckContext).
func (c *Client) Apply(ctx context.Context, objs []*unstructured.Unstructured, images map[string]string) ([]Applied, error) {
	if err := CheckContext(c.context, c.server, c.cfg.AllowedContexts); err != nil {
		return nil, err
	}
	order := make([]*unstructured.Unstructured, len(objs))
	copy(order, objs)
	sort.SliceStable(order, func(i, j int) bool { return applyOrder(order[i].GetKind()) < applyOrder(order[j].GetKind()) })
	out := make([]Applied, 0, len(order))
	for _, obj := range order {
		a, err := c.applyOne(ctx, obj, images)
		if err != nil {
			return out, err
		}
		out = append(out, a)
	}
	return out, nil
}

// resource returns the dynamic client for obj's kind and defaults its
// namespace. A kind the cached discovery does not know (a CRD applied a
// moment ago) resets the cache once.
func (c *Client) resource(obj *unstructured.Unstructured) (dynamic.ResourceInterface, error) {
	gvk := obj.GroupVersionKind()
	m, err := c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		c.mapper.Reset()
		m, err = c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: the cluster does not serve %s: %w", describe(obj), gvk.GroupVersion().String()+"/"+gvk.Kind, err)
	}
	if m.Scope.Name() != meta.RESTScopeNameNamespace {
		obj.SetNamespace("")
		return c.dyn.Resource(m.Resource), nil
	}
	if obj.GetNamespace() == "" {
		obj.SetNamespace(c.namespace)
	}
	return c.dyn.Resource(m.Resource).Namespace(obj.GetNamespace()), nil
}

func (c *Client) applyOne(ctx context.Context, in *unstructured.Unstructured, images map[string]string) (Applied, error) {
	obj := in.DeepCopy()
	if obj.GetName() == "" {
		return Applied{}, fmt.Errorf("%s uses metadata.generateName, which server-side apply cannot create: give it a metadata.name", obj.GetKind())
	}
	ri, err := c.resource(obj)
	if err != nil {
		return Applied{}, err
	}
	prepared, injected, err := prepare(obj, images)
	if err != nil {
		return Applied{}, err
	}
	a := Applied{Ref: refOf(prepared), Images: injected, RunsPods: prepared.GetKind() == "Pod"}
	walkPodTemplates(prepared.Object, true, func(tmpl map[string]any) {
		h, _, _ := unstructured.NestedString(tmpl, "metadata", "labels", templateHashLabel)
		a.TemplateHashes = append(a.TemplateHashes, h)
		a.RunsPods = true
	})
	want := prepared.GetAnnotations()[configHashAnnotation]
	live, err := ri.Get(ctx, prepared.GetName(), metav1.GetOptions{})
	switch {
	case err == nil && live.GetAnnotations()[configHashAnnotation] == want && live.GetDeletionTimestamp() == nil:
		a.UID = live.GetUID()
		c.log.Debug("apply skipped, unchanged", "object", a.Ref.String())
		return a, nil
	case err != nil && !apierrors.IsNotFound(err):
		return a, fmt.Errorf("reading %s: %w", a.Ref, err)
	}
	res, err := c.patch(ctx, ri, prepared)
	if isImmutable(err) {
		c.log.Debug("immutable field changed, replacing", "object", a.Ref.String(), "err", err)
		if err := deleteAndWait(ctx, ri, prepared.GetName()); err != nil {
			return a, fmt.Errorf("replacing %s after a change to an immutable field: %w", a.Ref, err)
		}
		res, err = c.patch(ctx, ri, prepared)
	}
	if err != nil {
		return a, fmt.Errorf("applying %s: %w", a.Ref, err)
	}
	a.UID = res.GetUID()
	a.Changed = true
	return a, nil
}

// serviceAccountWait bounds how long an apply waits for the namespace's
// service account. The API server refuses a pod whose service account does
// not exist yet, and the controller manager creates each namespace's
// "default" account a moment after the namespace: in a cluster or namespace
// made seconds ago the first pod meets that refusal although nothing is
// wrong. A missing account that stays missing (a typo in
// serviceAccountName) still fails, after this wait, with the API's error.
const serviceAccountWait = 30 * time.Second

// serviceAccountPoll is how often the refused apply is tried again.
const serviceAccountPoll = 250 * time.Millisecond

func (c *Client) patch(ctx context.Context, ri dynamic.ResourceInterface, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	data, err := json.Marshal(obj.Object)
	if err != nil {
		return nil, err
	}
	force := true
	opts := metav1.PatchOptions{FieldManager: fieldManager, Force: &force}
	res, err := ri.Patch(ctx, obj.GetName(), types.ApplyPatchType, data, opts)
	if !serviceAccountPending(err) {
		return res, err
	}
	c.log.Debug("service account not there yet, waiting", "object", refOf(obj).String(), "err", err)
	deadline := time.Now().Add(serviceAccountWait)
	for serviceAccountPending(err) && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(serviceAccountPoll):
		}
		res, err = ri.Patch(ctx, obj.GetName(), types.ApplyPatchType, data, opts)
	}
	return res, err
}

// serviceAccountPending reports the API server's refusal of a pod whose
// service account does not exist (ServiceAccount admission).
func serviceAccountPending(err error) bool {
	return err != nil && apierrors.IsForbidden(err) && strings.Contains(err.Error(), "error looking up service account")
}

func isImmutable(err error) bool {
	return err != nil && apierrors.IsInvalid(err) && strings.Contains(err.Error(), "field is immutable")
}

// deletePollInterval is how often deleteAndWait looks whether the object is
// gone: foreground deletion of a Job and its pods takes about a second, so
// this keeps the wait within a tenth of that.
const deletePollInterval = 100 * time.Millisecond

func deleteAndWait(ctx context.Context, ri dynamic.ResourceInterface, name string) error {
	fg := metav1.DeletePropagationForeground
	if err := ri.Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: &fg}); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	return wait.PollUntilContextCancel(ctx, deletePollInterval, true, func(ctx context.Context) (bool, error) {
		_, err := ri.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, err
	})
}

// Delete deletes objs (background propagation); objects already gone are
// not an error. It is what `devloop down` calls.
func (c *Client) Delete(ctx context.Context, objs []*unstructured.Unstructured) error {
	var errs []error
	for i := len(objs) - 1; i >= 0; i-- {
		obj := objs[i].DeepCopy()
		ri, err := c.resource(obj)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		bg := metav1.DeletePropagationBackground
		if err := ri.Delete(ctx, obj.GetName(), metav1.DeleteOptions{PropagationPolicy: &bg}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("deleting %s: %w", describe(obj), err))
		}
	}
	return errors.Join(errs...)
}

func refOf(obj *unstructured.Unstructured) Ref {
	return Ref{APIVersion: obj.GetAPIVersion(), Kind: obj.GetKind(), Namespace: obj.GetNamespace(), Name: obj.GetName(), UID: obj.GetUID()}
}
