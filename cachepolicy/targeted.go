package cachepolicy

import (
	"net/http"
	"time"
)

// Options are the per-site choices that change policy. The zero value stores
// only responses with explicit or heuristic freshness, never one carrying
// Set-Cookie, and reads only Cache-Control.
type Options struct {
	// DefaultTTL is the lifetime given to a storable response that has no
	// explicit freshness and no heuristic one; 0 leaves it unstored
	// (ReasonNoFreshness).
	DefaultTTL time.Duration

	// HeuristicMax caps the 10%-of-Last-Modified-age heuristic
	// (RFC 9111 §4.2.2); 0 means 24h.
	HeuristicMax time.Duration

	// AllowSetCookie stores responses carrying Set-Cookie. The stored copy
	// keeps Set-Cookie, so every client served from it gets the cookie: only
	// for sites whose cookies are not per-user.
	AllowSetCookie bool

	// StaleWhileRevalidate and StaleIfError are the RFC 5861 windows given
	// to a response that has no such directive of its own (an explicit
	// "stale-while-revalidate=0" keeps 0).
	StaleWhileRevalidate, StaleIfError time.Duration

	// TargetedFields are RFC 9213 targeted cache-control fields in
	// precedence order, e.g. {"Cdnnode-Cache-Control", "CDN-Cache-Control"}.
	// The first one with a valid, non-empty value in the response is used
	// instead of Cache-Control and Expires for storing and freshness
	// (RFC 9213 §2.1); an invalid one is skipped.
	TargetedFields []string
}

// StripTargeted deletes every targeted field of o from h: they are meant for
// this cache, not for its clients (RFC 9213 §2.1 lets a cache pass them on;
// this cache is the last one that should see them). It modifies h.
func (o Options) StripTargeted(h http.Header) {
	for _, name := range o.TargetedFields {
		h.Del(name)
	}
}

// heuristicMax returns the heuristic cap with its default applied.
func (o Options) heuristicMax() time.Duration {
	if o.HeuristicMax > 0 {
		return o.HeuristicMax
	}
	return 24 * time.Hour
}

// effective returns the directives that govern this cache for a response
// with header h: the first valid, non-empty targeted field, else
// Cache-Control. targeted reports which it was (Expires is then ignored,
// RFC 9213 §2.1); err is Cache-Control's parse error when that is used.
func (o Options) effective(h http.Header) (d Directives, targeted bool, err error) {
	for _, name := range o.TargetedFields {
		if len(h.Values(name)) == 0 {
			continue
		}
		td, terr := ParseHeader(h, name)
		if terr != nil || td.String() == "" {
			continue
		}
		return td, true, nil
	}
	d, err = ParseHeader(h, "Cache-Control")
	return d, false, err
}
