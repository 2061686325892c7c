package devfile

import (
	"context"
	"testing"
)

func TestLocalResourceAllowParallel(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want bool
	}{
		{"cmd", `local_resource("r", cmd="make")`, false},
		{"cmd allow_parallel", `local_resource("r", cmd="make", allow_parallel=True)`, true},
		{"serve_cmd only", `local_resource("r", serve_cmd="./serve")`, true},
		{"serve_cmd only, allow_parallel=False", `local_resource("r", serve_cmd="./serve", allow_parallel=False)`, true},
		{"cmd and serve_cmd", `local_resource("r", cmd="make", serve_cmd="./serve")`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeDevfile(t, tt.src+"\n", nil)
			m, err := Load(context.Background(), path, Options{Environ: []string{}})
			if err != nil {
				t.Fatal(err)
			}
			if got := m.Resource("r").Local.AllowParallel; got != tt.want {
				t.Errorf("Load(%s).Local.AllowParallel = %v, want %v", tt.src, got, tt.want)
			}
		})
	}
}
