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

// ServeWhileRevalidate reports whether, at now, e is stale but inside its
// stale-while-revalidate window (RFC 5861 §3): it may be served while one
// revalidation runs in the background. Never for no-cache or must-revalidate
// responses (§4.2.4); the caller must also not use it for a request with
// no-cache, max-age or min-fresh that Reuse answered with Revalidate while
// the entry was still fresh.
func (e Entry) ServeWhileRevalidate(now time.Time) bool {
	return e.stale(now) && !e.NoCache && !e.MustRevalidate && e.staleness(now) <= e.StaleWhileRevalidate
}

// ServeIfError reports whether, at now, e may be served in place of an
// origin error (a 5xx or a failed fetch) under its stale-if-error window
// (RFC 5861 §4). Never for no-cache or must-revalidate responses (§4.2.4).
// A fresh entry always may.
func (e Entry) ServeIfError(now time.Time) bool {
	if !e.stale(now) {
		return true
	}
	return !e.NoCache && !e.MustRevalidate && e.staleness(now) <= e.StaleIfError
}

// stale reports whether e is stale at now.
func (e Entry) stale(now time.Time) bool {
	return e.TTL(now) <= 0
}
