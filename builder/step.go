package builder

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/devloop-dev/devloop/devfile"
	"github.com/devloop-dev/devloop/kube/localregistry"
)

// plan is one image build with its inputs hashed: what it produces, and
// what running it needs. Planning is cheap (a content hash, no BuildKit).
type plan struct {
	img  devfile.Image
	hash string // content digest of every input
	repo string // where the image goes, e.g. localhost:5001/app
	tag  string
	// image is repo:tag, the name the build produces ($EXPECTED_REF).
	image string
	// push is false for a custom_build with disable_push: the image stays
	// where the command put it and is deployed by tag.
	push bool
	// docker is what a docker_build hands BuildKit; nil for custom_build.
	docker *dockerPlan
	// deps are the results of the Devfile images this one builds FROM.
	deps map[string]Result
}

// step builds one planned image. The real step (runStep) runs BuildKit or
// the custom_build command; noopCache wraps it to skip unchanged inputs.
type step interface {
	build(ctx context.Context, p *plan) (Result, error)
}

// runStep always builds: BuildKit for docker_build, the command for
// custom_build.
type runStep struct{ b *Builder }

func (s runStep) build(ctx context.Context, p *plan) (Result, error) {
	if p.docker != nil {
		return s.b.runDocker(ctx, p)
	}
	return s.b.runCustom(ctx, p)
}

// noopCache is a step that skips its inner step when a plan's inputs hash
// the same as those of an earlier successful build whose image is still
// there: in the registry with the same digest or, for an image that is not
// pushed, in docker's image store with the same ID. It remembers builds in
// a file, so the skip works across devloop restarts.
type noopCache struct {
	inner step
	file  *buildCache
	reg   manifestHeader
	// localID returns the ID of an image in docker's image store.
	localID  func(ctx context.Context, image string) (string, error)
	registry localregistry.Hosting
	log      *slog.Logger
	progress func(ref string, ev Progress)
}

func (c *noopCache) build(ctx context.Context, p *plan) (Result, error) {
	if res, ok := c.unchanged(ctx, p); ok {
		return res, nil
	}
	res, err := c.inner.build(ctx, p)
	if err != nil {
		return res, err
	}
	e := cacheEntry{Input: p.hash, Digest: res.Digest, Built: time.Now()}
	if !p.push {
		// A command that did not use docker leaves no ID to check: the
		// unchanged inputs alone then vouch for the image.
		e.ImageID, _ = c.localID(ctx, p.image)
	}
	if err := c.file.put(p.image, e); err != nil {
		c.log.Warn("build cache not saved; the next start rebuilds", "err", err)
	}
	return res, nil
}

// unchanged returns the result of p's earlier build when its inputs are
// unchanged and its image is still there.
func (c *noopCache) unchanged(ctx context.Context, p *plan) (Result, bool) {
	e, ok, err := c.file.get(p.image)
	if err != nil {
		c.log.Warn("build cache unreadable", "err", err)
	}
	if !ok || e.Input != p.hash {
		return Result{}, false
	}
	var where string
	if p.push {
		d, err := c.reg.Head(ctx, p.repo, p.tag)
		if err != nil || d != e.Digest {
			c.log.Debug("cached image not in the registry; rebuilding", "image", p.image, "cached", e.Digest, "registry", d, "err", err)
			return Result{}, false
		}
		where = d + " in the registry"
	} else {
		where = "not pushed (disable_push)"
		if e.ImageID != "" {
			id, err := c.localID(ctx, p.image)
			if err != nil || id != e.ImageID {
				c.log.Debug("cached image not in docker; rebuilding", "image", p.image, "cached", e.ImageID, "docker", id, "err", err)
				return Result{}, false
			}
			where = "image " + shortID(id) + " in docker"
		}
	}
	c.progress(p.img.Ref, Progress{Kind: ProgressMessage, Message: fmt.Sprintf("%s is up to date (inputs unchanged, %s)", p.image, where)})
	res := result(p, c.registry, e.Digest)
	res.Unchanged = true
	return res, true
}

// result is p's Result once its image has digest (empty when not pushed).
func result(p *plan, reg localregistry.Hosting, digest string) Result {
	res := Result{Ref: p.img.Ref, Image: p.image, InputHash: p.hash, Digest: digest}
	if !p.push {
		res.Reference, res.ClusterReference = p.image, p.image
		return res
	}
	res.Reference = p.repo + "@" + digest
	res.ClusterReference = res.Reference
	if h := reg.ContainerRuntimeHost(); h != reg.Host {
		res.ClusterReference = h + strings.TrimPrefix(res.Reference, reg.Host)
	}
	return res
}

func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		id = id[:12]
	}
	return id
}
