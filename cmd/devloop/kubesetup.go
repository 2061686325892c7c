package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"

	"github.com/devloop-dev/devloop/builder"
	"github.com/devloop-dev/devloop/devfile"
	"github.com/devloop-dev/devloop/engine"
	"github.com/devloop-dev/devloop/kindcluster"
	"github.com/devloop-dev/devloop/kube"
	"github.com/devloop-dev/devloop/liveupdate"
)

// kubeSetup is what Kubernetes resources need: a client of the cluster,
// the registry images are pushed to, and (engineKube) an image builder and
// a live updater.
type kubeSetup struct {
	client   *kube.Client
	registry builder.Registry
	builder  *builder.Builder
	updater  *liveupdate.Updater
	// maxParallel, logger and getenv configure the builder.
	maxParallel int
	logger      *slog.Logger
	getenv      func(string) string
}

// Close releases the live updater's shells, the client's watches and the
// builder's BuildKit connection.
func (k *kubeSetup) Close() {
	if k.updater != nil {
		k.updater.Close()
	}
	k.client.Close()
	if k.builder != nil {
		_ = k.builder.Close()
	}
}

// engineKube returns the engine's seams of k: a builder that pushes to
// its registry and reports progress, and with live a live updater. It
// does no I/O; Close releases what it made.
func (k *kubeSetup) engineKube(progress func(ref string, ev builder.Progress), live bool) (engine.Kube, error) {
	b, err := builder.New(builder.Config{
		Registry:    k.registry,
		MaxParallel: k.maxParallel,
		OnProgress:  progress,
		Logger:      k.logger,
		Getenv:      k.getenv,
	})
	if err != nil {
		return engine.Kube{}, err
	}
	k.builder = b
	ek := engine.Kube{Builder: b, Cluster: k.client}
	if !live {
		return ek, nil
	}
	// Live update copies changed files into running containers through
	// the pod exec subresource, over a shell kept open in each container
	// (docs/live-update.md).
	u, err := liveupdate.New(liveupdate.Config{Session: true}, k.client)
	if err != nil {
		return engine.Kube{}, err
	}
	k.updater = u
	ek.Syncer = u
	return ek, nil
}

// kubeOptions configure setupKube; zero values mean the defaults.
type kubeOptions struct {
	// ensure makes the Devfile's kind_cluster() exist; nil means a
	// kindcluster.Manager configured from the environment.
	ensure func(ctx context.Context, c devfile.Cluster) (*kindcluster.Info, error)
	// kubeconfig and context select the cluster when the Devfile declares
	// no kind_cluster(); empty means the default kubeconfig and its
	// current context.
	kubeconfig, context string
	// namespace is --namespace: where objects that name none go unless
	// the run sets its own (devloop ci --namespace).
	namespace string
	// switchContext makes a kind cluster that devloop creates the
	// kubeconfig's current-context (kindcluster.Config.SwitchContext):
	// devloop up does, as kind does; devloop ci leaves the user's context.
	switchContext bool
	// progress receives the cluster's creation steps, for the user.
	progress io.Writer
	logger   *slog.Logger
	getenv   func(string) string
}

// setupKube prepares what m's Kubernetes resources need: the kind cluster
// m declares (created when missing, with its registry), a client of its
// context (or of the current one) that devloop may deploy to, the
// registry to push to (default_registry(), else the cluster's KEP-1755
// ConfigMap). The error says what is missing and how to fix it.
func setupKube(ctx context.Context, m *devfile.Model, o kubeOptions) (*kubeSetup, error) {
	kubeconfig, kctx := o.kubeconfig, o.context
	allowed := m.Settings.AllowedContexts
	if m.Cluster != nil {
		if err := contextConflict(o.context, "kind-"+clusterName(m.Cluster)); err != nil {
			return nil, err
		}
		ensure := o.ensure
		if ensure == nil {
			mgr, err := kindcluster.New(kindcluster.Config{
				NodeImage:     o.getenv("DEVLOOP_KIND_NODE_IMAGE"),
				RegistryImage: o.getenv("DEVLOOP_REGISTRY_IMAGE"),
				SwitchContext: o.switchContext,
				Progress:      o.progress,
				Logger:        o.logger,
			})
			if err != nil {
				return nil, err
			}
			ensure = mgr.Ensure
		}
		info, err := ensure(ctx, *m.Cluster)
		if err != nil {
			return nil, fmt.Errorf("kind cluster %s: %w", m.Cluster.Name, err)
		}
		kubeconfig, kctx = info.Kubeconfig, info.Context
		// The cluster devloop itself ensured is local whatever its name
		// (kind_cluster(name="prod") is kind-prod on this machine's docker).
		allowed = append(slices.Clone(allowed), kctx)
	}
	client, err := kube.New(kube.Config{
		Kubeconfig:      kubeconfig,
		Context:         kctx,
		Namespace:       cmp.Or(m.Settings.Namespace, o.namespace),
		AllowedContexts: allowed,
		Logger:          o.logger,
	})
	if err != nil {
		return nil, err
	}
	if err := kube.CheckContext(client.Context(), client.Server(), allowed); err != nil {
		client.Close()
		return nil, err
	}
	reg, err := findRegistry(ctx, client, m)
	if err != nil {
		client.Close()
		return nil, err
	}
	return &kubeSetup{client: client, registry: reg,
		maxParallel: m.Settings.MaxParallelUpdates, logger: o.logger, getenv: o.getenv}, nil
}

