// Package testenv lets integration tests name what they need from the test
// environment (make e2e-env). Under `make test` a missing prerequisite skips the
// test with the reason; under `make e2e` (DEVLOOP_E2E=1) it fails the test, so
// CI never skips an integration test silently.
package testenv

import (
	"net"
	"os"
	"os/exec"
	"testing"
)

// Strict reports whether missing prerequisites fail tests instead of skipping them.
func Strict() bool { return os.Getenv("DEVLOOP_E2E") == "1" }

// Getenv returns the environment variable name, which the test environment
// sets (see TESTING.md); when it is empty the test is skipped, or failed in
// strict mode, with a message saying how to get it.
func Getenv(t testing.TB, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		missing(t, name+" is not set: run `make e2e-env` and `. .e2e/env` (see TESTING.md)")
	}
	return v
}

// LookPath returns the path of the program name, or skips (fails in strict
// mode) naming the program and the package that provides it.
func LookPath(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		missing(t, name+" is not installed: apt-get install -y "+pkg+" (make e2e-env installs it)")
	}
	return p
}

func missing(t testing.TB, why string) {
	t.Helper()
	if Strict() {
		t.Fatalf("integration prerequisite missing (DEVLOOP_E2E=1): %s", why)
	}
	t.Skipf("integration test skipped: %s", why)
}

// FreePort returns a TCP port on 127.0.0.1 that nothing listened on a
// moment ago, for a test's server or for a port nothing must answer on.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
