package liveupdate

import (
	"fmt"
	"strings"

	"github.com/devloop-dev/devloop/kube"
)

// RunError is a user's run() step that exited non-zero. The engine shows it
// as the resource's error and keeps the live update path: the next change
// tries again. It is not a reason to rebuild.
type RunError struct {
	Pod       kube.PodRef
	Container string
	Argv      []string
	ExitCode  int
	// Output is the tail of the command's output.
	Output string
}

func (e *RunError) Error() string {
	s := fmt.Sprintf("run(%s) in pod %s container %s exited with code %d", shellQuote(e.Argv), e.Pod, e.Container, e.ExitCode)
	if out := strings.TrimSpace(e.Output); out != "" {
		s += ": " + out
	}
	return s
}

// FallBackError means live update cannot be done (exec refused, no tar in
// the image, files that cannot be written, a path that would leave its sync
// root); the engine rebuilds the image instead and shows Reason.
type FallBackError struct {
	// Pod and Container are empty when the plan itself was refused.
	Pod       kube.PodRef
	Container string
	// Reason says why, with the remedy where it is known.
	Reason string
	// Err is the underlying error, if any.
	Err error
}

func (e *FallBackError) Error() string {
	s := "live update"
	if e.Container != "" {
		s += fmt.Sprintf(" of pod %s container %s", e.Pod, e.Container)
	}
	s += ": " + e.Reason
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s + " (falling back to a rebuild)"
}

func (e *FallBackError) Unwrap() error { return e.Err }
