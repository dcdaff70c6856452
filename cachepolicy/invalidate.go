package cachepolicy

import (
	"net/http"
	"net/url"
	"strings"
)

// Invalidates lists the URIs a cache must invalidate after an unsafe request
// (RFC 9111 §4.4): when method is not GET, HEAD, OPTIONS or TRACE and status
// is 2xx or 3xx, the target URI, then the URIs in Location and
// Content-Location when they have the same scheme and host as target
// (relative references are resolved against target; others are ignored, to
// stop a denial-of-service by invalidating other sites). Fragments are
// dropped, scheme and host are spelt as in target, and duplicates are left
// out. The result is new URLs the caller owns;
// nil when nothing is invalidated or target is nil.
func Invalidates(method string, status int, target *url.URL, respH http.Header) []*url.URL {
	if target == nil || status < 200 || status > 399 {
		return nil
	}
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return nil
	}
	t := *target
	t.Fragment, t.RawFragment = "", ""
	out := []*url.URL{&t}
	for _, name := range []string{"Location", "Content-Location"} {
		v := respH.Get(name)
		if v == "" {
			continue
		}
		ref, err := url.Parse(strings.Trim(v, " \t"))
		if err != nil {
			continue
		}
		u := target.ResolveReference(ref)
		u.Fragment, u.RawFragment = "", ""
		if !strings.EqualFold(u.Scheme, t.Scheme) || !strings.EqualFold(u.Host, t.Host) {
			continue
		}
		// Same origin: spell it as the target does, so cache keys agree.
		u.Scheme, u.Host = t.Scheme, t.Host
		if !containsURL(out, u) {
			out = append(out, u)
		}
	}
	return out
}

// containsURL reports whether us holds a URL equal to u.
func containsURL(us []*url.URL, u *url.URL) bool {
	s := u.String()
	for _, v := range us {
		if v.String() == s {
			return true
		}
	}
	return false
}
