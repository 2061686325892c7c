package devfile

import (
	"context"
	"errors"
	"io"

	"go.starlark.net/starlark"
)

// Options configure one evaluation of a Devfile.
type Options struct {
	// Args are the arguments after "--" on the command line, for config.parse().
	Args []string
	// Subcommand is what config.tilt_subcommand reports ("up", "ci", "down", "config").
	Subcommand string
	// Stdout receives print() and local() echo output; nil discards it.
	Stdout io.Writer
	// KubeContext and KubeNamespace answer k8s_context() and k8s_namespace();
	// the caller reads them from kubeconfig, keeping Load free of cluster access.
	KubeContext   string
	KubeNamespace string
	// MaxSteps bounds evaluation (Starlark execution steps); 0 means the default.
	MaxSteps uint64
}

// ErrNotImplemented marks scaffolding that a later change fills in.
var ErrNotImplemented = errors.New("not implemented")

// state is what the builtins of one evaluation record; it lives in the
// Starlark thread's locals. The Kubernetes half lives in k8sState (k8s.go).
type state struct {
	opts Options
	k8s  k8sState
}

// Load evaluates the Devfile at path and returns its validated model.
func Load(ctx context.Context, path string, opts Options) (*Model, error) {
	_ = ctx
	_ = starlark.None
	return nil, ErrNotImplemented
}
