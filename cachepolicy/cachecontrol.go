package cachepolicy

import (
	"fmt"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"
)

// Delta is a delta-seconds value (RFC 9111 §1.2.2). Absent means the
// directive is missing; values larger than 2147483648 are clamped to
// 2147483648, as §1.2.2 asks.
type Delta int64

// Absent is the Delta of a directive that is not present.
const Absent Delta = -1

// maxDelta is the largest delta-seconds a cache must be able to represent
// (RFC 9111 §1.2.2); larger values are clamped to it.
const maxDelta Delta = 2147483648

// Duration returns d as a time.Duration; Absent (or any negative value) is 0.
func (d Delta) Duration() time.Duration {
	if d < 0 {
		return 0
	}
	return time.Duration(d) * time.Second
}

// Directives is one parsed Cache-Control-family field: Cache-Control
// (RFC 9111 §5.2), CDN-Cache-Control or another targeted field (RFC 9213), or
// Surrogate-Control. Build one with NewDirectives or ParseCacheControl: in the
// zero value every Delta is 0, which means max-age=0 and so on, not Absent.
//
// NoCacheFields and PrivateFields hold the qualified forms
// (no-cache="Set-Cookie"); they do not set NoCache or Private. Decide treats a
// qualified directive as its unqualified form when the response carries any of
// the named fields, and ignores it otherwise (§5.2.2.4, §5.2.2.7: the cache
// may not reuse those fields, and it has no way to remove them itself).
type Directives struct {
	NoStore, NoCache, Private, Public, MustRevalidate, ProxyRevalidate bool
	MustUnderstand, NoTransform, OnlyIfCached, Immutable               bool

	// Field names of the qualified no-cache and private forms, in the
	// canonical form of textproto.CanonicalMIMEHeaderKey.
	NoCacheFields, PrivateFields []string

	// Absent when missing. A repeated directive keeps its first value
	// (§4.2.1 allows either that or treating the response as stale).
	MaxAge, SMaxAge, MaxStale, MinFresh, StaleWhileRevalidate, StaleIfError Delta

	// MaxStaleAny is "max-stale" without a value: any staleness is accepted
	// (§5.2.1.2).
	MaxStaleAny bool

	// Extensions are the directives this package does not know, each as
	// name or name=value, the name lower-cased and the value exactly as
	// received (a quoted-string keeps its quotes), so String reproduces them.
	Extensions []string
}

// NewDirectives returns Directives with every Delta Absent and nothing else
// set: the value of a missing field.
func NewDirectives() Directives {
	return Directives{
		MaxAge:               Absent,
		SMaxAge:              Absent,
		MaxStale:             Absent,
		MinFresh:             Absent,
		StaleWhileRevalidate: Absent,
		StaleIfError:         Absent,
	}
}

// ParseHeader joins every field line of name in h with ", " and parses the
// result with ParseCacheControl. A missing field gives NewDirectives() and a
// nil error.
func ParseHeader(h http.Header, name string) (Directives, error) {
	vs := h.Values(name)
	switch len(vs) {
	case 0:
		return NewDirectives(), nil
	case 1:
		return ParseCacheControl(vs[0])
	}
	return ParseCacheControl(strings.Join(vs, ", "))
}

// NoTransform reports whether h's Cache-Control carries no-transform: in a
// request, the client asks intermediaries not to transform the content
// (RFC 9111 §5.2.1.6); in a response, a proxy must not (§5.2.2.6). It
// looks for the directive alone, without parsing the rest, and allocates
// nothing.
func NoTransform(h http.Header) bool {
	for _, line := range h["Cache-Control"] {
		for elem := range strings.SplitSeq(line, ",") {
			if strings.EqualFold(strings.Trim(elem, " \t"), "no-transform") {
				return true
			}
		}
	}
	return false
}

