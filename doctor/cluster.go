package doctor

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/devloop-dev/devloop/devfile"
	"github.com/devloop-dev/devloop/kindcluster"
)

// checkCluster looks at what creating the Devfile's kind_cluster() needs,
// without creating anything: whether the cluster exists already (then
// `devloop up` reuses it), else whether its node image and registry image
// are on this machine (otherwise kind pulls them, which an offline machine
// cannot), and whether the registry port is free or held by the cluster's
// own registry. It runs only when docker answers.
func checkCluster(ctx context.Context, run Runner, docker string, timeout time.Duration, c devfile.Cluster, getenv func(string) string) []Result {
	plan, err := kindcluster.PlanFor(c, kindcluster.Config{NodeImage: getenv("DEVLOOP_KIND_NODE_IMAGE"), RegistryImage: getenv("DEVLOOP_REGISTRY_IMAGE")})
	if err != nil {
		return []Result{{Status: Fail, Check: "cluster", Found: err.Error(), Fix: "fix kind_cluster() in the Devfile"}}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	state := func(container string) string {
		out, err := run.Run(ctx, docker, "ps", "-a", "--filter", "name=^"+container+"$", "--format", "{{.State}}")
		if err != nil {
			return ""
		}
		return strings.TrimSpace(out)
	}
	present := func(image string) bool {
		_, err := run.Run(ctx, docker, "image", "inspect", "--format", "{{.Id}}", image)
		return err == nil
	}
	var rs []Result
	if st := state(plan.ControlPlane); st != "" {
		found := fmt.Sprintf("kind cluster %s exists (%s); devloop up reuses it", plan.Name, st)
		if st != "running" {
			found = fmt.Sprintf("kind cluster %s exists but is %s; devloop up starts it", plan.Name, st)
		}
		rs = append(rs, Result{Status: OK, Check: "cluster", Found: found})
	} else if present(plan.NodeImage) {
		rs = append(rs, Result{Status: OK, Check: "cluster", Found: fmt.Sprintf("kind cluster %s does not exist yet; devloop up creates it from node image %s (on this machine)", plan.Name, plan.NodeImage)})
	} else {
		rs = append(rs, Result{Status: Warn, Check: "cluster",
			Found: fmt.Sprintf("kind cluster %s does not exist yet and its node image %s is not on this machine: devloop up pulls it (hundreds of MB)", plan.Name, plan.NodeImage),
			Fix:   kindcluster.MirrorHint(plan.NodeImage, "DEVLOOP_KIND_NODE_IMAGE (or kind_cluster(node_image=))")})
	}
	if !plan.Registry {
		return rs
	}
	regState := state(plan.RegistryContainer)
	if regState == "" && !present(plan.RegistryImage) {
		rs = append(rs, Result{Status: Warn, Check: "registry",
			Found: fmt.Sprintf("the registry image %s is not on this machine: devloop up pulls it", plan.RegistryImage),
			Fix:   kindcluster.MirrorHint(plan.RegistryImage, "DEVLOOP_REGISTRY_IMAGE (or kind_cluster(registry_image=))")})
	}
	port := strconv.Itoa(plan.RegistryPort)
	switch {
	case portFree(plan.RegistryPort, "127.0.0.1"):
		rs = append(rs, Result{Status: OK, Check: "registry", Found: fmt.Sprintf("port %s on 127.0.0.1 is free for the cluster's registry", port)})
	case regState == "running":
		rs = append(rs, Result{Status: OK, Check: "registry", Found: fmt.Sprintf("port %s is the cluster's registry %s, running", port, plan.RegistryContainer)})
	default:
		rs = append(rs, Result{Status: Fail, Check: "registry", Found: fmt.Sprintf("the registry port %s on 127.0.0.1 is in use by another program", port),
			Fix: fmt.Sprintf("stop it (`ss -ltnp 'sport = :%s'` finds it) or give the cluster another: kind_cluster(registry_port=N)", port)})
	}
	return rs
}

// checkForwards reports the port_forwards whose local port is already
// taken on this machine: devloop up's forward of that resource would fail.
// A devloop already running this Devfile holds them itself, so it is a
// warning either way.
func checkForwards(m *devfile.Model) []Result {
	var busy []string
	n := 0
	for _, r := range m.Resources {
		for _, pf := range r.PortForwards {
			n++
			host := pf.Host
			if host == "" {
				host = "127.0.0.1"
			}
			if !portFree(pf.Local, host) {
				busy = append(busy, fmt.Sprintf("%s:%d (%s)", host, pf.Local, r.Name))
			}
		}
	}
	switch {
	case n == 0:
		return nil
	case len(busy) == 0:
		return []Result{{Status: OK, Check: "forwards", Found: fmt.Sprintf("%s, every local port free", plural(n, "port forward"))}}
	}
	return []Result{{Status: Warn, Check: "forwards", Found: "in use: " + strings.Join(busy, ", ") + "; those forwards fail until the port is free",
		Fix: "stop what listens there (a devloop up of this Devfile holds them itself; `ss -ltnp` finds others) or change port_forwards"}}
}

// portFree reports whether port can be listened on at host.
func portFree(port int, host string) bool {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return false
	}
	ln.Close()
	return true
}
