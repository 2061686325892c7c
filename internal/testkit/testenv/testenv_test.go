package testenv

import (
	"os"
	"testing"
)

func TestGetenvReturnsValue(t *testing.T) {
	t.Setenv("DEVLOOP_TESTENV_PROBE", "x")
	if got := Getenv(t, "DEVLOOP_TESTENV_PROBE"); got != "x" {
		t.Fatalf("Getenv(DEVLOOP_TESTENV_PROBE) = %q, want %q", got, "x")
	}
}

func TestStrict(t *testing.T) {
	for _, tc := range []struct {
		name, val string
		want      bool
	}{{"unset", "", false}, {"one", "1", true}, {"other", "yes", false}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("DEVLOOP_E2E", tc.val)
			if tc.val == "" {
				os.Unsetenv("DEVLOOP_E2E")
			}
			if got := Strict(); got != tc.want {
				t.Fatalf("Strict() with DEVLOOP_E2E=%q = %v, want %v", tc.val, got, tc.want)
			}
		})
	}
}
