package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/devloop-dev/devloop/engine"
	"github.com/devloop-dev/devloop/web"
)

type logsConfig struct {
	name   string
	follow bool
}

func newLogsCmd(s Streams) *cobra.Command {
	var df daemonFlags
	var cfg logsConfig
	cmd := &cobra.Command{
		Use:   "logs [NAME]",
		Short: "Print the logs of one resource, or of all, from the running devloop",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				cfg.name = args[0]
			}
			c, err := df.client()
			if err != nil {
				return err
			}
			return runLogs(cmd.Context(), cfg, c, s)
		},
	}
	df.register(cmd)
	cmd.Flags().BoolVarP(&cfg.follow, "follow", "f", false, "keep printing new lines until interrupted")
	return cmd
}

func runLogs(ctx context.Context, cfg logsConfig, c *web.Client, s Streams) error {
	emit := func(l engine.LogLine) error {
		var err error
		switch {
		case l.Dropped > 0:
			_, err = fmt.Fprintf(s.Out, "… %d older lines dropped …\n", l.Dropped)
		case cfg.name == "" && l.Resource != "":
			_, err = fmt.Fprintf(s.Out, "%s │ %s\n", l.Resource, l.Text)
		default:
			_, err = fmt.Fprintln(s.Out, l.Text)
		}
		return err
	}
	if cfg.follow {
		return c.FollowLogs(ctx, cfg.name, 0, emit)
	}
	var after uint64
	for {
		lr, err := c.Logs(ctx, cfg.name, after, 0)
		if err != nil {
			return err
		}
		for _, l := range lr.Lines {
			if err := emit(l); err != nil {
				return err
			}
		}
		if !lr.More {
			return nil
		}
		after = lr.Next
	}
}
