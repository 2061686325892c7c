package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/devloop-dev/devloop/devfile"
)

// configConfig is what devloop config's flags say.
type configConfig struct {
	file   string
	output string
	args   []string
	kube   kubeFlags
}

func newConfigCmd(s Streams) *cobra.Command {
	cfg := configConfig{}
	cmd := &cobra.Command{
		Use:   "config [-f PATH] [-o json|yaml] [-- ARGS]",
		Short: "Evaluate the Devfile and print what it declares",
		Long: "Evaluate the Devfile (without touching the cluster, docker or the running daemon)\n" +
			"and print its resources, images, cluster and dependencies. -o json is a stable\n" +
			"format for scripts (see docs/devfile.md). Arguments after -- go to config.parse();\n" +
			"print() output goes to stderr.",
		RunE: func(cmd *cobra.Command, args []string) error {
			devArgs, err := devfileArgs(cmd, args)
			if err != nil {
				return err
			}
			cfg.args = devArgs
			return runConfig(cmd.Context(), cfg, s)
		},
	}
	f := cmd.Flags()
	cfg.kube.register(cmd)
	f.StringVarP(&cfg.file, "file", "f", "", "path of the Devfile (default ./Devfile, then ./Tiltfile)")
	f.StringVarP(&cfg.output, "output", "o", "", "output format: json or yaml (default: a short summary)")
	return cmd
}

// runConfig loads the Devfile and prints the model.
func runConfig(ctx context.Context, cfg configConfig, s Streams) error {
	switch cfg.output {
	case "", "json", "yaml":
	default:
		return fmt.Errorf("unknown output format %q: use -o json or -o yaml", cfg.output)
	}
	path, err := findDevfile(cfg.file)
	if err != nil {
		return err
	}
	kubeContext, kubeNamespace := cfg.kube.devfileKube()
	m, err := devfile.Load(ctx, path, devfile.Options{
		Args:          cfg.args,
		Subcommand:    "config",
		Stdout:        s.Err,
		KubeContext:   kubeContext,
		KubeNamespace: kubeNamespace,
	})
	if err != nil {
		return err // *devfile.Error reads "PATH:LINE:COL: message"
	}
	switch cfg.output {
	case "json":
		b, err := json.MarshalIndent(m, "", "  ")
		if err != nil {
			return fmt.Errorf("encoding the model: %w", err)
		}
		_, err = fmt.Fprintf(s.Out, "%s\n", b)
		return err
	case "yaml":
		b, err := yaml.Marshal(m)
		if err != nil {
			return fmt.Errorf("encoding the model: %w", err)
		}
		_, err = s.Out.Write(b)
		return err
	}
	return writeSummary(s.Out, m)
}

