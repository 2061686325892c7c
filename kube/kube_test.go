package kube

import (
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

func TestNew(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["kind-dev"] = &clientcmdapi.Cluster{Server: "https://127.0.0.1:40001"}
	cfg.Clusters["prod"] = &clientcmdapi.Cluster{Server: "https://10.0.0.1"}
	cfg.AuthInfos["u"] = &clientcmdapi.AuthInfo{Token: "t"}
	cfg.Contexts["kind-dev"] = &clientcmdapi.Context{Cluster: "kind-dev", AuthInfo: "u", Namespace: "team"}
	cfg.Contexts["prod"] = &clientcmdapi.Context{Cluster: "prod", AuthInfo: "u"}
	cfg.CurrentContext = "kind-dev"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(t.TempDir(), "empty")
	if err := clientcmd.WriteToFile(*clientcmdapi.NewConfig(), empty); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name                    string
		cfg                     Config
		wantContext, wantServer string
		wantNamespace           string
		wantErr                 string
	}{
		{name: "current context", cfg: Config{Kubeconfig: path}, wantContext: "kind-dev", wantServer: "https://127.0.0.1:40001", wantNamespace: "team"},
		{name: "named context", cfg: Config{Kubeconfig: path, Context: "prod"}, wantContext: "prod", wantServer: "https://10.0.0.1", wantNamespace: "default"},
		{name: "namespace override", cfg: Config{Kubeconfig: path, Namespace: "mine"}, wantContext: "kind-dev", wantServer: "https://127.0.0.1:40001", wantNamespace: "mine"},
		{name: "unknown context", cfg: Config{Kubeconfig: path, Context: "nope"}, wantErr: `kube context "nope" is not in the kubeconfig`},
		{name: "no current context", cfg: Config{Kubeconfig: empty}, wantErr: "kubeconfig has no current context"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.cfg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("New(%+v) = %v, want an error containing %q", tt.cfg, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("New(%+v) = %v", tt.cfg, err)
			}
			defer c.Close()
			if c.Context() != tt.wantContext || c.Server() != tt.wantServer || c.Namespace() != tt.wantNamespace {
				t.Errorf("New(%+v) = context %q server %q namespace %q, want %q %q %q", tt.cfg,
					c.Context(), c.Server(), c.Namespace(), tt.wantContext, tt.wantServer, tt.wantNamespace)
			}
		})
	}
}
