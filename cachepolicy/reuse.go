package cachepolicy

import (
	"net/http"
	"strings"
	"time"
)

// Verdict is what Reuse concludes about a stored response.
type Verdict uint8

// The outcomes of Reuse.
const (
	Fresh      Verdict = iota // serve it
	StaleOK                   // stale, but the request's max-stale allows it
	Revalidate                // go to the origin, conditionally if it has validators
)

// String returns "fresh", "stale-ok" or "revalidate".
func (v Verdict) String() string {
	switch v {
	case Fresh:
		return "fresh"
	case StaleOK:
		return "stale-ok"
	case Revalidate:
		return "revalidate"
	}
	return "unknown"
}

// Reuse decides whether e may answer, at now, a request with directives req
// (RFC 9111 §4.2, §5.2.1, §5.2.2):
//
//   - response no-cache, or request no-cache: Revalidate;
//   - request max-age: Revalidate when the age is over it;
//   - fresh (lifetime > age): Revalidate when min-fresh asks for more
//     remaining freshness than there is, else Fresh;
//   - stale: Revalidate when the response has must-revalidate (or
//     equivalent) or the request has min-fresh; StaleOK when max-stale
//     allows the staleness; Revalidate otherwise.
//
// stale-while-revalidate and stale-if-error are the caller's next step after
// Revalidate (Entry.ServeWhileRevalidate, Entry.ServeIfError).
func Reuse(req Directives, e Entry, now time.Time) Verdict {
	if e.NoCache || req.NoCache {
		return Revalidate
	}
	if req.MaxAge != Absent && e.Age(now) > req.MaxAge.Duration() {
		return Revalidate
	}
	ttl := e.TTL(now)
	if ttl > 0 {
		if req.MinFresh != Absent && ttl < req.MinFresh.Duration() {
			return Revalidate
		}
		return Fresh
	}
	if e.MustRevalidate || req.MinFresh != Absent {
		return Revalidate
	}
	if req.MaxStaleAny || (req.MaxStale != Absent && -ttl <= req.MaxStale.Duration()) {
		return StaleOK
	}
	return Revalidate
}

// RequestDirectives returns the directives of a request's Cache-Control
// (§5.2.1). A malformed field is ignored, and then, as when Cache-Control is
// absent, "Pragma: no-cache" counts as no-cache (§5.4).
func RequestDirectives(reqH http.Header) Directives {
	if len(reqH["Cache-Control"]) > 0 {
		if d, err := ParseHeader(reqH, "Cache-Control"); err == nil {
			return d
		}
	}
	d := NewDirectives()
	d.NoCache = pragmaNoCache(reqH)
	return d
}

// pragmaNoCache reports whether Pragma lists no-cache.
func pragmaNoCache(h http.Header) bool {
	for _, v := range h["Pragma"] {
		for p := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.Trim(p, " \t"), "no-cache") {
				return true
			}
		}
	}
	return false
}
