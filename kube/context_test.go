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
		{name: "kind on loopback", context: "kind-dev", server: "https://127.0.0.1:40123", want: true},
		{name: "k3d on 0.0.0.0", context: "k3d-app", server: "https://0.0.0.0:6550", want: true},
		{name: "docker desktop host name", context: "docker-desktop", server: "https://kubernetes.docker.internal:6443", want: true},
		{name: "orbstack", context: "orbstack", server: "https://k8s.orb.local:26443", want: true},
		{name: "crc", context: "crc-admin", server: "https://api.crc.testing:6443", want: true},
		{name: "minikube VM", context: "minikube", server: "https://192.168.49.2:8443", want: true},
		{name: "ipv6 loopback", context: "kind-dev", server: "https://[::1]:6443", want: true},
		// Issue #20: a tunnel (kubectl proxy, ssh -L, IAP) to production
		// is on loopback too; the address alone does not make it local.
		{name: "loopback tunnel", context: "my-ctx", server: "https://127.0.0.1:6443", want: false},
		{name: "localhost tunnel to gke", context: "gke_corp_us-central1_prod", server: "https://localhost:8443", want: false},
		{name: "prod-gke on loopback", context: "prod-gke", server: "https://127.0.0.1:8443", want: false},
		{name: "kind name, production word", context: "kind-prod", server: "https://127.0.0.1:40123", want: false},
		{name: "kind name, remote server", context: "kind-dev", server: "https://34.1.2.3:6443", want: false},
		{name: "kind name, private server (not a VM tool)", context: "kind-dev", server: "https://10.0.0.5:6443", want: false},
		{name: "product is not prod", context: "kind-product", server: "https://127.0.0.1:1", want: true},
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
		{name: "remote refused", context: "team-a", server: "https://10.0.0.1", allowed: []string{"staging"},
			wantErr: `kube context "team-a" (server https://10.0.0.1) does not look like a local cluster`},
		{name: "names the fix", context: "prod", server: "https://10.0.0.1", wantErr: `allow_k8s_contexts("prod")`},
		{name: "no context", wantErr: "no kube context is selected"},
		{name: "a tunnel says why", context: "my-ctx", server: "https://127.0.0.1:8443",
			wantErr: `has a local address but not the name of a local cluster tool`},
		{name: "production says why", context: "kind-prod", server: "https://127.0.0.1:8443", wantErr: `looks like production, so devloop will not deploy to it: if you mean to, add allow_k8s_contexts("kind-prod")`},
		{name: "production allowed by name", context: "kind-prod", server: "https://127.0.0.1:8443", allowed: []string{"kind-prod"}},
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