// ParseCacheControl parses a Cache-Control field value (RFC 9111 §5.2): a
// comma-separated list of directives, each a case-insensitive token with an
// optional token or quoted-string argument, with optional whitespace around
// the commas and the "=". Empty list elements are skipped (RFC 9110 §5.6.1.2).
//
// It returns an error for a malformed value: bad syntax, an unterminated
// quote, a delta-seconds directive (max-age, s-maxage, min-fresh,
// stale-while-revalidate, stale-if-error, max-stale=) whose argument is
// missing or not digits, or a qualified no-cache or private whose list holds
// something that is not a field name. Callers treat a malformed response
// field as stale and ignore a malformed request field. An argument on a
// directive that takes none (no-store=1) is ignored. It never panics.
func ParseCacheControl(s string) (Directives, error) {
	d := NewDirectives()
	var seen uint16
	i := 0
	for i < len(s) {
		i = skipOWS(s, i)
		if i >= len(s) {
			break
		}
		if s[i] == ',' {
			i++
			continue
		}
		end := scanToken(s, i)
		if end == i {
			return NewDirectives(), fmt.Errorf("cache-control %q: unexpected %q at offset %d", s, s[i], i)
		}
		name := strings.ToLower(s[i:end])
		i = skipOWS(s, end)
		var arg, raw string
		hasArg := false
		if i < len(s) && s[i] == '=' {
			hasArg = true
			i = skipOWS(s, i+1)
			switch {
			case i < len(s) && s[i] == '"':
				v, e, err := scanQuoted(s, i)
				if err != nil {
					return NewDirectives(), fmt.Errorf("cache-control %q: %s: %w", s, name, err)
				}
				arg, raw, i = v, s[i:e], e
			default:
				e := scanToken(s, i)
				if e == i {
					return NewDirectives(), fmt.Errorf("cache-control %q: %s: missing value", s, name)
				}
				arg, raw, i = s[i:e], s[i:e], e
			}
		}
		i = skipOWS(s, i)
		if i < len(s) && s[i] != ',' {
			return NewDirectives(), fmt.Errorf("cache-control %q: unexpected %q after %s", s, s[i], name)
		}
		if err := d.apply(name, hasArg, arg, raw, &seen); err != nil {
			return NewDirectives(), fmt.Errorf("cache-control %q: %w", s, err)
		}
	}
	return d, nil
}

// Bits of the seen set of apply: the directives whose first value wins.
const (
	seenMaxAge = 1 << iota
	seenSMaxAge
	seenMaxStale
	seenMinFresh
	seenSWR
	seenSIE
)

// apply records one directive in d.
func (d *Directives) apply(name string, hasArg bool, arg, raw string, seen *uint16) error {
	switch name {
	case "no-store":
		d.NoStore = true
	case "public":
		d.Public = true
	case "must-revalidate":
		d.MustRevalidate = true
	case "proxy-revalidate":
		d.ProxyRevalidate = true
	case "must-understand":
		d.MustUnderstand = true
	case "no-transform":
		d.NoTransform = true
	case "only-if-cached":
		d.OnlyIfCached = true
	case "immutable":
		d.Immutable = true
	case "no-cache":
		if !hasArg {
			d.NoCache = true
			return nil
		}
		return appendFields(&d.NoCacheFields, name, arg)
	case "private":
		if !hasArg {
			d.Private = true
			return nil
		}
		return appendFields(&d.PrivateFields, name, arg)
	case "max-age":
		return setDelta(&d.MaxAge, seen, seenMaxAge, name, hasArg, arg)
	case "s-maxage":
		return setDelta(&d.SMaxAge, seen, seenSMaxAge, name, hasArg, arg)
	case "min-fresh":
		return setDelta(&d.MinFresh, seen, seenMinFresh, name, hasArg, arg)
	case "stale-while-revalidate":
		return setDelta(&d.StaleWhileRevalidate, seen, seenSWR, name, hasArg, arg)
	case "stale-if-error":
		return setDelta(&d.StaleIfError, seen, seenSIE, name, hasArg, arg)
	case "max-stale":
		if !hasArg {
			if *seen&seenMaxStale == 0 {
				*seen |= seenMaxStale
				d.MaxStaleAny = true
			}
			return nil
		}
		return setDelta(&d.MaxStale, seen, seenMaxStale, name, hasArg, arg)
	default:
		if hasArg {
			d.Extensions = append(d.Extensions, name+"="+raw)
		} else {
			d.Extensions = append(d.Extensions, name)
		}
	}
	return nil
}

