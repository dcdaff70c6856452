package config

import (
	"net/netip"
	"strings"

	"github.com/cdnnode/cdnnode/internal/ascii"
)

// Match returns the first site, in file order, with a host pattern that
// matches host, or nil. host is a Host header or :authority value: a port
// is stripped, as are IPv6 brackets and a trailing dot, and ASCII case is
// ignored. "*.example.com" matches any name ending in ".example.com" but
// not "example.com" itself; "*" matches every host, even an empty one. The
// result points into c.Sites. It allocates only for an IPv6 literal, to
// canonicalise it. Safe for concurrent use.
func (c *Config) Match(host string) *Site {
	return match(c, hostName(host))
}

// MatchBytes is Match for a host given as bytes, such as a request head's
// Host field. It allocates nothing unless host holds an IPv6 literal,
// which goes through Match. Safe for concurrent use.
func (c *Config) MatchBytes(host []byte) *Site {
	if ipLiteral(host) {
		return c.Match(string(host))
	}
	return match(c, trimHost(host))
}

// match returns the first site with a pattern that matches h, a host
// without port (see hostName), or nil.
func match[S ~string | ~[]byte](c *Config, h S) *Site {
	for i := range c.Sites {
		for _, p := range c.Sites[i].Hosts {
			if p == "*" || matchHost(p, h) {
				return &c.Sites[i]
			}
		}
	}
	return nil
}

// matchHost reports whether host h matches the normalised (lower-case)
// pattern p, other than "*" (which match settles without h), ignoring the
// ASCII case of h.
func matchHost[S ~string | ~[]byte](p string, h S) bool {
	if suffix, ok := strings.CutPrefix(p, "*"); ok {
		return len(h) > len(suffix) && ascii.LowerEq(h[len(h)-len(suffix):], suffix)
	}
	return ascii.LowerEq(h, p)
}

// ipLiteral reports whether host may be an IPv6 literal, bracketed or
// bare (more than one colon): the hosts that hostName rewrites rather than
// slices.
func ipLiteral[S ~string | ~[]byte](host S) bool {
	return len(host) > 0 && host[0] == '[' || ascii.IndexByte(host, ':') != ascii.LastIndexByte(host, ':')
}

// hostName strips host's port, IPv6 brackets and trailing dot, and
// canonicalises an IPv6 address (as host patterns are) when it has no
// zone. Case is left as it is.
func hostName(host string) string {
	if !ipLiteral(host) {
		return trimHost(host)
	}
	h := host
	if strings.HasPrefix(h, "[") {
		end := strings.IndexByte(h, ']')
		if end < 0 {
			return strings.TrimSuffix(h, ".")
		}
		h = h[1:end]
		if a, err := netip.ParseAddr(h); err == nil && a.Zone() == "" {
			return a.String()
		}
		return h
	}
	if a, err := netip.ParseAddr(h); err == nil && a.Zone() == "" {
		return a.String()
	}
	return strings.TrimSuffix(h, ".")
}

// trimHost strips a host that is no IPv6 literal of its port (after its
// one colon) and trailing dot.
func trimHost[S ~string | ~[]byte](host S) S {
	if i := ascii.IndexByte(host, ':'); i >= 0 {
		host = host[:i]
	}
	if len(host) > 0 && host[len(host)-1] == '.' {
		host = host[:len(host)-1]
	}
	return host
}
