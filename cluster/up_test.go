package cluster

import (
	"strings"
	"testing"
)

func TestPrefixWriter(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{in: "Creating cluster\n", want: "devloop │ Creating cluster\n"},
		{in: "a\nb\n", want: "devloop │ a\ndevloop │ b\n"},
		{in: "no newline", want: "devloop │ no newline"},
	}
	for _, tt := range tests {
		var b strings.Builder
		n, err := prefixWriter{w: &b, prefix: "devloop │ "}.Write([]byte(tt.in))
		if err != nil || n != len(tt.in) || b.String() != tt.want {
			t.Errorf("prefixWriter.Write(%q) = %d, %v, wrote %q; want %d, nil, %q", tt.in, n, err, b.String(), len(tt.in), tt.want)
		}
	}
}
