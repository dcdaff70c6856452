package h1

import (
	"bytes"
	"net/netip"

	"github.com/cdnnode/cdnnode/internal/ascii"
)

// checkTarget checks a non-empty request-target against the form RFC 9112
// §3.2 allows for method, and returns the authority it carries as a span
// of t (the zero span when it carries none).
func checkTarget(t, method []byte) (span, bool) {
	switch {
	case string(method) == "CONNECT":
		// Authority-form, and only for CONNECT (§3.2.3): host and port.
		return span{0, len(t)}, checkAuthority(t, true)
	case t[0] == '/':
		return span{}, checkPath(t) // origin-form (§3.2.1)
	case len(t) == 1 && t[0] == '*':
		return span{}, string(method) == "OPTIONS" // asterisk-form (§3.2.4)
	}
	// Absolute-form (§3.2.2): an http or https URI, whose authority the
	// request is for.
	rest, ok := cutScheme(t)
	if !ok {
		return span{}, false
	}
	end := len(rest)
	if i := bytes.IndexAny(rest, "/?"); i >= 0 {
		end = i
	}
	if !checkAuthority(rest[:end], false) || !checkPath(rest[end:]) {
		return span{}, false
	}
	start := len(t) - len(rest)
	return span{start, start + end}, true
}

// CheckOrigin applies this package's request-target and Host rules to a
// request that came another way (HTTP/2's :path and :authority), so that
// every protocol's requests name cache keys and purges alike. It returns
// the refusal (bad-target or bad-host), or nil.
func CheckOrigin(method, target, host string) *Error {
	if target == "" {
		return refuse("bad-target")
	}
	if _, ok := checkTarget([]byte(target), []byte(method)); !ok {
		return refuse("bad-target")
	}
	if !checkAuthority([]byte(host), false) {
		return refuse("bad-host")
	}
	return nil
}

// cutScheme returns t after "http://" or "https://", the schemes an origin
// server answers for (RFC 9110 §4.2), matched without regard to case.
func cutScheme(t []byte) ([]byte, bool) {
	for _, s := range [...]string{"http://", "https://"} {
		if len(t) >= len(s) && ascii.LowerEq(t[:len(s)], s) {
			return t[len(s):], true
		}
	}
	return nil, false
}

// checkPath checks a path and query (possibly empty): no control
// character, space or '#', and a '%' in the path starts a valid
// pct-encoded octet (RFC 3986 §2.1). The query's '%' signs are left alone:
// clients send bare ones there and nothing decodes a query on the way.
func checkPath(p []byte) bool {
	if !all(p, isTarget) {
		return false
	}
	if q := bytes.IndexByte(p, '?'); q >= 0 {
		p = p[:q]
	}
	for i := bytes.IndexByte(p, '%'); i >= 0; i = bytes.IndexByte(p, '%') { // p shrinks each pass
		if len(p) < i+3 || class[p[i+1]]&isHex == 0 || class[p[i+2]]&isHex == 0 {
			return false
		}
		p = p[i+3:]
	}
	return true
}

// checkAuthority checks uri-host [":" port] (RFC 9110 §4.2.3, RFC 3986
// §3.2.2), more strictly than the RFCs: no userinfo, a reg-name or IPv4
// host of ALPHA, DIGIT and "-._~" only (no pct-encoding, no sub-delims), an
// IPv6 literal without zone, and a port of 1-5 digits up to 65535, which
// needPort requires.
func checkAuthority(a []byte, needPort bool) bool {
	var port []byte
	if len(a) > 0 && a[0] == '[' {
		end := bytes.IndexByte(a, ']')
		if end < 0 || !ipv6Literal(a[1:end]) {
			return false
		}
		port = a[end+1:]
	} else {
		host := a
		if i := bytes.IndexByte(a, ':'); i >= 0 {
			host, port = a[:i], a[i:]
		}
		if len(host) == 0 || !all(host, isHost) {
			return false
		}
	}
	if len(port) == 0 {
		return !needPort
	}
	if port[0] != ':' || len(port) < 2 || len(port) > 6 {
		return false
	}
	n := 0
	for _, c := range port[1:] {
		if c < '0' || c > '9' {
			return false
		}
		n = n*10 + int(c-'0')
	}
	return n <= 65535
}

// ipv6Literal reports whether b, between an IP-literal's brackets, is an
// IPv6 address without zone.
func ipv6Literal(b []byte) bool {
	for _, c := range b {
		if class[c]&isHex == 0 && c != ':' && c != '.' {
			return false // no zone, no IPvFuture
		}
	}
	addr, err := netip.ParseAddr(string(b))
	return err == nil && addr.Is6()
}
