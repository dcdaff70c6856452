package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// checkListen checks a listener address: "host:port" or ":port", the host
// an IP or a name, the port 0-65535 (0 picks a free port).
func checkListen(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("invalid address %q: want host:port", addr)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("invalid address %q: port %q is not a number in 0-65535", addr, port)
	}
	if host != "" && !validIPOrHostname(host) {
		return fmt.Errorf("invalid address %q: bad host %q", addr, host)
	}
	return nil
}

func validIPOrHostname(host string) bool {
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	return validHostname(host)
}

// validHostname reports whether s is a DNS name: dot-separated labels of
// letters, digits, '-' and '_' (seen in the wild), each 1-63 bytes, at most
// 253 in all. Case is not significant.
func validHostname(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

var errPattern = errors.New(`want "example.com", "*.example.com" or "*", with no scheme, port or path`)

// normalizePattern checks a site host pattern and returns its canonical
// form: lower case, no trailing dot, IPv6 literals without brackets.
func normalizePattern(h string) (string, error) {
	p := strings.ToLower(h)
	if p == "*" {
		return p, nil
	}
	if a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(p, "["), "]")); err == nil && a.Zone() == "" {
		return a.String(), nil
	}
	p = strings.TrimSuffix(p, ".")
	name := strings.TrimPrefix(p, "*.")
	if !validHostname(name) {
		if _, _, err := net.SplitHostPort(p); err == nil {
			return h, fmt.Errorf("invalid host pattern %q: a host pattern carries no port", h)
		}
		return h, fmt.Errorf("invalid host pattern %q: %w", h, errPattern)
	}
	return p, nil
}
