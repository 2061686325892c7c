package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/devloop-dev/devloop/builder"
	"github.com/devloop-dev/devloop/devfile"
	"github.com/devloop-dev/devloop/doctor"
	"github.com/devloop-dev/devloop/web"
)

// doctorConfig is what `devloop doctor` was asked for.
type doctorConfig struct {
	file string
	port int
	args []string
}

func newDoctorCmd(s Streams) *cobra.Command {
	cfg := doctorConfig{}
	cmd := &cobra.Command{
		Use:   "doctor [-f PATH] [--port N] [-- ARGS]",
		Short: "Check that this machine can run the Devfile, and say how to fix what is missing",
		Long: "Check that the Devfile evaluates, that docker and BuildKit answer when it needs them,\n" +
			"that the inotify limits fit the source tree, that the dashboard port is free and that\n" +
			"the kube context is one devloop deploys to. Each check prints one line: ✓ fine,\n" +
			"! worth a look, ✗ a problem, with the command that fixes it. Exits 1 on any ✗.\n" +
			"Arguments after -- go to config.parse(), as with `devloop up`.",
		RunE: func(cmd *cobra.Command, args []string) error {
			devArgs, err := devfileArgs(cmd, args)
			if err != nil {
				return err
			}
			cfg.args = devArgs
			if cfg.port, err = envPort(cfg.port); err != nil {
				return err
			}
			if cfg.port == 0 {
				cfg.port = web.DefaultPort
			}
			return runDoctor(cmd.Context(), cfg, s, doctor.Deps{})
		},
	}
	f := cmd.Flags()
	f.StringVarP(&cfg.file, "file", "f", "", "path of the Devfile (default ./Devfile, then ./Tiltfile)")
	f.IntVar(&cfg.port, "port", 0, "port of the dashboard and API that devloop up will use (default: $DEVLOOP_PORT, else 10350)")
	return cmd
}

// runDoctor runs the checks with the seams in d (nil ones are real) and
// returns an exit-1 error when any check failed.
func runDoctor(ctx context.Context, cfg doctorConfig, s Streams, d doctor.Deps) error {
	path, findErr := findDevfile(cfg.file)
	dir := filepath.Dir(path)
	if findErr != nil {
		dir = "."
		if fi, err := os.Stat(cfg.file); err == nil && fi.IsDir() {
			dir = cfg.file
		}
	}
	if d.Load == nil {
		d.Load = func(ctx context.Context) (*devfile.Model, error) {
			if findErr != nil {
				return nil, findErr
			}
			kubeContext, kubeNamespace := kubeFlags{}.devfileKube()
			return devfile.Load(ctx, path, devfile.Options{
				Args:          cfg.args,
				Subcommand:    "up", // doctor checks what `devloop up` would need
				KubeContext:   kubeContext,
				KubeNamespace: kubeNamespace,
			})
		}
	}
	if d.BuildKit == nil {
		d.BuildKit = pingBuildKit
	}
	doc, err := doctor.New(doctor.Config{Dir: dir, Port: cfg.port}, d)
	if err != nil {
		return err
	}
	results, err := doc.Run(ctx, s.Out)
	if err != nil {
		return err
	}
	if n := doctor.Failed(results); n > 0 {
		return &exitError{code: 1, err: fmt.Errorf("%d of %d checks failed: apply the fixes on the ✗ lines above", n, len(results))}
	}
	return nil
}

// pingBuildKit asks the BuildKit at address to answer, through the
// builder's own connection (builder.Endpoint), so that doctor and
// `devloop up` agree on what reachable means. The builder sees only
// BUILDKIT_HOST=address: it never falls back to starting a container.
func pingBuildKit(ctx context.Context, address string) error {
	if address == "" {
		return fmt.Errorf("no BuildKit address")
	}
	b, err := builder.New(builder.Config{Getenv: func(key string) string {
		if key == "BUILDKIT_HOST" {
			return address
		}
		return ""
	}})
	if err != nil {
		return err
	}
	defer b.Close()
	_, err = b.Endpoint(ctx)
	return err
}
