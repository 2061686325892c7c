// Package doctor checks that this machine can run a Devfile: the Devfile
// evaluates, docker and BuildKit answer when it needs them, inotify limits
// fit the source tree, the dashboard port is free, the kube context is safe.
// Each check is a small function over a narrow seam and yields one Result.
package doctor

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"time"

	"github.com/devloop-dev/devloop/devfile"
	"github.com/devloop-dev/devloop/web"
)

// Status is the outcome of one check.
type Status int

const (
	// OK means nothing to do.
	OK Status = iota
	// Warn means devloop works, but something deserves attention.
	Warn
	// Fail means devloop will not work until the fix is applied.
	Fail
)

// Symbol is the mark printed before a check's line.
func (s Status) Symbol() string {
	switch s {
	case OK:
		return "✓"
	case Warn:
		return "!"
	}
	return "✗"
}

// Result is what one check found and, for a problem, the exact fix.
type Result struct {
	Status Status
	// Check names the check: "devfile", "docker", "buildkit", ...
	Check string
	// Found says what the check found.
	Found string
	// Fix is the command or edit that solves the problem; empty when OK.
	Fix string
}

// String is the result's line: "✗ docker: ...; fix: ...".
func (r Result) String() string {
	s := r.Status.Symbol() + " " + r.Check + ": " + r.Found
	if r.Fix != "" {
		s += "; fix: " + r.Fix
	}
	return s
}

// Config says what to check. Its zero value, with Devfile set, checks the
// defaults `devloop up` would use.
type Config struct {
	// Dir is the project directory whose tree devloop watches (the
	// Devfile's directory); default ".".
	Dir string
	// Port is the dashboard port; default web.DefaultPort.
	Port int
	// Docker is the docker CLI; default "docker".
	Docker string
	// DockerTimeout bounds `docker info` and each dial; default 10s: a
	// healthy daemon answers in well under a second, a starting Docker
	// Desktop can take several.
	DockerTimeout time.Duration
	// ScanTimeout bounds counting the directories under Dir; default 2s,
	// enough for ~100k directories on a warm cache, short enough not to
	// make the first command of a new hire feel stuck.
	ScanTimeout time.Duration
	// Getenv reads the environment; default os.Getenv.
	Getenv func(string) string
}

// Runner runs a program and returns its standard output; on failure the
// error carries its standard error. It is the seam over the docker CLI.
type Runner interface {
	Run(ctx context.Context, argv ...string) (string, error)
}

// Deps are the seams the checks reach the machine through; nil fields get
// the real implementation.
type Deps struct {
	// Load evaluates the Devfile.
	Load func(ctx context.Context) (*devfile.Model, error)
	// Runner runs the docker CLI.
	Runner Runner
	// Dial connects to BuildKit's address.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
	// BuildKit asks the BuildKit at address (BUILDKIT_HOST) to answer,
	// after the address accepted a connection; nil skips that question
	// (the package then needs no BuildKit client).
	BuildKit func(ctx context.Context, address string) error
	// Inotify holds max_user_watches and max_user_instances; default
	// /proc/sys/fs/inotify.
	Inotify fs.FS
	// Tree is the project tree counted for inotify; default Config.Dir.
	Tree fs.FS
	// DaemonState returns the state of the devloop running on a port, or an
	// error when none runs there; default web.LoadState when the process
	// it names is alive.
	DaemonState func(port int) (web.State, error)
	// KubeContext returns the current kube context and its API server.
	KubeContext func() (name, server string, err error)
}

// Doctor runs the checks.
type Doctor struct {
	cfg Config
	d   Deps
}

