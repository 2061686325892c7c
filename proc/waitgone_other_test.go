//go:build !linux

package proc

import (
	"errors"
	"syscall"
	"testing"
	"time"
)

// waitGone waits for pid to exit. Without pidfds (Linux only) it probes the
// pid with signal 0; 10ms between probes keeps a 30s wait cheap.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := syscall.Kill(pid, 0)
		if errors.Is(err, syscall.ESRCH) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d still running 30s after its group was stopped (kill(0) = %v)", pid, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
