//go:build !linux

package proc

import "syscall"

// becomeSubreaper, killTree and reapOrphans are Linux only (prctl and
// /proc): elsewhere a supervised command's descendants that leave its
// process group are not followed.
func becomeSubreaper() error { return nil }

func killTree(int, syscall.Signal) int { return 0 }

func reapOrphans() {}
