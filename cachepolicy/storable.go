package cachepolicy

import (
	"net/http"
	"strings"
	"time"
)

// Reason names why a response was or was not stored. Its String feeds the
// Cache-Status detail, logs and metric labels.
type Reason uint8

// The outcomes of Decide; only Stored means the response may be stored.
const (
	Stored               Reason = iota // stored
	ReasonMethod                       // request method is not GET or HEAD
	ReasonStatus                       // status never stored, or not cacheable by default and no explicit freshness (§3, §4.2.2)
	ReasonNoStore                      // response no-store (§5.2.2.5) in the effective directives
	ReasonRequestNoStore               // request no-store (§5.2.1.5)
	ReasonPrivate                      // response private (§5.2.2.7)
	ReasonAuthorization                // request had Authorization, response lacks public, s-maxage and must-revalidate (§3.5)
	ReasonVaryStar                     // Vary: * (§4.1)
	ReasonSetCookie                    // Set-Cookie and Options.AllowSetCookie off
	ReasonNoFreshness                  // no explicit freshness, no heuristic, DefaultTTL off
	ReasonInvalid                      // malformed effective cache-control on the response
)

// String returns the label of r, e.g. "no-store"; "unknown" for a value
// outside the constants.
func (r Reason) String() string {
	switch r {
	case Stored:
		return "stored"
	case ReasonMethod:
		return "method"
	case ReasonStatus:
		return "status"
	case ReasonNoStore:
		return "no-store"
	case ReasonRequestNoStore:
		return "request-no-store"
	case ReasonPrivate:
		return "private"
	case ReasonAuthorization:
		return "authorization"
	case ReasonVaryStar:
		return "vary-star"
	case ReasonSetCookie:
		return "set-cookie"
	case ReasonNoFreshness:
		return "no-freshness"
	case ReasonInvalid:
		return "invalid-cache-control"
	}
	return "unknown"
}

// Decision is what Decide concludes about one origin response.
type Decision struct {
	Reason Reason

	// Directives are the effective response directives: the targeted field
	// if one applies, else Cache-Control.
	Directives Directives

	// Lifetime is the freshness lifetime (§4.2.1); 0 when not stored.
	Lifetime time.Duration

	// Heuristic is true when Lifetime came from the Last-Modified heuristic
	// (§4.2.2).
	Heuristic bool

	// StaleWhileRevalidate and StaleIfError are the response's windows
	// (RFC 5861), or the Options' defaults when it has none.
	StaleWhileRevalidate, StaleIfError time.Duration

	// NoCache is true when every reuse needs validation: unqualified
	// no-cache, or a qualified one naming a field the response carries
	// (§5.2.2.4).
	NoCache bool

	// MustRevalidate is true for must-revalidate, proxy-revalidate or
	// s-maxage (§5.2.2.2, §5.2.2.8, §5.2.2.10): never serve it stale without
	// revalidation.
	MustRevalidate bool
}

// Decide applies the storing rules of RFC 9111 §3 and the freshness rules of
// §4.2.1 to a response with status and respH, for a request with method and
// reqH, received at now. Only a Decision with Reason Stored may be stored.
//
// Checks in order: method GET or HEAD; status (1xx, 206 and 304 are never
// stored, nor a must-understand response with a status this cache does not
// know, §5.2.2.3); request no-store; a malformed effective field; no-store
// (ignored under must-understand with a known status); private (qualified
// only when the response has a named field); Authorization (§3.5); Vary: *;
// Set-Cookie; a status that is not heuristically cacheable without explicit
// freshness or public; and finally a freshness lifetime, in the order
// s-maxage, max-age, Expires − Date (an invalid or repeated Expires gives 0),
// the heuristic (heuristically cacheable status with Last-Modified: 10% of
// Date − Last-Modified, at most Options.HeuristicMax), Options.DefaultTTL.
// A missing or invalid Date counts as now. Pragma is ignored on responses.
func Decide(method string, reqH http.Header, status int, respH http.Header, now time.Time, o Options) Decision {
	d, targeted, err := o.effective(respH)
	dec := Decision{
		Directives:           d,
		StaleWhileRevalidate: orDefault(d.StaleWhileRevalidate, o.StaleWhileRevalidate),
		StaleIfError:         orDefault(d.StaleIfError, o.StaleIfError),
		NoCache:              d.NoCache || anyPresent(respH, d.NoCacheFields),
		MustRevalidate:       d.MustRevalidate || d.ProxyRevalidate || d.SMaxAge != Absent,
	}
	dec.Reason = storable(method, reqH, status, respH, d, err, targeted, o)
	if dec.Reason != Stored {
		return dec
	}
	lifetime, heuristic, ok := freshnessLifetime(status, respH, d, targeted, now, o)
	if !ok {
		dec.Reason = ReasonNoFreshness
		return dec
	}
	dec.Lifetime, dec.Heuristic = lifetime, heuristic
	return dec
}

// orDefault is d as a duration, or def when d is Absent.
func orDefault(d Delta, def time.Duration) time.Duration {
	if d == Absent {
		return def
	}
	return d.Duration()
}

// storable applies §3 to everything but the freshness lifetime.
func storable(method string, reqH http.Header, status int, respH http.Header, d Directives, err error, targeted bool, o Options) Reason {
	if method != http.MethodGet && method != http.MethodHead {
		return ReasonMethod
	}
	if status < 200 || status > 599 || status == http.StatusPartialContent || status == http.StatusNotModified {
		return ReasonStatus
	}
	if RequestDirectives(reqH).NoStore {
		return ReasonRequestNoStore
	}
	if err != nil {
		return ReasonInvalid
	}
	if d.MustUnderstand && !understood(status) {
		return ReasonStatus
	}
	if d.NoStore && !d.MustUnderstand {
		return ReasonNoStore
	}
	if d.Private || anyPresent(respH, d.PrivateFields) {
		return ReasonPrivate
	}
	if reqH.Get("Authorization") != "" && !d.Public && d.SMaxAge == Absent && !d.MustRevalidate {
		return ReasonAuthorization
	}
	if varyStar(respH) {
		return ReasonVaryStar
	}
	if !o.AllowSetCookie && len(respH.Values("Set-Cookie")) > 0 {
		return ReasonSetCookie
	}
	if !heuristicallyCacheable(status) && !d.Public && !hasExplicitFreshness(respH, d, targeted) {
		return ReasonStatus
	}
	return Stored
}

// anyPresent reports whether h carries any of fields.
func anyPresent(h http.Header, fields []string) bool {
	for _, f := range fields {
		if len(h.Values(f)) > 0 {
			return true
		}
	}
	return false
}

// varyStar reports whether Vary lists "*": the response varies on things
// outside the request, so it can never be selected (§4.1).
func varyStar(h http.Header) bool {
	for _, v := range h.Values("Vary") {
		for f := range strings.SplitSeq(v, ",") {
			if strings.Trim(f, " \t") == "*" {
				return true
			}
		}
	}
	return false
}

// heuristicallyCacheable reports whether status is heuristically cacheable
// (RFC 9110 §15.1).
func heuristicallyCacheable(status int) bool {
	switch status {
	case 200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501:
		return true
	}
	return false
}

// understood reports whether this cache knows the caching requirements of
// status, which is what must-understand asks (§5.2.2.3): the final status
// codes of RFC 9110 and 451 (RFC 7725).
func understood(status int) bool {
	switch {
	case 200 <= status && status <= 206,
		300 <= status && status <= 308 && status != 306,
		400 <= status && status <= 417,
		status == 421, status == 422, status == 426, status == 451,
		500 <= status && status <= 505:
		return true
	}
	return false
}