// findRegistry returns where images are pushed: default_registry() when
// the Devfile sets it (the user's explicit choice), else the registry the
// cluster advertises. A Devfile that builds images needs one.
func findRegistry(ctx context.Context, c *kube.Client, m *devfile.Model) (builder.Registry, error) {
	if m.Settings.DefaultRegistry != "" {
		return builder.Registry{Host: m.Settings.DefaultRegistry}, nil
	}
	h, err := c.LocalRegistry(ctx)
	if err != nil {
		return builder.Registry{}, err
	}
	if h != nil {
		return builder.Registry{Host: h.Host, HostFromClusterNetwork: h.HostFromClusterNetwork,
			HostFromContainerRuntime: h.HostFromContainerRuntime, Help: h.Help}, nil
	}
	if pushes(m.Images) {
		return builder.Registry{}, fmt.Errorf("kube context %q advertises no local registry (ConfigMap kube-public/local-registry-hosting) and the Devfile sets no default_registry(): "+
			"declare kind_cluster() to get a cluster with a registry, or call default_registry('HOST:PORT')", c.Context())
	}
	return builder.Registry{}, nil
}

// pushes tells whether any image must be pushed to a registry.
func pushes(images []devfile.Image) bool {
	for _, img := range images {
		if !(img.Kind == devfile.ImageCustom && img.DisablePush) {
			return true
		}
	}
	return false
}

// hasLocal tells whether m has a resource that runs without a cluster.
func hasLocal(m *devfile.Model) bool {
	for _, r := range m.Resources {
		if r.Kind == devfile.KindLocal {
			return true
		}
	}
	return false
}

// prepareKube prepares model's Kubernetes resources: the cluster, a client
// of it, a builder reporting to progress and a live updater. When the
// cluster cannot be used but local resources can still run, the error is
// in Kube.Err; it is returned only when nothing could run (or ctx ended).
// Progress and the outcome go to out. The returned func releases what was
// made.
func prepareKube(ctx context.Context, model *devfile.Model, ko kubeOptions, out io.Writer, progress func(ref string, ev builder.Progress)) (engine.Kube, func(), error) {
	if ko.getenv == nil {
		ko.getenv = os.Getenv
	}
	if ko.progress == nil {
		ko.progress = prefixWriter{w: out, prefix: "devloop │ "}
	}
	fmt.Fprintln(out, "devloop: preparing the Kubernetes cluster")
	ks, err := setupKube(ctx, model, ko)
	switch {
	case err != nil && (ctx.Err() != nil || !hasLocal(model)):
		return engine.Kube{}, nil, err // interrupted, or nothing else could run
	case err != nil:
		fmt.Fprintf(out, "devloop: the Kubernetes resources cannot deploy, the local ones run: %v\n", err)
		return engine.Kube{Err: err}, func() {}, nil
	}
	fmt.Fprintf(out, "devloop: deploying to kube context %s", ks.client.Context())
	if ks.registry.Host != "" {
		fmt.Fprintf(out, ", images pushed to %s", ks.registry.Host)
	}
	fmt.Fprintln(out)
	k, err := ks.engineKube(progress, true)
	if err != nil {
		ks.Close()
		return engine.Kube{}, nil, err
	}
	return k, ks.Close, nil
}

// kubePending is what Kubernetes resources wait for while prepareKube runs.
func kubePending(m *devfile.Model) string {
	if m.Cluster != nil {
		return fmt.Sprintf("creating or starting kind cluster %s (progress in the terminal)", m.Cluster.Name)
	}
	return "connecting to the kube context"
}

// contextConflict refuses a --context that is not the context of the kind
// cluster the Devfile declares: devloop deploys to that cluster.
func contextConflict(flag, kindContext string) error {
	if flag == "" || flag == kindContext {
		return nil
	}
	return fmt.Errorf("--context %s: the Devfile declares kind_cluster(), so devloop deploys to its context %s: drop --context, or remove kind_cluster() to deploy to %s", flag, kindContext, flag)
}
