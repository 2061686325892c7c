package devfile

import (
	"fmt"

	"go.starlark.net/starlark"
)

// linkValue is the Starlark value link(url, name=) returns.
type linkValue struct {
	Link
}

var _ starlark.HasAttrs = linkValue{}

func (l linkValue) String() string {
	if l.Name != "" {
		return fmt.Sprintf("link(%q, name=%q)", l.URL, l.Name)
	}
	return fmt.Sprintf("link(%q)", l.URL)
}
func (l linkValue) Type() string         { return "link" }
func (l linkValue) Freeze()              {}
func (l linkValue) Truth() starlark.Bool { return l.URL != "" }
func (l linkValue) Hash() (uint32, error) {
	return starlark.Tuple{starlark.String(l.URL), starlark.String(l.Name)}.Hash()
}

// Attr exposes url and name.
func (l linkValue) Attr(name string) (starlark.Value, error) {
	switch name {
	case "url":
		return starlark.String(l.URL), nil
	case "name":
		return starlark.String(l.Name), nil
	}
	return nil, nil
}

// AttrNames lists the attributes of a link.
func (l linkValue) AttrNames() []string { return []string{"name", "url"} }

// linkBuiltin implements link(url, name="").
func linkBuiltin(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var url, name string
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "url", &url, "name?", &name); err != nil {
		return nil, err
	}
	if url == "" {
		return nil, fmt.Errorf("%s: url is empty: pass the address to show, e.g. link(\"http://localhost:8080\")", fn.Name())
	}
	return linkValue{Link{URL: url, Name: name}}, nil
}

// linksFromValue converts the links= argument of local_resource and
// k8s_resource: None, a URL string, a link(), or a list/tuple of those.
func linksFromValue(v starlark.Value) ([]Link, error) {
	one := func(x starlark.Value) (Link, error) {
		switch x := x.(type) {
		case starlark.String:
			if x == "" {
				return Link{}, fmt.Errorf("links: empty URL")
			}
			return Link{URL: string(x)}, nil
		case linkValue:
			return x.Link, nil
		}
		return Link{}, fmt.Errorf("links: got %s, want a URL string or link(url, name=)", x.Type())
	}
	switch v := v.(type) {
	case nil, starlark.NoneType:
		return nil, nil
	case starlark.String, linkValue:
		l, err := one(v)
		if err != nil {
			return nil, err
		}
		return []Link{l}, nil
	case starlark.Iterable:
		var out []Link
		it := v.Iterate()
		defer it.Done()
		var x starlark.Value
		for it.Next(&x) {
			l, err := one(x)
			if err != nil {
				return nil, err
			}
			out = append(out, l)
		}
		return out, nil
	}
	return nil, fmt.Errorf("links: got %s, want a URL string, link(), or a list of them", v.Type())
}
