package manifest

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Object is one Kubernetes object that a Devfile registered or produced:
// its identity, its decoded content (JSON numbers kept as json.Number) and
// the YAML document it came from.
type Object struct {
	APIVersion string
	Kind       string
	Name       string
	Namespace  string
	// Content is the decoded object.
	Content map[string]any
	// YAML is the object's document as written (or re-encoded when it came
	// from a List or was changed).
	YAML string

	// selector caches serviceSelector (grouping asks for it once per
	// workload).
	selector     map[string]string
	selectorDone bool
}

// DefaultNamespace is the namespace Tilt names objects by when they set none.
const DefaultNamespace = "default"

// Group returns the API group of the object ("" for the core group).
func (o *Object) Group() string {
	if i := strings.Index(o.APIVersion, "/"); i >= 0 {
		return o.APIVersion[:i]
	}
	return ""
}

// NamespaceOrDefault returns the object's namespace, or "default" when unset.
func (o *Object) NamespaceOrDefault() string {
	if o.Namespace == "" {
		return DefaultNamespace
	}
	return o.Namespace
}

// ID is the "name:kind:namespace" form that k8s_resource(objects=) and error
// messages use, lower-cased as in Tilt.
func (o *Object) ID() string {
	return strings.ToLower(o.Name + ":" + o.Kind + ":" + o.NamespaceOrDefault())
}

// Labels returns metadata.labels.
func (o *Object) Labels() map[string]string {
	return StringMap(Lookup(o.Content, "metadata", "labels"))
}

