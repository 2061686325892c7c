package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// runCLI runs the CLI in-process and returns its exit code and output.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Main(context.Background(), args, Streams{In: strings.NewReader(""), Out: &out, Err: &errb})
	return code, out.String(), errb.String()
}

func TestVersion(t *testing.T) {
	code, out, errOut := runCLI(t, "version")
	if code != 0 || !strings.HasPrefix(out, "devloop ") {
		t.Fatalf("devloop version = %d, %q, %q; want 0 and a line starting with \"devloop \"", code, out, errOut)
	}
}

// TestVersionFlags: --version and -v print what `devloop version` does.
func TestVersionFlags(t *testing.T) {
	_, want, _ := runCLI(t, "version")
	for _, flag := range []string{"--version", "-v"} {
		if code, out, errOut := runCLI(t, flag); code != 0 || out != want {
			t.Errorf("devloop %s = %d, %q, %q; want 0 and %q", flag, code, out, errOut, want)
		}
	}
}

func TestUnknownCommand(t *testing.T) {
	code, _, errOut := runCLI(t, "frobnicate")
	if code != 1 || !strings.Contains(errOut, "unknown command") {
		t.Fatalf("devloop frobnicate = %d, %q; want 1 and an unknown command error", code, errOut)
	}
}
