package devfile

import (
	"fmt"
	"sort"
	"strings"

	"go.starlark.net/syntax"
)

// model returns what evaluation recorded, before the Kubernetes half adds
// its resources (finishK8s) and finish completes and validates it.
func (s *state) model() (*Model, error) {
	m := &Model{
		Path:      s.mainPath,
		Resources: []Resource{},
		Images:    make([]Image, 0, len(s.images)),
		Cluster:   s.cluster,
		Settings:  s.settings,
	}
	m.Images = append(m.Images, s.images...)
	if len(s.env.changed) > 0 {
		m.Env = make(map[string]string, len(s.env.changed))
		for k, v := range s.env.changed {
			m.Env[k] = v
		}
	}
	return m, nil
}

// finish appends the local resources after the Kubernetes ones, applies
// the defaults (trigger mode, enabled resources), records dependencies and
// validates the whole model. Resources that finishK8s added may leave
// TriggerMode empty (meaning: the trigger_mode() default) and Enabled false
// (finish decides it).
func (s *state) finish(m *Model) error {
	for _, l := range s.locals {
		m.Resources = append(m.Resources, l.Resource)
	}
	// Warnings recorded in s.warnings (during evaluation or finishK8s)
	// come first, then those finishK8s put in m.Warnings.
	m.Warnings = append(append([]string(nil), s.warnings...), m.Warnings...)
	for i := range m.Resources {
		r := &m.Resources[i]
		if r.TriggerMode == "" {
			r.TriggerMode = s.settings.TriggerMode
			if r.TriggerMode == "" {
				r.TriggerMode = TriggerAuto
			}
		}
		normalizeResource(r)
	}
	for i := range m.Images {
		if m.Images[i].LiveUpdate == nil {
			m.Images[i].LiveUpdate = []LiveUpdateStep{}
		}
	}
	if err := s.validateResources(m); err != nil {
		return err
	}
	if err := s.applyEnabled(m); err != nil {
		return err
	}
	addBaseImages(m)
	s.warnUnusedImages(m)
	m.Dependencies = s.sortedDeps()
	return nil
}

func normalizeResource(r *Resource) {
	if r.Labels == nil {
		r.Labels = []string{}
	}
	if r.Links == nil {
		r.Links = []Link{}
	}
	if r.ResourceDeps == nil {
		r.ResourceDeps = []string{}
	}
	if r.Images == nil {
		r.Images = []string{}
	}
	if r.PortForwards == nil {
		r.PortForwards = []PortForward{}
	}
	if r.Objects == nil {
		r.Objects = []Object{}
	}
	if r.Local != nil && r.Local.Deps == nil {
		r.Local.Deps = []string{}
	}
}

// posOr returns p, or the first line of the main Devfile when p is unset.
func (s *state) posOr(p syntax.Position) syntax.Position {
	if p.IsValid() {
		return p
	}
	return syntax.MakePosition(&s.mainPath, 1, 1)
}

func quoted(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}

// validateResources checks names and resource_deps.
func (s *state) validateResources(m *Model) error {
	byName := map[string]int{}
	for i, r := range m.Resources {
		if j, ok := byName[r.Name]; ok {
			first := m.Resources[j]
			return errorAt(s.posOr(r.Pos), "resource %q is already defined (%s resource at %s): give each resource its own name (local_resource(name=) or k8s_resource(new_name=))",
				r.Name, first.Kind, s.posOr(first.Pos))
		}
		byName[r.Name] = i
	}
	names := make([]string, 0, len(m.Resources))
	for _, r := range m.Resources {
		names = append(names, r.Name)
	}
	sort.Strings(names)
	for _, r := range m.Resources {
		for _, d := range r.ResourceDeps {
			if _, ok := byName[d]; !ok {
				known := "there are no resources"
				if len(names) > 0 {
					known = "the resources are " + quoted(names)
				}
				return errorAt(s.posOr(r.Pos), "resource %q has resource_deps %q, which is not a resource: %s", r.Name, d, known)
			}
		}
	}
	// Cycles: depth-first search in declaration order.
	const (
		unvisited = iota
		onPath
		done
	)
	mark := make([]int, len(m.Resources))
	var path []int
	var visit func(i int) error
	visit = func(i int) error {
		mark[i] = onPath
		path = append(path, i)
		for _, d := range m.Resources[i].ResourceDeps {
			j := byName[d]
			switch mark[j] {
			case onPath:
				var cyc []string
				start := 0
				for k, p := range path {
					if p == j {
						start = k
					}
				}
				for _, p := range path[start:] {
					cyc = append(cyc, m.Resources[p].Name)
				}
				cyc = append(cyc, m.Resources[j].Name)
				return errorAt(s.posOr(m.Resources[j].Pos), "resource_deps form a cycle: %s: remove one of these dependencies", strings.Join(cyc, " -> "))
			case unvisited:
				if err := visit(j); err != nil {
					return err
				}
			}
		}
		path = path[:len(path)-1]
		mark[i] = done
		return nil
	}
	for i := range m.Resources {
		if mark[i] == unvisited {
			if err := visit(i); err != nil {
				return err
			}
		}
	}
	return nil
}

