package devfile

import (
	"fmt"
	"strings"

	"go.starlark.net/resolve"
	"go.starlark.net/syntax"
)

// Error is a Devfile error at a position in the user's files. Its message
// starts with "PATH:LINE:COL:" of the innermost frame in the user's files.
type Error struct {
	Pos syntax.Position
	Msg string
	// Backtrace lists the call frames from the main Devfile to Pos when the
	// error happened in a loaded file; empty otherwise.
	Backtrace string
	// Dependencies are the files the evaluation had read when it failed
	// (the Devfile first), for a caller that waits for a fix: a change to
	// one of them is worth loading again.
	Dependencies []string
	// err is the underlying error (a context error when evaluation was
	// cancelled), for errors.Is.
	err error
}

func (e *Error) Error() string {
	if e.Backtrace != "" {
		return fmt.Sprintf("%s: %s\n%s", e.Pos, e.Msg, e.Backtrace)
	}
	return fmt.Sprintf("%s: %s", e.Pos, e.Msg)
}

// Unwrap returns the underlying error, if any.
func (e *Error) Unwrap() error { return e.err }

// errorAt returns an *Error at pos with a formatted message.
func errorAt(pos syntax.Position, format string, args ...any) *Error {
	return &Error{Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

// resolveErrors holds the resolver's error list, for errors.As.
type resolveErrors struct{ l resolve.ErrorList }

// unsupportedTilt are Tilt builtins devloop does not provide; naming them
// tells a Tilt user the call is known, not misspelled.
var unsupportedTilt = map[string]string{
	"docker_compose":                "devloop deploys to Kubernetes only",
	"dc_resource":                   "devloop deploys to Kubernetes only",
	"v1alpha1":                      "",
	"k8s_custom_deploy":             "",
	"test":                          "Tilt's deprecated form of local_resource: use local_resource",
	"exit":                          "",
	"module":                        "",
	"disable_feature":               "",
	"experimental_analytics_report": "",
	"experimental_metrics_settings": "",
	"experimental_telemetry_cmd":    "",
}

// unsupportedMessage says that name is a Tilt builtin devloop lacks, and
// why when why is not empty.
func unsupportedMessage(name, why string) string {
	if why != "" {
		return fmt.Sprintf("%s is a Tilt builtin that devloop does not support (%s); see docs/devfile.md", name, why)
	}
	return fmt.Sprintf("%s is a Tilt builtin that devloop does not support; see docs/devfile.md", name)
}

// undefinedMessage rewrites the resolver's "undefined: NAME" so that it says
// the name is not a devloop builtin.
func undefinedMessage(msg string) string {
	rest, ok := strings.CutPrefix(msg, "undefined: ")
	if !ok {
		return msg
	}
	name, hint, _ := strings.Cut(rest, " ")
	if why, ok := unsupportedTilt[name]; ok {
		return unsupportedMessage(name, why)
	}
	if hint != "" {
		return fmt.Sprintf("%s is not defined and is not a devloop builtin %s; see docs/devfile.md", name, hint)
	}
	return fmt.Sprintf("%s is not defined and is not a devloop builtin; see docs/devfile.md", name)
}
