package keys

import (
	"cmp"
	"net/url"
	"slices"
	"strings"
)

// maxStackParams is how many parameters sorting handles without allocating.
const maxStackParams = 32

// writeQuery writes the normalised form of rawQuery to b, without a leading
// "?": parameters are split on "&"; empty ones are dropped (every common
// query parser ignores them); those named in o.DropParams are dropped; with
// o.SortQuery the rest are sorted by name, stably, so values of one name keep
// their order, which an origin may depend on. Names and values are kept in
// their escaped form. The result is idempotent: normalising it again gives
// it back.
func writeQuery(b *strings.Builder, rawQuery string, o Options) {
	if !o.SortQuery {
		first := true
		for p := range strings.SplitSeq(rawQuery, "&") {
			if p == "" || dropped(p, o.DropParams) {
				continue
			}
			if !first {
				b.WriteByte('&')
			}
			first = false
			b.WriteString(p)
		}
		return
	}
	var stack [maxStackParams]string
	params := stack[:0]
	for p := range strings.SplitSeq(rawQuery, "&") {
		if p == "" || dropped(p, o.DropParams) {
			continue
		}
		params = append(params, p)
	}
	slices.SortStableFunc(params, func(a, b string) int {
		return cmp.Compare(paramName(a), paramName(b))
	})
	for i, p := range params {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p)
	}
}

// normQuery returns the normalised form of rawQuery that New puts in a key.
func normQuery(rawQuery string, o Options) string {
	var b strings.Builder
	writeQuery(&b, rawQuery, o)
	return b.String()
}

// paramName is the escaped name of query parameter p ("a" of "a=1").
func paramName(p string) string {
	if i := strings.IndexByte(p, '='); i >= 0 {
		return p[:i]
	}
	return p
}

// dropped reports whether parameter p is named in drop. The name matches as
// sent or, when it is escaped ("utm%5Fsource"), unescaped.
func dropped(p string, drop []string) bool {
	if len(drop) == 0 {
		return false
	}
	name := paramName(p)
	if slices.Contains(drop, name) {
		return true
	}
	if strings.ContainsAny(name, "%+") {
		if u, err := url.QueryUnescape(name); err == nil && slices.Contains(drop, u) {
			return true
		}
	}
	return false
}
