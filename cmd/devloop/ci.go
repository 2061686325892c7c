package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/devloop-dev/devloop/builder"
	"github.com/devloop-dev/devloop/ci"
	"github.com/devloop-dev/devloop/cluster"
	"github.com/devloop-dev/devloop/devfile"
	"github.com/devloop-dev/devloop/engine"
	"github.com/devloop-dev/devloop/kindcluster"
	"github.com/devloop-dev/devloop/watch"
)

// Exit codes of devloop ci (docs/ci.md).
const (
	exitCIFailed      = 1   // the environment failed: a resource error, a timeout
	exitCIUsage       = 2   // bad flags or arguments, no Devfile, a Devfile error
	exitCIInterrupted = 130 // SIGINT or SIGTERM (128 + SIGINT, as shells report Ctrl-C)
)

// engineStopTimeout bounds the wait for the engine to stop its processes
// after the outcome: each process gets proc.DefaultGrace plus slack, and
// they stop in parallel; past this devloop exits and the supervisors end
// what is left.
const engineStopTimeout = 30 * time.Second

// ciConfig is what `devloop ci` was asked for.
type ciConfig struct {
	file string
	// timeout and readinessTimeout are the flags; zero when not given, so
	// that ci_settings() applies.
	timeout          time.Duration
	readinessTimeout time.Duration
	ephemeral        bool
	// namespace isolates the run: objects that name no namespace go there;
	// it is created first and deleted at the end.
	namespace  string
	junit      string
	args       []string
	supervisor []string
	logger     *slog.Logger
	// clusters creates and deletes the --ephemeral cluster.
	clusters cluster.Clusters
}

func newCICmd(s Streams) *cobra.Command {
	cfg := ciConfig{}
	cmd := &cobra.Command{
		Use:   "ci [-f PATH] [--timeout 30m] [--readiness-timeout 5m] [--ephemeral] [--namespace NAME] [--junit FILE] [-- ARGS]",
		Short: "Bring the Devfile's resources up once, exit 0 when all are ready, 1 on the first failure",
		Long: "Run the Devfile's resources without watching files. Exit 0 once every enabled resource\n" +
			"with auto_init=True is ready (local cmds exited 0, serve_cmds passed their readiness probe);\n" +
			"exit 1 on the first resource error, on a resource not ready within --readiness-timeout\n" +
			"after it started, or after --timeout; exit 2 on bad usage or a Devfile error; exit 130\n" +
			"when interrupted. Every process is stopped before devloop exits. See docs/ci.md.",
		RunE: func(cmd *cobra.Command, args []string) error {
			devArgs, err := devfileArgs(cmd, args)
			if err != nil {
				return &exitError{exitCIUsage, err}
			}
			for _, d := range []struct {
				name string
				v    time.Duration
			}{{"timeout", cfg.timeout}, {"readiness-timeout", cfg.readinessTimeout}} {
				if cmd.Flags().Changed(d.name) && d.v <= 0 {
					return &exitError{exitCIUsage, fmt.Errorf("--%s=%s: give a positive duration such as 10m", d.name, d.v)}
				}
			}
			if errs := validation.IsDNS1123Label(cfg.namespace); cfg.namespace != "" && len(errs) > 0 {
				return &exitError{exitCIUsage, fmt.Errorf("--namespace %q: %s", cfg.namespace, strings.Join(errs, "; "))}
			}
			cfg.args = devArgs
			exe, err := os.Executable()
			if err != nil {
				return fmt.Errorf("finding the devloop executable to supervise local commands: %w", err)
			}
			cfg.supervisor = []string{exe, "internal", "supervise"}
			m, err := kindcluster.New(kindcluster.Config{
				NodeImage:     os.Getenv("DEVLOOP_KIND_NODE_IMAGE"),
				RegistryImage: os.Getenv("DEVLOOP_REGISTRY_IMAGE"),
				Progress:      s.Err,
			})
			if err != nil {
				return err
			}
			cfg.clusters = m
			return runCI(cmd.Context(), cfg, s)
		},
	}
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &exitError{exitCIUsage, err} })
	f := cmd.Flags()
	f.StringVarP(&cfg.file, "file", "f", "", "path of the Devfile (default ./Devfile, then ./Tiltfile)")
	f.DurationVar(&cfg.timeout, "timeout", 0, "give up after this long (default ci_settings(timeout=), else 30m)")
	f.DurationVar(&cfg.readinessTimeout, "readiness-timeout", 0, "fail a resource not ready this long after it started (default ci_settings(readiness_timeout=), else 5m)")
	f.BoolVar(&cfg.ephemeral, "ephemeral", false, "run in a new kind cluster (and registry) with a unique name, deleted at the end")
	f.StringVar(&cfg.namespace, "namespace", "", "deploy the objects that name no namespace into NAME, created for the run and deleted at the end")
	f.StringVar(&cfg.junit, "junit", "", "write a JUnit XML report to FILE: one test case per resource")
	return cmd
}

