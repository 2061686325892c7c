package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newEnableCmd(s Streams) *cobra.Command  { return newSetEnabledCmd(s, true) }
func newDisableCmd(s Streams) *cobra.Command { return newSetEnabledCmd(s, false) }

func newSetEnabledCmd(s Streams, enabled bool) *cobra.Command {
	var df daemonFlags
	verb, short := "disable", "Stop updating a resource and take it down until enabled again"
	if enabled {
		verb, short = "enable", "Bring a disabled resource back"
	}
	cmd := &cobra.Command{
		Use:   verb + " NAME",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := df.client()
			if err != nil {
				return err
			}
			if err := c.SetEnabled(cmd.Context(), args[0], enabled); err != nil {
				return err
			}
			_, err = fmt.Fprintf(s.Out, "%sd %s\n", verb, args[0])
			return err
		},
	}
	df.register(cmd)
	return cmd
}
