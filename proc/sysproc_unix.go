//go:build unix && !linux

package proc

import "syscall"

// groupAttr puts a child in a new process group. Pdeathsig exists only on
// Linux, so deathSig is not delivered here: a supervisor still notices its
// parent's death by polling the parent PID (parentPoll), and an unsupervised
// command outlives a SIGKILLed devloop.
func groupAttr(deathSig syscall.Signal) (*syscall.SysProcAttr, error) {
	return &syscall.SysProcAttr{Setpgid: true}, nil
}
