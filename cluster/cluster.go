// Package cluster prepares the Kubernetes cluster a devloop command
// deploys to: the kind cluster the Devfile declares (created when missing,
// with its registry), a client of its context (or of the one chosen) that
// devloop may deploy to, the registry images are pushed to, and the seams
// the engine needs (engine.Kube: a builder, the client, a live updater).
// Up does it for devloop up, where a cluster that cannot be used still
// lets the local resources run; PrepareCI for devloop ci, with its
// ephemeral cluster and run namespace, undone by Teardown.
package cluster

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
	"github.com/devloop-dev/devloop/kube/localregistry"
	"github.com/devloop-dev/devloop/liveupdate"
)

// Options configure Connect; zero values mean the defaults.
type Options struct {
	// Ensure makes the Devfile's kind_cluster() exist; nil means a
	// kindcluster.Manager configured from the environment.
	Ensure func(ctx context.Context, c devfile.Cluster) (*kindcluster.Info, error)
	// Kubeconfig and Context select the cluster when the Devfile declares
	// no kind_cluster(); empty means the default kubeconfig and its
	// current context.
	Kubeconfig, Context string
	// Namespace is --namespace: where objects that name none go unless
	// the Devfile or the run sets its own.
	Namespace string
	// SwitchContext makes a kind cluster that devloop creates the
	// kubeconfig's current-context (kindcluster.Config.SwitchContext):
	// devloop up does, as kind does; devloop ci leaves the user's context.
	SwitchContext bool
	// Progress receives the cluster's creation steps, for the user.
	Progress io.Writer
	Logger   *slog.Logger
	// Getenv reads the environment; nil means os.Getenv.
	Getenv func(string) string
}

// Cluster is a cluster devloop may deploy to: a client of it, the registry
// images are pushed to, and what Kube made for the engine.
type Cluster struct {
	client   *kube.Client
	registry localregistry.Hosting
	builder  *builder.Builder
	updater  *liveupdate.Updater
	// maxParallel, logger and getenv configure the builder.
	maxParallel int
	logger      *slog.Logger
	getenv      func(string) string
}

// Connect prepares what m's Kubernetes resources need: the kind cluster m
// declares (created when missing, with its registry), a client of its
// context (or of the current one) that devloop may deploy to, and the
// registry to push to (default_registry(), else the cluster's KEP-1755
// ConfigMap). The error says what is missing and how to fix it.
func Connect(ctx context.Context, m *devfile.Model, o Options) (*Cluster, error) {
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	kubeconfig, kctx := o.Kubeconfig, o.Context
	allowed := m.Settings.AllowedContexts
	if m.Cluster != nil {
		if err := ContextConflict(o.Context, "kind-"+Name(m.Cluster)); err != nil {
			return nil, err
		}
		ensure := o.Ensure
		if ensure == nil {
			mgr, err := kindcluster.New(kindcluster.Config{
				NodeImage:     o.Getenv("DEVLOOP_KIND_NODE_IMAGE"),
				RegistryImage: o.Getenv("DEVLOOP_REGISTRY_IMAGE"),
				SwitchContext: o.SwitchContext,
				Progress:      o.Progress,
				Logger:        o.Logger,
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
		Namespace:       cmp.Or(m.Settings.Namespace, o.Namespace),
		AllowedContexts: allowed,
		Logger:          o.Logger,
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
	return &Cluster{client: client, registry: reg,
		maxParallel: m.Settings.MaxParallelUpdates, logger: o.Logger, getenv: o.Getenv}, nil
}

// Client is the client of the cluster's context.
func (c *Cluster) Client() *kube.Client { return c.client }

// Registry is where images are pushed (no Host when none is needed).
func (c *Cluster) Registry() localregistry.Hosting { return c.registry }

// Kube returns the engine's seams of c: a builder that pushes to its
// registry and reports progress, the client, and with live a live updater.
// It does no I/O; Close releases what it made. Call it once.
func (c *Cluster) Kube(progress func(ref string, ev builder.Progress), live bool) (engine.Kube, error) {
	b, err := builder.New(builder.Config{
		Registry:    c.registry,
		MaxParallel: c.maxParallel,
		OnProgress:  progress,
		Logger:      c.logger,
		Getenv:      c.getenv,
	})
	if err != nil {
		return engine.Kube{}, err
	}
	c.builder = b
	k := engine.Kube{Builder: b, Cluster: c.client,
		Target: &engine.KubeTarget{Context: c.client.Context(), Namespace: c.client.Namespace(), Registry: c.registry.Host}}
	if !live {
		return k, nil
	}
	// Live update copies changed files into running containers through
	// the pod exec subresource, over a shell kept open in each container
	// (docs/live-update.md).
	u, err := liveupdate.New(liveupdate.Config{Session: true}, c.client)
	if err != nil {
		return engine.Kube{}, err
	}
	c.updater = u
	k.Syncer = u
	return k, nil
}

// Close releases the live updater's shells, the client's watches and the
// builder's BuildKit connection.
func (c *Cluster) Close() {
	if c.updater != nil {
		c.updater.Close()
	}
	c.client.Close()
	if c.builder != nil {
		_ = c.builder.Close()
	}
}

// findRegistry returns where images are pushed: default_registry() when
// the Devfile sets it (the user's explicit choice), else the registry the
// cluster advertises. A Devfile that builds images needs one.
func findRegistry(ctx context.Context, c *kube.Client, m *devfile.Model) (localregistry.Hosting, error) {
	if m.Settings.DefaultRegistry != "" {
		return localregistry.Hosting{Host: m.Settings.DefaultRegistry}, nil
	}
	h, err := c.LocalRegistry(ctx)
	if err != nil {
		return localregistry.Hosting{}, err
	}
	if h != nil {
		return *h, nil
	}
	if pushes(m.Images) {
		return localregistry.Hosting{}, fmt.Errorf("kube context %q advertises no local registry (ConfigMap kube-public/local-registry-hosting) and the Devfile sets no default_registry(): "+
			"declare kind_cluster() to get a cluster with a registry, or call default_registry('HOST:PORT')", c.Context())
	}
	return localregistry.Hosting{}, nil
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

// Needed tells whether the Devfile deploys to Kubernetes or declares a
// kind cluster.
func Needed(m *devfile.Model) bool {
	if m.Cluster != nil {
		return true
	}
	for _, r := range m.Resources {
		if r.Kind == devfile.KindK8s {
			return true
		}
	}
	return false
}

// Name is kind_cluster()'s name (the Devfile defaults it to "kind"; an
// empty one is kindcluster's default).
func Name(c *devfile.Cluster) string {
	if c.Name == "" {
		return "devloop"
	}
	return c.Name
}

// ContextConflict refuses a --context that is not the context of the kind
// cluster the Devfile declares: devloop deploys to that cluster.
func ContextConflict(flag, kindContext string) error {
	if flag == "" || flag == kindContext {
		return nil
	}
	return fmt.Errorf("--context %s: the Devfile declares kind_cluster(), so devloop deploys to its context %s: drop --context, or remove kind_cluster() to deploy to %s", flag, kindContext, flag)
}
