package origin

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"strings"
)

// ErrBadConnection reports a request whose Connection field nominates a
// field the proxy must control, or too many fields; the caller answers 400.
var ErrBadConnection = errors.New("bad Connection header")

// maxNominations is the number of Connection nominations at which a request
// is refused, as Pingora does.
const maxNominations = 10

// hopByHop are the fields that describe one connection, never forwarded
// (RFC 9110 §7.6.1), plus the de-facto ones proxies also strip.
var hopByHop = [...]string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// protected are fields a client may not have stripped by nominating them in
// Connection: the proxy sets them itself.
var protected = map[string]bool{
	"Host": true, "X-Forwarded-For": true, "X-Forwarded-Host": true, "X-Forwarded-Proto": true,
}

// CheckConnection validates the request's Connection nominations: at most
// nine, none of Host or the X-Forwarded-* fields, none shaped like a
// pseudo-header. It returns an error wrapping ErrBadConnection.
func CheckConnection(h http.Header) error {
	n := 0
	for _, v := range h["Connection"] {
		for f := range strings.SplitSeq(v, ",") {
			f = textproto.TrimString(f)
			if f == "" {
				continue
			}
			n++
			if n >= maxNominations {
				return fmt.Errorf("%w: %d or more nominated fields", ErrBadConnection, maxNominations)
			}
			if strings.HasPrefix(f, ":") || protected[textproto.CanonicalMIMEHeaderKey(f)] {
				return fmt.Errorf("%w: nominates %q", ErrBadConnection, f)
			}
		}
	}
	return nil
}

// StripHopByHop deletes the hop-by-hop fields from h, including those the
// Connection field nominates. A "Te: trailers" request keeps its meaning
// for the next hop only if the caller sets it again.
func StripHopByHop(h http.Header) {
	for _, v := range h.Values("Connection") {
		for f := range strings.SplitSeq(v, ",") {
			if f = textproto.TrimString(f); f != "" {
				h.Del(f)
			}
		}
	}
	for _, f := range hopByHop {
		h.Del(f)
	}
}

// IsWebSocket reports whether r is a valid WebSocket opening handshake
// (RFC 6455 §4.1): an HTTP/1.1 GET whose Connection names "upgrade", with
// "Upgrade: websocket", "Sec-WebSocket-Version: 13" and a
// Sec-WebSocket-Key of 16 base64-encoded bytes. It is the one upgrade the
// proxy forwards; StripHopByHop drops any other.
func IsWebSocket(r *http.Request) bool {
	h := r.Header
	up := h["Upgrade"] // first: most requests have none, and this is on every one's path
	if len(up) != 1 || r.Method != http.MethodGet || r.ProtoMajor != 1 || r.ProtoMinor < 1 ||
		!strings.EqualFold(textproto.TrimString(up[0]), "websocket") ||
		textproto.TrimString(h.Get("Sec-WebSocket-Version")) != "13" || len(h.Values("Sec-WebSocket-Key")) != 1 {
		return false
	}
	key, err := base64.StdEncoding.DecodeString(textproto.TrimString(h.Get("Sec-WebSocket-Key")))
	if err != nil || len(key) != 16 {
		return false
	}
	for _, v := range h.Values("Connection") {
		for f := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(textproto.TrimString(f), "upgrade") {
				return true
			}
		}
	}
	return false
}

// CheckRequest validates a request for the pool's header policy: its
// Connection nominations (CheckConnection), unless the pool keeps
// nominated fields.
func (p *Pool) CheckRequest(h http.Header) error {
	if !p.cfg.HeaderPolicy.StripConnectionNominated {
		return nil
	}
	return CheckConnection(h)
}

// StripRequest strips an upstream request's header h as the pool's header
// policy says: by default the hop-by-hop fields and those Connection
// nominates (StripHopByHop); with strip_connection_nominated = false the
// hop-by-hop fields only; with header_policy = "preserve" only Connection
// and Transfer-Encoding, whose framing is the transport's.
func (p *Pool) StripRequest(h http.Header) {
	switch pol := p.cfg.HeaderPolicy; {
	case pol.Mode == "preserve":
		h.Del("Connection")
		h.Del("Transfer-Encoding")
	case pol.StripConnectionNominated:
		StripHopByHop(h)
	default:
		for _, f := range hopByHop {
			h.Del(f)
		}
	}
}

// Upgrade reports whether r is an upgrade the pool forwards: a valid
// WebSocket handshake (IsWebSocket) or, with h1_upgrade = "preserve", any
// HTTP/1.1 request whose Connection names "upgrade" and that has an
// Upgrade field.
func (p *Pool) Upgrade(r *http.Request) bool {
	if p.cfg.HeaderPolicy.H1Upgrade != "preserve" {
		return IsWebSocket(r)
	}
	if len(r.Header["Upgrade"]) == 0 || r.ProtoMajor != 1 || r.ProtoMinor < 1 {
		return false
	}
	for _, v := range r.Header.Values("Connection") {
		for f := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(textproto.TrimString(f), "upgrade") {
				return true
			}
		}
	}
	return false
}

// SetUpgrade gives h, stripped of its hop-by-hop fields, the upgrade src
// (a request's or a 101's header) carries: a WebSocket one in normalised
// form, or, with h1_upgrade = "preserve", src's Upgrade as it is.
func (p *Pool) SetUpgrade(h, src http.Header) {
	h["Connection"] = []string{"Upgrade"}
	if p.cfg.HeaderPolicy.H1Upgrade == "preserve" {
		h["Upgrade"] = src["Upgrade"]
		return
	}
	h["Upgrade"] = []string{"websocket"}
}
