package cachepolicy

import (
	"net/http"
	"strings"
)

// entityTag is a parsed entity-tag (RFC 9110 §8.8.3); opaque keeps its
// quotes.
type entityTag struct {
	opaque string
	weak   bool
}

// scanETag reads the entity-tag starting at s[i]. ok is false when there is
// none there.
func scanETag(s string, i int) (t entityTag, end int, ok bool) {
	if strings.HasPrefix(s[i:], "W/") {
		t.weak = true
		i += 2
	}
	if i >= len(s) || s[i] != '"' {
		return entityTag{}, 0, false
	}
	for j := i + 1; j < len(s); j++ {
		switch c := s[j]; {
		case c == '"':
			t.opaque = s[i : j+1]
			return t, j + 1, true
		case c == 0x21 || (0x23 <= c && c <= 0x7E) || c >= 0x80:
		default:
			return entityTag{}, 0, false
		}
	}
	return entityTag{}, 0, false
}

// parseETag parses a field holding exactly one entity-tag, such as ETag.
func parseETag(v string) (entityTag, bool) {
	v = strings.Trim(v, " \t")
	if v == "" {
		return entityTag{}, false
	}
	t, end, ok := scanETag(v, 0)
	if !ok || end != len(v) {
		return entityTag{}, false
	}
	return t, true
}

// storedETag returns the entity-tag of a stored response, if it has a valid
// one.
func storedETag(h http.Header) (entityTag, bool) {
	vs := h.Values("ETag")
	if len(vs) != 1 {
		return entityTag{}, false
	}
	return parseETag(vs[0])
}

// matchList reports whether the If-None-Match / If-Match style list v
// ("*" or #entity-tag) matches the stored tag under the given comparison.
// A malformed list matches nothing.
func matchList(v string, stored entityTag, haveStored, strong bool) bool {
	if strings.Trim(v, " \t") == "*" {
		return true
	}
	matched := false
	for i := 0; i < len(v); {
		i = skipOWS(v, i)
		if i >= len(v) {
			break
		}
		if v[i] == ',' {
			i++
			continue
		}
		t, end, ok := scanETag(v, i)
		if !ok {
			return false
		}
		i = skipOWS(v, end)
		if i < len(v) && v[i] != ',' {
			return false
		}
		if haveStored && t.opaque == stored.opaque && (!strong || (!t.weak && !stored.weak)) {
			matched = true
		}
	}
	return matched
}

// NotModified reports whether the conditionals of a GET or HEAD request are
// satisfied by the stored response headers storedH, so that a 304 may be sent
// instead of it (RFC 9110 §13.2.2). If-None-Match, when present, decides
// alone: "*" matches any stored response, a list matches by weak comparison
// with the stored ETag (§13.1.2), and a malformed list matches nothing.
// Otherwise If-Modified-Since (a single valid HTTP-date) is satisfied when the
// stored Last-Modified is at or before it (§13.1.3); an invalid date on either
// side means no 304.
func NotModified(reqH, storedH http.Header) bool {
	if inm := reqH["If-None-Match"]; len(inm) > 0 {
		tag, ok := storedETag(storedH)
		return matchList(strings.Join(inm, ", "), tag, ok, false)
	}
	ims := reqH["If-Modified-Since"]
	if len(ims) != 1 {
		return false
	}
	since, err := http.ParseTime(ims[0])
	if err != nil {
		return false
	}
	lm, err := http.ParseTime(storedH.Get("Last-Modified"))
	if err != nil {
		return false
	}
	return !lm.After(since)
}

// HasValidators reports whether stored headers carry a valid ETag or
// Last-Modified, so a stale copy can be revalidated conditionally (§4.3.1);
// it is true exactly when Conditionals returns a non-empty header.
func HasValidators(h http.Header) bool {
	if _, ok := storedETag(h); ok {
		return true
	}
	_, err := http.ParseTime(h.Get("Last-Modified"))
	return err == nil
}

// Conditionals returns the If-None-Match and If-Modified-Since fields that
// revalidate a stored response with header storedH (§4.3.1), built from its
// ETag and Last-Modified; an invalid one is left out. The result is a new
// header the caller owns, empty when HasValidators(storedH) is false.
func Conditionals(storedH http.Header) http.Header {
	h := make(http.Header, 2)
	if t, ok := storedETag(storedH); ok {
		if t.weak {
			h.Set("If-None-Match", "W/"+t.opaque)
		} else {
			h.Set("If-None-Match", t.opaque)
		}
	}
	if lm := storedH.Get("Last-Modified"); lm != "" {
		if _, err := http.ParseTime(lm); err == nil {
			h.Set("If-Modified-Since", lm)
		}
	}
	return h
}
