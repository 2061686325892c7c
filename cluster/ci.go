package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/devloop-dev/devloop/devfile"
	"github.com/devloop-dev/devloop/kindcluster"
	"github.com/devloop-dev/devloop/kube"
)

// deleteTimeout bounds the deletion of an ephemeral cluster or of the
// run's namespace at the end: kind deletes a node container in seconds;
// two minutes cover a loaded machine while a stuck docker still cannot
// hold a CI job forever.
const deleteTimeout = 2 * time.Minute

// Clusters creates and deletes kind clusters (*kindcluster.Manager).
type Clusters interface {
	Ensure(ctx context.Context, c devfile.Cluster) (*kindcluster.Info, error)
	Delete(ctx context.Context, name string) error
}

var _ Clusters = (*kindcluster.Manager)(nil)

// CIOptions say where one devloop ci run deploys.
type CIOptions struct {
	// Ephemeral runs in a new kind cluster (and registry) with a unique
	// name, deleted by Teardown.
	Ephemeral bool
	// Namespace, when set, isolates the run: objects that name no
	// namespace go there; it is created first and deleted by Teardown.
	Namespace string
	// Clusters ensures the Devfile's kind cluster (or the ephemeral one)
	// and deletes the ephemeral one.
	Clusters Clusters
	Logger   *slog.Logger
	// Getenv reads the environment; nil means os.Getenv.
	Getenv func(string) string
}

// CI is the cluster of one devloop ci run, and what Teardown undoes.
type CI struct {
	// Cluster is nil until it was connected.
	*Cluster
	o   CIOptions
	out io.Writer
	// ephemeral and namespace are the cluster and namespace to delete.
	ephemeral, namespace string
}

// PrepareCI prepares m's cluster for a devloop ci run: the ephemeral kind
// cluster with o.Ephemeral, a client of it, and o.Namespace created in it.
// What it does and the cluster's creation steps go to out. The CI it
// returns, also with an error, must be torn down: Teardown undoes what was
// done.
func PrepareCI(ctx context.Context, m *devfile.Model, o CIOptions, out io.Writer) (*CI, error) {
	r := &CI{o: o, out: out}
	km := m
	if o.Ephemeral {
		c, err := ephemeral(m)
		if err != nil {
			return r, err
		}
		r.ephemeral = c.Name
		fmt.Fprintf(out, "devloop: --ephemeral: creating kind cluster %s (registry on 127.0.0.1:%d)\n", c.Name, c.RegistryPort)
		eph := *m
		eph.Cluster = &c
		km = &eph
	}
	if o.Namespace != "" {
		ns := *km
		ns.Settings.Namespace = o.Namespace
		km = &ns
	}
	fmt.Fprintln(out, "devloop: preparing the Kubernetes cluster")
	c, err := Connect(ctx, km, Options{
		Ensure:   o.Clusters.Ensure,
		Progress: prefixWriter{w: out, prefix: "devloop │ "},
		Logger:   o.Logger,
		Getenv:   o.Getenv,
	})
	if err != nil {
		return r, fmt.Errorf("preparing the Kubernetes cluster: %w", err)
	}
	r.Cluster = c
	if o.Namespace != "" {
		r.namespace = o.Namespace
		if err := createNamespace(ctx, c.client, o.Namespace, out); err != nil {
			return r, err
		}
	}
	fmt.Fprintf(out, "devloop: deploying to kube context %s\n", c.client.Context())
	return r, nil
}

// Teardown deletes the run's namespace, closes the cluster's client and
// deletes the ephemeral cluster, with contexts of their own: ctx may be
// done (an interrupt) and they must go anyway.
func (r *CI) Teardown(ctx context.Context) error {
	var errs []error
	if r.Cluster != nil {
		if r.namespace != "" {
			errs = append(errs, deleteNamespace(ctx, r.client, r.namespace, r.out))
		}
		r.Close()
	}
	if r.ephemeral != "" {
		errs = append(errs, deleteEphemeral(ctx, r.o.Clusters, r.ephemeral, r.out))
	}
	return errors.Join(errs...)
}

// ephemeral is the Devfile's kind_cluster() (or a default one with a
// registry) under a unique name, with its registry on a free port, so that
// runs in parallel on one machine do not meet.
func ephemeral(m *devfile.Model) (devfile.Cluster, error) {
	c := devfile.Cluster{Registry: true}
	if m.Cluster != nil {
		c = *m.Cluster
	}
	name, err := ephemeralName()
	if err != nil {
		return c, err
	}
	c.Name = name
	if c.Registry {
		port, err := freeLocalPort()
		if err != nil {
			return c, fmt.Errorf("choosing a port for the ephemeral registry: %w", err)
		}
		c.RegistryPort = port
	}
	return c, nil
}

// ephemeralPrefix starts the name of every ephemeral cluster, so that one
// left behind by a killed run is recognizable (`kind get clusters`).
const ephemeralPrefix = "devloop-ci-"

// ephemeralName returns a new cluster name: the prefix and 8 random hex
// digits (4 billion names; kind limits names to 50 characters).
func ephemeralName() (string, error) {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("naming the ephemeral kind cluster: %w", err)
	}
	return ephemeralPrefix + hex.EncodeToString(b), nil
}

func freeLocalPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// deleteEphemeral deletes the ephemeral cluster name with a context of its
// own: ctx may be done (interrupt) and the cluster must go anyway.
func deleteEphemeral(ctx context.Context, c Clusters, name string, out io.Writer) error {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), deleteTimeout)
	defer cancel()
	fmt.Fprintf(out, "devloop: --ephemeral: deleting kind cluster %s (if this is cut short: devloop cluster delete --name %s)\n", name, name)
	if err := c.Delete(dctx, name); err != nil {
		return fmt.Errorf("deleting the ephemeral kind cluster %s: %w (delete it with `devloop cluster delete --name %s`)", name, err, name)
	}
	return nil
}

// namespaceObject is the Namespace of --namespace.
func namespaceObject(name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("v1")
	u.SetKind("Namespace")
	u.SetName(name)
	return u
}

// createNamespace applies the run's namespace (labelled as devloop's, so
// that it is the only kind of namespace deleteNamespace deletes).
func createNamespace(ctx context.Context, c *kube.Client, name string, out io.Writer) error {
	fmt.Fprintf(out, "devloop: --namespace: creating namespace %s\n", name)
	if _, err := c.Apply(ctx, []*unstructured.Unstructured{namespaceObject(name)}, nil); err != nil {
		return fmt.Errorf("creating namespace %s for the run: %w", name, err)
	}
	return nil
}

// deleteNamespace deletes the run's namespace and everything in it, with
// a context of its own (ctx may be done after an interrupt).
func deleteNamespace(ctx context.Context, c *kube.Client, name string, out io.Writer) error {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), deleteTimeout)
	defer cancel()
	fmt.Fprintf(out, "devloop: --namespace: deleting namespace %s\n", name)
	if _, err := c.DeleteManaged(dctx, []*unstructured.Unstructured{namespaceObject(name)}, kube.DownOptions{DeleteNamespaces: true}); err != nil {
		return fmt.Errorf("deleting namespace %s: %w (delete it with `kubectl delete namespace %s`)", name, err, name)
	}
	return nil
}
