package devfile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// k8sObject is one Kubernetes object that a Devfile registered or produced:
// its identity, its decoded content (JSON numbers kept as json.Number) and
// the YAML document it came from.
type k8sObject struct {
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

// defaultNamespace is the namespace Tilt names objects by when they set none.
const defaultNamespace = "default"

// group returns the API group of the object ("" for the core group).
func (o *k8sObject) group() string {
	if i := strings.Index(o.APIVersion, "/"); i >= 0 {
		return o.APIVersion[:i]
	}
	return ""
}

// namespaceOrDefault returns the object's namespace, or "default" when unset.
func (o *k8sObject) namespaceOrDefault() string {
	if o.Namespace == "" {
		return defaultNamespace
	}
	return o.Namespace
}

// id is the "name:kind:namespace" form that k8s_resource(objects=) and error
// messages use, lower-cased as in Tilt.
func (o *k8sObject) id() string {
	return strings.ToLower(o.Name + ":" + o.Kind + ":" + o.namespaceOrDefault())
}

// model returns the model form of the object.
func (o *k8sObject) model() Object {
	return Object{APIVersion: o.APIVersion, Kind: o.Kind, Name: o.Name, Namespace: o.Namespace, YAML: o.YAML}
}

// labels returns metadata.labels.
func (o *k8sObject) labels() map[string]string {
	return stringMap(lookup(o.Content, "metadata", "labels"))
}

// yamlDoc is one document of a YAML stream and the line it starts on.
type yamlDoc struct {
	Text string
	Line int
}

// splitYAML splits a YAML stream into documents, keeping each document's
// text as written and the line it starts on. It is the one splitter of the
// package: decode_yaml and read_yaml use it, and so do k8s_yaml and helm().
// A line "---", or "---" followed by a space, a tab or a comment, starts a
// document (text after "--- " belongs to the new document, as in YAML); a
// line "..." ends one, and no empty document follows it.
func splitYAML(text string) []yamlDoc {
	var docs []yamlDoc
	var cur strings.Builder
	start := 1
	// ended is set when "..." closed the last document.
	ended := false
	flush := func(next int) {
		if !ended || strings.TrimSpace(cur.String()) != "" {
			docs = append(docs, yamlDoc{Text: cur.String(), Line: start})
		}
		cur.Reset()
		start, ended = next, false
	}
	lineNo := 0
	for line := range strings.Lines(text) {
		lineNo++
		bare := strings.TrimRight(line, " \t\r\n")
		if rest, ok := strings.CutPrefix(bare, "---"); ok && (rest == "" || rest[0] == ' ' || rest[0] == '\t' || rest[0] == '#') {
			if rest == "" {
				flush(lineNo + 1)
				continue
			}
			flush(lineNo)
			if rest = strings.TrimSpace(rest); rest != "" && !strings.HasPrefix(rest, "#") {
				cur.WriteString(rest + "\n")
			}
			continue
		}
		if bare == "..." {
			flush(lineNo + 1)
			ended = true
			continue
		}
		cur.WriteString(line)
	}
	flush(lineNo + 1)
	return docs
}

// parseK8sYAML splits text into Kubernetes objects: documents that are empty
// or hold only comments are skipped, and List kinds are flattened into their
// items. source names the text in errors ("deploy/app.yaml", "helm: ./chart").
func parseK8sYAML(text, source string) ([]*k8sObject, error) {
	var out []*k8sObject
	for i, doc := range splitYAML(text) {
		content, err := decodeYAMLMap(doc.Text)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: YAML document %d: %w", source, doc.Line, i+1, err)
		}
		if content == nil {
			continue
		}
		objs, err := objectsFromContent(content, doc.Text)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: YAML document %d: %w", source, doc.Line, i+1, err)
		}
		out = append(out, objs...)
	}
	return out, nil
}

// decodeYAMLMap decodes one YAML document; an empty document gives nil.
func decodeYAMLMap(text string) (map[string]any, error) {
	js, err := yaml.YAMLToJSON([]byte(text))
	if err != nil {
		return nil, err
	}
	js = bytes.TrimSpace(js)
	if len(js) == 0 || string(js) == "null" {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("not a Kubernetes object (want a mapping with apiVersion, kind and metadata, got %s)", jsonKind(v))
	}
	return m, nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case []any:
		return "a list"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	}
	return fmt.Sprintf("%T", v)
}

// objectsFromContent turns one decoded document into objects, flattening Lists.
func objectsFromContent(content map[string]any, text string) ([]*k8sObject, error) {
	kind, _ := content["kind"].(string)
	if items, ok := content["items"].([]any); ok && strings.HasSuffix(kind, "List") {
		var out []*k8sObject
		for j, it := range items {
			m, ok := it.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%s item %d is %s, want an object", kind, j+1, jsonKind(it))
			}
			o, err := newK8sObject(m, "")
			if err != nil {
				return nil, fmt.Errorf("%s item %d: %w", kind, j+1, err)
			}
			out = append(out, o)
		}
		return out, nil
	}
	o, err := newK8sObject(content, text)
	if err != nil {
		return nil, err
	}
	return []*k8sObject{o}, nil
}

