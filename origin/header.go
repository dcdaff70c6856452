package origin

import (
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
