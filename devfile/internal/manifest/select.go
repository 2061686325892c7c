package manifest

import (
	"fmt"
	"regexp"
	"strings"
)

// ParseJSONPath parses the dotted subset of JSONPath that k8s_kind
// image paths use in practice: "{.spec.image}" or "{.spec.template.image}";
// "[*]" or "[]" steps through every list element.
func ParseJSONPath(p string) ([]string, error) {
	inner := strings.TrimSpace(p)
	inner = strings.TrimPrefix(inner, "{")
	inner = strings.TrimSuffix(inner, "}")
	if !strings.HasPrefix(inner, ".") || strings.ContainsAny(inner, "?@()=$") {
		return nil, fmt.Errorf("%q is not supported: write a dotted path such as \"{.spec.image}\" (\"[*]\" steps through lists)", p)
	}
	var out []string
	for _, part := range strings.Split(inner[1:], ".") {
		name, list := part, false
		if n, ok := strings.CutSuffix(part, "[*]"); ok {
			name, list = n, true
		} else if n, ok := strings.CutSuffix(part, "[]"); ok {
			name, list = n, true
		}
		if name == "" || strings.ContainsAny(name, "[]") {
			return nil, fmt.Errorf("%q is not supported: write a dotted path such as \"{.spec.image}\" (\"[*]\" steps through lists)", p)
		}
		out = append(out, name)
		if list {
			out = append(out, "[*]")
		}
	}
	return out, nil
}

// ExtractPath returns the strings at path in v.
func ExtractPath(v any, path []string) []string {
	if len(path) == 0 {
		if s, ok := v.(string); ok && s != "" {
			return []string{s}
		}
		return nil
	}
	if path[0] == "[*]" {
		list, _ := v.([]any)
		var out []string
		for _, e := range list {
			out = append(out, ExtractPath(e, path[1:])...)
		}
		return out
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	return ExtractPath(m[path[0]], path[1:])
}

// Selector matches objects as Tilt's filter_yaml and k8s_kind do:
// each non-empty field is a case-insensitive regular expression that must
// Match somewhere in the object's field (not the whole field: name="web"
// also matches "web-db"), and an object without a namespace is in "default".
type Selector struct {
	apiVersion, kind, name, namespace *regexp.Regexp
}

func NewSelector(apiVersion, kind, name, namespace string) (Selector, error) {
	var sel Selector
	for _, f := range []struct {
		what string
		in   string
		out  **regexp.Regexp
	}{
		{"api_version", apiVersion, &sel.apiVersion},
		{"kind", kind, &sel.kind},
		{"name", name, &sel.name},
		{"namespace", namespace, &sel.namespace},
	} {
		if f.in == "" {
			continue
		}
		re, err := regexp.Compile("(?i)" + f.in)
		if err != nil {
			return sel, fmt.Errorf("%s: %q is not a valid regular expression: %w", f.what, f.in, err)
		}
		*f.out = re
	}
	return sel, nil
}

func (sel Selector) Matches(o *Object) bool {
	m := func(re *regexp.Regexp, v string) bool { return re == nil || re.MatchString(v) }
	return m(sel.apiVersion, o.APIVersion) && m(sel.kind, o.Kind) &&
		m(sel.name, o.Name) && m(sel.namespace, o.NamespaceOrDefault())
}
