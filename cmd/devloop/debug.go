package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/devloop-dev/devloop/watch"
)

func newDebugCmd(s Streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "debug",
		Short: "Look into devloop's machinery",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newDebugWatchCmd(s))
	return cmd
}

// debugWatchConfig is what `devloop debug watch` runs with.
type debugWatchConfig struct {
	Watch watch.Config
	Dir   string // paths under it print relative to it
}

func newDebugWatchCmd(s Streams) *cobra.Command {
	var quiet, maxWait time.Duration
	cmd := &cobra.Command{
		Use:   "watch [PATH...]",
		Short: "Print the file changes devloop sees, batch by batch",
		Long: `Watch PATHs (default: the current directory) the way devloop up does and print
each batch of changes as it comes, to find out what an ignore rule covers.

The .devloopignore of the current directory applies everywhere, and the
.dockerignore of each directory PATH applies below it. .git and editor
temporary files are never reported. Stop with Ctrl-C.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			cwd, err := os.Getwd()
			if err != nil {
				return fmt.Errorf("finding the current directory: %w", err)
			}
			cfg, err := newDebugWatchConfig(cwd, args, quiet, maxWait)
			if err != nil {
				return err
			}
			return runDebugWatch(cmd.Context(), cfg, s)
		},
	}
	cmd.Flags().DurationVar(&quiet, "quiet", watch.DefaultQuiet, "emit a batch once no event came for this long")
	cmd.Flags().DurationVar(&maxWait, "max-wait", watch.DefaultMaxWait, "emit a batch at the latest this long after its first event")
	return cmd
}

func newDebugWatchConfig(cwd string, paths []string, quiet, maxWait time.Duration) (debugWatchConfig, error) {
	cfg := debugWatchConfig{Dir: cwd, Watch: watch.Config{Quiet: quiet, MaxWait: maxWait, GlobalBase: cwd}}
	global, err := watch.ReadIgnoreFile(filepath.Join(cwd, ".devloopignore"))
	if err != nil {
		return cfg, err
	}
	cfg.Watch.Ignore = global
	if len(paths) == 0 {
		paths = []string{cwd}
	}
	for _, p := range paths {
		if !filepath.IsAbs(p) {
			p = filepath.Join(cwd, p)
		}
		root := watch.Root{Path: filepath.Clean(p)}
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			if root.Ignore, err = watch.ReadIgnoreFile(filepath.Join(p, ".dockerignore")); err != nil {
				return cfg, err
			}
		}
		cfg.Watch.Roots = append(cfg.Watch.Roots, root)
	}
	return cfg, nil
}

func runDebugWatch(ctx context.Context, cfg debugWatchConfig, s Streams) error {
	w, err := watch.New(cfg.Watch)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	start := time.Now()
	go func() { errc <- w.Run(ctx) }()
	select {
	case <-w.Ready():
	case err := <-errc:
		return err
	}

	var roots []string
	for _, r := range cfg.Watch.Roots {
		roots = append(roots, display(cfg.Dir, r.Path))
	}
	st := w.Stats()
	fmt.Fprintf(s.Out, "watching %s: %d inotify watches, %d ignored directories skipped, ready in %v\n",
		strings.Join(roots, " "), st.Watches, st.Pruned, time.Since(start).Round(100*time.Microsecond))

	for b := range w.Batches() {
		var sb strings.Builder
		fmt.Fprintf(&sb, "%s  %d changed, %d removed (%v after the first event)\n",
			b.Emitted.Format("15:04:05.000"), len(b.Changed), len(b.Removed), b.Emitted.Sub(b.First).Round(time.Millisecond))
		if b.Overflow {
			sb.WriteString("  events were lost: every root was rescanned and everything may have changed\n")
		}
		for _, p := range b.Changed {
			fmt.Fprintf(&sb, "  changed  %s\n", display(cfg.Dir, p))
		}
		for _, p := range b.Removed {
			fmt.Fprintf(&sb, "  removed  %s\n", display(cfg.Dir, p))
		}
		if _, err := fmt.Fprint(s.Out, sb.String()); err != nil {
			cancel()
			<-errc
			return err
		}
	}
	return <-errc
}

// display shows p relative to dir when it is below it.
func display(dir, p string) string {
	if rel, err := filepath.Rel(dir, p); err == nil && !strings.HasPrefix(rel, "..") {
		return rel
	}
	return p
}