// Lookup walks nested maps by keys; nil when a step is missing.
func Lookup(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// StringMap converts a decoded map of strings; other values are skipped.
func StringMap(v any) map[string]string {
	m, ok := v.(map[string]any)
	if !ok || len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, val := range m {
		if s, ok := val.(string); ok {
			out[k] = s
		}
	}
	return out
}

// maxPodSearchDepth bounds the search for pod templates and containers: the
// deepest built-in case (CronJob spec.jobTemplate.spec.template.spec.containers)
// is 7 levels down, custom resources nest a little deeper.
const maxPodSearchDepth = 12

// PodTemplateLabels returns the labels of each pod template in the object
// (Deployment/StatefulSet/DaemonSet/ReplicaSet/Job spec.template, CronJob
// spec.jobTemplate.spec.template, and any custom resource with a
// "template: {spec: {containers: [...]}}" shape). A bare Pod has no template.
func (o *Object) PodTemplateLabels() []map[string]string {
	var out []map[string]string
	var walk func(v any, depth int)
	walk = func(v any, depth int) {
		if depth > maxPodSearchDepth {
			return
		}
		switch v := v.(type) {
		case map[string]any:
			for _, k := range sortedKeys(v) {
				if k == "template" {
					if t, ok := v[k].(map[string]any); ok {
						if _, ok := Lookup(t, "spec", "containers").([]any); ok {
							labels := StringMap(Lookup(t, "metadata", "labels"))
							if labels == nil {
								labels = map[string]string{}
							}
							out = append(out, labels)
							continue
						}
					}
				}
				walk(v[k], depth+1)
			}
		case []any:
			for _, e := range v {
				walk(e, depth+1)
			}
		}
	}
	walk(o.Content["spec"], 0)
	return out
}

// ContainerImages returns the image of every container, init container and
// ephemeral container in the object, in document order, duplicates kept once.
func (o *Object) ContainerImages() []string {
	var out []string
	seen := map[string]bool{}
	forEachContainer(o.Content["spec"], 0, func(c map[string]any) {
		img, _ := c["image"].(string)
		if img != "" && !seen[img] {
			seen[img] = true
			out = append(out, img)
		}
	})
	return out
}

// forEachContainer calls f with every container below v (init containers
// first, then containers, then ephemeral containers of each pod spec).
func forEachContainer(v any, depth int, f func(map[string]any)) {
	if depth > maxPodSearchDepth {
		return
	}
	switch v := v.(type) {
	case map[string]any:
		for _, k := range podSpecKeyOrder(v) {
			switch k {
			case "initContainers", "containers", "ephemeralContainers":
				if list, ok := v[k].([]any); ok {
					for _, c := range list {
						if cm, ok := c.(map[string]any); ok {
							f(cm)
						}
					}
					continue
				}
			}
			forEachContainer(v[k], depth+1, f)
		}
	case []any:
		for _, e := range v {
			forEachContainer(e, depth+1, f)
		}
	}
}

// podSpecKeyOrder sorts keys, with init containers before containers so
// images are listed in start order.
func podSpecKeyOrder(m map[string]any) []string {
	keys := sortedKeys(m)
	rank := func(k string) int {
		switch k {
		case "initContainers":
			return 0
		case "containers":
			return 1
		case "ephemeralContainers":
			return 2
		}
		return 3
	}
	sort.SliceStable(keys, func(i, j int) bool { return rank(keys[i]) < rank(keys[j]) })
	return keys
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// serviceSelector returns a Service's spec.selector, nil for other kinds.
func (o *Object) serviceSelector() map[string]string {
	if !o.selectorDone {
		o.selectorDone = true
		if o.Kind == "Service" && o.Group() == "" {
			o.selector = StringMap(Lookup(o.Content, "spec", "selector"))
		}
	}
	return o.selector
}

// SelectsPodsOf reports whether the Service o selects the pods of workload w,
// as Tilt decides it: a non-empty selector that is a subset of one of w's pod
// template labels, and o in w's namespace unless o is in "default" (or sets
// no namespace).
func (o *Object) SelectsPodsOf(w *Object) bool {
	return o.SelectsPods(w.PodTemplateLabels(), w.NamespaceOrDefault())
}

// SelectsPods is selectsPodsOf for a workload's pod template labels and
// namespace, computed once by the caller.
func (o *Object) SelectsPods(templates []map[string]string, workloadNS string) bool {
	sel := o.serviceSelector()
	if len(sel) == 0 {
		return false
	}
	if ns := o.NamespaceOrDefault(); ns != DefaultNamespace && ns != workloadNS {
		return false
	}
	for _, labels := range templates {
		if LabelsMatch(sel, labels) {
			return true
		}
	}
	return false
}

// LabelsMatch reports whether every key of sel has the same value in labels.
func LabelsMatch(sel, labels map[string]string) bool {
	for k, v := range sel {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// SetNamespace sets metadata.namespace (and, as the namespace extension does,
// the namespace of pod templates and of ServiceAccount subjects) and
// re-encodes the object.
func (o *Object) SetNamespace(ns string, deep bool) error {
	meta, ok := o.Content["metadata"].(map[string]any)
	if !ok {
		return fmt.Errorf("%s %s has no metadata mapping to set a namespace in", o.Kind, o.Name)
	}
	meta["namespace"] = ns
	o.Namespace = ns
	if deep {
		setTemplateNamespace(o.Content, ns, 0)
		if subjects, ok := o.Content["subjects"].([]any); ok {
			for _, s := range subjects {
				if m, ok := s.(map[string]any); ok && m["kind"] == "ServiceAccount" {
					m["namespace"] = ns
				}
			}
		}
	}
	enc, err := Encode(o.Content)
	if err != nil {
		return err
	}
	o.YAML = enc
	return nil
}

func setTemplateNamespace(v any, ns string, depth int) {
	if depth > maxPodSearchDepth {
		return
	}
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if k == "template" {
				if md, ok := Lookup(e, "metadata").(map[string]any); ok {
					md["namespace"] = ns
				}
			}
			setTemplateNamespace(e, ns, depth+1)
		}
	case []any:
		for _, e := range v {
			setTemplateNamespace(e, ns, depth+1)
		}
	}
}

// ClusterScoped reports whether kind is a built-in kind that lives outside
// namespaces; helm(namespace=) leaves those alone.
func ClusterScoped(kind string) bool { return clusterScopedKinds[kind] }

var clusterScopedKinds = map[string]bool{
	"Namespace": true, "Node": true, "PersistentVolume": true,
	"CustomResourceDefinition": true, "ClusterRole": true, "ClusterRoleBinding": true,
	"StorageClass": true, "PriorityClass": true, "IngressClass": true, "RuntimeClass": true,
	"MutatingWebhookConfiguration": true, "ValidatingWebhookConfiguration": true,
	"APIService": true, "CSIDriver": true, "CSINode": true, "VolumeAttachment": true,
	"ValidatingAdmissionPolicy": true, "ValidatingAdmissionPolicyBinding": true,
}

// ContainerEnvValues returns the values of the containers' env vars.
func (o *Object) ContainerEnvValues() []string {
	var out []string
	forEachContainer(o.Content["spec"], 0, func(c map[string]any) {
		env, _ := c["env"].([]any)
		for _, e := range env {
			if v, ok := Lookup(e, "value").(string); ok && v != "" {
				out = append(out, v)
			}
		}
	})
	return out
}

// ContainerPorts returns the containerPort of every container's ports.
func (o *Object) ContainerPorts() []int {
	var out []int
	forEachContainer(o.Content["spec"], 0, func(c map[string]any) {
		ports, _ := c["ports"].([]any)
		for _, p := range ports {
			switch n := Lookup(p, "containerPort").(type) {
			case json.Number:
				if i, err := n.Int64(); err == nil && i > 0 && i <= 65535 {
					out = append(out, int(i))
				}
			}
		}
	})
	return out
}
