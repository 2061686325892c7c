package proc

import "syscall"

// groupAttr puts a child in a new process group and has the kernel send it
// deathSig when the thread that forked it exits (Pdeathsig, Linux only; 0
// sends nothing).
func groupAttr(deathSig syscall.Signal) (*syscall.SysProcAttr, error) {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: deathSig}, nil
}
