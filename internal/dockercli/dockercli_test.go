package dockercli

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The tests run sh, not docker: the behaviour under test is the running of
// a program, which needs no daemon.
func TestRun(t *testing.T) {
	tests := []struct {
		name       string
		stdin      []byte
		argv       []string
		want       string
		wantErr    string
		wantCode   int
		notFound   bool
		wantStderr string
	}{
		{name: "output", argv: []string{"sh", "-c", "echo out; echo noise >&2"}, want: "out\n"},
		{name: "stdin", stdin: []byte("piped"), argv: []string{"sh", "-c", "cat"}, want: "piped"},
		{name: "failure carries stderr", argv: []string{"sh", "-c", "echo partial; echo 'No such object: x' >&2; exit 3"},
			want: "partial\n", wantErr: "sh -c echo partial; echo 'No such object: x' >&2; exit 3: exit status 3: No such object: x", wantCode: 3, wantStderr: "No such object: x"},
		{name: "failure without stderr", argv: []string{"sh", "-c", "exit 1"}, wantErr: "sh -c exit 1: exit status 1", wantCode: 1},
		{name: "not on PATH", argv: []string{"devloop-no-such-program", "info"}, notFound: true, wantErr: "devloop-no-such-program"},
		{name: "no such path", argv: []string{filepath.Join(t.TempDir(), "docker"), "info"}, notFound: true, wantErr: "docker"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Run(context.Background(), tt.stdin, tt.argv...)
			if got != tt.want {
				t.Errorf("Run(%q) = %q, want %q", tt.argv, got, tt.want)
			}
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Run(%q) error = %v, want none", tt.argv, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Run(%q) error = %v, want one containing %q", tt.argv, err, tt.wantErr)
			}
			if errors.Is(err, ErrNotFound) != tt.notFound {
				t.Errorf("errors.Is(%v, ErrNotFound) = %v, want %v", err, !tt.notFound, tt.notFound)
			}
			if tt.notFound {
				if !errors.Is(err, exec.ErrNotFound) && !strings.Contains(err.Error(), "no such file") {
					t.Errorf("Run(%q) error = %v, want the exec error kept", tt.argv, err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.ExitCode != tt.wantCode || e.Stderr != tt.wantStderr {
				t.Errorf("Run(%q) error = %#v, want an *Error with exit code %d and stderr %q", tt.argv, err, tt.wantCode, tt.wantStderr)
			}
		})
	}
}

func TestRunStoppedByContext(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := Run(ctx, nil, "sleep", "10")
	var e *Error
	if !errors.Is(err, context.DeadlineExceeded) || !errors.As(err, &e) || e.ExitCode != -1 {
		t.Errorf("Run(sleep) past its deadline = %v, want an *Error wrapping context.DeadlineExceeded with exit code -1", err)
	}
}

func TestExec(t *testing.T) {
	got, err := Exec{}.Run(context.Background(), "sh", "-c", "echo hi")
	if got != "hi\n" || err != nil {
		t.Errorf("Exec{}.Run(echo hi) = %q, %v, want %q", got, err, "hi\n")
	}
}
