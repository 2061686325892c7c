package devfile

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/distribution/reference"
	"go.starlark.net/starlark"
	"go.starlark.net/syntax"

	"github.com/devloop-dev/devloop/devfile/internal/manifest"
)

// uncategorizedName is the resource that holds the objects no workload
// claims (Tilt's name): Namespaces, CRDs, ConfigMaps, Secrets, ...
const uncategorizedName = "uncategorized"

// k8sRes is a Kubernetes resource being assembled.
type k8sRes struct {
	name    string
	objects []*registeredObject
	// workload is false for resources made only of objects= (and for
	// uncategorized).
	workload bool
	// pos is where the resource was declared: its first k8s_resource call,
	// else the k8s_yaml call that registered its workload.
	pos               syntax.Position
	configured        bool
	portForwards      []PortForward
	extraPodSelectors []map[string]string
	triggerMode       TriggerMode
	autoInit          bool
	resourceDeps      []string
	labels            []string
	links             []Link
	podReadiness      string
	discoveryStrategy string
}

// finishK8s turns the recorded Kubernetes calls into resources of m (after
// evaluation, before validation), matching m.Images to workloads. Workload
// resources come in YAML order, then those k8s_resource made of objects,
// then uncategorized; finish appends the local resources after them.
func (s *state) finishK8s(m *Model) error {
	s.k8s.assembling = true
	declared := make([]manifest.DeclaredImage, len(m.Images))
	for i, img := range m.Images {
		declared[i] = manifest.DeclaredImage{Ref: img.Ref, MatchInEnvVars: img.MatchInEnvVars}
	}
	matcher := manifest.NewImageMatcher(declared)
	a := &assembler{s: s, m: m, matcher: matcher, byName: map[string]*k8sRes{}}
	res, uncategorized, err := a.assemble()
	if err != nil {
		return err
	}
	out := make([]Resource, 0, len(res)+len(m.Resources)+1)
	for _, r := range res {
		out = append(out, a.modelResource(r))
	}
	out = append(out, m.Resources...)
	if uncategorized != nil {
		out = append(out, a.modelResource(uncategorized))
	}
	m.Resources = out
	if err := s.finishRestarts(m); err != nil {
		return err
	}
	return s.finishButtons(m)
}

// assembler groups the registered objects into resources.
type assembler struct {
	s       *state
	m       *Model
	matcher manifest.ImageMatcher
	res     []*k8sRes
	byName  map[string]*k8sRes
	// unresourced are the objects no resource holds yet, in YAML order.
	unresourced []*registeredObject
	// owner tells which resource holds an object.
	owner map[*registeredObject]*k8sRes
}

func (a *assembler) assemble() ([]*k8sRes, *k8sRes, error) {
	a.owner = map[*registeredObject]*k8sRes{}
	var workloads []*registeredObject
	for _, ro := range a.s.k8s.objects {
		if a.isWorkload(ro) {
			workloads = append(workloads, ro)
		} else {
			a.unresourced = append(a.unresourced, ro)
		}
	}
	names, err := a.resourceNames(workloads)
	if err != nil {
		return nil, nil, err
	}
	for i, w := range workloads {
		if _, dup := a.byName[names[i]]; dup {
			return nil, nil, errorAt(a.s.k8s.workloadFnPos, "workload_to_resource_function: two workloads map to resource name %q: return distinct names", names[i])
		}
		r := a.newRes(names[i], w.pos)
		r.workload = true
		a.take(r, w)
		a.takeServices(r, w.obj)
	}
	// Objects with a pod template but no image (rare: images set by an
	// admission webhook) become resources by name, as in Tilt.
	for _, o := range append([]*registeredObject(nil), a.unresourced...) {
		if a.owner[o] != nil || len(o.obj.PodTemplateLabels()) == 0 {
			continue
		}
		r := a.byName[o.obj.Name]
		if r == nil {
			r = a.newRes(o.obj.Name, o.pos)
			r.workload = true
		}
		a.take(r, o)
		a.takeServices(r, o.obj)
	}
	if err := a.applyOptions(); err != nil {
		return nil, nil, err
	}
	var uncategorized *k8sRes
	if len(a.unresourced) > 0 {
		uncategorized = &k8sRes{name: uncategorizedName, objects: a.unresourced, autoInit: true, podReadiness: "ignore", pos: a.unresourced[0].pos}
	}
	return a.res, uncategorized, nil
}