// setDelta stores the delta-seconds arg in *dst unless the directive was
// already seen.
func setDelta(dst *Delta, seen *uint16, bit uint16, name string, hasArg bool, arg string) error {
	if !hasArg {
		return fmt.Errorf("%s: missing delta-seconds", name)
	}
	v, err := parseDelta(arg)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if *seen&bit == 0 {
		*seen |= bit
		*dst = v
	}
	return nil
}

// parseDelta parses delta-seconds (1*DIGIT), clamping at 2147483648.
func parseDelta(s string) (Delta, error) {
	if s == "" {
		return Absent, fmt.Errorf("empty delta-seconds")
	}
	var v Delta
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return Absent, fmt.Errorf("delta-seconds %q: not a number", s)
		}
		if v < maxDelta {
			v = v*10 + Delta(c-'0')
		}
	}
	return min(v, maxDelta), nil
}

// appendFields adds the comma-separated field names of a qualified no-cache
// or private argument to *dst.
func appendFields(dst *[]string, name, arg string) error {
	for f := range strings.SplitSeq(arg, ",") {
		f = strings.Trim(f, " \t")
		if f == "" {
			continue
		}
		if !httpguts.ValidHeaderFieldName(f) {
			return fmt.Errorf("%s: %q is not a field name", name, f)
		}
		*dst = append(*dst, textproto.CanonicalMIMEHeaderKey(f))
	}
	return nil
}

// String returns the canonical serialisation of d: known directives in a
// fixed order, then the extensions in the order received, joined by ", ".
// Negative Delta values are omitted. ParseCacheControl(d.String()) gives d
// back, except that field lists of repeated qualified directives are merged.
func (d Directives) String() string {
	var b strings.Builder
	add := func(s string) {
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		b.WriteString(s)
	}
	addDelta := func(name string, v Delta) {
		if v >= 0 {
			add(name + "=" + strconv.FormatInt(int64(v), 10))
		}
	}
	addFields := func(name string, fs []string) {
		if len(fs) > 0 {
			add(name + `="` + strings.Join(fs, ", ") + `"`)
		}
	}
	flags := []struct {
		on   bool
		name string
	}{
		{d.Public, "public"},
		{d.Private, "private"},
		{d.NoCache, "no-cache"},
		{d.NoStore, "no-store"},
		{d.NoTransform, "no-transform"},
		{d.MustRevalidate, "must-revalidate"},
		{d.ProxyRevalidate, "proxy-revalidate"},
		{d.MustUnderstand, "must-understand"},
		{d.Immutable, "immutable"},
		{d.OnlyIfCached, "only-if-cached"},
	}
	for _, f := range flags {
		if f.on {
			add(f.name)
		}
	}
	addFields("private", d.PrivateFields)
	addFields("no-cache", d.NoCacheFields)
	addDelta("max-age", d.MaxAge)
	addDelta("s-maxage", d.SMaxAge)
	if d.MaxStaleAny {
		add("max-stale")
	} else {
		addDelta("max-stale", d.MaxStale)
	}
	addDelta("min-fresh", d.MinFresh)
	addDelta("stale-while-revalidate", d.StaleWhileRevalidate)
	addDelta("stale-if-error", d.StaleIfError)
	for _, e := range d.Extensions {
		add(e)
	}
	return b.String()
}
