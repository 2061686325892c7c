package engine

import "errors"

// ErrNotFound is wrapped by errors about a resource name the engine does
// not know (Trigger, SetEnabled).
var ErrNotFound = errors.New("resource not found")
