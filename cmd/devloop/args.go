package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

// devfileArgs returns the arguments after "--", which go to the Devfile's
// config.parse(); any argument before "--" is an error, since the commands
// that evaluate a Devfile take none of their own.
func devfileArgs(cmd *cobra.Command, args []string) ([]string, error) {
	n := cmd.ArgsLenAtDash()
	if n < 0 {
		n = len(args)
	}
	if n > 0 {
		return nil, fmt.Errorf("unexpected arguments %q: put Devfile arguments after --", args[:n])
	}
	return args, nil
}
