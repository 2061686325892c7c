package kube

import (
	"context"
	"errors"
	"fmt"
	"sort"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

const (
	// downPolicyAnnotation set to downPolicyKeep on an object (in the Devfile's
	// YAML or on the live object) keeps it through `devloop down`.
	downPolicyAnnotation = "devloop.dev/down-policy"
	// tiltDownPolicyAnnotation is Tilt's equivalent, honoured so that a
	// Tiltfile's objects behave the same.
	tiltDownPolicyAnnotation = "tilt.dev/down-policy"
	// downPolicyKeep is the value that keeps an object.
	downPolicyKeep = "keep"
)

// DownOptions says what DeleteManaged may delete.
type DownOptions struct {
	// DeleteNamespaces deletes Namespace objects too (with everything in
	// them); without it they are kept, as `tilt down` does.
	DeleteNamespaces bool
}

// DownAction is what DeleteManaged did with one object.
type DownAction string

const (
	DownDeleted DownAction = "deleted"
	DownKept    DownAction = "kept"
	DownGone    DownAction = "not found"
)

// DownResult is the outcome for one object.
type DownResult struct {
	Ref    Ref
	Action DownAction
	// Why says why an object was kept.
	Why string
}

// DeleteManaged deletes the live counterparts of objs (in reverse apply
// order, background propagation) that devloop applied: objects without
// the label app.kubernetes.io/managed-by=devloop are kept, so are objects
// annotated devloop.dev/down-policy: keep (or Tilt's tilt.dev/down-policy,
// on the Devfile's object or the live one), and Namespaces unless opts.DeleteNamespaces.
// Objects already gone are reported, not an error. It refuses a kube context
// that does not look local unless allowed, like Apply.
func (c *Client) DeleteManaged(ctx context.Context, objs []*unstructured.Unstructured, opts DownOptions) ([]DownResult, error) {
	if err := CheckContext(c.context, c.server, c.cfg.AllowedContexts); err != nil {
		return nil, err
	}
	order := make([]*unstructured.Unstructured, len(objs))
	copy(order, objs)
	// Apply order sorts Namespaces and CRDs first; deleting goes the other way.
	sort.SliceStable(order, func(i, j int) bool { return applyOrder(order[i].GetKind()) < applyOrder(order[j].GetKind()) })
	var out []DownResult
	var errs []error
	for i := len(order) - 1; i >= 0; i-- {
		obj := order[i].DeepCopy()
		ri, err := c.resource(obj)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		r := DownResult{Ref: refOf(obj)}
		live, err := ri.Get(ctx, obj.GetName(), metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			r.Action = DownGone
		case err != nil:
			errs = append(errs, fmt.Errorf("reading %s: %w", r.Ref, err))
			continue
		case live.GetLabels()[managedByLabel] != managedByValue:
			r.Action, r.Why = DownKept, fmt.Sprintf("devloop did not create it (no %s=%s label)", managedByLabel, managedByValue)
		case keep(obj) || keep(live):
			r.Action, r.Why = DownKept, fmt.Sprintf("annotated %s: %s", downPolicyAnnotation, downPolicyKeep)
		case obj.GetKind() == "Namespace" && !opts.DeleteNamespaces:
			r.Action, r.Why = DownKept, "a Namespace (pass --delete-namespaces to delete it and everything in it)"
		default:
			bg := metav1.DeletePropagationBackground
			if err := ri.Delete(ctx, obj.GetName(), metav1.DeleteOptions{PropagationPolicy: &bg}); err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("deleting %s: %w", r.Ref, err))
				continue
			}
			r.Action = DownDeleted
		}
		out = append(out, r)
	}
	return out, errors.Join(errs...)
}

func keep(obj *unstructured.Unstructured) bool {
	a := obj.GetAnnotations()
	return a[downPolicyAnnotation] == downPolicyKeep || a[tiltDownPolicyAnnotation] == downPolicyKeep
}
