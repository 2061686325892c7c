package devfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"

	"github.com/devloop-dev/devloop/devfile/internal/manifest"
)

// k8sState records what the Kubernetes builtins (k8s_yaml, k8s_resource, helm,
// kustomize, filter_yaml, workload_to_resource_function, ...) and the
// extensions were given; finishK8s turns it into resources.
type k8sState struct {
	// objects are the registered objects in k8s_yaml order; byKey indexes
	// them for duplicate detection.
	objects []*registeredObject
	byKey   map[objectKey]int
	// resourceOpts are the k8s_resource calls in call order.
	resourceOpts []*k8sResourceOpts
	// workloadFn is workload_to_resource_function's argument, or nil.
	workloadFn    starlark.Callable
	workloadFnPos syntax.Position
	// kinds are the k8s_kind declarations.
	kinds []k8sKind
	// restarts are the images of docker_build_with_restart and
	// custom_build_with_restart.
	restarts []restartMark
	// buttons are the cmd_button calls.
	buttons []buttonDecl
	// assembling is set while finishK8s runs: the workload naming function
	// may not register objects or resources any more.
	assembling bool
}

// errAssembling is returned by registering builtins called from the
// workload_to_resource_function function.
func errAssembling(fnName string) error {
	return fmt.Errorf("%s cannot be called from the workload_to_resource_function function: it runs after the Devfile, when resources are assembled", fnName)
}

// registeredObject is an object given to k8s_yaml and where.
type registeredObject struct {
	obj *manifest.Object
	pos syntax.Position
}

// objectKey identifies an object for duplicate detection, as Tilt does.
type objectKey struct{ apiVersion, kind, namespace, name string }

func keyOf(o *manifest.Object) objectKey {
	return objectKey{o.APIVersion, o.Kind, o.Namespace, o.Name}
}

// k8sResourceOpts is one k8s_resource call.
type k8sResourceOpts struct {
	pos syntax.Position
	// workload is the resource name the call refers to (new_name for a
	// resource made of objects only).
	workload string
	newName  string
	// manual is true when the call names no workload: it creates a resource
	// from objects.
	manual            bool
	portForwards      []PortForward
	extraPodSelectors []map[string]string
	triggerMode       TriggerMode
	resourceDeps      []string
	objects           []string
	autoInit          *bool
	labels            []string
	links             []Link
	podReadiness      string
	discoveryStrategy string
}

// k8sKind is a k8s_kind declaration: objects of this kind are workloads.
type k8sKind struct {
	sel          manifest.Selector
	imagePaths   [][]string
	podReadiness string
}

// restartMark asks finishK8s to mark an image as restarting on live update.
type restartMark struct {
	ref     string
	trigger []string
	pos     syntax.Position
}

// k8sBuiltins returns the Kubernetes builtins, bound to s.
func (s *state) k8sBuiltins() starlark.StringDict {
	fns := map[string]builtinFunc{
		"k8s_yaml":                      s.k8sYAML,
		"k8s_resource":                  s.k8sResource,
		"port_forward":                  portForwardBuiltin,
		"filter_yaml":                   s.filterYAML,
		"workload_to_resource_function": s.workloadToResourceFunction,
		"k8s_kind":                      s.k8sKindBuiltin,
		"k8s_image_json_path":           s.k8sImageJSONPath,
		"helm":                          s.helm,
		"kustomize":                     s.kustomize,
	}
	d := starlark.StringDict{}
	for name, fn := range fns {
		d[name] = starlark.NewBuiltin(name, fn)
	}
	return d
}

// k8sYAML implements k8s_yaml(yaml, allow_duplicates=False).
func (s *state) k8sYAML(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var v starlark.Value
	var allowDuplicates bool
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "yaml", &v, "allow_duplicates?", &allowDuplicates); err != nil {
		return nil, err
	}
	objs, err := s.objectsFromValue(thread, fn.Name(), v)
	if err != nil {
		return nil, err
	}
	if len(objs) == 0 {
		if b, ok := v.(*Blob); ok && strings.TrimSpace(b.Text) == "" {
			return nil, fmt.Errorf("%s: the YAML from %s is empty: pass a file, a list of files or YAML text", fn.Name(), b.Source)
		}
		if _, ok := v.(starlark.NoneType); ok {
			return nil, fmt.Errorf("%s: got None: pass a file, a list of files or YAML text", fn.Name())
		}
	}
	return starlark.None, s.registerObjects(thread, fn.Name(), objs, allowDuplicates)
}

