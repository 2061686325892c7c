package doctor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/devloop-dev/devloop/devfile"
	"github.com/devloop-dev/devloop/internal/dockercli"
	"github.com/devloop-dev/devloop/kube"
	"github.com/devloop-dev/devloop/web"
)

// checkDevfile reports whether the Devfile evaluated and what it needs.
func checkDevfile(m *devfile.Model, err error) Result {
	if errors.Is(err, fs.ErrNotExist) {
		return Result{Status: Fail, Check: "devfile", Found: err.Error(),
			Fix: "run `devloop doctor` in the project's directory, or pass the Devfile with -f PATH"}
	}
	if err != nil {
		// devfile errors read "PATH:LINE:COL: message".
		return Result{Status: Fail, Check: "devfile", Found: err.Error(),
			Fix: "correct the Devfile where the error points, then run `devloop doctor` again"}
	}
	var k8s, local int
	for _, r := range m.Resources {
		if r.Kind == devfile.KindK8s {
			k8s++
		} else {
			local++
		}
	}
	needs := []string{plural(local, "local resource"), plural(k8s, "k8s resource"), plural(len(m.Images), "image")}
	if m.Cluster != nil {
		needs = append(needs, fmt.Sprintf("kind_cluster %q", m.Cluster.Name))
	} else if k8s > 0 {
		needs = append(needs, "the current kube context (no kind_cluster)")
	}
	return Result{Status: OK, Check: "devfile", Found: m.Path + " evaluates: " + strings.Join(needs, ", ")}
}

