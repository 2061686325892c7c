package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/devloop-dev/devloop/devfile"
	"github.com/devloop-dev/devloop/kindcluster"
)

// clusterConfig is what `devloop cluster ...` was asked for: the Devfile's
// kind_cluster(), with flags overriding it (or replacing it with --name).
type clusterConfig struct {
	file          string
	name          string
	nodes         int
	nodeImage     string
	registryPort  int
	registryImage string
	noRegistry    bool
	output        string
	kubeconfig    string
}

func newClusterCmd(s Streams) *cobra.Command {
	cfg := &clusterConfig{}
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Create, delete or inspect the kind cluster the Devfile declares",
		Long: "Create, delete or inspect the kind cluster that the Devfile's kind_cluster() declares\n" +
			"(or --name), with its local registry. DEVLOOP_KIND_NODE_IMAGE and DEVLOOP_REGISTRY_IMAGE\n" +
			"set the images when kind_cluster() names none.",
	}
	pf := cmd.PersistentFlags()
	pf.StringVarP(&cfg.file, "file", "f", "", "path of the Devfile (default ./Devfile, then ./Tiltfile)")
	pf.StringVar(&cfg.name, "name", "", "cluster name; without a Devfile, the cluster to act on")
	pf.StringVar(&cfg.kubeconfig, "kubeconfig", "", "kubeconfig file to add the context to (default $KUBECONFIG, else ~/.kube/config)")

	create := &cobra.Command{
		Use:   "create",
		Short: "Create the cluster and its registry, or make sure the existing one is ready",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runClusterCreate(cmd.Context(), *cfg, s)
		},
	}
	f := create.Flags()
	f.IntVar(&cfg.nodes, "nodes", 0, "number of nodes (default 1)")
	f.StringVar(&cfg.nodeImage, "node-image", "", "kind node image")
	f.IntVar(&cfg.registryPort, "registry-port", 0, fmt.Sprintf("registry port on 127.0.0.1 (default %d)", kindcluster.DefaultRegistryPort))
	f.StringVar(&cfg.registryImage, "registry-image", "", "registry image (default registry:2)")
	f.BoolVar(&cfg.noRegistry, "no-registry", false, "create the cluster without a local registry")

	del := &cobra.Command{
		Use:   "delete",
		Short: "Delete the cluster and its registry (only ones devloop created)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runClusterDelete(cmd.Context(), *cfg, s)
		},
	}
	status := &cobra.Command{
		Use:   "status",
		Short: "Show whether the cluster and its registry exist and run",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runClusterStatus(cmd.Context(), *cfg, s)
		},
	}
	status.Flags().StringVarP(&cfg.output, "output", "o", "", "output format: json")
	cmd.AddCommand(create, del, status)
	return cmd
}

// clusterSpec returns the cluster to act on: --name alone needs no Devfile;
// otherwise the Devfile's kind_cluster() with the flags that were set on top.
func clusterSpec(ctx context.Context, cfg clusterConfig) (devfile.Cluster, error) {
	var c devfile.Cluster
	if cfg.name != "" && cfg.file == "" {
		c = devfile.Cluster{Name: cfg.name, Registry: true}
	} else {
		path, err := findDevfile(cfg.file)
		if err != nil {
			return c, fmt.Errorf("%w (or name the cluster with --name)", err)
		}
		m, err := devfile.Load(ctx, path, devfile.Options{Subcommand: "cluster"})
		if err != nil {
			return c, err
		}
		if m.Cluster == nil {
			return c, fmt.Errorf("%s declares no kind_cluster(): add kind_cluster(name=...) to it, or pass --name", path)
		}
		c = *m.Cluster
		if cfg.name != "" {
			c.Name = cfg.name
		}
	}
	if cfg.nodes != 0 {
		c.Nodes = cfg.nodes
	}
	if cfg.nodeImage != "" {
		c.NodeImage = cfg.nodeImage
	}
	if cfg.registryPort != 0 {
		c.RegistryPort = cfg.registryPort
	}
	if cfg.registryImage != "" {
		c.RegistryImage = cfg.registryImage
	}
	if cfg.noRegistry {
		c.Registry = false
	}
	return c, nil
}

