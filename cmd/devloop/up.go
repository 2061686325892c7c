package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/devloop-dev/devloop/builder"
	"github.com/devloop-dev/devloop/cluster"
	"github.com/devloop-dev/devloop/devfile"
	"github.com/devloop-dev/devloop/engine"
	"github.com/devloop-dev/devloop/proc"
	"github.com/devloop-dev/devloop/watch"
	"github.com/devloop-dev/devloop/web"
)

// upConfig is what `devloop up` was asked for.
type upConfig struct {
	file   string
	host   string
	port   int
	stream bool
	// color colours resource names and status marks (useColor).
	color bool
	args  []string
	// allowRemote permits a --host that is not loopback (web.Config.AllowRemote).
	allowRemote bool
	// supervisor is the argv prefix local commands run under (see package
	// proc); empty runs them directly.
	supervisor []string
	logger     *slog.Logger
	// kube configures the cluster setup (tests pass fakes); its zero value
	// uses kind and the environment.
	kube cluster.Options
	// kubeFlags are --context and --namespace.
	kubeFlags kubeFlags
}

func newUpCmd(s Streams) *cobra.Command {
	cfg := upConfig{}
	cmd := &cobra.Command{
		Use:   "up [-f PATH] [-- ARGS]",
		Short: "Run the Devfile's resources, watch the sources, and serve the dashboard",
		Long: "Run the Devfile's resources, update them when their sources change, and serve the\n" +
			"dashboard and API. Arguments after -- go to config.parse(). Ctrl-C stops every\n" +
			"process devloop started; a second Ctrl-C exits at once.",
		RunE: func(cmd *cobra.Command, args []string) error {
			devArgs, err := devfileArgs(cmd, args)
			if err != nil {
				return err
			}
			cfg.args = devArgs
			if cfg.port, err = envPort(cfg.port); err != nil {
				return err
			}
			if cfg.host == "" {
				cfg.host = os.Getenv("DEVLOOP_HOST")
			}
			exe, err := os.Executable()
			if err != nil {
				return fmt.Errorf("finding the devloop executable to supervise local commands: %w", err)
			}
			cfg.supervisor = []string{exe, "internal", "supervise"}
			if f, ok := s.Out.(*os.File); ok {
				cfg.color = useColor(f, os.Getenv)
			}
			return runUp(cmd.Context(), cfg, s)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&cfg.file, "file", "f", "", "path of the Devfile (default ./Devfile, then ./Tiltfile)")
	f.StringVar(&cfg.host, "host", "", "address the dashboard and API listen on (default: $DEVLOOP_HOST, else 127.0.0.1)")
	f.IntVar(&cfg.port, "port", 0, "port of the dashboard and API (default: $DEVLOOP_PORT, else 10350)")
	f.BoolVar(&cfg.allowRemote, "allow-remote", false, "allow a --host that other machines reach (logs may carry secrets; remote clients need the token)")
	cfg.kubeFlags.register(cmd)
	f.BoolVar(&cfg.stream, "stream", true, "print every log line on the terminal (--stream=false: status changes only)")
	return cmd
}

// newInternalCmd holds hidden subcommands devloop runs itself.
func newInternalCmd(s Streams) *cobra.Command {
	internal := &cobra.Command{Use: "internal", Hidden: true, Short: "devloop's own helpers"}
	internal.AddCommand(&cobra.Command{
		Use:                "supervise [--grace D] [--parent PID] -- ARGV...",
		Short:              "Run ARGV in its own process group and end the group when devloop dies",
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			// The exit code is the command's: nothing to print, so exit here.
			os.Exit(proc.Supervise(args, s.Err))
			return nil
		},
	})
	return internal
}

// findDevfile returns the Devfile to load: file if given (a directory
// stands for the Devfile or Tiltfile in it), else ./Devfile, else ./Tiltfile.
func findDevfile(file string) (string, error) {
	dir := "."
	if file != "" {
		abs, err := filepath.Abs(file)
		if err != nil {
			return "", fmt.Errorf("Devfile %s: %w", file, err)
		}
		fi, err := os.Stat(abs)
		if err != nil {
			return "", fmt.Errorf("Devfile %s: %w (check the -f path)", file, err)
		}
		if !fi.IsDir() {
			return abs, nil
		}
		dir = abs
	}
	for _, name := range []string{"Devfile", "Tiltfile"} {
		abs, err := filepath.Abs(filepath.Join(dir, name))
		if err != nil {
			return "", err
		}
		if _, err := os.Stat(abs); err == nil {
			return abs, nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("Devfile %s: %w", abs, err)
		}
	}
	abs, _ := filepath.Abs(dir)
	return "", fmt.Errorf("no Devfile or Tiltfile in %s: create one, or pass -f PATH", abs)
}

