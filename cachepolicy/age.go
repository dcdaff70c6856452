package cachepolicy

import (
	"net/http"
	"strings"
	"time"
)

// InitialAge is corrected_initial_age of RFC 9111 §4.2.3 for a response to a
// request sent at requestTime and received at responseTime:
//
//	apparent_age          = max(0, response_time - date_value)
//	response_delay        = response_time - request_time
//	corrected_age_value   = age_value + response_delay
//	corrected_initial_age = max(apparent_age, corrected_age_value)
//
// A missing or invalid Date counts as responseTime; an Age list uses its
// first member and an invalid Age counts as 0 (§5.1). A response_delay below
// zero (clocks going backwards) counts as 0.
func InitialAge(respH http.Header, requestTime, responseTime time.Time) time.Duration {
	date := dateValue(respH, responseTime)
	apparent := max(responseTime.Sub(date), 0)
	delay := max(responseTime.Sub(requestTime), 0)
	corrected := ageValue(respH) + delay
	return max(apparent, corrected)
}

// ageValue is the Age field in seconds (§5.1), 0 when missing or invalid.
func ageValue(h http.Header) time.Duration {
	v := h.Get("Age")
	if v == "" {
		return 0
	}
	if i := strings.IndexByte(v, ','); i >= 0 {
		v = v[:i]
	}
	d, err := parseDelta(strings.Trim(v, " \t"))
	if err != nil {
		return 0
	}
	return d.Duration()
}

// Entry is what reuse decisions need to know about a stored response. Build
// it from a Decision and InitialAge when the response arrives.
type Entry struct {
	Lifetime     time.Duration // freshness lifetime (Decision.Lifetime)
	InitialAge   time.Duration // corrected_initial_age (InitialAge)
	ResponseTime time.Time     // when the response was received

	NoCache        bool // Decision.NoCache: every reuse needs validation
	MustRevalidate bool // Decision.MustRevalidate: never served stale

	StaleWhileRevalidate, StaleIfError time.Duration // RFC 5861 windows
}

// Age returns current_age (§4.2.3): InitialAge plus the time resident since
// ResponseTime, which counts as 0 when now is earlier. Never negative.
func (e Entry) Age(now time.Time) time.Duration {
	return max(e.InitialAge, 0) + max(now.Sub(e.ResponseTime), 0)
}

// TTL returns the remaining freshness, Lifetime − Age; zero or negative when
// the response is stale (§4.2: fresh means lifetime > age).
func (e Entry) TTL(now time.Time) time.Duration {
	return e.Lifetime - e.Age(now)
}

// staleness returns how long e has been stale at now; 0 while fresh.
func (e Entry) staleness(now time.Time) time.Duration {
	return max(-e.TTL(now), 0)
}

// ServeWhileRevalidate reports whether, at now, e may answer a request
// with directives req while one revalidation runs in the background
// (RFC 5861 §3): e is stale but inside its stale-while-revalidate window,
// is neither no-cache nor must-revalidate (§4.2.4), and the request accepts
// a stale answer (see acceptsStale).
func (e Entry) ServeWhileRevalidate(req Directives, now time.Time) bool {
	return e.stale(now) && !e.NoCache && !e.MustRevalidate && acceptsStale(req, e, now) &&
		e.staleness(now) <= e.StaleWhileRevalidate
}

// ServeIfError reports whether, at now, e may answer a request with
// directives req in place of an origin error (a 5xx or a failed fetch)
// under stale-if-error (RFC 5861 §4). Never for a no-cache or
// must-revalidate response (§4.2.4, RFC 9111 §5.2.2.2); otherwise when the
// staleness is inside the request's own stale-if-error window, or inside
// the response's and the request accepts a stale answer.
func (e Entry) ServeIfError(req Directives, now time.Time) bool {
	if e.NoCache || e.MustRevalidate {
		return false
	}
	s := e.staleness(now)
	if req.StaleIfError != Absent && s <= req.StaleIfError.Duration() {
		return true
	}
	return acceptsStale(req, e, now) && s <= e.StaleIfError
}

// acceptsStale reports whether a request with directives req lets the
// cache answer it from e without validation: no no-cache, no min-fresh
// (which asks for freshness left), and an age within any max-age
// (RFC 9111 §5.2.1).
func acceptsStale(req Directives, e Entry, now time.Time) bool {
	return !req.NoCache && req.MinFresh == Absent && (req.MaxAge == Absent || e.Age(now) <= req.MaxAge.Duration())
}

// stale reports whether e is stale at now.
func (e Entry) stale(now time.Time) bool {
	return e.TTL(now) <= 0
}
