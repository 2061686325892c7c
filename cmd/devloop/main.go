// Command devloop is the local-development inner loop for Kubernetes.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"k8s.io/klog/v2"
)

// Streams are the standard streams a command writes to; tests substitute buffers.
type Streams struct {
	In       io.Reader
	Out, Err io.Writer
}

// exitError carries a specific exit code up to main (devloop ci uses 1 for
// "the environment failed", other errors also exit 1 unless they say otherwise).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	streams := Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}
	os.Exit(Main(ctx, os.Args[1:], streams))
}

// Main runs the devloop CLI with args and returns the process exit code. The
// error, if any, is printed once, here.
func Main(ctx context.Context, args []string, s Streams) int {
	// client-go logs its retries through klog to stderr (every failed
	// watch while the cluster is down); devloop says what matters itself:
	// the cluster does not answer, a pod's error.
	klog.SetSlogLogger(slog.New(slog.DiscardHandler))
	root := newRootCmd(s)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintf(s.Err, "Error: %v\n", err)
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}

func newRootCmd(s Streams) *cobra.Command {
	root := &cobra.Command{
		Use:           "devloop",
		Short:         "The local-development inner loop for Kubernetes",
		SilenceUsage:  true,
		SilenceErrors: true,
		// --version and -v print what `devloop version` does.
		Version: versionText(),
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetIn(s.In)
	root.SetOut(s.Out)
	root.SetErr(s.Err)
	// Each subcommand lives in its own file as newXCmd(s).
	root.AddCommand(
		newVersionCmd(s),
		newConfigCmd(s),
		newUpCmd(s), newInternalCmd(s),
		newDebugCmd(s),
		newGetCmd(s), newLogsCmd(s), newTriggerCmd(s), newEnableCmd(s), newDisableCmd(s),
		newClusterCmd(s),
		newCICmd(s), newDownCmd(s),
		newDoctorCmd(s),
	)
	return root
}
