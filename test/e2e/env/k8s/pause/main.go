// Command pause is the sandbox ("pause") container of the offline kind node
// image: it holds a pod's namespaces open, reaps zombies when it is PID 1 of a
// shared PID namespace, and exits 0 on SIGINT or SIGTERM, as the upstream
// pause program does. It is built statically (CGO_ENABLED=0) and shipped in an
// image FROM scratch.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// version is what -v prints; the image tag kubeadm expects is set by the build.
var version = "devloop-e2e"

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-v" {
		fmt.Println("pause.go version:", version)
		return
	}
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "Warning: pause should be the first process")
	}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for sig := range sigs {
		if sig != syscall.SIGCHLD {
			fmt.Fprintf(os.Stderr, "Shutting down, got signal: %v\n", sig)
			os.Exit(0)
		}
		reap()
	}
}

// reap collects every exited child without blocking, so that no zombie stays
// in a pod that shares its PID namespace.
func reap() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}
