package manifest

import (
	"testing"
)

func TestResolveContainerPort(t *testing.T) {
	tests := []struct {
		name     string
		local    int
		declared []int
		want     int
	}{
		{"declared equal to local", 9090, []int{8080, 9090}, 9090},
		{"first declared", 8000, []int{8080, 9090}, 8080},
		{"none declared", 8000, nil, 8000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ResolveContainerPort(tt.local, tt.declared); got != tt.want {
				t.Errorf("ResolveContainerPort(%d, %v) = %d, want %d", tt.local, tt.declared, got, tt.want)
			}
		})
	}
}
