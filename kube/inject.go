package kube

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

const (
	// managedByLabel marks every object and pod template devloop applies.
	managedByLabel = "app.kubernetes.io/managed-by"
	// managedByValue is managedByLabel's value.
	managedByValue = "devloop"
	// templateHashLabel is set on pod templates to the hash of the template as
	// applied, so that pods of the current rollout can be told from old ones.
	templateHashLabel = "devloop.dev/template-hash"
	// configHashAnnotation holds the hash of the object as devloop rendered it;
	// an object whose live annotation matches is not applied again.
	configHashAnnotation = "devloop.dev/config-hash"
)

// refName returns the repository name of the image reference s, normalized
// the way docker does ("nginx" and "docker.io/library/nginx:1.2" both give
// "docker.io/library/nginx"), without tag or digest.
func refName(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '@'); i >= 0 {
		s = s[:i]
	}
	if i := strings.LastIndexByte(s, ':'); i >= 0 && !strings.Contains(s[i:], "/") {
		s = s[:i]
	}
	domain, rest, found := strings.Cut(s, "/")
	if !found || (!strings.ContainsAny(domain, ".:") && domain != "localhost") {
		domain, rest = "docker.io", s
	}
	if domain == "index.docker.io" {
		domain = "docker.io"
	}
	if domain == "docker.io" && !strings.Contains(rest, "/") {
		rest = "library/" + rest
	}
	return domain + "/" + rest
}

// imageMatcher replaces image references by the built ones. Like Tilt, a
// Devfile ref matches any reference to the same repository whatever its tag
// or digest ("app" matches "app:v1" and "docker.io/library/app").
type imageMatcher map[string]string

func newImageMatcher(images map[string]string) imageMatcher {
	m := make(imageMatcher, len(images))
	for ref, built := range images {
		m[refName(ref)] = built
	}
	return m
}

func (m imageMatcher) lookup(image string) (string, bool) {
	if len(m) == 0 || image == "" {
		return "", false
	}
	built, ok := m[refName(image)]
	return built, ok
}

// walkPodSpecs calls fn for every pod spec in obj: any map with a
// "containers" list of maps that have an "image", wherever it is nested
// (Pod, the workloads' templates, CronJob's jobTemplate, and CRDs that embed
// pod templates).
func walkPodSpecs(v any, fn func(spec map[string]any)) {
	switch v := v.(type) {
	case map[string]any:
		if isPodSpec(v) {
			fn(v)
		}
		for _, c := range v {
			walkPodSpecs(c, fn)
		}
	case []any:
		for _, c := range v {
			walkPodSpecs(c, fn)
		}
	}
}

func isPodSpec(m map[string]any) bool {
	cs, ok := m["containers"].([]any)
	if !ok || len(cs) == 0 {
		return false
	}
	for _, c := range cs {
		cm, ok := c.(map[string]any)
		if !ok {
			return false
		}
		if _, ok := cm["image"].(string); !ok {
			return false
		}
	}
	return true
}

// walkPodTemplates calls fn for every pod template in obj: a map with a
// "spec" that is a pod spec (the "template" of workloads). The top-level
// object itself (a Pod) is not a template.
func walkPodTemplates(v any, top bool, fn func(tmpl map[string]any)) {
	switch v := v.(type) {
	case map[string]any:
		if spec, ok := v["spec"].(map[string]any); ok && !top && isPodSpec(spec) {
			fn(v)
		}
		for _, c := range v {
			walkPodTemplates(c, false, fn)
		}
	case []any:
		for _, c := range v {
			walkPodTemplates(c, false, fn)
		}
	}
}

// injectImages replaces, in every container and init container of obj, the
// images that m matches by their built reference, with imagePullPolicy
// IfNotPresent. It returns the Devfile-side images it replaced.
func injectImages(obj map[string]any, m imageMatcher) []string {
	var replaced []string
	walkPodSpecs(obj, func(spec map[string]any) {
		for _, key := range []string{"initContainers", "containers"} {
			list, _ := spec[key].([]any)
			for _, c := range list {
				cm, ok := c.(map[string]any)
				if !ok {
					continue
				}
				image, _ := cm["image"].(string)
				if built, ok := m.lookup(image); ok {
					cm["image"] = built
					cm["imagePullPolicy"] = "IfNotPresent"
					replaced = append(replaced, image)
				}
			}
		}
	})
	return replaced
}

func setLabel(m map[string]any, key, value string) {
	meta, _ := m["metadata"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
		m["metadata"] = meta
	}
	labels, _ := meta["labels"].(map[string]any)
	if labels == nil {
		labels = map[string]any{}
		meta["labels"] = labels
	}
	labels[key] = value
}

// hashJSON returns the hex SHA-256 of v's JSON encoding (maps encode with
// sorted keys, so equal content gives equal hashes).
func hashJSON(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// prepare returns a copy of obj as devloop applies it: images replaced by the
// built references of images (Devfile ref → built ref, usually by digest),
// the managed-by label on the object and on its pod templates, the template
// hash label on pod templates, and the config hash annotation. It also returns
// the Devfile images it injected. obj is not modified.
func prepare(obj *unstructured.Unstructured, images map[string]string) (*unstructured.Unstructured, []string, error) {
	out := obj.DeepCopy()
	replaced := injectImages(out.Object, newImageMatcher(images))
	setLabel(out.Object, managedByLabel, managedByValue)
	parallelStatefulSet(out)
	var herr error
	walkPodTemplates(out.Object, true, func(tmpl map[string]any) {
		setLabel(tmpl, managedByLabel, managedByValue)
		h, err := hashJSON(tmpl)
		if err != nil {
			herr = err
			return
		}
		setLabel(tmpl, templateHashLabel, h[:16])
	})
	if herr != nil {
		return nil, nil, fmt.Errorf("hashing the pod template of %s: %w", describe(obj), herr)
	}
	h, err := hashJSON(out.Object)
	if err != nil {
		return nil, nil, fmt.Errorf("hashing %s: %w", describe(obj), err)
	}
	ann := out.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	ann[configHashAnnotation] = h[:32]
	out.SetAnnotations(ann)
	return out, replaced, nil
}

// describe names an object as kubectl does: kind/name in namespace.
func describe(obj *unstructured.Unstructured) string {
	s := strings.ToLower(obj.GetKind()) + "/" + obj.GetName()
	if ns := obj.GetNamespace(); ns != "" {
		s += " in namespace " + ns
	}
	return s
}

// parallelStatefulSet starts a StatefulSet's pods in parallel unless the
// manifest chose an order, as Tilt does: in the inner loop, waiting for pod
// N to be Ready before creating pod N+1 only slows every redeploy down.
func parallelStatefulSet(obj *unstructured.Unstructured) {
	if obj.GetKind() != "StatefulSet" {
		return
	}
	if _, found, _ := unstructured.NestedString(obj.Object, "spec", "podManagementPolicy"); found {
		return
	}
	_ = unstructured.SetNestedField(obj.Object, "Parallel", "spec", "podManagementPolicy")
}
