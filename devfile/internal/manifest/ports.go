package manifest

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// PortForwardForms is the remedy of every port-forward error.
const PortForwardForms = `accepted forms: 8080, "8080", "8080:80" (local:container), "0.0.0.0:8080:80" (host:local:container), port_forward(8080, 80, name="web", link_path="/", host="0.0.0.0"), or a list of these`

// PortForward is a parsed port forward: the local port and, when named,
// the host to bind and the container port.
type PortForward struct {
	Host      string
	Local     int
	Container int
}

// ValidHost reports whether host is an IPv4 address or a DNS hostname, as
// Tilt requires of a port forward's host.
func ValidHost(host string) bool { return validHost.MatchString(host) }

var validHost = regexp.MustCompile(`^(((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])|([A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?\.)*[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)$`)

// ParsePortForward parses "LOCAL", "LOCAL:CONTAINER" or "HOST:LOCAL:CONTAINER".
// A container port of 0 (or none) means "the same as local, or the pod's
// declared port" and is resolved by ResolveContainerPort.
func ParsePortForward(s string) (PortForward, error) {
	bad := func(why string) (PortForward, error) {
		return PortForward{}, fmt.Errorf("port_forwards: %q %s: %s", s, why, PortForwardForms)
	}
	parts := strings.Split(s, ":")
	var pf PortForward
	var localS, containerS string
	switch len(parts) {
	case 1:
		localS = parts[0]
	case 2:
		localS, containerS = parts[0], parts[1]
	case 3:
		pf.Host, localS, containerS = parts[0], parts[1], parts[2]
		if !ValidHost(pf.Host) {
			return bad(fmt.Sprintf("has host %q, which is not a hostname or an IPv4 address", pf.Host))
		}
	default:
		return bad("has too many colons")
	}
	local, err := strconv.Atoi(strings.TrimSpace(localS))
	if err != nil || local < 1 || local > 65535 {
		return bad(fmt.Sprintf("has local port %q, which is not a port (1-65535)", localS))
	}
	pf.Local = local
	if containerS != "" || len(parts) > 1 {
		c, err := strconv.Atoi(strings.TrimSpace(containerS))
		if err != nil || c < 0 || c > 65535 {
			return bad(fmt.Sprintf("has container port %q, which is not a port (1-65535)", containerS))
		}
		pf.Container = c
	}
	return pf, nil
}

// ResolveContainerPort picks the container port of a forward that named
// none, as Tilt does at run time: the declared port equal to local, else the
// first declared port, else local.
func ResolveContainerPort(local int, declared []int) int {
	for _, p := range declared {
		if p == local {
			return p
		}
	}
	if len(declared) > 0 {
		return declared[0]
	}
	return local
}
