package manifest

import (
	"fmt"
	"strings"
)

// PotentialNames returns the names Tilt considers for an object, shortest
// first: name, name:kind, name:kind:namespace, name:kind:namespace:group.
func PotentialNames(o *Object) []string {
	group := o.Group()
	if group == "" {
		group = "core"
	}
	parts := []string{o.Name, o.Kind, o.NamespaceOrDefault(), group}
	out := make([]string, len(parts))
	for i := range parts {
		out[i] = strings.ToLower(strings.Join(parts[:i+1], ":"))
	}
	return out
}

// UniqueNames gives each object the shortest potential name no other object
// wants; identical objects (allow_duplicates) get ":INDEX" appended.
func UniqueNames(objs []*Object) []string {
	counts := map[string]int{}
	for _, o := range objs {
		for _, n := range PotentialNames(o) {
			counts[n]++
		}
	}
	out := make([]string, len(objs))
	for i, o := range objs {
		names := PotentialNames(o)
		for _, n := range names {
			if counts[n] == 1 {
				out[i] = n
				break
			}
		}
		if out[i] == "" {
			out[i] = fmt.Sprintf("%s:%d", names[len(names)-1], i)
		}
	}
	return out
}

// applyOrder is the order in which Tilt (after kustomize) applies kinds, so
// that what others refer to exists first: namespaces, then quotas, storage
// classes and CRDs, then identities and RBAC, volumes, configuration and
// Services, then workloads. Kinds not listed come after, in YAML order.
var applyOrder = []string{
	"Namespace", "ResourceQuota", "StorageClass", "CustomResourceDefinition",
	"MutatingWebhookConfiguration", "ServiceAccount", "PodSecurityPolicy",
	"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding",
	"PersistentVolume", "PersistentVolumeClaim", "ConfigMap", "Secret",
	"Service", "LimitRange", "PriorityClass", "Deployment", "StatefulSet",
	"CronJob", "PodDisruptionBudget",
}

// ApplyRank is a kind's place in applyOrder, len(applyOrder) when unlisted.
func ApplyRank(kind string) int {
	for i, k := range applyOrder {
		if k == kind {
			return i
		}
	}
	return len(applyOrder)
}
