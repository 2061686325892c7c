package localregistry

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		data    map[string]string
		want    *Hosting
		wantErr string
	}{
		{name: "kind's document",
			data: map[string]string{Key: "host: \"localhost:5001\"\nhostFromClusterNetwork: \"kind-registry:5000\"\nhelp: \"https://kind.sigs.k8s.io/docs/user/local-registry/\"\n"},
			want: &Hosting{Host: "localhost:5001", HostFromClusterNetwork: "kind-registry:5000", Help: "https://kind.sigs.k8s.io/docs/user/local-registry/"}},
		{name: "container runtime host",
			data: map[string]string{Key: "host: localhost:5000\nhostFromContainerRuntime: registry.local:5000\n"},
			want: &Hosting{Host: "localhost:5000", HostFromContainerRuntime: "registry.local:5000"}},
		{name: "no key", data: map[string]string{"other": "x"}},
		{name: "empty document", data: map[string]string{Key: ""}},
		{name: "no host", data: map[string]string{Key: "help: x\n"},
			wantErr: "ConfigMap kube-public/local-registry-hosting: localRegistryHosting.v1 has no host: fix the ConfigMap, or set default_registry() in the Devfile"},
		{name: "bad yaml", data: map[string]string{Key: "host: [\n"}, wantErr: "localRegistryHosting.v1 is not valid YAML"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.data)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse(%v) error = %v, want one containing %q", tt.data, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (got == nil) != (tt.want == nil) || got != nil && *got != *tt.want {
				t.Errorf("Parse(%v) = %+v, want %+v", tt.data, got, tt.want)
			}
		})
	}
}

func TestContainerRuntimeHost(t *testing.T) {
	tests := []struct {
		name string
		h    Hosting
		want string
	}{
		{name: "given", h: Hosting{Host: "localhost:5001", HostFromContainerRuntime: "kind-registry:5000"}, want: "kind-registry:5000"},
		{name: "defaults to host", h: Hosting{Host: "localhost:5001"}, want: "localhost:5001"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.h.ContainerRuntimeHost(); got != tt.want {
				t.Errorf("%+v.ContainerRuntimeHost() = %q, want %q", tt.h, got, tt.want)
			}
		})
	}
}

func TestConfigMapRoundTrip(t *testing.T) {
	h := Hosting{Host: "localhost:5001", HostFromClusterNetwork: "devloop-dev-registry:5000", HostFromContainerRuntime: "localhost:5001", Help: "https://example.test/help"}
	cm := h.ConfigMap()
	if cm.Namespace != "kube-public" || cm.Name != "local-registry-hosting" {
		t.Errorf("ConfigMap() is %s/%s, want kube-public/local-registry-hosting", cm.Namespace, cm.Name)
	}
	got, err := Parse(cm.Data)
	if err != nil || got == nil || *got != h {
		t.Errorf("Parse(%+v.ConfigMap().Data) = %+v, %v, want the same hosting", h, got, err)
	}
	if doc := h.String(); !strings.Contains(doc, "host: localhost:5001\n") || !strings.Contains(doc, "hostFromClusterNetwork: devloop-dev-registry:5000\n") {
		t.Errorf("String() = %q, want host and hostFromClusterNetwork lines", doc)
	}
}
