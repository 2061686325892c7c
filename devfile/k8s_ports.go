package devfile

import (
	"fmt"
	"net/url"
	"strings"

	"go.starlark.net/starlark"

	"github.com/devloop-dev/devloop/devfile/internal/manifest"
)

// portForwardValue is the Starlark value port_forward() returns.
type portForwardValue struct{ PortForward }

var _ starlark.HasAttrs = portForwardValue{}

func (p portForwardValue) String() string {
	return fmt.Sprintf("port_forward(local_port=%d, container_port=%d, name=%q)", p.Local, p.Container, p.Name)
}
func (p portForwardValue) Type() string         { return "port_forward" }
func (p portForwardValue) Freeze()              {}
func (p portForwardValue) Truth() starlark.Bool { return p.PortForward != PortForward{} }
func (p portForwardValue) Hash() (uint32, error) {
	return 0, fmt.Errorf("unhashable type: port_forward")
}

// Attr exposes the fields of a port_forward.
func (p portForwardValue) Attr(name string) (starlark.Value, error) {
	switch name {
	case "local_port":
		return starlark.MakeInt(p.Local), nil
	case "container_port":
		return starlark.MakeInt(p.Container), nil
	case "name":
		return starlark.String(p.Name), nil
	case "link_path":
		return starlark.String(p.LinkPath), nil
	case "host":
		return starlark.String(p.Host), nil
	}
	return nil, nil
}

// AttrNames lists the attributes of a port_forward.
func (p portForwardValue) AttrNames() []string {
	return []string{"container_port", "host", "link_path", "local_port", "name"}
}

// portForwardBuiltin implements port_forward(local_port, container_port=0,
// name="", link_path="", host="").
func portForwardBuiltin(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var local, container int
	var name, linkPath, host string
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs,
		"local_port", &local, "container_port?", &container, "name?", &name,
		"link_path?", &linkPath, "host?", &host); err != nil {
		return nil, err
	}
	if err := checkPortArg("local_port", local); err != nil {
		return nil, fmt.Errorf("%s: %w", fn.Name(), err)
	}
	if err := checkPortArg("container_port", container); err != nil {
		return nil, fmt.Errorf("%s: %w", fn.Name(), err)
	}
	if host != "" && !manifest.ValidHost(host) {
		return nil, fmt.Errorf("%s: host %q is not a hostname or an IP address", fn.Name(), host)
	}
	if linkPath != "" {
		if _, err := url.Parse(linkPath); err != nil {
			return nil, fmt.Errorf("%s: link_path %q is not a URL path: %w", fn.Name(), linkPath, err)
		}
		if !strings.HasPrefix(linkPath, "/") {
			linkPath = "/" + linkPath
		}
	}
	return portForwardValue{PortForward{Local: local, Container: container, Name: name, LinkPath: linkPath, Host: host}}, nil
}

func checkPortArg(what string, n int) error {
	if n < 0 || n > 65535 {
		return fmt.Errorf("%s %d is not a port: want 1-65535", what, n)
	}
	return nil
}

// portForwardsFromValue converts port_forwards=: an int, a string, a
// port_forward(), or a list of them.
func portForwardsFromValue(v starlark.Value) ([]PortForward, error) {
	switch v := v.(type) {
	case nil, starlark.NoneType:
		return nil, nil
	case *starlark.List, starlark.Tuple:
		var out []PortForward
		it := v.(starlark.Iterable).Iterate()
		defer it.Done()
		var x starlark.Value
		for it.Next(&x) {
			switch x.(type) {
			case *starlark.List, starlark.Tuple:
				return nil, fmt.Errorf("port_forwards: nested list %s: %s", x, manifest.PortForwardForms)
			}
			pf, err := portForwardFromValue(x)
			if err != nil {
				return nil, err
			}
			out = append(out, pf)
		}
		return out, nil
	}
	pf, err := portForwardFromValue(v)
	if err != nil {
		return nil, err
	}
	return []PortForward{pf}, nil
}

func portForwardFromValue(v starlark.Value) (PortForward, error) {
	switch v := v.(type) {
	case starlark.Int:
		n, ok := v.Int64()
		if !ok || n < 1 || n > 65535 {
			return PortForward{}, fmt.Errorf("port_forwards: %s is not a port (want 1-65535): %s", v, manifest.PortForwardForms)
		}
		return PortForward{Local: int(n)}, nil
	case starlark.String:
		p, err := manifest.ParsePortForward(string(v))
		return PortForward{Host: p.Host, Local: p.Local, Container: p.Container}, err
	case portForwardValue:
		if v.Local == 0 {
			return PortForward{}, fmt.Errorf("port_forwards: %s has no local port: %s", v, manifest.PortForwardForms)
		}
		return v.PortForward, nil
	}
	return PortForward{}, fmt.Errorf("port_forwards: got %s %s: %s", v.Type(), v, manifest.PortForwardForms)
}
