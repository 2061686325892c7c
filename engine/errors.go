package engine

import "errors"

// ErrNotFound is wrapped by the errors of calls that name a resource the
// engine does not have (Trigger, SetEnabled).
var ErrNotFound = errors.New("no such resource")