// runCI runs the Devfile's resources once and decides the outcome.
func runCI(ctx context.Context, cfg ciConfig, s Streams) (err error) {
	s.Out = &syncWriter{w: s.Out}
	path, err := findDevfile(cfg.file)
	if err != nil {
		return &exitError{exitCIUsage, err}
	}
	opts := devfile.Options{Args: cfg.args, Subcommand: "ci", Stdout: s.Out}
	// k8s_namespace() answers the run's namespace (--namespace) if any.
	opts.KubeContext, opts.KubeNamespace = kubeFlags{namespace: cfg.namespace}.devfileKube()
	model, err := devfile.Load(ctx, path, opts)
	if err != nil {
		if ctx.Err() != nil {
			return &exitError{exitCIInterrupted, fmt.Errorf("devloop ci interrupted: %w", err)}
		}
		return &exitError{exitCIUsage, err}
	}
	fmt.Fprintf(s.Out, "devloop: ci: %s\n", path)
	forced := forceOnSecondSignal(s.Err)
	defer forced()

	ecfg := engine.Config{
		Model:   model,
		Watcher: noWatch{},
		Runner:  engine.ProcRunner{Supervisor: cfg.supervisor},
		Logger:  cfg.logger,
	}
	switch {
	case cluster.Needed(model):
		c, err := cluster.PrepareCI(ctx, model, cluster.CIOptions{
			Ephemeral: cfg.ephemeral,
			Namespace: cfg.namespace,
			Clusters:  cfg.clusters,
			Logger:    cfg.logger,
		}, s.Out)
		// Undone whatever happens next, also after an interrupt (then with
		// contexts of its own), once the engine stopped (defers run last
		// first).
		defer func() {
			if derr := c.Teardown(ctx); derr != nil {
				err = errors.Join(err, derr)
			}
		}()
		switch {
		case err != nil && ctx.Err() != nil:
			return &exitError{exitCIInterrupted, fmt.Errorf("devloop ci interrupted: %w", err)}
		case err != nil:
			return &exitError{exitCIFailed, err}
		}
		// The cluster is ready: the engine's builder, made with the
		// engine's progress, is all that is left (no live update in CI).
		ecfg.Kube = func(_ context.Context, _ *devfile.Model, progress func(string, builder.Progress)) (engine.Kube, error) {
			return c.Kube(progress, false)
		}
	case cfg.ephemeral || cfg.namespace != "":
		fmt.Fprintln(s.Out, "devloop: --ephemeral/--namespace: the Devfile has no Kubernetes resource and no kind_cluster(): nothing to create")
	}

	eng, err := engine.New(ecfg)
	if err != nil {
		return &exitError{exitCIUsage, err}
	}
	engCtx, stopEngine := context.WithCancel(context.WithoutCancel(ctx))
	defer stopEngine()
	engDone := make(chan error, 1)
	go func() { engDone <- eng.Run(engCtx) }()

	ccfg := ciSettings(cfg, model)
	p := &printer{out: s.Out, last: map[string]string{}}
	for _, r := range model.Resources {
		p.w = max(p.w, len(r.Name), len("devloop"))
	}
	res, runErr := ci.Run(ctx, eng, ccfg, ci.Observer{
		Line: func(l engine.LogLine) { p.line(l.Resource, l.Text) },
		View: func(v engine.View) { p.width(v); p.status(v) },
	})

	fmt.Fprintln(s.Out, "devloop: ci: stopping local processes")
	stopEngine()
	select {
	case engErr := <-engDone:
		if engErr != nil { // the engine's builder could not be made
			res.Outcome, res.Reason = ci.Failed, "preparing the Kubernetes cluster: "+engErr.Error()
		}
	case <-time.After(engineStopTimeout):
		fmt.Fprintf(s.Out, "devloop: ci: processes still stopping after %s; their supervisors end them\n", engineStopTimeout)
	}

	printSummary(s.Out, res, runErr)
	if cfg.junit != "" {
		if jerr := writeJUnitFile(cfg.junit, path, res); jerr != nil {
			return &exitError{exitCIFailed, errors.Join(jerr, outcomeErr(res, runErr))}
		}
		fmt.Fprintf(s.Out, "devloop: ci: JUnit report in %s\n", cfg.junit)
	}
	return outcomeErr(res, runErr)
}