// applyEnabled decides Resource.Enabled as Tilt does: the resources that
// config.set_enabled_resources named, else (when config.parse was not
// called) the resources named by the args after --, else all; plus the
// resource_deps of each enabled resource, transitively.
func (s *state) applyEnabled(m *Model) error {
	want := s.enabled
	fromArgs := false
	if want == nil && !s.config.parseCalled && len(s.opts.Args) > 0 {
		want, fromArgs = s.opts.Args, true
	}
	if len(want) == 0 {
		for i := range m.Resources {
			m.Resources[i].Enabled = true
		}
		return nil
	}
	byName := map[string]int{}
	for i, r := range m.Resources {
		byName[r.Name] = i
	}
	var unknown []string
	var enable func(i int)
	enable = func(i int) {
		if m.Resources[i].Enabled {
			return
		}
		m.Resources[i].Enabled = true
		for _, d := range m.Resources[i].ResourceDeps {
			enable(byName[d])
		}
	}
	for _, name := range want {
		i, ok := byName[name]
		if !ok {
			unknown = append(unknown, name)
			continue
		}
		enable(i)
	}
	// As in Tilt, uncategorized stays enabled: it holds the Namespaces and
	// CRDs that the selected resources need.
	if i, ok := byName[uncategorizedName]; ok {
		m.Resources[i].Enabled = true
	}
	if len(unknown) > 0 {
		var names []string
		for _, r := range m.Resources {
			names = append(names, r.Name)
		}
		if fromArgs {
			return fmt.Errorf("args after -- name resources %s that the Devfile does not define (the resources are %s); without config.parse() in the Devfile, args select resources", quoted(unknown), quoted(names))
		}
		return errorAt(s.posOr(s.enabledPos), "config.set_enabled_resources names resources %s that the Devfile does not define: the resources are %s", quoted(unknown), quoted(names))
	}
	return nil
}

// addBaseImages appends to each resource's images, as Tilt does, the
// Devfile images they build from, transitively: those a Dockerfile names
// (DockerfileBases) and a custom_build's image_deps. Each base follows the
// image that needs it, depth first. A Dockerfile that cannot be read or
// parsed adds nothing here; the build reports it.
func addBaseImages(m *Model) {
	refs := map[string]bool{}
	for _, img := range m.Images {
		refs[img.Ref] = true
	}
	bases := map[string][]string{}
	for _, img := range m.Images {
		switch img.Kind {
		case ImageCustom:
			for _, d := range img.ImageDeps {
				if refs[d] && d != img.Ref {
					bases[img.Ref] = append(bases[img.Ref], d)
				}
			}
		default:
			names, err := DockerfileBases(img, m.Images)
			if err != nil {
				continue
			}
			for dep := range names {
				bases[img.Ref] = append(bases[img.Ref], dep)
			}
			sort.Strings(bases[img.Ref])
		}
	}
	for i := range m.Resources {
		r := &m.Resources[i]
		seen := map[string]bool{}
		var out []string
		var walk func(string)
		walk = func(ref string) {
			if seen[ref] {
				return
			}
			seen[ref] = true
			out = append(out, ref)
			for _, b := range bases[ref] {
				walk(b)
			}
		}
		for _, ref := range r.Images {
			walk(ref)
		}
		if len(out) > len(r.Images) {
			r.Images = out
		}
	}
}

// warnUnusedImages warns, as Tilt does, about images no resource deploys
// or builds from (addBaseImages put the bases in the resources first).
func (s *state) warnUnusedImages(m *Model) {
	used := map[string]bool{}
	for _, r := range m.Resources {
		for _, ref := range r.Images {
			used[ref] = true
		}
	}
	for _, img := range m.Images {
		for _, ref := range img.ImageDeps {
			used[ref] = true
		}
	}
	for _, ref := range m.Settings.SuppressUnusedImageWarnings {
		used[ref] = true
	}
	for _, img := range m.Images {
		if !used[img.Ref] {
			m.Warnings = append(m.Warnings, fmt.Sprintf("%s: image %q is not used by any resource: reference it in a workload's YAML (k8s_yaml), or silence this with update_settings(suppress_unused_image_warnings=[%q])", s.posOr(img.Pos), img.Ref, img.Ref))
		}
	}
}
