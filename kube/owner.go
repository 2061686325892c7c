package kube

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// maxOwnerDepth bounds the owner walk: Deployment→ReplicaSet→Pod and
// CronJob→Job→Pod are two steps; CRD controllers (Argo Rollouts, Knative)
// add one or two more.
const maxOwnerDepth = 5

// ownerLookup returns the owner references of the object of the given kind,
// or found=false when it is not known.
type ownerLookup func(kind, namespace, name string) (refs []metav1.OwnerReference, found bool)

// ownedBy returns the UID of the applied object (one of roots) that pod p is
// or descends from through owner references, or "" when none.
func ownedBy(p *corev1.Pod, roots map[types.UID]bool, lookup ownerLookup) types.UID {
	if roots[p.UID] {
		return p.UID
	}
	refs := p.OwnerReferences
	for depth := 0; depth < maxOwnerDepth && len(refs) > 0; depth++ {
		var next []metav1.OwnerReference
		for _, r := range refs {
			if roots[r.UID] {
				return r.UID
			}
			if up, ok := lookup(r.Kind, p.Namespace, r.Name); ok {
				next = append(next, up...)
			}
		}
		refs = next
	}
	return ""
}

// matchesAny reports whether labels carry every label of at least one selector.
func matchesAny(labels map[string]string, selectors []map[string]string) bool {
	for _, sel := range selectors {
		if len(sel) == 0 {
			continue
		}
		ok := true
		for k, v := range sel {
			if labels[k] != v {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}
