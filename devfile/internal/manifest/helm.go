package manifest

import (
	"path/filepath"
	"regexp"
	"strings"

	"sigs.k8s.io/yaml"
)

// HelmDefaultRelease is the release name helm() uses when name= is unset:
// Tilt's choice, stable across loads (helm's own default is random).
const HelmDefaultRelease = "chart"

// HelmRequest is what helm() was asked to render.
type HelmRequest struct {
	// Chart is the absolute chart directory.
	Chart       string
	Name        string
	Namespace   string
	Values      []string // absolute paths
	Set         []string
	KubeVersion string
	SkipCRDs    bool
}

// Argv returns the helm command line that renders r.
func (r HelmRequest) Argv() []string {
	name := r.Name
	if name == "" {
		name = HelmDefaultRelease
	}
	argv := []string{"helm", "template", name, r.Chart}
	if r.Namespace != "" {
		argv = append(argv, "--namespace", r.Namespace)
	}
	if r.KubeVersion != "" {
		argv = append(argv, "--kube-version", r.KubeVersion)
	}
	if !r.SkipCRDs {
		argv = append(argv, "--include-crds")
	}
	for _, v := range r.Values {
		argv = append(argv, "--values", v)
	}
	for _, s := range r.Set {
		argv = append(argv, "--set", s)
	}
	return argv
}

// helmTestSource marks the documents of a chart's tests/ templates, which
// `helm test` runs and a deploy must not apply.
var helmTestSource = regexp.MustCompile(`(?m)^# Source: .*/tests/`)

// DropHelmTests removes test hook documents from helm template output.
func DropHelmTests(text string) string {
	var keep []string
	for _, d := range Split(text) {
		if helmTestSource.MatchString(d.Text) || strings.TrimSpace(d.Text) == "" {
			continue
		}
		keep = append(keep, d.Text)
	}
	return strings.Join(keep, "---\n")
}

// LocalSubcharts returns the directories of a chart's file:// dependencies
// (Chart.yaml, or requirements.yaml for apiVersion v1 charts).
func LocalSubcharts(chart string) []string {
	var out []string
	for _, f := range []string{"Chart.yaml", "requirements.yaml"} {
		data, err := ReadFile(filepath.Join(chart, f))
		if err != nil {
			continue
		}
		var meta struct {
			Dependencies []struct {
				Repository string `json:"repository"`
			} `json:"dependencies"`
		}
		if yaml.Unmarshal(data, &meta) != nil {
			continue
		}
		for _, d := range meta.Dependencies {
			if p, ok := strings.CutPrefix(d.Repository, "file://"); ok {
				if !filepath.IsAbs(p) {
					p = filepath.Join(chart, p)
				}
				out = append(out, filepath.Clean(p))
			}
		}
	}
	return out
}
