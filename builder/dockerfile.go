package builder

import (
	"bytes"
	"fmt"
	"os"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/parser"

	"github.com/devloop-dev/devloop/devfile"
)

// imageUse is an image that a Dockerfile names: in FROM, COPY --from or
// RUN --mount=from, after build-arg expansion, with its line.
type imageUse struct {
	Name string
	Line int
}

// dockerfileBytes returns the Dockerfile of a docker_build image and the
// name to show for it in errors.
func dockerfileBytes(img devfile.Image) (data []byte, name string, err error) {
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

// imageUses lists the external images a Dockerfile refers to: the bases of
// its stages and the sources of COPY --from and RUN --mount=from that are not
// stage names or "scratch". Build args and ARG defaults before the first
// FROM are expanded ($X and ${X}; other shell forms are left as written).
func imageUses(dockerfile []byte, buildArgs map[string]string) ([]imageUse, error) {
	res, err := parser.Parse(bytes.NewReader(dockerfile))
	if err != nil {
		return nil, err
	}
	meta := map[string]string{}
	stages := map[string]bool{}
	var out []imageUse
	seenFrom := false
	add := func(name string, line int) {
		name = expandArgs(name, meta)
		if name == "" || name == "scratch" || stages[strings.ToLower(name)] || isStageIndex(name) {
			return
		}
		out = append(out, imageUse{Name: name, Line: line})
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
