package cluster

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/devloop-dev/devloop/builder"
	"github.com/devloop-dev/devloop/devfile"
	"github.com/devloop-dev/devloop/engine"
)

// Up prepares m's Kubernetes resources for devloop up (engine.Config.Kube):
// the cluster, a client of it, a builder reporting to progress and a live
// updater. A kind cluster it creates becomes the current context, as
// after kind create cluster. When the cluster cannot be used but local
// resources can still run, the error is in Kube.Err; it is returned only
// when nothing could run (or ctx ended). Progress and the outcome go to
// out, the cluster's creation steps as "devloop │ " lines unless
// o.Progress says otherwise. The returned func releases what was made.
func Up(ctx context.Context, m *devfile.Model, o Options, out io.Writer, progress func(ref string, ev builder.Progress)) (engine.Kube, func(), error) {
	o.SwitchContext = true // a cluster up creates is where kubectl goes next
	if o.Progress == nil {
		o.Progress = prefixWriter{w: out, prefix: "devloop │ "}
	}
	fmt.Fprintln(out, "devloop: preparing the Kubernetes cluster")
	c, err := Connect(ctx, m, o)
	switch {
	case err != nil && (ctx.Err() != nil || !hasLocal(m)):
		return engine.Kube{}, nil, err // interrupted, or nothing else could run
	case err != nil:
		fmt.Fprintf(out, "devloop: the Kubernetes resources cannot deploy, the local ones run: %v\n", err)
		return engine.Kube{Err: err}, func() {}, nil
	}
	fmt.Fprintf(out, "devloop: deploying to kube context %s", c.client.Context())
	if c.registry.Host != "" {
		fmt.Fprintf(out, ", images pushed to %s", c.registry.Host)
	}
	fmt.Fprintln(out)
	k, err := c.Kube(progress, true)
	if err != nil {
		c.Close()
		return engine.Kube{}, nil, err
	}
	return k, c.Close, nil
}

// Waiting is what Kubernetes resources wait for while Up runs
// (engine.Config.KubeWaiting).
func Waiting(m *devfile.Model) string {
	if m.Cluster != nil {
		return fmt.Sprintf("creating or starting kind cluster %s (progress in the terminal)", m.Cluster.Name)
	}
	return "connecting to the kube context"
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

// prefixWriter writes each line with a prefix (the cluster's progress, in
// the terminal's "name │ line" layout). Writers write whole lines.
type prefixWriter struct {
	w      io.Writer
	prefix string
}

func (p prefixWriter) Write(b []byte) (int, error) {
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if line == "" {
			continue
		}
		if _, err := io.WriteString(p.w, p.prefix+line); err != nil {
			return 0, err
		}
	}
	return len(b), nil
}
