package cachepolicy

import (
	"errors"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// maxRanges is the most ranges one Range field may ask for; more is treated
// as an invalid field (RFC 9110 §14.2 lets a server ignore such requests).
const maxRanges = 32

// ErrRangeInvalid means a Range field is syntactically invalid, asks for too
// many ranges, or is not in bytes: ignore it and send the whole
// representation with 200 (RFC 9110 §14.2).
var ErrRangeInvalid = errors.New("cachepolicy: invalid range")

// ErrUnsatisfiable means no requested range overlaps the representation:
// answer 416 with "Content-Range: bytes */size" (RFC 9110 §15.5.17).
var ErrUnsatisfiable = errors.New("cachepolicy: range not satisfiable")

// ByteRange is one satisfiable range: Length bytes from Start. Length is at
// least 1.
type ByteRange struct{ Start, Length int64 }

// ContentRange returns the Content-Range value of r in a representation of
// size bytes: "bytes start-end/size" (RFC 9110 §14.4).
func (r ByteRange) ContentRange(size int64) string {
	b := make([]byte, 0, 64)
	b = append(b, "bytes "...)
	b = strconv.AppendInt(b, r.Start, 10)
	b = append(b, '-')
	b = strconv.AppendInt(b, r.Start+r.Length-1, 10)
	b = append(b, '/')
	b = strconv.AppendInt(b, size, 10)
	return string(b)
}

// ParseRange parses a Range field value (RFC 9110 §14.1.2) against a
// representation of size bytes. Each range-spec is first-last, first- or
// -suffix; a last beyond the end is clamped to it, a suffix longer than the
// representation means all of it, and a range starting at or after the end
// (or a zero suffix) is unsatisfiable and left out. Overlapping or adjacent
// ranges are coalesced, in ascending order; otherwise the order of the request
// is kept. Errors: ErrRangeInvalid for bad syntax, a unit other than bytes, a
// last below its first, or more than 32 ranges; ErrUnsatisfiable when no range
// is satisfiable. Every returned range lies inside [0, size). A negative size
// counts as 0.
func ParseRange(s string, size int64) ([]ByteRange, error) {
	size = max(size, 0)
	unit, set, ok := strings.Cut(s, "=")
	if !ok || !strings.EqualFold(strings.Trim(unit, " \t"), "bytes") {
		return nil, ErrRangeInvalid
	}
	var out []ByteRange
	specs := 0
	for spec := range strings.SplitSeq(set, ",") {
		spec = strings.Trim(spec, " \t")
		if spec == "" {
			continue // empty list elements are allowed (RFC 9110 §5.6.1.2)
		}
		if specs++; specs > maxRanges {
			return nil, ErrRangeInvalid
		}
		r, ok, err := parseSpec(spec, size)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, r)
		}
	}
	if specs == 0 {
		return nil, ErrRangeInvalid
	}
	if len(out) == 0 {
		return nil, ErrUnsatisfiable
	}
	return coalesce(out), nil
}

// parseSpec parses one range-spec; ok is false when it is valid but not
// satisfiable.
func parseSpec(spec string, size int64) (r ByteRange, ok bool, err error) {
	firstS, lastS, found := strings.Cut(spec, "-")
	if !found {
		return ByteRange{}, false, ErrRangeInvalid
	}
	if firstS == "" { // suffix-range
		n, valid := parsePos(lastS)
		if !valid {
			return ByteRange{}, false, ErrRangeInvalid
		}
		if n == 0 || size == 0 {
			return ByteRange{}, false, nil
		}
		n = min(n, size)
		return ByteRange{Start: size - n, Length: n}, true, nil
	}
	first, valid := parsePos(firstS)
	if !valid {
		return ByteRange{}, false, ErrRangeInvalid
	}
	last := int64(math.MaxInt64)
	if lastS != "" {
		if last, valid = parsePos(lastS); !valid {
			return ByteRange{}, false, ErrRangeInvalid
		}
		if last < first {
			return ByteRange{}, false, ErrRangeInvalid
		}
	}
	if first >= size {
		return ByteRange{}, false, nil
	}
	last = min(last, size-1)
	return ByteRange{Start: first, Length: last - first + 1}, true, nil
}

// parsePos parses 1*DIGIT, saturating at math.MaxInt64.
func parsePos(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	var v int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		d := int64(c - '0')
		if v > (math.MaxInt64-d)/10 {
			v = math.MaxInt64
			continue
		}
		v = v*10 + d
	}
	return v, true
}

// coalesce merges overlapping and adjacent ranges, so a client cannot make
// the cache send the same bytes many times over (RFC 9110 §14.2). Ranges that
// neither overlap nor touch keep the order they were asked in.
func coalesce(rs []ByteRange) []ByteRange {
	touching := false
	for i := range rs {
		for j := i + 1; j < len(rs) && !touching; j++ {
			a, b := rs[i], rs[j]
			touching = a.Start <= b.Start+b.Length && b.Start <= a.Start+a.Length
		}
	}
	if !touching {
		return rs
	}
	slices.SortFunc(rs, func(a, b ByteRange) int {
		switch {
		case a.Start < b.Start:
			return -1
		case a.Start > b.Start:
			return 1
		}
		return 0
	})
	out := rs[:1]
	for _, r := range rs[1:] {
		last := &out[len(out)-1]
		if end := last.Start + last.Length; r.Start <= end {
			last.Length = max(end, r.Start+r.Length) - last.Start
			continue
		}
		out = append(out, r)
	}
	return out
}

// IfRange reports whether a Range may be honoured given If-Range
// (RFC 9110 §13.1.5): true when If-Range is absent; for an entity-tag, true
// only on a strong match with the stored ETag (a weak tag never matches); for
// an HTTP-date, true only when it equals the stored Last-Modified exactly.
// Anything else, or an invalid value, means "send the whole representation".
func IfRange(reqH, storedH http.Header) bool {
	vs := reqH["If-Range"]
	if len(vs) == 0 {
		return true
	}
	if len(vs) != 1 {
		return false
	}
	v := strings.Trim(vs[0], " \t")
	if strings.HasPrefix(v, `"`) || strings.HasPrefix(v, "W/") {
		t, ok := parseETag(v)
		if !ok || t.weak {
			return false
		}
		stored, ok := storedETag(storedH)
		return ok && !stored.weak && stored.opaque == t.opaque
	}
	date, err := http.ParseTime(v)
	if err != nil {
		return false
	}
	lm, err := http.ParseTime(storedH.Get("Last-Modified"))
	return err == nil && lm.Equal(date)
}
