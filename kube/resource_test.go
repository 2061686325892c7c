package kube

import (
	"strings"
	"testing"

	"github.com/devloop-dev/devloop/devfile"
)

func TestResourceObjects(t *testing.T) {
	tests := []struct {
		name    string
		r       devfile.Resource
		want    []string
		wantErr string
	}{
		{name: "in order", r: devfile.Resource{Name: "web", Objects: []devfile.Object{
			{Kind: "Deployment", Name: "web", YAML: deploymentYAML},
			{Kind: "Service", Name: "web", YAML: "apiVersion: v1\nkind: Service\nmetadata: {name: web}\n"},
		}}, want: []string{"Deployment/web", "Service/web"}},
		{name: "bad YAML names the object", r: devfile.Resource{Name: "web", Objects: []devfile.Object{{Kind: "Service", Name: "x", YAML: "kind: ["}}},
			wantErr: "resource web: Service/x:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := resourceObjects(&tt.r)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("resourceObjects(%s) = %v, want an error containing %q", tt.name, err, tt.wantErr)
				}
				return
			}
			var names []string
			for _, o := range got {
				names = append(names, o.GetKind()+"/"+o.GetName())
			}
			if err != nil || strings.Join(names, " ") != strings.Join(tt.want, " ") {
				t.Errorf("resourceObjects(%s) = %v, %v; want %v", tt.name, names, err, tt.want)
			}
		})
	}
}

func TestResourceTarget(t *testing.T) {
	r := &devfile.Resource{Name: "db", K8s: &devfile.K8sSpec{PodReadiness: "ignore", ExtraPodSelectors: []map[string]string{{"app": "db"}}}}
	applied := []Applied{{Ref: Ref{Kind: "StatefulSet", Name: "db"}}}
	got := resourceTarget(r, applied)
	if got.PodReadiness != "ignore" || len(got.ExtraSelectors) != 1 || len(got.Applied) != 1 {
		t.Errorf("resourceTarget(db) = %+v, want pod_readiness ignore, one extra selector, the applied object", got)
	}
	if got := resourceTarget(&devfile.Resource{Name: "x"}, nil); got.PodReadiness != "" || got.ExtraSelectors != nil {
		t.Errorf("resourceTarget(no K8s spec) = %+v, want the zero settings", got)
	}
}
