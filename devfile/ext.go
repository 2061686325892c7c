package devfile

import (
	"fmt"

	"go.starlark.net/starlark"
)

// extension returns the module that load("ext://NAME", ...) binds: the
// built-in implementations of Tilt's most used extensions.
func (s *state) extension(thread *starlark.Thread, name string) (starlark.StringDict, error) {
	return nil, fmt.Errorf("extension %q: %w", name, ErrNotImplemented)
}
