package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/devloop-dev/devloop/engine"
	"github.com/devloop-dev/devloop/web"
)

type logsConfig struct {
	name       string
	follow     bool
	tail       int           // last N lines; -1 means all
	since      time.Duration // only lines newer than this; 0 means all
	timestamps bool
	output     string // "" (text) or "json" (one LogLine per line)
	now        func() time.Time
}

func newLogsCmd(s Streams) *cobra.Command {
	var df daemonFlags
	cfg := logsConfig{now: time.Now}
	cmd := &cobra.Command{
		Use:   "logs [NAME]",
		Short: "Print the logs of one resource, or of all, from the running devloop",
		Long: "Print the logs of one resource, or of all, from the running `devloop up`, as kubectl logs does:\n" +
			"--tail N prints only the last N lines, --since 10m only the lines of the last ten minutes,\n" +
			"--timestamps starts each line with its RFC 3339 time, -f keeps printing new lines, and\n" +
			"-o json prints one JSON object per line ({\"seq\", \"resource\", \"time\", \"text\"}, docs/api.md).",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				cfg.name = args[0]
			}
			if cfg.output != "" && cfg.output != "json" {
				return fmt.Errorf("unknown output format %q: use -o json, or no -o for text", cfg.output)
			}
			if cfg.since < 0 {
				return fmt.Errorf("--since %s: give a positive duration (10s, 5m, 1h)", cfg.since)
			}
			c, err := df.client()
			if err != nil {
				return err
			}
			return runLogs(cmd.Context(), cfg, c, s)
		},
	}
	df.register(cmd)
	f := cmd.Flags()
	f.BoolVarP(&cfg.follow, "follow", "f", false, "keep printing new lines until interrupted")
	f.IntVar(&cfg.tail, "tail", -1, "print only the last N lines (-1: all)")
	f.DurationVar(&cfg.since, "since", 0, "print only lines newer than this (10s, 5m, 1h)")
	f.BoolVar(&cfg.timestamps, "timestamps", false, "start each line with its time (RFC 3339)")
	f.StringVarP(&cfg.output, "output", "o", "", "output format: json (one object per line)")
	cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"json"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func runLogs(ctx context.Context, cfg logsConfig, c *web.Client, s Streams) error {
	var since time.Time
	if cfg.since > 0 {
		since = cfg.now().Add(-cfg.since)
	}
	emit := func(l engine.LogLine) error {
		if l.Time.Before(since) {
			return nil
		}
		return printLogLine(s.Out, cfg, l)
	}
	// The lines kept so far, read page by page; with --tail only the last
	// N are printed.
	var (
		after uint64
		kept  []engine.LogLine
	)
	for {
		lr, err := c.Logs(ctx, cfg.name, after, 0)
		if err != nil {
			return err
		}
		for _, l := range lr.Lines {
			if cfg.tail < 0 {
				if err := emit(l); err != nil {
					return err
				}
				continue
			}
			if !l.Time.Before(since) {
				kept = append(kept, l)
				if len(kept) > cfg.tail {
					kept = kept[1:]
				}
			}
		}
		after = lr.Next
		if !lr.More {
			break
		}
	}
	for _, l := range kept {
		if err := emit(l); err != nil {
			return err
		}
	}
	if !cfg.follow {
		return nil
	}
	return c.FollowLogs(ctx, cfg.name, after, emit)
}

// printLogLine prints l as text ("name │ line" when all resources are
// shown, with --timestamps its time first) or as one JSON object.
func printLogLine(w io.Writer, cfg logsConfig, l engine.LogLine) error {
	if cfg.output == "json" {
		b, err := json.Marshal(l)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	var b strings.Builder
	if cfg.timestamps {
		b.WriteString(l.Time.UTC().Format(time.RFC3339Nano))
		b.WriteByte(' ')
	}
	if cfg.name == "" && l.Resource != "" {
		b.WriteString(l.Resource + " │ ")
	}
	if l.Dropped > 0 {
		who := "older lines"
		if l.Resource != "" {
			who = "older lines of " + l.Resource
		}
		fmt.Fprintf(&b, "… %d %s dropped …", l.Dropped, who)
	} else {
		b.WriteString(l.Text)
	}
	b.WriteByte('\n')
	_, err := io.WriteString(w, b.String())
	return err
}