// registerObjects adds objs to the state, rejecting duplicates unless allowed
// (a duplicate then replaces the earlier object in place).
func (s *state) registerObjects(thread *starlark.Thread, fnName string, objs []*manifest.Object, allowDuplicates bool) error {
	k := &s.k8s
	if k.assembling {
		return errAssembling(fnName)
	}
	if k.byKey == nil {
		k.byKey = map[objectKey]int{}
	}
	pos := callPos(thread)
	for _, o := range objs {
		key := keyOf(o)
		if i, ok := k.byKey[key]; ok {
			if !allowDuplicates {
				where := ""
				if o.Namespace != "" {
					where = fmt.Sprintf(" (namespace %s)", o.Namespace)
				}
				return fmt.Errorf("%s: duplicate YAML: %s %s%s was already registered at %s: remove one, or pass allow_duplicates=True to replace it",
					fnName, o.Kind, o.Name, where, k.objects[i].pos)
			}
			k.objects[i] = &registeredObject{obj: o, pos: pos}
			continue
		}
		k.byKey[key] = len(k.objects)
		k.objects = append(k.objects, &registeredObject{obj: o, pos: pos})
	}
	return nil
}

// objectsFromValue reads the objects of a k8s_yaml-style argument: a path, a
// Blob, or a list mixing them.
func (s *state) objectsFromValue(thread *starlark.Thread, fnName string, v starlark.Value) ([]*manifest.Object, error) {
	switch v := v.(type) {
	case nil, starlark.NoneType:
		return nil, nil
	case *Blob:
		objs, err := manifest.Parse(v.Text, blobSource(v))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", fnName, err)
		}
		return objs, nil
	case starlark.String:
		return s.objectsFromFile(thread, fnName, string(v))
	case *starlark.List, starlark.Tuple:
		var out []*manifest.Object
		it := v.(starlark.Iterable).Iterate()
		defer it.Done()
		var x starlark.Value
		for it.Next(&x) {
			switch x.(type) {
			case *Blob, starlark.String:
			default:
				return nil, fmt.Errorf("%s: list element %s is %s, want a path or a blob of YAML", fnName, x, x.Type())
			}
			objs, err := s.objectsFromValue(thread, fnName, x)
			if err != nil {
				return nil, err
			}
			out = append(out, objs...)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%s: got %s, want a path, a list of paths, or a blob of YAML (from read_file, local, helm or kustomize)", fnName, v.Type())
}

func blobSource(b *Blob) string {
	if b.Source != "" {
		return b.Source
	}
	return "blob"
}

// objectsFromFile reads and parses a YAML file, recording it as a dependency.
func (s *state) objectsFromFile(thread *starlark.Thread, fnName, p string) ([]*manifest.Object, error) {
	if p == "" {
		return nil, fmt.Errorf("%s: empty path: name a YAML file", fnName)
	}
	abs := s.absPath(thread, p)
	s.addDep(abs)
	data, err := manifest.ReadFile(abs)
	if err != nil {
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("%s: %s: no such file (looked for %s): check the path, which is relative to the directory of the file that calls %s", fnName, p, abs, fnName)
		case isDir(abs):
			return nil, fmt.Errorf("%s: %s is a directory: name the YAML files in it (listdir() lists them) or use kustomize()", fnName, p)
		}
		return nil, fmt.Errorf("%s: reading %s: %w", fnName, p, err)
	}
	objs, err := manifest.Parse(string(data), s.rel(abs))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fnName, err)
	}
	return objs, nil
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// k8sResource implements k8s_resource(workload="", new_name="",
// port_forwards=[], extra_pod_selectors=[], trigger_mode=, resource_deps=[],
// objects=[], auto_init=True, labels=[], links=[], pod_readiness="",
// discovery_strategy=""). Options are applied after evaluation, in call
// order, so k8s_resource may come before the k8s_yaml it refers to.
func (s *state) k8sResource(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var workload, newName, podReadiness, discovery string
	var portForwards, extraPodSelectors, triggerMode, resourceDeps, objects, labels, links starlark.Value
	var autoInit starlark.Value
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs,
		"workload?", &workload,
		"new_name?", &newName,
		"port_forwards?", &portForwards,
		"extra_pod_selectors?", &extraPodSelectors,
		"trigger_mode?", &triggerMode,
		"resource_deps?", &resourceDeps,
		"objects?", &objects,
		"auto_init?", &autoInit,
		"pod_readiness?", &podReadiness,
		"links?", &links,
		"labels?", &labels,
		"discovery_strategy?", &discovery,
	); err != nil {
		return nil, err
	}
	if strings.HasSuffix(newName, ".yaml") || strings.HasSuffix(newName, ".yml") {
		// Tilt's old k8s_resource(name, yaml) form; the second argument is
		// now new_name.
		return nil, fmt.Errorf("%s: new_name %q looks like a YAML file: register YAML with k8s_yaml(%q) and name the workload in k8s_resource (the old k8s_resource(name, yaml) form is gone, as in Tilt)", fn.Name(), newName, newName)
	}
	if s.k8s.assembling {
		return nil, errAssembling(fn.Name())
	}
	o := &k8sResourceOpts{pos: callPos(thread), workload: workload, newName: newName}
	if workload == "" {
		o.workload, o.manual = newName, true
	}
	if o.workload == "" {
		return nil, fmt.Errorf("%s: no resource named: pass the workload's resource name, or new_name= and objects= to make a resource of other objects", fn.Name())
	}
	var err error
	if o.portForwards, err = portForwardsFromValue(portForwards); err != nil {
		return nil, fmt.Errorf("%s %q: %w", fn.Name(), o.workload, err)
	}
	if o.extraPodSelectors, err = podSelectorsFromValue(extraPodSelectors); err != nil {
		return nil, fmt.Errorf("%s %q: %w", fn.Name(), o.workload, err)
	}
	if o.triggerMode, _, err = triggerModeFromValue(triggerMode); err != nil {
		return nil, fmt.Errorf("%s %q: %w", fn.Name(), o.workload, err)
	}
	if o.resourceDeps, err = stringsFromValue("resource_deps", resourceDeps); err != nil {
		return nil, fmt.Errorf("%s %q: %w", fn.Name(), o.workload, err)
	}
	if o.objects, err = stringsFromValue("objects", objects); err != nil {
		return nil, fmt.Errorf("%s %q: %w", fn.Name(), o.workload, err)
	}
	if o.labels, err = labelsFromValue(labels); err != nil {
		return nil, fmt.Errorf("%s %q: %w", fn.Name(), o.workload, err)
	}
	if o.links, err = linksFromValue(links); err != nil {
		return nil, fmt.Errorf("%s %q: %w", fn.Name(), o.workload, err)
	}
	switch v := autoInit.(type) {
	case nil, starlark.NoneType:
	case starlark.Bool:
		b := bool(v)
		o.autoInit = &b
	default:
		return nil, fmt.Errorf("%s %q: auto_init: got %s, want True or False", fn.Name(), o.workload, autoInit.Type())
	}
	switch podReadiness {
	case "", "wait", "ignore", "succeeded":
		o.podReadiness = podReadiness
	default:
		return nil, fmt.Errorf("%s %q: pod_readiness: %q is not one of \"wait\", \"ignore\", \"succeeded\"", fn.Name(), o.workload, podReadiness)
	}
	switch discovery {
	case "", "default", "selectors-only":
		o.discoveryStrategy = discovery
	default:
		return nil, fmt.Errorf("%s %q: discovery_strategy: %q is not one of \"default\", \"selectors-only\"", fn.Name(), o.workload, discovery)
	}
	if o.manual && len(o.objects) == 0 {
		return nil, fmt.Errorf("%s: new_name=%q names no workload and no objects: pass workload= to configure a workload's resource, or objects=['name:kind'] to group other objects under the new name", fn.Name(), newName)
	}
	s.k8s.resourceOpts = append(s.k8s.resourceOpts, o)
	return starlark.None, nil
}

