package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newTriggerCmd(s Streams) *cobra.Command {
	var df daemonFlags
	cmd := &cobra.Command{
		Use:   "trigger NAME",
		Short: "Update a resource now (applies the changes queued for a manual resource)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := df.client()
			if err != nil {
				return err
			}
			if err := c.Trigger(cmd.Context(), args[0]); err != nil {
				return err
			}
			_, err = fmt.Fprintf(s.Out, "triggered %s\n", args[0])
			return err
		},
	}
	df.register(cmd)
	return cmd
}
