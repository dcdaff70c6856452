package purge

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"net/netip"
	"strings"

	"github.com/cdnnode/cdnnode/config"
)

// Authorizer decides who may purge, from [purge] allow and token. A
// request is allowed when its client address is in an allowed network
// (no token needed, and one sent is not checked), or when a token is
// configured and the request carries it as "Authorization: Bearer <token>"
// (RFC 6750 §2.1), from any address. With no network and no token, nobody
// may purge.
//
// The client address is the connection's (r.RemoteAddr): X-Forwarded-For
// and the like are not trusted, so behind a load balancer its addresses
// are what allow must name. An Authorizer is immutable and safe for
// concurrent use.
type Authorizer struct {
	allow []netip.Prefix
	token [sha256.Size]byte // SHA-256 of the token, so comparing leaks no length
	has   bool              // a token is configured
}

// NewAuthorizer builds the Authorizer for c. c.Allow and c.Token are used
// as Parse left them: networks masked, IPv4 as IPv4.
func NewAuthorizer(c config.Purge) *Authorizer {
	a := &Authorizer{allow: c.Allow, has: c.Token != ""}
	if a.has {
		a.token = sha256.Sum256([]byte(c.Token))
	}
	return a
}

// Check decides r. It returns 0 and "" when r may purge; otherwise the
// status to answer and a short reason for the body:
//
//   - 401 when a token is configured and the client, outside the allowed
//     networks, sent none or a malformed one (answer with Deny, which adds
//     the WWW-Authenticate field RFC 9110 §15.5.2 requires);
//   - 403 when the client is outside the allowed networks and no token is
//     configured, or it sent a wrong token.
func (a *Authorizer) Check(r *http.Request) (status int, reason string) {
	ip, ipOK := clientAddr(r.RemoteAddr)
	if ipOK && a.allowed(ip) {
		return 0, ""
	}
	if !a.has {
		if len(a.allow) == 0 {
			return http.StatusForbidden, "purging is disabled: purge.allow is empty and no purge token is set"
		}
		if !ipOK {
			return http.StatusForbidden, "purge not allowed: unknown client address"
		}
		return http.StatusForbidden, fmt.Sprintf("purge not allowed from %s", ip)
	}
	tok, ok := bearer(r.Header)
	switch {
	case !ok:
		return http.StatusUnauthorized, "purge token required: send Authorization: Bearer <token>"
	case !a.tokenMatches(tok):
		return http.StatusForbidden, "invalid purge token"
	}
	return 0, ""
}

// Deny writes the answer for a refused purge: status and reason as Check
// returned them, as text, plus the WWW-Authenticate challenge a 401
// carries (RFC 9110 §11.6.1, RFC 6750 §3).
func Deny(w http.ResponseWriter, status int, reason string) {
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="cdnnode purge"`)
	}
	http.Error(w, reason, status)
}

// allowed reports whether ip is in an allowed network.
func (a *Authorizer) allowed(ip netip.Addr) bool {
	for _, n := range a.allow {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// tokenMatches compares tok with the configured token in constant time.
func (a *Authorizer) tokenMatches(tok string) bool {
	sum := sha256.Sum256([]byte(tok))
	return subtle.ConstantTimeCompare(sum[:], a.token[:]) == 1
}

// clientAddr parses a RemoteAddr ("ip:port", or a bare ip from a test
// harness) into an address without zone, IPv4-mapped IPv6 as IPv4, so a
// dual-stack listener's clients match IPv4 networks.
func clientAddr(remote string) (netip.Addr, bool) {
	var ip netip.Addr
	if ap, err := netip.ParseAddrPort(remote); err == nil {
		ip = ap.Addr()
	} else if a, err := netip.ParseAddr(remote); err == nil {
		ip = a
	} else {
		return netip.Addr{}, false
	}
	return ip.Unmap().WithZone(""), true
}

// bearer returns the token of the request's one Authorization field if
// it uses the Bearer scheme (case-insensitive, RFC 9110 §11.1).
func bearer(h http.Header) (string, bool) {
	v := h.Values("Authorization")
	if len(v) != 1 {
		return "", false
	}
	scheme, tok, ok := strings.Cut(strings.TrimSpace(v[0]), " ")
	tok = strings.TrimLeft(tok, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" || strings.ContainsAny(tok, " \t") {
		return "", false
	}
	return tok, true
}
