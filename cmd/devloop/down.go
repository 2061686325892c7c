package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/devloop-dev/devloop/cluster"
	"github.com/devloop-dev/devloop/devfile"
	"github.com/devloop-dev/devloop/kindcluster"
	"github.com/devloop-dev/devloop/kube"
	"github.com/devloop-dev/devloop/web"
)

// objectDeleter is what devloop down needs of kube.Client.
type objectDeleter interface {
	DeleteManaged(ctx context.Context, objs []*unstructured.Unstructured, opts kube.DownOptions) ([]kube.DownResult, error)
}

// clusterDeleter is what devloop down --cluster needs of kindcluster.Manager.
type clusterDeleter interface {
	Delete(ctx context.Context, name string) error
}

// downConfig is what `devloop down` was asked for.
type downConfig struct {
	file             string
	deleteNamespaces bool
	cluster          bool
	args             []string
	kube             kubeFlags
	// newKube returns the client for the cluster the Devfile deploys to.
	newKube func(kube.Config) (objectDeleter, error)
	// clusters deletes the kind cluster (--cluster).
	clusters clusterDeleter
}

func newDownCmd(s Streams) *cobra.Command {
	cfg := downConfig{}
	cmd := &cobra.Command{
		Use:   "down [-f PATH] [--delete-namespaces] [--cluster] [-- ARGS]",
		Short: "Delete the Kubernetes objects the Devfile deploys (and with --cluster, its kind cluster)",
		Long: "Delete the Kubernetes objects the Devfile deploys, in reverse apply order. Only objects\n" +
			"devloop created (label app.kubernetes.io/managed-by=devloop) are deleted; objects annotated\n" +
			"devloop.dev/down-policy: keep (or Tilt's tilt.dev/down-policy: keep) are kept, and so are\n" +
			"Namespaces unless --delete-namespaces. --cluster also deletes the kind cluster of\n" +
			"kind_cluster() and its registry. Local processes belong to `devloop up`: stop it with Ctrl-C.",
		RunE: func(cmd *cobra.Command, args []string) error {
			devArgs, err := devfileArgs(cmd, args)
			if err != nil {
				return err
			}
			cfg.args = devArgs
			cfg.newKube = func(c kube.Config) (objectDeleter, error) { return kube.New(c) }
			m, err := kindcluster.New(kindcluster.Config{Progress: s.Err})
			if err != nil {
				return err
			}
			cfg.clusters = m
			return runDown(cmd.Context(), cfg, s)
		},
	}
	f := cmd.Flags()
	cfg.kube.register(cmd)
	f.StringVarP(&cfg.file, "file", "f", "", "path of the Devfile (default ./Devfile, then ./Tiltfile)")
	f.BoolVar(&cfg.deleteNamespaces, "delete-namespaces", false, "also delete the Namespace objects the Devfile deploys, with everything in them")
	f.BoolVar(&cfg.cluster, "cluster", false, "also delete the kind cluster of kind_cluster() and its registry")
	return cmd
}

// runDown deletes what the Devfile deploys, then the cluster if asked.
func runDown(ctx context.Context, cfg downConfig, s Streams) error {
	path, err := findDevfile(cfg.file)
	if err != nil {
		return err
	}
	kubeContext, kubeNamespace := cfg.kube.devfileKube()
	m, err := devfile.Load(ctx, path, devfile.Options{Args: cfg.args, Subcommand: "down", Stdout: s.Out,
		KubeContext: kubeContext, KubeNamespace: kubeNamespace})
	if err != nil {
		return err
	}
	if st, err := web.LoadState(web.DefaultPort); err == nil && st.Devfile == path {
		fmt.Fprintf(s.Err, "devloop: devloop up (pid %d) still runs this Devfile: stop it with Ctrl-C to stop its local processes, or it redeploys what down deletes\n", st.PID)
	}
	objs, err := downObjects(m)
	if err != nil {
		return err
	}
	var errs []error
	if len(objs) == 0 {
		fmt.Fprintln(s.Out, "devloop: down: the Devfile deploys no Kubernetes objects")
	} else {
		kc := kube.Config{Context: cfg.kube.context, Namespace: cmp.Or(m.Settings.Namespace, cfg.kube.namespace), AllowedContexts: m.Settings.AllowedContexts}
		if m.Cluster != nil {
			kc.Context = "kind-" + cluster.Name(m.Cluster)
			if err := cluster.ContextConflict(cfg.kube.context, kc.Context); err != nil {
				return err
			}
		}
		client, err := cfg.newKube(kc)
		if err != nil {
			return err
		}
		res, err := client.DeleteManaged(ctx, objs, kube.DownOptions{DeleteNamespaces: cfg.deleteNamespaces})
		for _, r := range res {
			switch r.Action {
			case kube.DownKept:
				fmt.Fprintf(s.Out, "kept     %s: %s\n", r.Ref, r.Why)
			default:
				fmt.Fprintf(s.Out, "%-8s %s\n", r.Action, r.Ref)
			}
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	if cfg.cluster {
		if m.Cluster == nil {
			errs = append(errs, fmt.Errorf("--cluster: %s declares no kind_cluster(), so there is no cluster of devloop's to delete (delete one by name with `devloop cluster delete --name NAME`)", path))
		} else if err := cfg.clusters.Delete(ctx, cluster.Name(m.Cluster)); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// downObjects decodes the objects of every Kubernetes resource, in Devfile
// order.
func downObjects(m *devfile.Model) ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	for _, r := range m.Resources {
		for _, o := range r.Objects {
			objs, err := kube.Decode([]byte(o.YAML))
			if err != nil {
				return nil, fmt.Errorf("resource %s: decoding %s %s: %w", r.Name, o.Kind, o.Name, err)
			}
			for _, obj := range objs {
				if obj.GetNamespace() == "" && o.Namespace != "" {
					obj.SetNamespace(o.Namespace)
				}
				out = append(out, obj)
			}
		}
	}
	return out, nil
}