// runUp loads the Devfile, then runs the engine and the web server until ctx
// is done, printing the dashboard URL, status changes and logs to s.Out.
func runUp(ctx context.Context, cfg upConfig, s Streams) error {
	s.Out = &syncWriter{w: s.Out}
	path, err := findDevfile(cfg.file)
	if err != nil {
		return err
	}
	opts := devfile.Options{Args: cfg.args, Subcommand: "up", Stdout: s.Out}
	opts.KubeContext, opts.KubeNamespace = cfg.kubeFlags.devfileKube()
	if cfg.kube.Context == "" {
		cfg.kube.Context = cfg.kubeFlags.context
	}
	if cfg.kube.Namespace == "" {
		cfg.kube.Namespace = cfg.kubeFlags.namespace
	}
	model, loadErr := devfile.Load(ctx, path, opts)
	var de *devfile.Error
	switch {
	case loadErr != nil && ctx.Err() != nil:
		return loadErr
	case errors.As(loadErr, &de):
		// A mistake in the Devfile: as Tilt does, devloop starts anyway,
		// shows the error and loads the Devfile again when it changes.
		abs, err := filepath.Abs(path)
		if err != nil {
			return err
		}
		model = &devfile.Model{Path: abs, Dependencies: de.Dependencies}
		fmt.Fprintf(s.Out, "devloop: Devfile error: %v\ndevloop: waiting for a fix: the Devfile loads again when it changes\n", loadErr)
	case loadErr != nil:
		return loadErr // no Devfile to watch: nothing to wait for
	}
	var ignore []string
	for _, name := range []string{".devloopignore", ".tiltignore"} {
		pats, err := watch.ReadIgnoreFile(filepath.Join(filepath.Dir(path), name))
		if err != nil {
			return err
		}
		ignore = append(ignore, pats...)
	}
	ecfg := engine.Config{
		Model:       model,
		LoadErr:     loadErr,
		WatchIgnore: ignore,
		Loader:      engine.LoaderFunc(func(ctx context.Context) (*devfile.Model, error) { return devfile.Load(ctx, path, opts) }),
		Runner:      engine.ProcRunner{Supervisor: cfg.supervisor},
		Logger:      cfg.logger,
	}
	// The dashboard and the local resources start at once; Kubernetes
	// resources wait, saying so, while the engine prepares the cluster (a
	// kind cluster takes a minute to create).
	// The engine asks for the cluster when the first model that needs one
	// is loaded (now, or after a fix or an edit of the Devfile).
	release := func() {}
	if loadErr == nil && cluster.Needed(model) {
		ecfg.KubeWaiting = cluster.Waiting(model)
	}
	ko := cfg.kube
	if ko.Logger == nil {
		ko.Logger = cfg.logger
	}
	ecfg.Kube = func(ctx context.Context, m *devfile.Model, progress func(string, builder.Progress)) (engine.Kube, error) {
		k, rel, err := cluster.Up(ctx, m, ko, s.Out, progress)
		if rel != nil {
			release = rel // read after the engine stopped
		}
		return k, err
	}
	eng, err := engine.New(ecfg)
	if err != nil {
		return err
	}
	srv, err := web.New(web.Config{Host: cfg.host, Port: cfg.port, AllowRemote: cfg.allowRemote, Logger: cfg.logger}, eng)
	if err != nil {
		return err
	}
	st := web.State{Host: cfg.host, Port: srv.Port(), Token: srv.Token(), PID: os.Getpid(), Devfile: path}
	if err := web.SaveState(st); err != nil {
		srv.Close()
		return err
	}
	defer web.RemoveState(st.Port)

	fmt.Fprintf(s.Out, "devloop: %s\n", path)
	fmt.Fprintf(s.Out, "devloop: dashboard at %s (Ctrl-C to stop)\n", srv.URL())

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return eng.Run(gctx) })
	g.Go(func() error { return srv.Serve(gctx) })
	g.Go(func() error {
		printStream(gctx, eng, s.Out, cfg.stream, cfg.color)
		return nil
	})
	forced := forceOnSecondSignal(s.Err)
	defer forced()
	err = g.Wait()
	release()
	fmt.Fprintln(s.Out, "devloop: stopped")
	return err
}

