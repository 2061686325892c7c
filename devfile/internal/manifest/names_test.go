package manifest

import (
	"reflect"
	"testing"
)

func obj(apiVersion, kind, ns, name string) *Object {
	return &Object{APIVersion: apiVersion, Kind: kind, Namespace: ns, Name: name}
}

func TestUniqueNames(t *testing.T) {
	tests := []struct {
		name string
		in   []*Object
		want []string
	}{
		{
			name: "distinct names stay short",
			in:   []*Object{obj("apps/v1", "Deployment", "", "web"), obj("apps/v1", "StatefulSet", "", "db")},
			want: []string{"web", "db"},
		},
		{
			name: "same name, different kinds",
			in:   []*Object{obj("apps/v1", "Deployment", "", "web"), obj("batch/v1", "Job", "", "web"), obj("apps/v1", "StatefulSet", "", "db")},
			want: []string{"web:deployment", "web:job", "db"},
		},
		{
			name: "same name and kind, different namespaces (unset is default)",
			in:   []*Object{obj("apps/v1", "Deployment", "", "web"), obj("apps/v1", "Deployment", "staging", "web")},
			want: []string{"web:deployment:default", "web:deployment:staging"},
		},
		{
			name: "same name, kind and namespace, different groups",
			in:   []*Object{obj("apps/v1", "Deployment", "a", "web"), obj("extensions/v1beta1", "Deployment", "a", "web")},
			want: []string{"web:deployment:a:apps", "web:deployment:a:extensions"},
		},
		{
			name: "identical objects get an index",
			in:   []*Object{obj("v1", "Pod", "", "p"), obj("v1", "Pod", "", "p")},
			want: []string{"p:pod:default:core:0", "p:pod:default:core:1"},
		},
		{
			name: "names are lower-cased",
			in:   []*Object{obj("v1", "Pod", "", "P")},
			want: []string{"p"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := UniqueNames(tt.in); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("UniqueNames(%s) = %v, want %v", tt.name, got, tt.want)
			}
		})
	}
}
