package manifest

import (
	"strings"
	"testing"
)

func TestImageMatcher(t *testing.T) {
	im := NewImageMatcher([]DeclaredImage{
		{Ref: "web"},
		{Ref: "gcr.io/team/api"},
		{Ref: "worker:dev"},
		{Ref: "sidecar", MatchInEnvVars: true},
	})
	tests := []struct {
		name string
		ref  string
		want string
	}{
		{"same name", "web", "web"},
		{"tag ignored", "web:1.2", "web"},
		{"docker hub long form", "docker.io/library/web:latest", "web"},
		{"digest", "web@sha256:" + strings.Repeat("a", 64), "web"},
		{"registry kept", "gcr.io/team/api:v3", "gcr.io/team/api"},
		{"other registry", "quay.io/team/api", ""},
		{"tagged ref matches its tag", "worker:dev", "worker:dev"},
		{"tagged ref ignores other tags", "worker:prod", ""},
		{"prefix is not a match", "webapp", ""},
		{"invalid ref", "Not A Ref", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := im.Match(tt.ref); got != tt.want {
				t.Errorf("match(%q) = %q, want %q", tt.ref, got, tt.want)
			}
		})
	}
	if got := im.MatchEnv("sidecar:v2"); got != "sidecar" {
		t.Errorf("matchEnv(sidecar:v2) = %q, want sidecar", got)
	}
	if got := im.MatchEnv("web"); got != "" {
		t.Errorf("matchEnv(web) = %q, want \"\" (web is not match_in_env_vars)", got)
	}
}
