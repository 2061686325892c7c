package web

import (
	"crypto/subtle"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// TokenHeader carries the per-run token on API requests.
const TokenHeader = "X-Devloop-Token"

// isLoopbackHost reports whether host (a name or IP, no port) is this machine only.
func isLoopbackHost(host string) bool {
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func allowedHosts(cfg Config) map[string]bool {
	m := map[string]bool{"localhost": true, "127.0.0.1": true, "::1": true}
	if h := strings.Trim(cfg.Host, "[]"); h != "0.0.0.0" && h != "::" {
		m[strings.ToLower(h)] = true
	}
	for _, h := range cfg.AllowedHosts {
		m[strings.ToLower(strings.Trim(h, "[]"))] = true
	}
	return m
}

// hostAllowed is the DNS-rebinding defence: a page on evil.example whose
// name resolves to 127.0.0.1 sends Host: evil.example, which is refused.
// When serving remotely, IP literals are accepted too: rebinding needs a
// DNS name, and an IP literal has none.
func (s *Server) hostAllowed(r *http.Request) bool {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
	if s.allowed[host] {
		return true
	}
	return s.cfg.AllowRemote && net.ParseIP(host) != nil
}

// sameOrigin reports whether a browser request comes from a page this
// server served. Requests without Origin (curl, the CLI) pass: they carry
// the token instead, which no other page can read.
func sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return false
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Scheme != "http" {
		return false
	}
	return strings.EqualFold(u.Host, r.Host)
}

// tokenOK checks the token from the header, or from the token query
// parameter (browsers cannot set headers on a websocket).
func (s *Server) tokenOK(r *http.Request) bool {
	t := r.Header.Get(TokenHeader)
	if t == "" {
		t = r.URL.Query().Get("token")
	}
	return subtle.ConstantTimeCompare([]byte(t), []byte(s.token)) == 1
}

// fromLoopback reports whether the peer is on this machine.
func fromLoopback(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// access is what a route requires beyond the Host allow-list.
type access int

const (
	// public routes (the page and its files) hold no secret: the page
	// embeds the token only for clients on this machine.
	public access = iota
	// read routes need the token from clients on other machines.
	read
	// mutate routes (and the websocket) need the same-origin check and the
	// token from everyone.
	mutate
)

// guard wraps every route: the Host allow-list for all, and the same-origin
// check and the token where the route's access level needs them.
func (s *Server) guard(level access, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.hostAllowed(r) {
			s.log.Debug("web: refused host", "host", r.Host, "path", r.URL.Path)
			httpError(w, http.StatusForbidden, "host "+r.Host+" is not allowed: open the dashboard at "+s.URL())
			return
		}
		if level == mutate || (level == read && !fromLoopback(r)) {
			if !sameOrigin(r) {
				s.log.Debug("web: refused origin", "origin", r.Header.Get("Origin"), "path", r.URL.Path)
				httpError(w, http.StatusForbidden, "cross-origin request refused")
				return
			}
			if !s.tokenOK(r) {
				httpError(w, http.StatusUnauthorized, "missing or wrong "+TokenHeader+": the CLI reads it from "+StatePath(s.cfg.Port)+"; reload the dashboard")
				return
			}
		}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		h(w, r)
	}
}
