// Package kube is devloop's face on a Kubernetes cluster: it applies
// objects by server-side apply with built images injected, finds the pods of
// applied workloads through owner references, reports their readiness and
// failures as a typed status, streams their logs, port-forwards to them as
// they are replaced, and runs commands in containers.
package kube

import (
	"fmt"
	"io"
	"log/slog"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
)

// fieldManager is the server-side apply field manager devloop applies as.
const fieldManager = "devloop"

// Config configures a Client. The zero value uses the current context of
// the default kubeconfig (KUBECONFIG, else ~/.kube/config).
type Config struct {
	// Kubeconfig is the kubeconfig file; empty means the default loading rules.
	Kubeconfig string
	// Context is the kube context to use; empty means the current context.
	Context string
	// Namespace is the namespace of namespaced objects that name none; empty
	// means the context's namespace, else "default".
	Namespace string
	// AllowedContexts are the non-local contexts Apply may deploy to
	// (the Devfile's allow_k8s_contexts()).
	AllowedContexts []string
	// Logger receives debug logs; nil discards them.
	Logger *slog.Logger
}

// Client talks to one cluster through one kube context.
type Client struct {
	cfg       Config
	log       *slog.Logger
	rest      *rest.Config
	cs        kubernetes.Interface
	dyn       dynamic.Interface
	mapper    meta.ResettableRESTMapper
	context   string
	server    string
	namespace string
	watch     watchState
}

// New loads the kube context cfg names and returns a client for it. It does
// not contact the cluster.
func New(cfg Config) (*Client, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if cfg.Kubeconfig != "" {
		rules.ExplicitPath = cfg.Kubeconfig
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: cfg.Context})
	raw, err := cc.RawConfig()
	if err != nil {
		return nil, fmt.Errorf("reading kubeconfig: %w", err)
	}
	name := cfg.Context
	if name == "" {
		name = raw.CurrentContext
	}
	if name == "" {
		return nil, fmt.Errorf("kubeconfig has no current context: declare kind_cluster() in the Devfile or select a cluster with `kubectl config use-context`")
	}
	kctx, ok := raw.Contexts[name]
	if !ok {
		return nil, fmt.Errorf("kube context %q is not in the kubeconfig: list the contexts with `kubectl config get-contexts`", name)
	}
	rc, err := cc.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kube context %q: %w", name, err)
	}
	ns := cfg.Namespace
	if ns == "" {
		ns = kctx.Namespace
	}
	if ns == "" {
		ns = "default"
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("kube context %q: %w", name, err)
	}
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("kube context %q: %w", name, err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(cs.Discovery()))
	c := newClient(cfg, rc, cs, dyn, mapper)
	c.context, c.namespace = name, ns
	if cl, ok := raw.Clusters[kctx.Cluster]; ok {
		c.server = cl.Server
	}
	return c, nil
}

// newClient builds a Client around the given clients; tests pass fakes.
func newClient(cfg Config, rc *rest.Config, cs kubernetes.Interface, dyn dynamic.Interface, mapper meta.ResettableRESTMapper) *Client {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	ns := cfg.Namespace
	if ns == "" {
		ns = "default"
	}
	return &Client{cfg: cfg, log: log, rest: rc, cs: cs, dyn: dyn, mapper: mapper, context: cfg.Context, namespace: ns}
}

// Context returns the name of the kube context the client uses.
func (c *Client) Context() string { return c.context }

// Server returns the API server URL of the client's context.
func (c *Client) Server() string { return c.server }

// Namespace returns the namespace used for objects that name none.
func (c *Client) Namespace() string { return c.namespace }