// New returns a Doctor for cfg; d.Load is required.
func New(cfg Config, d Deps) (*Doctor, error) {
	if d.Load == nil {
		return nil, fmt.Errorf("doctor: Deps.Load is nil")
	}
	if cfg.Dir == "" {
		cfg.Dir = "."
	}
	if cfg.Port == 0 {
		cfg.Port = web.DefaultPort
	}
	if cfg.Port < 0 || cfg.Port > 65535 {
		return nil, fmt.Errorf("port %d is out of range: use 1-65535", cfg.Port)
	}
	if cfg.Docker == "" {
		cfg.Docker = "docker"
	}
	if cfg.DockerTimeout == 0 {
		cfg.DockerTimeout = 10 * time.Second
	}
	if cfg.ScanTimeout == 0 {
		cfg.ScanTimeout = 2 * time.Second
	}
	if cfg.Getenv == nil {
		cfg.Getenv = os.Getenv
	}
	if d.Runner == nil {
		d.Runner = execRunner{}
	}
	if d.Dial == nil {
		var dialer net.Dialer
		d.Dial = dialer.DialContext
	}
	if d.Inotify == nil {
		d.Inotify = os.DirFS("/proc/sys/fs/inotify")
	}
	if d.Tree == nil {
		d.Tree = os.DirFS(cfg.Dir)
	}
	if d.DaemonState == nil {
		d.DaemonState = runningDaemon
	}
	if d.KubeContext == nil {
		d.KubeContext = currentKubeContext
	}
	return &Doctor{cfg: cfg, d: d}, nil
}

// Run runs every check, writes each result's line to w as it comes, and
// returns the results.
func (d *Doctor) Run(ctx context.Context, w io.Writer) ([]Result, error) {
	var results []Result
	emit := func(rs ...Result) error {
		for _, r := range rs {
			results = append(results, r)
			if _, err := fmt.Fprintln(w, r.String()); err != nil {
				return err
			}
		}
		return nil
	}
	m, err := d.d.Load(ctx)
	if err := emit(checkDevfile(m, err)); err != nil {
		return results, err
	}
	buildkitHost := d.cfg.Getenv("BUILDKIT_HOST")
	if m != nil {
		docker := checkDocker(ctx, d.d.Runner, d.cfg.Docker, d.cfg.DockerTimeout, dockerNeed(m, buildkitHost))
		if err := emit(docker); err != nil {
			return results, err
		}
		bk := checkBuildKit(ctx, buildkitHost, needsBuildKit(m), d.cfg.DockerTimeout, d.d.Dial, d.d.BuildKit, d.d.Runner, d.cfg.Docker)
		if buildkitHost == "" && needsBuildKit(m) && docker.Status == Fail {
			bk = Result{Status: Fail, Check: "buildkit", Found: "BUILDKIT_HOST is not set and docker does not answer, so devloop cannot start its own buildkitd",
				Fix: "make docker answer (see the docker line), or point BUILDKIT_HOST at a running buildkitd"}
		}
		if err := emit(bk); err != nil {
			return results, err
		}
		if m.Cluster != nil && docker.Status == OK {
			if err := emit(checkCluster(ctx, d.d.Runner, d.cfg.Docker, d.cfg.DockerTimeout, *m.Cluster, d.cfg.Getenv)...); err != nil {
				return results, err
			}
		}
	}
	scanCtx, cancel := context.WithTimeout(ctx, d.cfg.ScanTimeout)
	dirs, complete := countDirs(scanCtx, d.d.Tree)
	cancel()
	if err := emit(checkInotify(d.d.Inotify, dirs, complete)); err != nil {
		return results, err
	}
	if err := emit(checkPort(d.cfg.Port, d.d.DaemonState)); err != nil {
		return results, err
	}
	if m != nil {
		if err := emit(checkForwards(m)...); err != nil {
			return results, err
		}
	}
	if m != nil {
		name, server, err := d.d.KubeContext()
		if err := emit(checkKube(m, name, server, err)); err != nil {
			return results, err
		}
	}
	if err := emit(checkImageVars(d.cfg.Getenv)...); err != nil {
		return results, err
	}
	return results, nil
}

// Failed counts the results whose status is Fail.
func Failed(rs []Result) int {
	n := 0
	for _, r := range rs {
		if r.Status == Fail {
			n++
		}
	}
	return n
}
