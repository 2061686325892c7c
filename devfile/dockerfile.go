package devfile

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/distribution/reference"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// DockerfileImage is an image that a Dockerfile names: in FROM, COPY --from
// or RUN --mount=from, after build-arg expansion, with its line.
type DockerfileImage struct {
	Name string
	Line int
}

// ReadDockerfile returns the Dockerfile of a docker_build image
// (dockerfile_contents, dockerfile= or CONTEXT/Dockerfile) and the name to
// show for it in errors.
func (img Image) ReadDockerfile() (data []byte, name string, err error) {
	if img.DockerfileContents != "" {
		return []byte(img.DockerfileContents), "Dockerfile (dockerfile_contents of " + img.Ref + ")", nil
	}
	name = img.Dockerfile
	if name == "" {
		name = img.Context + "/Dockerfile"
	}
	data, err = os.ReadFile(name)
	if err != nil {
		return nil, name, fmt.Errorf("reading the Dockerfile of image %s: %w", img.Ref, err)
	}
	return data, name, nil
}

// DockerfileImages lists the external images a Dockerfile refers to: the
// bases of its stages and the sources of COPY --from and RUN --mount=from
// that are not stage names or "scratch". Build args and ARG defaults before
// the first FROM are expanded ($X and ${X}; other shell forms are left as
// written).
func DockerfileImages(dockerfile []byte, buildArgs map[string]string) ([]DockerfileImage, error) {
	res, err := parser.Parse(bytes.NewReader(dockerfile))
	if err != nil {
		return nil, err
	}
	meta := map[string]string{}
	stages := map[string]bool{}
	var out []DockerfileImage
	seenFrom := false
	add := func(name string, line int) {
		name = expandArgs(name, meta)
		if name == "" || name == "scratch" || stages[strings.ToLower(name)] || isStageIndex(name) {
			return
		}
		out = append(out, DockerfileImage{Name: name, Line: line})
	}
	for _, n := range res.AST.Children {
		switch strings.ToLower(n.Value) {
		case "arg":
			if seenFrom {
				continue
			}
			for a := n.Next; a != nil; a = a.Next {
				k, v, hasDefault := strings.Cut(a.Value, "=")
				if bv, ok := buildArgs[k]; ok {
					meta[k] = bv
				} else if hasDefault {
					meta[k] = strings.Trim(v, `"'`)
				}
			}
		case "from":
			seenFrom = true
			if n.Next == nil {
				continue
			}
			add(n.Next.Value, n.StartLine)
			if as := n.Next.Next; as != nil && strings.EqualFold(as.Value, "as") && as.Next != nil {
				stages[strings.ToLower(as.Next.Value)] = true
			}
		case "copy", "add":
			for _, f := range n.Flags {
				if v, ok := strings.CutPrefix(f, "--from="); ok {
					add(v, n.StartLine)
				}
			}
		case "run":
			for _, f := range n.Flags {
				spec, ok := strings.CutPrefix(f, "--mount=")
				if !ok {
					continue
				}
				for _, kv := range strings.Split(spec, ",") {
					if v, ok := strings.CutPrefix(kv, "from="); ok {
						add(v, n.StartLine)
					}
				}
			}
		}
	}
	return out, nil
}

func isStageIndex(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

func expandArgs(s string, meta map[string]string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	return os.Expand(s, func(k string) string { return meta[k] })
}

// DockerfileBases returns the images of images that img, a docker_build,
// builds from: those its Dockerfile names (DockerfileImages) and those
// whose ref is the value of one of its build args. It maps each base's ref
// to the names img's Dockerfile or build args call it by. A name matches an
// image when both have the same normalised repository, whatever their tags
// or digests; an image FROM its own repository ("nginx" FROM nginx:1.27)
// customizes the upstream image and is not its own base. The error is that
// of reading or parsing the Dockerfile.
func DockerfileBases(img Image, images []Image) (map[string][]string, error) {
	byName := map[string]string{} // repository → ref
	for _, other := range images {
		if r := repository(other.Ref); r != "" {
			byName[r] = other.Ref
		}
	}
	data, name, err := img.ReadDockerfile()
	if err != nil {
		return nil, err
	}
	uses, err := DockerfileImages(data, img.BuildArgs)
	if err != nil {
		return nil, fmt.Errorf("image %s: %s: %w", img.Ref, name, err)
	}
	out := map[string][]string{}
	add := func(n string) {
		if dep, ok := byName[repository(n)]; ok && n != "" && dep != img.Ref && !slices.Contains(out[dep], n) {
			out[dep] = append(out[dep], n)
		}
	}
	for _, u := range uses {
		add(u.Name)
	}
	for _, v := range img.BuildArgs {
		add(v)
	}
	return out, nil
}

// repository is ref's normalised repository, without tag or digest
// ("base:1" and "docker.io/library/base" are both docker.io/library/base),
// or "" when ref does not parse.
func repository(ref string) string {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return ""
	}
	return named.Name()
}
