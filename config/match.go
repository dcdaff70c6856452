package config

import (
	"net/netip"
	"strings"
)

// Match returns the first site, in file order, with a host pattern that
// matches host, or nil. host is a Host header or :authority value: a port
// is stripped, as are IPv6 brackets and a trailing dot, and case is
// ignored. "*.example.com" matches any name ending in ".example.com" but
// not "example.com" itself; "*" matches every host, even an empty one. The
// result points into c.Sites. Safe for concurrent use.
func (c *Config) Match(host string) *Site {
	h, canonical := "", false
	for i := range c.Sites {
		for _, p := range c.Sites[i].Hosts {
			if p == "*" {
				return &c.Sites[i]
			}
			if !canonical {
				// Only named patterns need the canonical host.
				h, canonical = canonicalHost(host), true
			}
			if matchHost(p, h) {
				return &c.Sites[i]
			}
		}
	}
	return nil
}

// matchHost reports whether the canonical host h matches the normalised
// pattern p, other than "*" (which Match settles without h).
func matchHost(p, h string) bool {
	switch {
	case strings.HasPrefix(p, "*."):
		return len(h) > len(p)-1 && strings.HasSuffix(h, p[1:])
	default:
		return p == h
	}
}

// canonicalHost lower-cases host and strips its port, IPv6 brackets and
// trailing dot. It allocates only when host has upper-case letters or an
// IPv6 literal to rewrite.
func canonicalHost(host string) string {
	h := host
	if strings.HasPrefix(h, "[") {
		if end := strings.IndexByte(h, ']'); end > 0 {
			h = h[1:end]
			if a, err := netip.ParseAddr(h); err == nil && a.Zone() == "" {
				return a.String()
			}
			return strings.ToLower(h)
		}
	} else if i := strings.LastIndexByte(h, ':'); i >= 0 && strings.IndexByte(h, ':') == i {
		h = h[:i] // host:port; more than one colon is a bare IPv6 address
	} else if i >= 0 {
		if a, err := netip.ParseAddr(h); err == nil && a.Zone() == "" {
			return a.String()
		}
	}
	h = strings.TrimSuffix(h, ".")
	return strings.ToLower(h)
}
