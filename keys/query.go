package keys

import (
	"iter"
	"net/url"
	"slices"

	"github.com/cdnnode/cdnnode/internal/ascii"
)

// maxStackParams is how many parameters sorting handles without allocating.
const maxStackParams = 32

// appendQuery appends the normalised form of rawQuery to dst, without a
// leading "?": parameters are split on "&"; empty ones are dropped (every
// common query parser ignores them); those named in o.DropParams are
// dropped; with o.SortQuery the rest are sorted by name, stably, so values
// of one name keep their order, which an origin may depend on. Names and
// values are kept in their escaped form. The result is idempotent:
// normalising it again gives it back. It allocates only to grow dst, to
// sort more than maxStackParams parameters, and to unescape a parameter
// name of bytes that holds '%' or '+' when o.DropParams is set.
func appendQuery[S ~string | ~[]byte](dst []byte, rawQuery S, o Options) []byte {
	if !o.SortQuery {
		first := true
		for p := range params(rawQuery, o.DropParams) {
			if !first {
				dst = append(dst, '&')
			}
			first = false
			dst = append(dst, p...)
		}
		return dst
	}
	var stack [maxStackParams]S
	kept := stack[:0]
	for p := range params(rawQuery, o.DropParams) {
		kept = append(kept, p)
	}
	slices.SortStableFunc(kept, func(a, b S) int {
		x, y := paramName(a), paramName(b)
		switch {
		case string(x) < string(y):
			return -1
		case string(x) > string(y):
			return 1
		}
		return 0
	})
	for i, p := range kept {
		if i > 0 {
			dst = append(dst, '&')
		}
		dst = append(dst, p...)
	}
	return dst
}

// params yields the parameters of rawQuery, split on "&", that are kept:
// not empty and not named in drop.
func params[S ~string | ~[]byte](rawQuery S, drop []string) iter.Seq[S] {
	return func(yield func(S) bool) {
		for rest := rawQuery; len(rest) > 0; { // rest shrinks each pass
			p := rest
			rest = rest[len(rest):]
			if i := ascii.IndexByte(p, '&'); i >= 0 {
				p, rest = p[:i], p[i+1:]
			}
			if len(p) > 0 && !dropped(p, drop) && !yield(p) {
				return
			}
		}
	}
}

// paramName is the escaped name of query parameter p ("a" of "a=1").
func paramName[S ~string | ~[]byte](p S) S {
	if i := ascii.IndexByte(p, '='); i >= 0 {
		return p[:i]
	}
	return p
}

// dropped reports whether parameter p is named in drop. The name matches as
// sent or, when it is escaped ("utm%5Fsource"), unescaped.
func dropped[S ~string | ~[]byte](p S, drop []string) bool {
	if len(drop) == 0 {
		return false
	}
	name := paramName(p)
	for _, d := range drop {
		if string(name) == d {
			return true
		}
	}
	if ascii.IndexByte(name, '%') >= 0 || ascii.IndexByte(name, '+') >= 0 {
		if u, err := url.QueryUnescape(string(name)); err == nil && slices.Contains(drop, u) {
			return true
		}
	}
	return false
}
