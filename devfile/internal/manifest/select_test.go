package manifest

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseSimpleJSONPath(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []string
		wantErr bool
	}{
		{name: "braced", in: "{.spec.image}", want: []string{"spec", "image"}},
		{name: "bare", in: ".spec.runtime.image", want: []string{"spec", "runtime", "image"}},
		{name: "list", in: "{.spec.containers[*].image}", want: []string{"spec", "containers", "[*]", "image"}},
		{name: "filter unsupported", in: `{.spec.params[?(@.name=="image")].value}`, wantErr: true},
		{name: "no leading dot", in: "spec.image", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseJSONPath(tt.in)
			if (err != nil) != tt.wantErr || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseJSONPath(%q) = %q, %v; want %q (error %v)", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
	o := mustObj(t, "apiVersion: x/v1\nkind: Fn\nmetadata: {name: f}\nspec:\n  image: one\n  containers: [{image: two}, {image: three}]\n")
	path, _ := ParseJSONPath("{.spec.containers[*].image}")
	if got, want := ExtractPath(o.Content, path), []string{"two", "three"}; !reflect.DeepEqual(got, want) {
		t.Errorf("ExtractPath(containers[*].image) = %q, want %q", got, want)
	}
}

func TestObjectSelector(t *testing.T) {
	deploy := obj("apps/v1", "Deployment", "", "web-api")
	tests := []struct {
		name                          string
		apiVersion, kind, objName, ns string
		want                          bool
	}{
		{name: "empty matches all", want: true},
		{name: "kind case-insensitive", kind: "deployment", want: true},
		{name: "name is a partial match as in Tilt", objName: "api", want: true},
		{name: "anchored regexp", objName: "^api$", want: false},
		{name: "unset namespace is default", ns: "default", want: true},
		{name: "other namespace", ns: "prod", want: false},
		{name: "api version", apiVersion: "apps/v1", want: true},
		{name: "wrong kind", kind: "Service", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sel, err := NewSelector(tt.apiVersion, tt.kind, tt.objName, tt.ns)
			if err != nil {
				t.Fatal(err)
			}
			if got := sel.Matches(deploy); got != tt.want {
				t.Errorf("NewSelector(%q, %q, %q, %q).Matches(web-api) = %v, want %v", tt.apiVersion, tt.kind, tt.objName, tt.ns, got, tt.want)
			}
		})
	}
	if _, err := NewSelector("", "(", "", ""); err == nil || !strings.Contains(err.Error(), "kind: \"(\" is not a valid regular expression") {
		t.Errorf("NewSelector(kind=\"(\") error = %v, want a regexp error naming kind", err)
	}
}