// outcomeErr maps the outcome to the error main turns into an exit code.
func outcomeErr(res ci.Result, runErr error) error {
	switch {
	case runErr != nil:
		return &exitError{exitCIInterrupted, runErr}
	case res.Outcome == ci.Succeeded:
		return nil
	}
	return &exitError{exitCIFailed, errors.New(res.Reason)}
}

// ciSettings resolves the durations: a flag wins, then ci_settings(), then
// Tilt's defaults (package ci).
func ciSettings(cfg ciConfig, m *devfile.Model) ci.Config {
	c := ci.Config{
		Timeout:          m.Settings.CITimeout,
		ReadinessTimeout: m.Settings.CIReadinessTimeout,
		GracePeriod:      m.Settings.CIK8sGracePeriod,
		Required:         ci.Required(m),
	}
	if cfg.timeout > 0 {
		c.Timeout = cfg.timeout
	}
	if cfg.readinessTimeout > 0 {
		c.ReadinessTimeout = cfg.readinessTimeout
	}
	return c
}

// printSummary prints the outcome: what failed with its last lines, what
// was still waiting and why.
func printSummary(w io.Writer, r ci.Result, runErr error) {
	d := r.End.Sub(r.Start).Round(time.Millisecond)
	switch {
	case runErr != nil:
		fmt.Fprintf(w, "devloop: ci: INTERRUPTED after %s\n", d)
	case r.Outcome == ci.Succeeded:
		fmt.Fprintf(w, "devloop: ci: SUCCESS in %s: %d resource(s) ready", d, len(r.Filter(ci.StatusReady)))
		if n := len(r.Filter(ci.StatusSkipped)); n > 0 {
			fmt.Fprintf(w, ", %d not run (auto_init=False or disabled)", n)
		}
		fmt.Fprintln(w)
		if r.Reason != "" {
			fmt.Fprintf(w, "devloop: ci: %s\n", r.Reason)
		}
		return
	default:
		fmt.Fprintf(w, "devloop: ci: FAILED after %s: %s\n", d, r.Reason)
	}
	for _, f := range r.Failures() {
		fmt.Fprintf(w, "  ✗ %s: %s\n", f.Name, f.Reason)
		if len(f.Tail) > 0 {
			fmt.Fprintf(w, "    last lines of %s:\n", f.Name)
			for _, l := range f.Tail {
				fmt.Fprintf(w, "    │ %s\n", l)
			}
		}
	}
	for _, wr := range r.Waiting() {
		fmt.Fprintf(w, "  ○ %s still waiting: %s\n", wr.Name, wr.Reason)
	}
}

func writeJUnitFile(file, suite string, r ci.Result) error {
	f, err := os.Create(file)
	if err != nil {
		return fmt.Errorf("writing the JUnit report: %w (check the --junit path)", err)
	}
	if err := ci.WriteJUnit(f, suite, r); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing the JUnit report %s: %w", file, err)
	}
	return nil
}

// noWatch is the engine's Watcher in CI: nothing changes files there, and
// watching a big tree only costs inotify watches and start-up time.
type noWatch struct{}

func (noWatch) Watch(ctx context.Context, _ watch.Config, _ chan<- watch.Batch) error {
	<-ctx.Done()
	return nil
}
