package cachepolicy

import (
	"net/http"
	"net/textproto"
	"strings"
)

// notFreshened reports whether a 304 may not replace the canonical field k
// of a stored response: Content-Length (§3.2), the hop-by-hop fields that are
// not stored at all (§3.1), and fields describing the stored body's bytes,
// which a 304 does not carry (Content-Encoding, Content-Range).
func notFreshened(k string) bool {
	switch k {
	case "Content-Length", "Content-Encoding", "Content-Range",
		"Transfer-Encoding", "Connection", "Keep-Alive", "Proxy-Connection",
		"Proxy-Authenticate", "Proxy-Authorization", "Te", "Trailer", "Upgrade":
		return true
	}
	return false
}

// Freshen returns a copy of stored updated with the header fields of a 304
// response (RFC 9111 §4.3.4, §3.2): every field in notModified replaces all
// lines of the stored field of that name, except Content-Length,
// Content-Encoding, Content-Range, hop-by-hop fields and the fields
// notModified's Connection nominates. Neither argument is modified; the
// result shares no slices with them.
func Freshen(stored, notModified http.Header) http.Header {
	out := stored.Clone()
	if out == nil {
		out = make(http.Header, len(notModified))
	}
	nominated := connectionFields(notModified)
	for k, vs := range notModified {
		ck := textproto.CanonicalMIMEHeaderKey(k)
		if notFreshened(ck) || nominated[ck] {
			continue
		}
		if k != ck {
			delete(out, k)
		}
		out[ck] = append([]string(nil), vs...)
	}
	return out
}

// connectionFields returns the canonical names of the fields h's Connection
// nominates as hop-by-hop (RFC 9110 §7.6.1).
func connectionFields(h http.Header) map[string]bool {
	var m map[string]bool
	for _, v := range h.Values("Connection") {
		for f := range strings.SplitSeq(v, ",") {
			if f = strings.Trim(f, " \t"); f != "" {
				if m == nil {
					m = make(map[string]bool)
				}
				m[textproto.CanonicalMIMEHeaderKey(f)] = true
			}
		}
	}
	return m
}
