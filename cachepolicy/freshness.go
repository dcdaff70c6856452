package cachepolicy

import (
	"net/http"
	"time"
)

// hasExplicitFreshness reports whether the response states an expiration
// time (§4.2.1): s-maxage, max-age, or (unless a targeted field governs,
// RFC 9213 §2.1) an Expires field, valid or not.
func hasExplicitFreshness(h http.Header, d Directives, targeted bool) bool {
	return d.SMaxAge != Absent || d.MaxAge != Absent || (!targeted && len(h.Values("Expires")) > 0)
}

// freshnessLifetime returns the freshness lifetime of a storable response
// (§4.2.1, §4.2.2); ok is false when nothing gives it one.
func freshnessLifetime(status int, h http.Header, d Directives, targeted bool, now time.Time, o Options) (lifetime time.Duration, heuristic, ok bool) {
	switch {
	case d.SMaxAge != Absent:
		return d.SMaxAge.Duration(), false, true
	case d.MaxAge != Absent:
		return d.MaxAge.Duration(), false, true
	}
	date := dateValue(h, now)
	if !targeted {
		if vs := h.Values("Expires"); len(vs) > 0 {
			// An invalid date, "0" included, or more than one value
			// means already expired (§5.3, §4.2.1).
			if len(vs) != 1 {
				return 0, false, true
			}
			exp, err := http.ParseTime(vs[0])
			if err != nil {
				return 0, false, true
			}
			return max(exp.Sub(date), 0), false, true
		}
	}
	if heuristicallyCacheable(status) {
		if lm, err := http.ParseTime(h.Get("Last-Modified")); err == nil {
			// §4.2.2: a fraction of the time since the last change,
			// 10% being the usual one.
			return min(max(date.Sub(lm)/10, 0), o.heuristicMax()), true, true
		}
	}
	if o.DefaultTTL > 0 {
		return o.DefaultTTL, false, true
	}
	return 0, false, false
}

// dateValue is the response's Date (§6.6.1 of RFC 9110), or fallback when it
// is missing or invalid.
func dateValue(h http.Header, fallback time.Time) time.Time {
	if t, err := http.ParseTime(h.Get("Date")); err == nil {
		return t
	}
	return fallback
}