func plural(n int, noun string) string {
	switch {
	case n == 1:
		return "1 " + noun
	case strings.HasSuffix(noun, "y"):
		return strconv.Itoa(n) + " " + strings.TrimSuffix(noun, "y") + "ies"
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// needsBuildKit reports whether m has images that BuildKit builds
// (docker_build; custom_build runs the user's command).
func needsBuildKit(m *devfile.Model) bool {
	return slices.ContainsFunc(m.Images, func(im devfile.Image) bool { return im.Kind != devfile.ImageCustom })
}

// dockerNeed says why m needs docker on this machine, or "" when it does
// not: kind runs its nodes in docker, and without BUILDKIT_HOST devloop
// runs its own buildkitd container.
func dockerNeed(m *devfile.Model, buildkitHost string) string {
	var why []string
	if m.Cluster != nil {
		why = append(why, fmt.Sprintf("kind_cluster %q runs in docker", m.Cluster.Name))
	}
	if needsBuildKit(m) && buildkitHost == "" {
		why = append(why, "without BUILDKIT_HOST, images build in devloop's buildkitd container")
	}
	if strings.HasPrefix(buildkitHost, "docker-container://") {
		why = append(why, "BUILDKIT_HOST is a docker container")
	}
	return strings.Join(why, "; ")
}

// checkDocker runs `docker info` within timeout when need says why docker
// is needed.
func checkDocker(ctx context.Context, run Runner, docker string, timeout time.Duration, need string) Result {
	if need == "" {
		return Result{Status: OK, Check: "docker", Found: "not needed: the Devfile declares no kind_cluster and no image that needs devloop's buildkitd"}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out, err := run.Run(ctx, docker, "info", "--format", "{{.ServerVersion}}")
	version := strings.TrimSpace(out)
	switch {
	case errors.Is(err, exec.ErrNotFound):
		return Result{Status: Fail, Check: "docker", Found: fmt.Sprintf("the docker CLI (%s) is not on PATH, and %s", docker, need),
			Fix: "install Docker (https://docs.docker.com/engine/install/), or set BUILDKIT_HOST and use a cluster without kind_cluster()"}
	case ctx.Err() != nil:
		return Result{Status: Fail, Check: "docker", Found: fmt.Sprintf("`docker info` did not answer within %s, and %s", timeout, need),
			Fix: "the daemon is stuck or still starting: restart it (`sudo systemctl restart docker`, or restart Docker Desktop)"}
	case err != nil && strings.Contains(err.Error(), "permission denied"):
		return Result{Status: Fail, Check: "docker", Found: fmt.Sprintf("the docker daemon refuses this user (%v), and %s", err, need),
			Fix: "`sudo usermod -aG docker $USER`, then log out and in again"}
	case err != nil || version == "":
		return Result{Status: Fail, Check: "docker", Found: fmt.Sprintf("the docker daemon is not answering (%v), and %s", err, need),
			Fix: "start docker: `sudo systemctl start docker` (Linux) or open Docker Desktop"}
	}
	return Result{Status: OK, Check: "docker", Found: fmt.Sprintf("daemon %s answering; needed: %s", version, need)}
}

// checkBuildKit checks that BUILDKIT_HOST, when set, is reachable: it
// dials unix:// and tcp:// addresses and asks docker whether a
// docker-container:// container runs; then ping, when given, asks BuildKit
// itself. BuildKit that the Devfile does not need is at worst a warning.
func checkBuildKit(ctx context.Context, host string, need bool, timeout time.Duration,
	dial func(ctx context.Context, network, address string) (net.Conn, error),
	ping func(ctx context.Context, address string) error, run Runner, docker string) Result {
	if host == "" {
		if need {
			return Result{Status: OK, Check: "buildkit", Found: "BUILDKIT_HOST is not set: devloop starts its own buildkitd container with docker"}
		}
		return Result{Status: OK, Check: "buildkit", Found: "not needed: the Devfile builds no images with docker_build"}
	}
	bad := Fail
	if !need {
		bad = Warn
	}
	fix := "start buildkitd there, point BUILDKIT_HOST at a running one (e.g. unix:///run/buildkit/buildkitd.sock), or unset it to let devloop run its own with docker"
	u, err := url.Parse(host)
	if err != nil {
		return Result{Status: bad, Check: "buildkit", Found: fmt.Sprintf("BUILDKIT_HOST=%s is not an address (%v)", host, err), Fix: fix}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var network, address string
	switch u.Scheme {
	case "unix":
		network, address = "unix", u.Path
		if address == "" {
			address = u.Host + u.Path
		}
	case "tcp":
		network, address = "tcp", u.Host
	case "docker-container":
		out, err := run.Run(ctx, docker, "inspect", "--format", "{{.State.Running}}", u.Host)
		if err != nil {
			return Result{Status: bad, Check: "buildkit", Found: fmt.Sprintf("BUILDKIT_HOST=%s: no such container (%v)", host, err), Fix: fix}
		}
		if strings.TrimSpace(out) != "true" {
			return Result{Status: bad, Check: "buildkit", Found: fmt.Sprintf("BUILDKIT_HOST=%s: the container is not running", host),
				Fix: fmt.Sprintf("`docker start %s`", u.Host)}
		}
		return pingBuildKit(ctx, host, bad, fix, ping, "its container is running")
	case "kube-pod":
		if ping == nil {
			return Result{Status: Warn, Check: "buildkit", Found: fmt.Sprintf("BUILDKIT_HOST=%s: not checked (reached through the cluster); `devloop up` reports it if unreachable", host)}
		}
		return pingBuildKit(ctx, host, bad, fix, ping, "")
	default:
		return Result{Status: bad, Check: "buildkit", Found: fmt.Sprintf("BUILDKIT_HOST=%s has an unknown scheme %q", host, u.Scheme),
			Fix: "use unix://, tcp://, docker-container:// or kube-pod://"}
	}
	conn, err := dial(ctx, network, address)
	if err != nil {
		return Result{Status: bad, Check: "buildkit", Found: fmt.Sprintf("BUILDKIT_HOST=%s is unreachable (%v)", host, err), Fix: fix}
	}
	conn.Close()
	return pingBuildKit(ctx, host, bad, fix, ping, "it accepts connections")
}

// pingBuildKit asks BuildKit at host to answer, when ping is given, after
// the address was found reachable (how says so).
func pingBuildKit(ctx context.Context, host string, bad Status, fix string, ping func(ctx context.Context, address string) error, how string) Result {
	if ping == nil {
		return Result{Status: OK, Check: "buildkit", Found: fmt.Sprintf("BUILDKIT_HOST=%s: %s", host, how)}
	}
	if err := ping(ctx, host); err != nil {
		found := fmt.Sprintf("BUILDKIT_HOST=%s does not answer as BuildKit (%v)", host, err)
		if how != "" {
			found = fmt.Sprintf("BUILDKIT_HOST=%s: %s, but does not answer as BuildKit (%v)", host, how, err)
		}
		return Result{Status: bad, Check: "buildkit", Found: found, Fix: fix}
	}
	return Result{Status: OK, Check: "buildkit", Found: fmt.Sprintf("BUILDKIT_HOST=%s: BuildKit answers", host)}
}

// countDirs counts the directories under tree that devloop watches,
// skipping .git and node_modules, until ctx is done; complete is false
// when the count stopped early.
func countDirs(ctx context.Context, tree fs.FS) (n int, complete bool) {
	stopped := errors.New("stopped")
	err := fs.WalkDir(tree, ".", func(p string, d fs.DirEntry, err error) error {
		if ctx.Err() != nil {
			return stopped
		}
		if err != nil || !d.IsDir() {
			return nil // unreadable entries are not watched either
		}
		if p != "." && (d.Name() == ".git" || d.Name() == "node_modules") {
			return fs.SkipDir
		}
		n++
		return nil
	})
	return n, err == nil
}

const (
	// recommendedWatches is the max_user_watches value the fix suggests:
	// what Tilt, VS Code and JetBrains recommend, about 0.5 GiB of kernel
	// memory at most.
	recommendedWatches = 524288
	// minInstances is the max_user_instances below which devloop fails:
	// devloop holds one inotify instance and each editor, language server
	// and file-watching tool holds its own.
	minInstances = 8
	// recommendedInstances is the max_user_instances value the fix suggests.
	recommendedInstances = 512
)

// checkInotify compares the inotify limits with the watches the tree
// needs (about one per directory). Other programs (editors, language
// servers) share the per-user limit, so less than twice the need warns.
func checkInotify(proc fs.FS, dirs int, complete bool) Result {
	watches, werr := readInt(proc, "max_user_watches")
	instances, ierr := readInt(proc, "max_user_instances")
	if errors.Is(werr, fs.ErrNotExist) && errors.Is(ierr, fs.ErrNotExist) {
		return Result{Status: OK, Check: "inotify", Found: "no /proc/sys/fs/inotify (not Linux): nothing to check"}
	}
	if werr != nil || ierr != nil {
		return Result{Status: Warn, Check: "inotify", Found: fmt.Sprintf("cannot read the limits (%v)", errors.Join(werr, ierr))}
	}
	tree := "the project has " + plural(dirs, "directory")
	if !complete {
		tree = "the project has at least " + plural(dirs, "directory") + " (counting stopped early)"
	}
	found := fmt.Sprintf("max_user_watches %d, max_user_instances %d; %s", watches, instances, tree)
	want := max(recommendedWatches, 2*dirs)
	var fixes []string
	status := OK
	switch {
	case watches < dirs:
		status = Fail
		found += ", more than the watches allowed"
	case watches < 2*dirs:
		status = Warn
		found += ", leaving little room for editors and other watchers"
	}
	if status != OK {
		fixes = append(fixes, sysctlFix("fs.inotify.max_user_watches", want))
	}
	if instances < minInstances {
		status = Fail
		found += fmt.Sprintf("; fewer than %d inotify instances", minInstances)
		fixes = append(fixes, sysctlFix("fs.inotify.max_user_instances", recommendedInstances))
	}
	return Result{Status: status, Check: "inotify", Found: found, Fix: strings.Join(fixes, " and ")}
}

func sysctlFix(key string, value int) string {
	return fmt.Sprintf("`sudo sysctl -w %s=%d` (keep it across reboots: `echo %s=%d | sudo tee -a /etc/sysctl.d/99-devloop.conf`)", key, value, key, value)
}

func readInt(fsys fs.FS, name string) (int, error) {
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(string(bytes.TrimSpace(b)))
	if err != nil {
		return 0, fmt.Errorf("reading %s: %w", name, err)
	}
	return n, nil
}

// checkPort reports whether the dashboard port is free on 127.0.0.1, or
// held by a running devloop (its state file says so), or by another program.
func checkPort(port int, state func(port int) (web.State, error)) Result {
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err == nil {
		ln.Close()
		return Result{Status: OK, Check: "port", Found: fmt.Sprintf("%d is free for the dashboard", port)}
	}
	if st, serr := state(port); serr == nil {
		found := fmt.Sprintf("%d is held by a running devloop (pid %d", port, st.PID)
		if st.Devfile != "" {
			found += ", Devfile " + st.Devfile
		}
		return Result{Status: Warn, Check: "port", Found: found + ")",
			Fix: fmt.Sprintf("stop it with Ctrl-C in its terminal (or `kill %d`), or run this one elsewhere: `devloop up --port N`", st.PID)}
	}
	return Result{Status: Fail, Check: "port", Found: fmt.Sprintf("%d is in use by another program (%v)", port, err),
		Fix: fmt.Sprintf("stop that program (find it with `ss -ltnp 'sport = :%d'` or `lsof -i :%d`), or use another port: `devloop up --port N`", port, port)}
}

// runningDaemon returns the state file of the devloop on port when its
// process is still alive: a devloop that crashed leaves its file behind.
func runningDaemon(port int) (web.State, error) {
	st, err := web.LoadState(port)
	if err != nil {
		return st, err
	}
	if st.PID <= 0 {
		return st, fmt.Errorf("the daemon state for port %d names no process", port)
	}
	p, err := os.FindProcess(st.PID)
	if err == nil {
		err = p.Signal(syscall.Signal(0))
	}
	if err != nil && !errors.Is(err, syscall.EPERM) {
		return st, fmt.Errorf("the devloop of the daemon state for port %d (pid %d) is gone: %w", port, st.PID, err)
	}
	return st, nil
}

// checkKube reports whether devloop may deploy to the current kube
// context, when the Devfile has k8s resources and no kind_cluster.
func checkKube(m *devfile.Model, name, server string, err error) Result {
	k8s := slices.ContainsFunc(m.Resources, func(r devfile.Resource) bool { return r.Kind == devfile.KindK8s })
	switch {
	case !k8s:
		return Result{Status: OK, Check: "kube", Found: "not needed: the Devfile has no k8s resources"}
	case m.Cluster != nil:
		return Result{Status: OK, Check: "kube", Found: fmt.Sprintf("the Devfile's kind_cluster %q is used, not the current context", m.Cluster.Name)}
	case err != nil:
		return Result{Status: Fail, Check: "kube", Found: fmt.Sprintf("reading kubeconfig: %v", err),
			Fix: "repair KUBECONFIG (or ~/.kube/config), or declare kind_cluster() in the Devfile"}
	case name == "":
		return Result{Status: Fail, Check: "kube", Found: "kubeconfig has no current context",
			Fix: "declare kind_cluster() in the Devfile, or select a local cluster with `kubectl config use-context NAME`"}
	}
	if cerr := kube.CheckContext(name, server, m.Settings.AllowedContexts); cerr != nil {
		return Result{Status: Fail, Check: "kube", Found: fmt.Sprintf("current context %q (server %s) is not a local cluster and the Devfile does not allow it", name, server),
			Fix: fmt.Sprintf("add allow_k8s_contexts(%q) to the Devfile if you mean to deploy there, or `kubectl config use-context` a local cluster", name)}
	}
	if kube.IsLocalContext(name, server) {
		return Result{Status: OK, Check: "kube", Found: fmt.Sprintf("current context %q (server %s) is a local cluster", name, server)}
	}
	return Result{Status: OK, Check: "kube", Found: fmt.Sprintf("current context %q (server %s) is not local; the Devfile allows it with allow_k8s_contexts", name, server)}
}

// imageVars are the variables air-gapped users set to mirrored images.
var imageVars = []struct{ name, what string }{
	{"DEVLOOP_KIND_NODE_IMAGE", "kind node image"},
	{"DEVLOOP_REGISTRY_IMAGE", "local registry image"},
	{"DEVLOOP_BUILDKIT_IMAGE", "managed buildkitd image"},
}

// checkImageVars reports the air-gapped image variables that are set.
func checkImageVars(getenv func(string) string) []Result {
	var rs []Result
	for _, v := range imageVars {
		if val := getenv(v.name); val != "" {
			rs = append(rs, Result{Status: OK, Check: "images", Found: fmt.Sprintf("%s=%s (%s)", v.name, val, v.what)})
		}
	}
	return rs
}

// currentKubeContext reads the current context and its API server from
// the kubeconfig files (KUBECONFIG, else ~/.kube/config), as kubectl
// merges them.
func currentKubeContext() (name, server string, err error) {
	raw, err := clientcmd.NewDefaultClientConfigLoadingRules().Load()
	if err != nil {
		return "", "", err
	}
	name = raw.CurrentContext
	if c, ok := raw.Contexts[name]; ok {
		if cl, ok := raw.Clusters[c.Cluster]; ok {
			server = cl.Server
		}
	}
	return name, server, nil
}

// execRunner is the doctor's default Runner: the docker CLI run by
// internal/dockercli, which builder and kindcluster use too.
type execRunner = dockercli.Exec
