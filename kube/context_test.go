package kube

import (
	"strings"
	"testing"
)

func TestIsLocalContext(t *testing.T) {
	tests := []struct {
		name, context, server string
		want                  bool
	}{
		{name: "kind", context: "kind-dev", want: true},
		{name: "k3d", context: "k3d-app", want: true},
		{name: "minikube", context: "minikube", want: true},
		{name: "docker desktop", context: "docker-desktop", want: true},
		{name: "old docker desktop", context: "docker-for-desktop", want: true},
		{name: "rancher", context: "rancher-desktop", want: true},
		{name: "orbstack", context: "orbstack", want: true},
		{name: "microk8s", context: "microk8s", want: true},
		{name: "crc", context: "crc-admin", want: true},
		{name: "case", context: "Kind-Dev", want: true},
		{name: "loopback server", context: "my-ctx", server: "https://127.0.0.1:6443", want: true},
		{name: "localhost server", context: "my-ctx", server: "https://localhost:6443", want: true},
		{name: "ipv6 loopback", context: "my-ctx", server: "https://[::1]:6443", want: true},
		{name: "remote", context: "gke_prod_us-east1_main", server: "https://34.1.2.3", want: false},
		{name: "kind lookalike in the middle", context: "prod-kind-1", server: "https://10.0.0.1", want: false},
		{name: "empty", context: "", server: "", want: false},
		{name: "bad url", context: "x", server: "::::", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsLocalContext(tt.context, tt.server); got != tt.want {
				t.Errorf("IsLocalContext(%q, %q) = %v, want %v", tt.context, tt.server, got, tt.want)
			}
		})
	}
}

func TestCheckContext(t *testing.T) {
	tests := []struct {
		name, context, server string
		allowed               []string
		wantErr               string
	}{
		{name: "local", context: "kind-dev"},
		{name: "remote allowed", context: "prod", server: "https://10.0.0.1", allowed: []string{"prod"}},
		{name: "remote refused", context: "prod", server: "https://10.0.0.1", allowed: []string{"staging"},
			wantErr: `kube context "prod" (server https://10.0.0.1) does not look like a local cluster`},
		{name: "names the fix", context: "prod", server: "https://10.0.0.1", wantErr: `allow_k8s_contexts("prod")`},
		{name: "no context", wantErr: "no kube context is selected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckContext(tt.context, tt.server, tt.allowed)
			if tt.wantErr == "" {
				if err != nil {
					t.Errorf("CheckContext(%q) = %v, want nil", tt.context, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("CheckContext(%q) = %v, want an error containing %q", tt.context, err, tt.wantErr)
			}
		})
	}
}