// podSelectorsFromValue converts extra_pod_selectors: a dict or a list of dicts.
func podSelectorsFromValue(v starlark.Value) ([]map[string]string, error) {
	switch v := v.(type) {
	case nil, starlark.NoneType:
		return nil, nil
	case *starlark.Dict:
		m, err := stringMapFromValue("extra_pod_selectors", v)
		if err != nil || m == nil {
			return nil, err
		}
		return []map[string]string{m}, nil
	case *starlark.List, starlark.Tuple:
		var out []map[string]string
		it := v.(starlark.Iterable).Iterate()
		defer it.Done()
		var x starlark.Value
		for it.Next(&x) {
			d, ok := x.(*starlark.Dict)
			if !ok {
				return nil, fmt.Errorf("extra_pod_selectors: element %s is %s, want a dict of labels", x, x.Type())
			}
			m, err := stringMapFromValue("extra_pod_selectors", d)
			if err != nil {
				return nil, err
			}
			if m != nil {
				out = append(out, m)
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("extra_pod_selectors: got %s, want a dict of labels or a list of them", v.Type())
}

// filterYAML implements filter_yaml(yaml, labels=None, name="", namespace="",
// kind="", api_version=""), returning (matching, rest) blobs. name, namespace,
// kind and api_version are matched as manifest.Selector describes; every
// label given must be among the object's metadata labels.
func (s *state) filterYAML(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var v, labelsV starlark.Value
	var name, namespace, kind, apiVersion string
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs,
		"yaml", &v, "labels?", &labelsV, "name?", &name, "namespace?", &namespace,
		"kind?", &kind, "api_version?", &apiVersion); err != nil {
		return nil, err
	}
	labels, err := stringMapFromValue("labels", labelsV)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn.Name(), err)
	}
	sel, err := manifest.NewSelector(apiVersion, kind, name, namespace)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn.Name(), err)
	}
	objs, err := s.objectsFromValue(thread, fn.Name(), v)
	if err != nil {
		return nil, err
	}
	var match, rest []*manifest.Object
	for _, o := range objs {
		if sel.Matches(o) && manifest.LabelsMatch(labels, o.Labels()) {
			match = append(match, o)
		} else {
			rest = append(rest, o)
		}
	}
	source := fn.Name()
	if b, ok := v.(*Blob); ok && b.Source != "" {
		source = b.Source
	}
	return starlark.Tuple{
		&Blob{Text: manifest.Join(match), Source: source},
		&Blob{Text: manifest.Join(rest), Source: source},
	}, nil
}

