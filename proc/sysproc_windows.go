package proc

import (
	"errors"
	"syscall"
)

// errNoGroups is why local commands do not run on Windows: devloop stops a
// command together with everything it started through its process group,
// which Windows does not have (it would take job objects).
var errNoGroups = errors.New("local commands need Unix process groups, which Windows lacks: run devloop under WSL, Linux or macOS")

// deathSignal is never delivered on Windows (no Pdeathsig); it only keeps
// Supervise compiling, which fails before it subscribes to signals.
const deathSignal = syscall.Signal(0x1e)

func groupAttr(syscall.Signal) (*syscall.SysProcAttr, error) { return nil, errNoGroups }

func killGroup(int, syscall.Signal) error { return errNoGroups }
