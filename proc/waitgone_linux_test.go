package proc

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"
)

// waitGone waits, on a pidfd, for pid to exit.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return
	}
	if err != nil {
		t.Fatalf("PidfdOpen(%d) = %v", pid, err)
	}
	defer unix.Close(fd)
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, 30_000)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || n == 0 {
			t.Fatalf("process %d still running 30s after its group was stopped (poll = %d, %v)", pid, n, err)
		}
		return
	}
}