// workloadToResourceFunction implements workload_to_resource_function(fn):
// fn receives each workload (an object with name, kind, namespace, group and
// labels) and returns its resource name.
func (s *state) workloadToResourceFunction(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var f starlark.Callable
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "func", &f); err != nil {
		return nil, err
	}
	if sf, ok := f.(*starlark.Function); ok && sf.NumParams() != 1 {
		return nil, fmt.Errorf("%s: %s takes %d parameters, want 1 (the workload: its name, kind, namespace, group and labels)", fn.Name(), sf.Name(), sf.NumParams())
	}
	s.k8s.workloadFn = f
	s.k8s.workloadFnPos = callPos(thread)
	return starlark.None, nil
}

// k8sKindBuiltin implements k8s_kind(kind, image_json_path=, api_version=,
// pod_readiness=): objects of that kind are workloads; image_json_path
// ("{.spec.image}" or a list) names where their images are.
func (s *state) k8sKindBuiltin(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var kind, apiVersion, podReadiness string
	var paths, imageObject starlark.Value
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "kind", &kind,
		"image_json_path?", &paths, "api_version?", &apiVersion,
		"image_object?", &imageObject, "pod_readiness?", &podReadiness); err != nil {
		return nil, err
	}
	if kind == "" {
		return nil, fmt.Errorf("%s: kind is empty: name the kind whose objects are workloads, e.g. k8s_kind(\"Rollout\")", fn.Name())
	}
	if imageObject != nil && imageObject != starlark.None {
		return nil, fmt.Errorf("%s: image_object is not supported by devloop: use image_json_path to name the field holding the full image reference", fn.Name())
	}
	switch podReadiness {
	case "", "wait", "ignore", "succeeded":
	default:
		return nil, fmt.Errorf("%s: pod_readiness: %q is not one of \"wait\", \"ignore\", \"succeeded\"", fn.Name(), podReadiness)
	}
	ps, err := stringsFromValue("image_json_path", paths)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn.Name(), err)
	}
	sel, err := manifest.NewSelector(apiVersion, kind, "", "")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn.Name(), err)
	}
	k := k8sKind{sel: sel, podReadiness: podReadiness}
	for _, p := range ps {
		path, err := manifest.ParseJSONPath(p)
		if err != nil {
			return nil, fmt.Errorf("%s: image_json_path: %w", fn.Name(), err)
		}
		k.imagePaths = append(k.imagePaths, path)
	}
	s.k8s.kinds = append(s.k8s.kinds, k)
	return starlark.None, nil
}

