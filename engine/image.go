package engine

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"go.starlark.net/syntax"

	"github.com/devloop-dev/devloop/builder"
	"github.com/devloop-dev/devloop/devfile"
	"github.com/devloop-dev/devloop/watch"
)

// Builder builds the Devfile's images (*builder.Builder): with refs, those,
// what they build from and what builds from them, in dependency order; an
// unchanged image is a no-op.
type Builder interface {
	BuildAll(ctx context.Context, images []devfile.Image, refs ...string) (map[string]builder.Result, error)
}

var _ Builder = (*builder.Builder)(nil)

// imageSet is what the loop knows of the model's images. It is read off
// the loop (it reads Dockerfiles and .dockerignore files): by Run before
// the loop starts and by the reload worker.
type imageSet struct {
	byRef map[string]devfile.Image
	// deps are each image's base images of the Devfile (FROM, build args).
	deps map[string][]string
	// roots are the trees whose changes rebuild each image: its context
	// (with .dockerignore, ignore= and only=) and its Dockerfile when that
	// is outside the context or left out by only=, or a custom_build's deps.
	roots    map[string][]watch.Root
	warnings []string
}

// readImages reads what the loop needs to know of m's images.
func readImages(m *devfile.Model) imageSet {
	s := imageSet{byRef: map[string]devfile.Image{}, deps: map[string][]string{}, roots: map[string][]watch.Root{}}
	for _, img := range m.Images {
		s.byRef[img.Ref] = img
		switch img.Kind {
		case devfile.ImageCustom:
			for _, d := range img.Deps {
				s.roots[img.Ref] = append(s.roots[img.Ref], watch.Root{Path: d, Ignore: img.Ignore})
			}
		default:
			ignore, err := watch.ReadIgnoreFile(filepath.Join(img.Context, ".dockerignore"))
			if err != nil {
				s.warnings = append(s.warnings, fmt.Sprintf("image %s: %v: its context is watched without it", img.Ref, err))
			}
			ignore = append(ignore, img.Ignore...)
			s.roots[img.Ref] = append(s.roots[img.Ref], watch.Root{Path: img.Context, Ignore: ignore, Only: img.Only})
			// The Dockerfile is watched even when only= leaves it out of the
			// context (BuildKit reads it apart from the context).
			if df := img.Dockerfile; df != "" && (!within(img.Context, df) || len(img.Only) > 0) {
				s.roots[img.Ref] = append(s.roots[img.Ref], watch.Root{Path: df})
			}
		}
	}
	if len(m.Images) > 0 {
		if g, err := builder.NewGraph(m.Images); err != nil {
			s.warnings = append(s.warnings, fmt.Sprintf("image dependencies: %v", err))
		} else {
			s.deps = g.Deps
		}
	}
	return s
}

// closure returns refs and the images they build from, each once, in
// first-seen order.
func (s imageSet) closure(refs []string) []string {
	var out []string
	seen := map[string]bool{}
	var walk func(string)
	walk = func(r string) {
		if seen[r] {
			return
		}
		seen[r] = true
		out = append(out, r)
		for _, d := range s.deps[r] {
			walk(d)
		}
	}
	for _, r := range refs {
		walk(r)
	}
	return out
}

// used returns the images spec builds, with their base images.
func (s imageSet) used(spec devfile.Resource) []devfile.Image {
	var out []devfile.Image
	for _, r := range s.closure(spec.Images) {
		img := s.byRef[r]
		img.Pos = syntax.Position{}
		out = append(out, img)
	}
	return out
}

// sameImages tells whether spec builds the same images in both sets.
func sameImages(a, b imageSet, spec devfile.Resource) bool {
	return reflect.DeepEqual(a.used(spec), b.used(spec))
}

// deployReference is the reference of a built image to put in manifests.
func deployReference(r builder.Result) string {
	switch {
	case r.ClusterReference != "":
		return r.ClusterReference
	case r.Reference != "":
		return r.Reference
	}
	return r.Image
}

// buildProgress shows a build's progress event in the log of the
// resource whose update builds the image ref (the first of them when
// several do: see buildLogs), in the global log when none does. Config.Kube
// gets it; it is safe from any goroutine.
func (e *Engine) buildProgress(ref string, ev builder.Progress) {
	var text string
	switch ev.Kind {
	case builder.ProgressMessage:
		text = ev.Message
	case builder.ProgressStep:
		switch {
		case !ev.Done && ev.Message != "":
			text = "▸ " + ev.Step + ": " + ev.Message
		case !ev.Done:
			text = "▸ " + ev.Step
		case ev.Error != "":
			text = fmt.Sprintf("✗ %s: %s", ev.Step, ev.Error)
		case ev.Cached:
			text = "✓ " + ev.Step + " (cached)"
		default:
			text = fmt.Sprintf("✓ %s (%s)", ev.Step, ev.Duration.Round(time.Millisecond))
		}
	case builder.ProgressLog:
		text = strings.TrimRight(string(ev.Log), "\n")
	}
	if text == "" {
		return
	}
	name := e.builds.shower(ref)
	if name == "" {
		e.logs.append("", ref+": "+text)
		return
	}
	for _, line := range strings.Split(text, "\n") {
		e.logs.append(name, line)
	}
}

// buildLogs says in whose log each image's build progress goes: one
// image used by several resources (db, api and web of one image) is
// built once, and its progress shown once, in the log of the first of
// them whose update builds it; the others say where it is. The loop
// claims the images when it starts an update (in Devfile order), the
// worker releases them when its build ends; buildProgress reads it from
// the builder's goroutines.
type buildLogs struct {
	mu sync.Mutex
	// claims are, per image ref, the updates building it, oldest first.
	claims map[string][]*buildClaim
}

// buildClaim is one update's claim on the images it builds.
type buildClaim struct {
	name string
	refs []string
}

// claim records that resource name's update builds refs (with their
// base images). It returns the claim, and which of refs another
// resource's log shows the progress of (ref → that resource).
func (b *buildLogs) claim(name string, refs []string) (*buildClaim, map[string]string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.claims == nil {
		b.claims = map[string][]*buildClaim{}
	}
	c := &buildClaim{name: name, refs: refs}
	elsewhere := map[string]string{}
	for _, ref := range refs {
		if cs := b.claims[ref]; len(cs) > 0 && cs[0].name != name {
			elsewhere[ref] = cs[0].name
		}
		b.claims[ref] = append(b.claims[ref], c)
	}
	return c, elsewhere
}

// release ends c: its images' progress goes to the next claim's log.
func (b *buildLogs) release(c *buildClaim) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, ref := range c.refs {
		cs := slices.DeleteFunc(b.claims[ref], func(x *buildClaim) bool { return x == c })
		if len(cs) == 0 {
			delete(b.claims, ref)
		} else {
			b.claims[ref] = cs
		}
	}
}

// shower is the resource whose log shows ref's progress, "" when no
// update builds it.
func (b *buildLogs) shower(ref string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if cs := b.claims[ref]; len(cs) > 0 {
		return cs[0].name
	}
	return ""
}