// writeSummary prints a short human description of m.
func writeSummary(w io.Writer, m *devfile.Model) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Devfile: %s\n", m.Path)
	if c := m.Cluster; c != nil {
		reg := "no registry"
		if c.Registry {
			reg = fmt.Sprintf("registry on localhost:%d", c.RegistryPort)
		}
		fmt.Fprintf(&b, "Cluster: kind %q, %d node(s), %s\n", c.Name, c.Nodes, reg)
	} else {
		b.WriteString("Cluster: the current kube context\n")
	}
	fmt.Fprintf(&b, "Images (%d):\n", len(m.Images))
	for _, img := range m.Images {
		where := img.Context
		if img.Kind == devfile.ImageCustom {
			where = strings.Join(img.Command.Argv, " ")
		}
		fmt.Fprintf(&b, "  %s  %s  %s%s\n", img.Ref, img.Kind, rel(m.Path, where), liveUpdateSummary(img.LiveUpdate))
	}
	fmt.Fprintf(&b, "Resources (%d):\n", len(m.Resources))
	for _, r := range m.Resources {
		state := "enabled"
		if !r.Enabled {
			state = "disabled"
		}
		var extra []string
		if r.TriggerMode == devfile.TriggerManual {
			extra = append(extra, "manual")
		}
		if len(r.Images) > 0 {
			extra = append(extra, "images: "+strings.Join(r.Images, ", "))
		}
		if len(r.ResourceDeps) > 0 {
			extra = append(extra, "after: "+strings.Join(r.ResourceDeps, ", "))
		}
		for _, pf := range r.PortForwards {
			extra = append(extra, fmt.Sprintf("port %d->%d", pf.Local, pf.Container))
		}
		if len(r.Labels) > 0 {
			extra = append(extra, "labels: "+strings.Join(r.Labels, ", "))
		}
		line := fmt.Sprintf("  %s  %s  %s", r.Name, r.Kind, state)
		if len(extra) > 0 {
			line += "  (" + strings.Join(extra, "; ") + ")"
		}
		b.WriteString(line + "\n")
	}
	fmt.Fprintf(&b, "Dependencies: %d files\n", len(m.Dependencies))
	if len(m.Warnings) > 0 {
		b.WriteString("Warnings:\n")
		for _, warn := range m.Warnings {
			fmt.Fprintf(&b, "  %s\n", warn)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// liveUpdateSummary describes an image's live_update steps briefly.
func liveUpdateSummary(steps []devfile.LiveUpdateStep) string {
	if len(steps) == 0 {
		return ""
	}
	var names []string
	for _, st := range steps {
		names = append(names, string(st.Type))
	}
	return "  live_update: " + strings.Join(names, ", ")
}

// rel shows p relative to the Devfile's directory when it is inside it.
func rel(devfilePath, p string) string {
	if r, err := filepath.Rel(filepath.Dir(devfilePath), p); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return p
}

// kubeFlags are --context and --namespace, as kubectl's, of the verbs that
// evaluate a Devfile and deploy or delete what it declares.
type kubeFlags struct {
	context, namespace string
}

func (f *kubeFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.context, "context", "", "kube context to use (default: the kubeconfig's current one; a Devfile with kind_cluster() uses kind-NAME)")
	cmd.Flags().StringVarP(&f.namespace, "namespace", "n", "", "namespace of the objects that name none (default: the context's)")
}

// devfileKube is what k8s_context() and k8s_namespace() answer: the flags'
// context and namespace, else the kubeconfig's current context and that
// context's namespace.
func (f kubeFlags) devfileKube() (kubeContext, namespace string) {
	kubeContext, namespace = kubeContextNamed(os.Getenv("KUBECONFIG"), f.context)
	if f.namespace != "" {
		namespace = f.namespace
	}
	return kubeContext, namespace
}

// currentKubeContext reads the current context and its namespace from the
// kubeconfig files (KUBECONFIG, a list, else ~/.kube/config), for
// k8s_context() and k8s_namespace(). Unreadable files yield "".
func currentKubeContext(kubeconfig string) (name, namespace string) {
	return kubeContextNamed(kubeconfig, "")
}

// kubeContextNamed is currentKubeContext for the context name, or for the
// current one when name is "".
func kubeContextNamed(kubeconfig, name string) (string, string) {
	var paths []string
	if kubeconfig != "" {
		paths = filepath.SplitList(kubeconfig)
	} else if home, err := os.UserHomeDir(); err == nil {
		paths = []string{filepath.Join(home, ".kube", "config")}
	}
	type kubeFile struct {
		CurrentContext string `json:"current-context"`
		Contexts       []struct {
			Name    string `json:"name"`
			Context struct {
				Namespace string `json:"namespace"`
			} `json:"context"`
		} `json:"contexts"`
	}
	var files []kubeFile
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		var f kubeFile
		if yaml.Unmarshal(data, &f) == nil {
			files = append(files, f)
		}
	}
	// As kubectl merges: the first file that sets current-context wins, and
	// the first file that defines a context name wins.
	for _, f := range files {
		if name != "" {
			break
		}
		name = f.CurrentContext
	}
	if name == "" {
		return "", ""
	}
	for _, f := range files {
		for _, c := range f.Contexts {
			if c.Name == name {
				return name, c.Context.Namespace
			}
		}
	}
	return name, ""
}
