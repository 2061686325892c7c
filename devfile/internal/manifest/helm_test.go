package manifest

import (
	"reflect"
	"testing"
)

func TestHelmArgv(t *testing.T) {
	tests := []struct {
		name string
		in   HelmRequest
		want []string
	}{
		{
			name: "defaults: release chart, CRDs included",
			in:   HelmRequest{Chart: "/p/chart"},
			want: []string{"helm", "template", "chart", "/p/chart", "--include-crds"},
		},
		{
			name: "everything",
			in: HelmRequest{Chart: "/p/chart", Name: "shop", Namespace: "dev", KubeVersion: "1.30",
				SkipCRDs: true, Values: []string{"/p/a.yaml", "/p/b.yaml"}, Set: []string{"image.tag=dev", "replicas=2"}},
			want: []string{"helm", "template", "shop", "/p/chart", "--namespace", "dev", "--kube-version", "1.30",
				"--values", "/p/a.yaml", "--values", "/p/b.yaml", "--set", "image.tag=dev", "--set", "replicas=2"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.in.Argv(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("argv(%+v) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestDropHelmTests(t *testing.T) {
	in := "---\n# Source: shop/templates/svc.yaml\napiVersion: v1\nkind: Service\n---\n# Source: shop/templates/tests/test-connection.yaml\napiVersion: v1\nkind: Pod\n---\n# Source: shop/templates/deploy.yaml\nkind: Deployment\n"
	want := "# Source: shop/templates/svc.yaml\napiVersion: v1\nkind: Service\n---\n# Source: shop/templates/deploy.yaml\nkind: Deployment\n"
	if got := DropHelmTests(in); got != want {
		t.Errorf("DropHelmTests(...) = %q, want %q", got, want)
	}
}
