package manifest

import (
	"strings"
	"testing"
)

func TestKustomizeOptions(t *testing.T) {
	tests := []struct {
		name      string
		flags     []string
		wantNone  bool
		wantHelm  bool
		wantError string
	}{
		{name: "defaults"},
		{name: "load restrictor with =", flags: []string{"--load-restrictor=LoadRestrictionsNone"}, wantNone: true},
		{name: "load restrictor separate", flags: []string{"--load-restrictor", "LoadRestrictionsNone"}, wantNone: true},
		{name: "enable helm", flags: []string{"--enable-helm"}, wantHelm: true},
		{name: "missing value", flags: []string{"--load-restrictor"}, wantError: "--load-restrictor needs a value"},
		{name: "bad value", flags: []string{"--load-restrictor=sometimes"}, wantError: "want LoadRestrictionsRootOnly or LoadRestrictionsNone"},
		{name: "unknown flag", flags: []string{"--enable-alpha-plugins"}, wantError: "pass kustomize_bin="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts, err := KustomizeOptions(tt.flags)
			if tt.wantError != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantError) {
					t.Errorf("KustomizeOptions(%q) error = %v, want %q", tt.flags, err, tt.wantError)
				}
				return
			}
			if err != nil {
				t.Fatalf("KustomizeOptions(%q) error: %v", tt.flags, err)
			}
			if got := opts.LoadRestrictions.String() == "LoadRestrictionsNone"; got != tt.wantNone {
				t.Errorf("KustomizeOptions(%q).LoadRestrictions = %v, want none=%v", tt.flags, opts.LoadRestrictions, tt.wantNone)
			}
			if got := opts.PluginConfig.HelmConfig.Enabled; got != tt.wantHelm {
				t.Errorf("KustomizeOptions(%q) helm enabled = %v, want %v", tt.flags, got, tt.wantHelm)
			}
		})
	}
}
