// Package dockercli runs the docker CLI (or any program) the way devloop's
// packages need it: standard output back, and on failure an error that
// names the command and carries its standard error.
package dockercli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os/exec"
	"path/filepath"
	"strings"
)

// ErrNotFound is in the error of a command whose program is not installed
// (not on PATH, or no file at the path given).
var ErrNotFound = errors.New("program not found")

// Error is a command that started and failed, or that ctx stopped.
type Error struct {
	// Argv is the command as run.
	Argv []string
	// ExitCode is the program's exit status; -1 when it was killed.
	ExitCode int
	// Stderr is the program's standard error, trimmed.
	Stderr string
	// Err is the *exec.ExitError, or ctx's error when ctx stopped the command.
	Err error
}

func (e *Error) Error() string {
	cmd := strings.Join(append([]string{filepath.Base(e.Argv[0])}, e.Argv[1:]...), " ")
	if e.Stderr == "" {
		return fmt.Sprintf("%s: %v", cmd, e.Err)
	}
	return fmt.Sprintf("%s: %v: %s", cmd, e.Err, e.Stderr)
}

func (e *Error) Unwrap() error { return e.Err }

// Run runs argv[0] with the arguments argv[1:], stdin as its standard input
// (none when nil), and returns its standard output. A program that is not
// installed gives an error wrapping ErrNotFound; one that fails, an *Error.
func Run(ctx context.Context, stdin []byte, argv ...string) (string, error) {
	if len(argv) == 0 {
		return "", errors.New("dockercli: empty command")
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err == nil {
		return stdout.String(), nil
	}
	if cmd.Process == nil && (errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist)) {
		return "", fmt.Errorf("%s: %w: %w", argv[0], ErrNotFound, err)
	}
	e := &Error{Argv: argv, ExitCode: -1, Stderr: strings.TrimSpace(stderr.String()), Err: err}
	if ctx.Err() != nil {
		e.Err = ctx.Err()
	}
	if x := (*exec.ExitError)(nil); errors.As(err, &x) {
		e.ExitCode = x.ExitCode()
	}
	return stdout.String(), e
}

// Exec runs commands with Run and no standard input; it fits the
// one-method seams (Run(ctx, argv...)) that builder and doctor declare.
type Exec struct{}

// Run runs argv without standard input; see the package function Run.
func (Exec) Run(ctx context.Context, argv ...string) (string, error) {
	return Run(ctx, nil, argv...)
}