// k8sImageJSONPath implements k8s_image_json_path(paths, api_version="",
// kind="", name="", namespace=""): objects that match (as filter_yaml
// matches) are workloads whose images are at paths.
func (s *state) k8sImageJSONPath(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var paths starlark.Value
	var apiVersion, kind, name, namespace string
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "paths", &paths,
		"api_version?", &apiVersion, "kind?", &kind, "name?", &name, "namespace?", &namespace); err != nil {
		return nil, err
	}
	if kind == "" && name == "" && namespace == "" {
		return nil, fmt.Errorf("%s: pass at least one of kind=, name= or namespace= to say which objects the paths apply to", fn.Name())
	}
	sel, err := manifest.NewSelector(apiVersion, kind, name, namespace)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn.Name(), err)
	}
	ps, err := stringsFromValue("paths", paths)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn.Name(), err)
	}
	if len(ps) == 0 {
		return nil, fmt.Errorf("%s: paths is empty: name where the image is, e.g. \"{.spec.image}\"", fn.Name())
	}
	k := k8sKind{sel: sel}
	for _, p := range ps {
		path, err := manifest.ParseJSONPath(p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", fn.Name(), err)
		}
		k.imagePaths = append(k.imagePaths, path)
	}
	s.k8s.kinds = append(s.k8s.kinds, k)
	return starlark.None, nil
}

// sortedNames returns the names of m sorted, for error messages.
func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// workloadValue is what workload_to_resource_function's function receives.
type workloadValue struct{ o *manifest.Object }

var _ starlark.HasAttrs = workloadValue{}

func newWorkloadValue(o *manifest.Object) workloadValue { return workloadValue{o} }

func (w workloadValue) String() string        { return fmt.Sprintf("workload(%q)", w.o.ID()) }
func (w workloadValue) Type() string          { return "K8sObjectID" }
func (w workloadValue) Freeze()               {}
func (w workloadValue) Truth() starlark.Bool  { return true }
func (w workloadValue) Hash() (uint32, error) { return starlark.String(w.o.ID()).Hash() }

// Attr exposes name, kind, namespace ("default" when unset, as in Tilt),
// group ("" for the core group) and labels (a dict).
func (w workloadValue) Attr(name string) (starlark.Value, error) {
	switch name {
	case "name":
		return starlark.String(w.o.Name), nil
	case "kind":
		return starlark.String(w.o.Kind), nil
	case "namespace":
		return starlark.String(w.o.NamespaceOrDefault()), nil
	case "group":
		return starlark.String(w.o.Group()), nil
	case "labels":
		d := starlark.NewDict(0)
		labels := w.o.Labels()
		for _, k := range sortedNames(labels) {
			_ = d.SetKey(starlark.String(k), starlark.String(labels[k]))
		}
		d.Freeze()
		return d, nil
	}
	return nil, nil
}

// AttrNames lists the attributes of a workload.
func (w workloadValue) AttrNames() []string {
	return []string{"group", "kind", "labels", "name", "namespace"}
}