func newClusterManager(cfg clusterConfig, s Streams) (*kindcluster.Manager, error) {
	return kindcluster.New(kindcluster.Config{
		NodeImage:     os.Getenv("DEVLOOP_KIND_NODE_IMAGE"),
		RegistryImage: os.Getenv("DEVLOOP_REGISTRY_IMAGE"),
		Kubeconfig:    cfg.kubeconfig,
		SwitchContext: true, // cluster create does what kind create cluster does
		Progress:      s.Err,
	})
}

// clusterTarget resolves the cluster the flags and the Devfile name (an empty
// name is kindcluster's default, "devloop") and the manager to act on it.
func clusterTarget(ctx context.Context, cfg clusterConfig, s Streams) (devfile.Cluster, *kindcluster.Manager, error) {
	c, err := clusterSpec(ctx, cfg)
	if err != nil {
		return c, nil, err
	}
	if c.Name == "" {
		c.Name = "devloop"
	}
	m, err := newClusterManager(cfg, s)
	return c, m, err
}

func runClusterCreate(ctx context.Context, cfg clusterConfig, s Streams) error {
	c, m, err := clusterTarget(ctx, cfg, s)
	if err != nil {
		return err
	}
	info, err := m.Ensure(ctx, c)
	if err != nil {
		return err
	}
	verb := "reused"
	if info.Created {
		verb = "created"
	}
	fmt.Fprintf(s.Out, "kind cluster %s %s: context %s in %s", info.Name, verb, info.Context, info.Kubeconfig)
	if info.Switched {
		fmt.Fprint(s.Out, " (now the current context)")
	}
	if info.Registry != "" {
		fmt.Fprintf(s.Out, ", registry %s", info.Registry)
	}
	fmt.Fprintln(s.Out)
	return nil
}

func runClusterDelete(ctx context.Context, cfg clusterConfig, s Streams) error {
	c, m, err := clusterTarget(ctx, cfg, s)
	if err != nil {
		return err
	}
	return m.Delete(ctx, c.Name)
}

func runClusterStatus(ctx context.Context, cfg clusterConfig, s Streams) error {
	switch cfg.output {
	case "", "json":
	default:
		return fmt.Errorf("unknown output format %q: use -o json", cfg.output)
	}
	c, m, err := clusterTarget(ctx, cfg, s)
	if err != nil {
		return err
	}
	st, err := m.Status(ctx, c.Name)
	if err != nil {
		return err
	}
	if cfg.output == "json" {
		b, err := json.MarshalIndent(st, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(s.Out, "%s\n", b)
	} else {
		_, err = fmt.Fprint(s.Out, clusterStatusText(st))
	}
	if err != nil {
		return err
	}
	return clusterStatusErr(st)
}

// clusterStatusErr is the exit status of `devloop cluster status`, as
// kubectl get's of a missing object: 1 when the cluster does not exist or a
// node is stopped, so a script can test it.
func clusterStatusErr(st *kindcluster.Status) error {
	switch {
	case !st.Exists:
		return &exitError{code: 1, err: fmt.Errorf("kind cluster %q does not exist: create it with `devloop cluster create --name %s` or `devloop up`", st.Name, st.Name)}
	case !st.Running:
		return &exitError{code: 1, err: fmt.Errorf("kind cluster %q is stopped: `devloop up` or `devloop cluster create --name %s` starts it", st.Name, st.Name)}
	}
	return nil
}

func clusterStatusText(st *kindcluster.Status) string {
	var b strings.Builder
	switch {
	case !st.Exists:
		fmt.Fprintf(&b, "cluster  %s: does not exist (devloop cluster create)\n", st.Name)
	default:
		state := "running"
		if !st.Running {
			state = "stopped"
		}
		owner := "devloop"
		if !st.Devloop {
			owner = "not devloop's"
		}
		fmt.Fprintf(&b, "cluster  %s: %s, %d node(s), context %s (%s)\n", st.Name, state, len(st.Nodes), st.Context, owner)
	}
	if r := st.Registry; r != nil {
		state := "running"
		if !r.Running {
			state = "stopped"
		}
		fmt.Fprintf(&b, "registry %s: %s on %s\n", r.Container, state, r.Host)
	} else {
		fmt.Fprintf(&b, "registry: none\n")
	}
	return b.String()
}
