package manifest

import "github.com/distribution/reference"

// ImageMatcher matches image references in YAML to the Devfile's images as
// Tilt does: an image declared without a tag matches any tag or digest of
// the same repository ("myapp" matches "docker.io/library/myapp:v2"); one
// declared with a tag matches only that tag.
type ImageMatcher struct {
	images []matchImage
}

type matchImage struct {
	ref   string
	named reference.Named
	exact bool
	env   bool
}

// DeclaredImage is an image the Devfile builds: its ref, and whether
// container env var values that name it count as uses (match_in_env_vars).
type DeclaredImage struct {
	Ref            string
	MatchInEnvVars bool
}

// NewImageMatcher returns a matcher for the declared images; refs that do
// not parse are left out (the Devfile's validation reports them).
func NewImageMatcher(images []DeclaredImage) ImageMatcher {
	var im ImageMatcher
	for _, img := range images {
		named, err := reference.ParseNormalizedNamed(img.Ref)
		if err != nil {
			continue // validation reports bad refs
		}
		_, tagged := named.(reference.Tagged)
		im.images = append(im.images, matchImage{ref: img.Ref, named: named, exact: tagged, env: img.MatchInEnvVars})
	}
	return im
}

// Match returns the ref of the image that ref (from YAML) uses, or "".
func (im ImageMatcher) Match(ref string) string {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return ""
	}
	for _, img := range im.images {
		if img.exact {
			if named.String() == img.named.String() {
				return img.ref
			}
		} else if named.Name() == img.named.Name() {
			return img.ref
		}
	}
	return ""
}

// MatchEnv is Match for a container env var value: only images declared
// with match_in_env_vars=True count.
func (im ImageMatcher) MatchEnv(v string) string {
	named, err := reference.ParseNormalizedNamed(v)
	if err != nil {
		return ""
	}
	for _, img := range im.images {
		if !img.env {
			continue
		}
		if (img.exact && named.String() == img.named.String()) || (!img.exact && named.Name() == img.named.Name()) {
			return img.ref
		}
	}
	return ""
}