// newK8sObject checks content's identity fields; text empty means encode content.
func newK8sObject(content map[string]any, text string) (*k8sObject, error) {
	for _, f := range []string{"name", "namespace"} {
		if v := lookup(content, "metadata", f); v != nil {
			if _, ok := v.(string); !ok {
				return nil, fmt.Errorf("metadata.%s is %s, want a string: quote it (YAML reads y, n, yes, no, on, off and numbers as other types)", f, jsonKind(v))
			}
		}
	}
	o := &k8sObject{Content: content}
	o.APIVersion, _ = content["apiVersion"].(string)
	o.Kind, _ = content["kind"].(string)
	o.Name, _ = lookup(content, "metadata", "name").(string)
	o.Namespace, _ = lookup(content, "metadata", "namespace").(string)
	switch {
	case o.APIVersion == "":
		return nil, fmt.Errorf("object has no apiVersion: every Kubernetes object needs apiVersion and kind")
	case o.Kind == "":
		return nil, fmt.Errorf("object has no kind: every Kubernetes object needs apiVersion and kind")
	case o.Name == "" && lookup(content, "metadata", "generateName") == nil:
		return nil, fmt.Errorf("%s has no metadata.name", o.Kind)
	}
	if text == "" {
		enc, err := encodeObjectYAML(content)
		if err != nil {
			return nil, err
		}
		text = enc
	}
	o.YAML = text
	return o, nil
}

// encodeObjectYAML encodes an object as one YAML document.
func encodeObjectYAML(content map[string]any) (string, error) {
	b, err := yaml.Marshal(content)
	if err != nil {
		return "", fmt.Errorf("encoding %v as YAML: %w", content["kind"], err)
	}
	return string(b), nil
}

// joinYAML joins objects into one YAML stream.
func joinYAML(objs []*k8sObject) string {
	var b strings.Builder
	for i, o := range objs {
		if i > 0 {
			b.WriteString("---\n")
		}
		text := o.YAML
		b.WriteString(text)
		if !strings.HasSuffix(text, "\n") {
			b.WriteString("\n")
		}
	}
	return b.String()
}

// lookup walks nested maps by keys; nil when a step is missing.
func lookup(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// stringMap converts a decoded map of strings; other values are skipped.
func stringMap(v any) map[string]string {
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

// podTemplateLabels returns the labels of each pod template in the object
// (Deployment/StatefulSet/DaemonSet/ReplicaSet/Job spec.template, CronJob
// spec.jobTemplate.spec.template, and any custom resource with a
// "template: {spec: {containers: [...]}}" shape). A bare Pod has no template.
func (o *k8sObject) podTemplateLabels() []map[string]string {
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
						if _, ok := lookup(t, "spec", "containers").([]any); ok {
							labels := stringMap(lookup(t, "metadata", "labels"))
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

// containerImages returns the image of every container, init container and
// ephemeral container in the object, in document order, duplicates kept once.
func (o *k8sObject) containerImages() []string {
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
func (o *k8sObject) serviceSelector() map[string]string {
	if !o.selectorDone {
		o.selectorDone = true
		if o.Kind == "Service" && o.group() == "" {
			o.selector = stringMap(lookup(o.Content, "spec", "selector"))
		}
	}
	return o.selector
}

// selectsPodsOf reports whether the Service o selects the pods of workload w,
// as Tilt decides it: a non-empty selector that is a subset of one of w's pod
// template labels, and o in w's namespace unless o is in "default" (or sets
// no namespace).
func (o *k8sObject) selectsPodsOf(w *k8sObject) bool {
	return o.selectsPods(w.podTemplateLabels(), w.namespaceOrDefault())
}

// selectsPods is selectsPodsOf for a workload's pod template labels and
// namespace, computed once by the caller.
func (o *k8sObject) selectsPods(templates []map[string]string, workloadNS string) bool {
	sel := o.serviceSelector()
	if len(sel) == 0 {
		return false
	}
	if ns := o.namespaceOrDefault(); ns != defaultNamespace && ns != workloadNS {
		return false
	}
	for _, labels := range templates {
		if labelsMatch(sel, labels) {
			return true
		}
	}
	return false
}

// labelsMatch reports whether every key of sel has the same value in labels.
func labelsMatch(sel, labels map[string]string) bool {
	for k, v := range sel {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// setNamespace sets metadata.namespace (and, as the namespace extension does,
// the namespace of pod templates and of ServiceAccount subjects) and
// re-encodes the object.
func (o *k8sObject) setNamespace(ns string, deep bool) error {
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
	enc, err := encodeObjectYAML(o.Content)
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
				if md, ok := lookup(e, "metadata").(map[string]any); ok {
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

// clusterScopedKinds are the built-in kinds that live outside namespaces;
// helm(namespace=) leaves them alone.
var clusterScopedKinds = map[string]bool{
	"Namespace": true, "Node": true, "PersistentVolume": true,
	"CustomResourceDefinition": true, "ClusterRole": true, "ClusterRoleBinding": true,
	"StorageClass": true, "PriorityClass": true, "IngressClass": true, "RuntimeClass": true,
	"MutatingWebhookConfiguration": true, "ValidatingWebhookConfiguration": true,
	"APIService": true, "CSIDriver": true, "CSINode": true, "VolumeAttachment": true,
	"ValidatingAdmissionPolicy": true, "ValidatingAdmissionPolicyBinding": true,
}

// maxInputFile bounds the files the Kubernetes builtins and extensions read
// (YAML, env files, ConfigMap sources): Kubernetes rejects objects over
// about 1.5 MB and etcd values over a few MB, so 64 MiB is far beyond any
// real input while still failing fast on a mistake like /dev/zero.
const maxInputFile = 64 << 20

// readInput reads a regular file of at most maxInputFile bytes. Devices,
// FIFOs and directories are refused instead of blocking or failing oddly.
func readInput(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		if fi.IsDir() {
			return nil, &fs.PathError{Op: "read", Path: p, Err: fmt.Errorf("is a directory")}
		}
		return nil, &fs.PathError{Op: "read", Path: p, Err: fmt.Errorf("not a regular file")}
	}
	data, err := io.ReadAll(io.LimitReader(f, maxInputFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxInputFile {
		return nil, fmt.Errorf("%s is larger than %d MiB", p, maxInputFile>>20)
	}
	return data, nil
}