// signalEcho is how close two signals may be and still count as one: a
// person's second Ctrl-C takes far longer than a quarter second.
const signalEcho = 250 * time.Millisecond

// forceOnSecondSignal exits devloop at once on the second SIGINT or SIGTERM
// (the first one, seen by main's signal context, starts the clean shutdown). The supervisors of local commands still end
// their process groups when devloop exits. The returned func stops watching.
func forceOnSecondSignal(stderr io.Writer) func() {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		var first time.Time
		for {
			select {
			case <-sigs:
				if first.IsZero() {
					first = time.Now()
					continue
				}
				// timeout(1) and group-wide kills deliver one interrupt twice.
				if time.Since(first) > signalEcho {
					fmt.Fprintln(stderr, "devloop: second interrupt: exiting now; supervisors stop the local processes")
					os.Exit(130)
				}
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(sigs)
		close(done)
	}
}

// printStream prints status changes and, when logs is set, every log line as
// "name │ line", until ctx is done or the engine stops.
func printStream(ctx context.Context, eng *engine.Engine, out io.Writer, logs, color bool) {
	p := &printer{out: out, last: map[string]string{}, color: color}
	var cursor uint64
	for v := range eng.Subscribe(ctx) {
		p.width(v)
		if logs {
			for v.LogSeq > cursor {
				lines := eng.Logs("", cursor, 1000)
				if len(lines) == 0 {
					break
				}
				for _, l := range lines {
					p.line(l.Resource, l.Text)
				}
				cursor = lines[len(lines)-1].Seq
			}
		} else {
			cursor = v.LogSeq
		}
		p.status(v)
	}
	if ctx.Err() != nil {
		fmt.Fprintln(out, "devloop: stopping local processes (Ctrl-C again to exit at once)")
	}
}

// syncWriter serializes writes: the log printer and the Devfile's print()
// during a reload share the terminal.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (w *syncWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(b)
}

// printer remembers what it printed last, to print only changes.
type printer struct {
	out     io.Writer
	w       int
	last    map[string]string
	devfile string
	color   bool
}

func (p *printer) width(v engine.View) {
	p.w = len("devloop")
	for _, r := range v.Resources {
		p.w = max(p.w, len(r.Name))
	}
}

func (p *printer) line(name, text string) {
	if name == "" {
		name = "devloop"
	}
	if !p.color {
		fmt.Fprintf(p.out, "%-*s │ %s\n", p.w, name, text)
		return
	}
	c := nameColor(name)
	if name == "devloop" {
		c = sgrDim
	}
	fmt.Fprintf(p.out, "%s%-*s │%s %s\n", c, p.w, name, sgrReset, text)
}

// paint colours a status line by its mark: ● ready green, ✗ error red,
// ○ on the way yellow.
func (p *printer) paint(st string) string {
	if !p.color {
		return st
	}
	switch {
	case strings.HasPrefix(st, "●"):
		return sgrGreen + st + sgrReset
	case strings.HasPrefix(st, "✗"):
		return sgrRed + st + sgrReset
	case strings.HasPrefix(st, "○"):
		return sgrYellow + st + sgrReset
	}
	return st
}

func (p *printer) status(v engine.View) {
	if v.Devfile.Error != p.devfile {
		p.devfile = v.Devfile.Error
		if p.devfile != "" {
			p.line("", "Devfile error (the last good Devfile keeps running): "+p.devfile)
		}
	}
	for _, r := range v.Resources {
		st := statusText(r)
		if p.last[r.Name] == st {
			continue
		}
		p.last[r.Name] = st
		p.line(r.Name, p.paint(st))
	}
}

func statusText(r engine.ResourceView) string {
	switch r.Phase {
	case engine.PhaseReady:
		if u := r.LastUpdate; u != nil && !u.End.IsZero() {
			how := ""
			if u.LiveUpdate {
				how = "live update in "
			}
			return fmt.Sprintf("● ready (update %d, %s, %s%s)", u.ID, u.Reason, how, u.End.Sub(u.Start).Round(time.Millisecond))
		}
		return "● ready"
	case engine.PhaseError:
		// The last lines are in the stream above; the dashboard has them too.
		msg, _, _ := strings.Cut(r.Error, "; last lines:")
		msg, _, _ = strings.Cut(msg, "\n")
		return "✗ error: " + msg
	}
	s := "○ " + string(r.Phase)
	if r.Waiting != "" {
		s += ": " + r.Waiting
	}
	return s
}
