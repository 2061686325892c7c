package builder

import (
	"errors"
	"slices"
	"strings"

	"github.com/devloop-dev/devloop/devfile"
)

// Graph is the image-to-image dependency graph of a Devfile: image A
// depends on image B when A's Dockerfile builds FROM B, copies --from B,
// mounts from B, or passes B's ref as a build arg.
type Graph struct {
	// Deps maps an image ref to the refs it depends on, sorted.
	Deps map[string][]string
	// uses maps an image ref to the names under which its Dockerfile refers
	// to each dependency: the named contexts to set.
	uses map[string]map[string][]string
	// order is a topological order (dependencies first), ties in Devfile order.
	order []string
	// errs holds, per ref, why its Dockerfile could not be read or parsed:
	// that image fails to build, the others go on.
	errs map[string]error
}

// CycleError reports images that depend on each other.
type CycleError struct {
	// Cycle lists the refs along the cycle, the first repeated at the end.
	Cycle []string
}

func (e *CycleError) Error() string {
	return "image dependency cycle: " + strings.Join(e.Cycle, " → ") + ": an image cannot build FROM itself, directly or through another image"
}

// NewGraph reads the Dockerfiles of images and returns their dependency
// graph, or a *CycleError when images depend on each other. An image whose
// Dockerfile cannot be read or parsed has no dependencies in the graph,
// and BuildAll reports why.
func NewGraph(images []devfile.Image) (*Graph, error) {
	g := &Graph{Deps: map[string][]string{}, uses: map[string]map[string][]string{}, errs: map[string]error{}}
	for _, img := range images {
		g.Deps[img.Ref] = nil
		if img.Kind == devfile.ImageCustom {
			continue
		}
		names, err := devfile.DockerfileBases(img, images)
		if err != nil {
			g.errs[img.Ref] = err
			continue
		}
		for dep := range names {
			g.Deps[img.Ref] = append(g.Deps[img.Ref], dep)
		}
		slices.Sort(g.Deps[img.Ref])
		g.uses[img.Ref] = names
	}
	refs := make([]string, len(images))
	for i, img := range images {
		refs[i] = img.Ref
	}
	order, err := topoSort(refs, g.Deps)
	if err != nil {
		return nil, err
	}
	g.order = order
	return g, nil
}

// refErr returns why ref's Dockerfile could not be read or parsed, or nil.
func (g *Graph) refErr(ref string) error { return g.errs[ref] }

// inOrder returns the refs with every image after its dependencies.
func (g *Graph) inOrder() []string { return slices.Clone(g.order) }

// dependents returns the refs that depend on ref, directly or not, in build order.
func (g *Graph) dependents(ref string) []string {
	affected := map[string]bool{ref: true}
	var out []string
	for _, r := range g.order {
		for _, d := range g.Deps[r] {
			if affected[d] {
				affected[r] = true
				out = append(out, r)
				break
			}
		}
	}
	return out
}

// topoSort orders refs so that each comes after its deps (depth-first,
// keeping the given order among independent refs), or returns the first
// cycle found.
func topoSort(refs []string, deps map[string][]string) ([]string, error) {
	const (
		unvisited = iota
		visiting
		done
	)
	state := map[string]int{}
	var out, stack []string
	var visit func(string) error
	visit = func(r string) error {
		switch state[r] {
		case done:
			return nil
		case visiting:
			i := slices.Index(stack, r)
			return &CycleError{Cycle: append(slices.Clone(stack[i:]), r)}
		}
		state[r] = visiting
		stack = append(stack, r)
		for _, d := range deps[r] {
			if err := visit(d); err != nil {
				return err
			}
		}
		stack = stack[:len(stack)-1]
		state[r] = done
		out = append(out, r)
		return nil
	}
	for _, r := range refs {
		if err := visit(r); err != nil {
			return nil, err
		}
	}
	return out, nil
}

var errNoRegistry = errors.New("no registry to push to: the cluster has no kube-public/local-registry-hosting configmap and the Devfile sets no default_registry(); call default_registry('localhost:5001') or create the cluster with kind_cluster(registry=True)")