func (a *assembler) newRes(name string, pos syntax.Position) *k8sRes {
	r := &k8sRes{name: name, pos: pos, autoInit: true}
	a.res = append(a.res, r)
	a.byName[name] = r
	return r
}

// takeServices moves the unresourced Services that select w's pods into r.
func (a *assembler) takeServices(r *k8sRes, w *manifest.Object) {
	templates := w.PodTemplateLabels()
	if len(templates) == 0 {
		return
	}
	for _, o := range append([]*registeredObject(nil), a.unresourced...) {
		if o.obj.SelectsPods(templates, w.NamespaceOrDefault()) {
			a.take(r, o)
		}
	}
}

// take moves o from the unresourced objects into r.
func (a *assembler) take(r *k8sRes, o *registeredObject) {
	r.objects = append(r.objects, o)
	a.owner[o] = r
	for i, u := range a.unresourced {
		if u == o {
			a.unresourced = append(a.unresourced[:i], a.unresourced[i+1:]...)
			break
		}
	}
}

// images returns the image references of o: its containers' images, the
// k8s_kind image paths of its kind, and env var values that match images
// declared with match_in_env_vars.
func (a *assembler) images(o *manifest.Object) []string {
	out := o.ContainerImages()
	seen := map[string]bool{}
	for _, r := range out {
		seen[r] = true
	}
	for _, k := range a.s.k8s.kinds {
		if !k.sel.Matches(o) {
			continue
		}
		for _, p := range k.imagePaths {
			for _, r := range manifest.ExtractPath(o.Content, p) {
				if !seen[r] {
					seen[r] = true
					out = append(out, r)
				}
			}
		}
	}
	for _, v := range o.ContainerEnvValues() {
		if !seen[v] && a.matcher.MatchEnv(v) != "" {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// isWorkload tells whether o gets a resource of its own: it names an image
// (any image, not only built ones), it is a Job or CronJob, or its kind was
// declared with k8s_kind. An image that is not a valid reference (Tilt fails
// on it) still makes a workload and gets a warning: custom resources may
// hold references in other syntaxes ("ko://...").
func (a *assembler) isWorkload(ro *registeredObject) bool {
	o := ro.obj
	imgs := a.images(o)
	for _, img := range imgs {
		if _, err := reference.ParseNormalizedNamed(img); err != nil {
			a.m.Warnings = append(a.m.Warnings, fmt.Sprintf("%s: %s %s: image %q is not a valid image reference (%v): it matches no docker_build or custom_build", ro.pos, o.Kind, o.Name, img, err))
		}
	}
	for _, k := range a.s.k8s.kinds {
		if k.sel.Matches(o) {
			return true
		}
	}
	if o.Group() == "batch" && (o.Kind == "Job" || o.Kind == "CronJob") {
		return true
	}
	return len(imgs) > 0
}

// resourceNames names workloads: workload_to_resource_function's answers,
// or the shortest unique of name, name:kind, name:kind:namespace and
// name:kind:namespace:group (lower case), as Tilt does.
func (a *assembler) resourceNames(workloads []*registeredObject) ([]string, error) {
	if a.s.k8s.workloadFn == nil {
		objs := make([]*manifest.Object, len(workloads))
		for i, w := range workloads {
			objs[i] = w.obj
		}
		return manifest.UniqueNames(objs), nil
	}
	thread := &starlark.Thread{Name: "workload_to_resource_function", Print: a.s.print}
	thread.SetLocal(stateKey, a.s)
	b := bound(context.Background(), thread, a.s.opts)
	defer b.stop()
	out := make([]string, len(workloads))
	taken := map[string]*manifest.Object{}
	for i, w := range workloads {
		v, err := starlark.Call(thread, a.s.k8s.workloadFn, starlark.Tuple{newWorkloadValue(w.obj)}, nil)
		if err != nil {
			if why := b.reason(thread); why != "" {
				return nil, errorAt(a.s.k8s.workloadFnPos, "workload_to_resource_function: naming %s: %s", quoteID(w.obj), why)
			}
			return nil, errorAt(a.s.k8s.workloadFnPos, "workload_to_resource_function: naming %s: %v", quoteID(w.obj), err)
		}
		name, ok := starlark.AsString(v)
		if !ok || name == "" {
			return nil, errorAt(a.s.k8s.workloadFnPos, "workload_to_resource_function: naming %s: the function returned %s, want a non-empty string", quoteID(w.obj), v)
		}
		if other, ok := taken[name]; ok {
			return nil, errorAt(a.s.k8s.workloadFnPos, "workload_to_resource_function: both %s and %s map to resource name %q: return distinct names", quoteID(other), quoteID(w.obj), name)
		}
		taken[name] = w.obj
		out[i] = name
	}
	return out, nil
}

// applyOptions applies the k8s_resource calls in call order.
func (a *assembler) applyOptions() error {
	// Fragments are computed once, over every object, as in Tilt.
	fragments := map[string][]*registeredObject{}
	var all []string
	for _, ro := range a.s.k8s.objects {
		for _, n := range manifest.PotentialNames(ro.obj) {
			fragments[n] = append(fragments[n], ro)
		}
		all = append(all, quoteID(ro.obj))
	}
	for _, o := range a.s.k8s.resourceOpts {
		if o.manual {
			if err := a.checkConflict(o.workload); err != nil {
				return errorAt(o.pos, "k8s_resource: new_name=%q: %v", o.workload, err)
			}
			r := a.newRes(o.workload, o.pos)
			r.pos = o.pos
		}
		r := a.byName[o.workload]
		if r == nil {
			return errorAt(o.pos, "%s", a.unknownWorkload(o.workload))
		}
		if !r.configured {
			// Later errors about the resource (resource_deps) name the
			// k8s_resource call rather than the YAML.
			r.configured, r.pos = true, o.pos
		}
		r.portForwards = append(r.portForwards, o.portForwards...)
		r.extraPodSelectors = append(r.extraPodSelectors, o.extraPodSelectors...)
		if o.triggerMode != "" {
			r.triggerMode = o.triggerMode
		}
		if o.autoInit != nil {
			r.autoInit = *o.autoInit
		}
		r.resourceDeps = append(r.resourceDeps, o.resourceDeps...)
		r.labels = append(r.labels, o.labels...)
		r.links = append(r.links, o.links...)
		if o.podReadiness != "" {
			r.podReadiness = o.podReadiness
		}
		if o.discoveryStrategy != "" {
			r.discoveryStrategy = o.discoveryStrategy
		}
		if !o.manual && o.newName != "" && o.newName != r.name {
			if err := a.checkConflict(o.newName); err != nil {
				return errorAt(o.pos, "k8s_resource: renaming %q to %q: %v", r.name, o.newName, err)
			}
			delete(a.byName, r.name)
			r.name = o.newName
			a.byName[r.name] = r
		}
		for _, frag := range o.objects {
			matches := fragments[strings.ToLower(frag)]
			switch {
			case len(matches) == 0:
				return errorAt(o.pos, "k8s_resource %q: objects: no object matches %q: write name, name:kind or name:kind:namespace; the objects are %s", r.name, frag, strings.Join(all, ", "))
			case len(matches) > 1:
				ids := make([]string, len(matches))
				for i, ro := range matches {
					ids[i] = quoteID(ro.obj)
				}
				return errorAt(o.pos, "k8s_resource %q: objects: %q matches %d objects (%s): add the kind and namespace to pick one", r.name, frag, len(matches), strings.Join(ids, ", "))
			}
			ro := matches[0]
			if owner := a.owner[ro]; owner != nil {
				if owner == r {
					continue
				}
				return errorAt(o.pos, "k8s_resource %q: objects: %s already belongs to resource %q (workloads and the Services that select them are grouped automatically); objects= takes only objects that would be in %q", r.name, quoteID(ro.obj), owner.name, uncategorizedName)
			}
			a.take(r, ro)
		}
	}
	return nil
}

func quoteID(o *manifest.Object) string { return fmt.Sprintf("%q", o.ID()) }

// checkConflict fails when name is already a resource (k8s or local).
func (a *assembler) checkConflict(name string) error {
	if _, ok := a.byName[name]; ok {
		return fmt.Errorf("a Kubernetes resource named %q already exists: pick another name", name)
	}
	if a.s.localNamed(name) {
		return fmt.Errorf("a local resource named %q already exists: pick another name", name)
	}
	return nil
}

// unknownWorkload explains a k8s_resource call whose name matches nothing.
func (a *assembler) unknownWorkload(name string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "k8s_resource: no Kubernetes workload resource named %q", name)
	if a.s.localNamed(name) {
		fmt.Fprintf(&b, " (%q is a local_resource; k8s_resource configures Kubernetes resources only)", name)
	}
	lower := strings.ToLower(name)
	var similar []string
	for n := range a.byName {
		if strings.HasPrefix(n, lower+":") {
			similar = append(similar, n)
		}
	}
	sort.Strings(similar)
	if _, ok := a.byName[lower]; ok && lower != name {
		fmt.Fprintf(&b, "; resource names are lower case: did you mean %q?", lower)
	} else if len(similar) > 0 {
		fmt.Fprintf(&b, "; names that collide get the kind and namespace added: did you mean %s?", strings.Join(quoteAll(similar), " or "))
	}
	if len(a.byName) == 0 {
		b.WriteString("; there are no Kubernetes workloads: register their YAML with k8s_yaml() first (k8s_resource(new_name=..., objects=[...]) groups objects that are not workloads)")
	} else {
		fmt.Fprintf(&b, "; the Kubernetes resources are %s", strings.Join(quoteAll(sortedNames(a.byName)), ", "))
	}
	return b.String()
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}

// modelResource converts an assembled resource.
func (a *assembler) modelResource(r *k8sRes) Resource {
	mr := Resource{
		Name:         r.name,
		Kind:         KindK8s,
		Labels:       sortedUnique(r.labels),
		Links:        nonNil(r.links),
		ResourceDeps: uniqueInOrder(r.resourceDeps),
		TriggerMode:  r.triggerMode,
		AutoInit:     r.autoInit,
		Images:       []string{},
		PortForwards: []PortForward{},
		Objects:      make([]Object, 0, len(r.objects)),
		Pos:          r.pos,
	}
	seen := map[string]bool{}
	var ports []int
	podReadiness := r.podReadiness
	for _, ro := range r.objects {
		o := ro.obj
		mr.Objects = append(mr.Objects, Object{APIVersion: o.APIVersion, Kind: o.Kind, Name: o.Name, Namespace: o.Namespace, YAML: o.YAML})
		for _, img := range a.images(ro.obj) {
			if ref := a.matcher.Match(img); ref != "" && !seen[ref] {
				seen[ref] = true
				mr.Images = append(mr.Images, ref)
			}
		}
		ports = append(ports, ro.obj.ContainerPorts()...)
		if podReadiness == "" && r.workload {
			podReadiness = a.inferredReadiness(ro.obj)
		}
	}
	sort.SliceStable(mr.Objects, func(i, j int) bool {
		return manifest.ApplyRank(mr.Objects[i].Kind) < manifest.ApplyRank(mr.Objects[j].Kind)
	})
	for _, pf := range r.portForwards {
		if pf.Container == 0 {
			pf.Container = manifest.ResolveContainerPort(pf.Local, ports)
		}
		mr.PortForwards = append(mr.PortForwards, pf)
	}
	if podReadiness == "" && !r.workload {
		podReadiness = "ignore"
	}
	mr.K8s = &K8sSpec{ExtraPodSelectors: r.extraPodSelectors, PodReadiness: podReadiness, DiscoveryStrategy: r.discoveryStrategy}
	return mr
}

// inferredReadiness is what Tilt infers for a workload kind: Jobs are ready
// when they succeed, CronJobs are not waited for, k8s_kind may say.
func (a *assembler) inferredReadiness(o *manifest.Object) string {
	for _, k := range a.s.k8s.kinds {
		if k.sel.Matches(o) && k.podReadiness != "" {
			return k.podReadiness
		}
	}
	if o.Group() == "batch" {
		switch o.Kind {
		case "Job":
			return "succeeded"
		case "CronJob":
			return "ignore"
		}
	}
	return ""
}

func sortedUnique(ss []string) []string {
	out := uniqueInOrder(ss)
	sort.Strings(out)
	return out
}

func uniqueInOrder(ss []string) []string {
	out := []string{}
	seen := map[string]bool{}
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// localNamed reports whether a local_resource has this name.
func (s *state) localNamed(name string) bool {
	for _, l := range s.locals {
		if l.Name == name {
			return true
		}
	}
	return false
}
