package manifest

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"regexp"
	"strings"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/loader"
	"helm.sh/helm/v4/pkg/cli/values"
	release "helm.sh/helm/v4/pkg/release/v1"
	"sigs.k8s.io/yaml"
)

// HelmDefaultRelease is the release name helm() uses when name= is unset:
// Tilt's choice, stable across loads (helm's own default is random).
const HelmDefaultRelease = "chart"

// HelmDefaultNamespace is the release namespace when neither the request
// nor the kube context names one: helm's own fallback.
const HelmDefaultNamespace = "default"

// HelmRequest is what helm() was asked to render.
type HelmRequest struct {
	// Chart is the absolute chart directory.
	Chart string
	// Name is the release name; "" means HelmDefaultRelease.
	Name string
	// Namespace is the release namespace; "" means HelmDefaultNamespace.
	Namespace   string
	Values      []string // absolute paths
	Set         []string
	KubeVersion string
	SkipCRDs    bool
}

// Argv returns the helm command line whose output Render reproduces.
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

// Render renders r's chart in-process with the Helm SDK and returns what
// Argv prints: the manifests, then the hooks (tests included), each
// document headed by "# Source: CHART/PATH". It needs no helm binary and
// touches no cluster or network; the chart's dependencies must be vendored
// in its charts/ directory, as for `helm template`.
//
// Helm's template engine takes no context, so when ctx is done Render
// returns at once and the rendering finishes in the background.
func (r HelmRequest) Render(ctx context.Context) (string, error) {
	type result struct {
		text string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		text, err := r.render()
		done <- result{text, err}
	}()
	select {
	case res := <-done:
		return res.text, res.err
	case <-ctx.Done():
		return "", fmt.Errorf("rendering %s: %w (the rendering goes on in the background)", r.Chart, ctx.Err())
	}
}

// render does Render's work, in the steps of `helm template`: values,
// chart, checks, then a client-only dry-run install.
func (r HelmRequest) render() (string, error) {
	// No getters: values files are local paths, read as files.
	vals, err := (&values.Options{ValueFiles: r.Values, Values: r.Set}).MergeValues(nil)
	if err != nil {
		return "", err
	}
	ch, err := loader.LoadDir(r.Chart)
	if err != nil {
		return "", fmt.Errorf("loading chart %s: %w", r.Chart, err)
	}
	acc, err := chart.NewAccessor(ch)
	if err != nil {
		return "", fmt.Errorf("loading chart %s: %w", r.Chart, err)
	}
	if t := acc.MetadataAsMap()["Type"]; t != nil && t != "" && t != "application" {
		return "", fmt.Errorf("chart %s is a %v chart, which renders nothing by itself: pass a chart that depends on it", acc.Name(), t)
	}
	if deps := acc.MetaDependencies(); len(deps) > 0 {
		if err := action.CheckDependencies(ch, deps); err != nil {
			return "", fmt.Errorf("chart %s: %w: vendor them there (`helm dependency build` does, once)", acc.Name(), err)
		}
	}

	in := action.NewInstall(action.NewConfiguration(action.ConfigurationSetLogger(slog.DiscardHandler)))
	in.DryRunStrategy = action.DryRunClient
	in.Replace = true // no release store to check the name against
	in.ReleaseName = r.Name
	if in.ReleaseName == "" {
		in.ReleaseName = HelmDefaultRelease
	}
	in.Namespace = r.Namespace
	if in.Namespace == "" {
		in.Namespace = HelmDefaultNamespace
	}
	in.IncludeCRDs = !r.SkipCRDs
	if r.KubeVersion != "" {
		kv, err := common.ParseKubeVersion(r.KubeVersion)
		if err != nil {
			return "", fmt.Errorf("kube_version %q: %w", r.KubeVersion, err)
		}
		in.KubeVersion = kv
	}
	out, err := in.RunWithContext(context.Background(), ch, vals)
	if err != nil {
		return "", err
	}
	rel, ok := out.(*release.Release)
	if !ok {
		return "", fmt.Errorf("rendering %s: helm returned a %T, want a release", r.Chart, out)
	}
	var b strings.Builder
	fmt.Fprintln(&b, strings.TrimSpace(rel.Manifest))
	for _, h := range rel.Hooks {
		fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", h.Path, h.Manifest)
	}
	return b.String(), nil
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
