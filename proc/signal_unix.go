//go:build unix

package proc

import "syscall"

// deathSignal is the supervisor's Pdeathsig. It is not a stop signal: the
// supervisor stops only if its parent is really gone (see the package comment).
const deathSignal = syscall.SIGUSR1

// killGroup sends sig to the process group pgid.
func killGroup(pgid int, sig syscall.Signal) error { return syscall.Kill(-pgid, sig) }
