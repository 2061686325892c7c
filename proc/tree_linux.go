package proc

import (
	"bytes"
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// becomeSubreaper makes the calling process the reaper of its orphaned
// descendants (PR_SET_CHILD_SUBREAPER): a process that leaves its process
// group (setsid, a daemon's double fork) and whose parent exits is
// reparented to the supervisor instead of init, so the supervisor still
// finds it in its tree and stops it.
func becomeSubreaper() error { return unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) }

// killTree sends sig to every descendant of pid, found through /proc
// (each process's parent in /proc/PID/stat), whatever group or session
// it moved to. It returns how many it signalled.
func killTree(pid int, sig syscall.Signal) int {
	n := 0
	for _, d := range descendants(pid) {
		if syscall.Kill(d, sig) == nil {
			n++
		}
	}
	return n
}

// descendants lists pid's descendants, parents before their children.
func descendants(pid int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]int{}
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if pp, ok := parentOf(p); ok {
			children[pp] = append(children[pp], p)
		}
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

// parentOf reads the parent PID of p from /proc/p/stat, whose second field
// (the command name, in parentheses) may itself hold spaces and parentheses.
func parentOf(p int) (int, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(p) + "/stat")
	if err != nil {
		return 0, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 2 {
		return 0, false
	}
	pp, err := strconv.Atoi(string(f[1]))
	return pp, err == nil
}

// reapOrphans collects the exit status of every child that has exited, so
// that descendants reparented to a subreaper do not stay zombies.
func reapOrphans() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}
