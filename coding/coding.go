package coding

import (
	"iter"
	"strconv"
	"strings"

	"github.com/cdnnode/cdnnode/internal/ascii"
)

// Coding is a content coding the node knows (RFC 9110 §8.4.1). The zero
// value is Identity: no coding.
type Coding uint8

// The codings, in no order of preference; see Accept.Best for that.
const (
	Identity Coding = iota
	Gzip            // RFC 9110 §8.4.1.3, also sent as x-gzip
	Zstd            // RFC 8878, with RFC 9659's 8 MiB window limit
	Br              // RFC 7932; decoded, never encoded by the node

	numCodings = iota
)

var codingNames = [numCodings]string{"identity", "gzip", "zstd", "br"}

// String returns the coding's token as it appears in Content-Encoding and
// Accept-Encoding: "identity", "gzip", "zstd" or "br".
func (c Coding) String() string {
	if c < numCodings {
		return codingNames[c]
	}
	return "coding(" + strconv.Itoa(int(c)) + ")"
}

// lookup maps a content-coding token (case-insensitive; x-gzip is gzip,
// RFC 9110 §8.4.1.3) to its Coding. ok is false for any other token.
func lookup[S ~string | ~[]byte](token S) (c Coding, ok bool) {
	switch {
	case ascii.LowerEq(token, "gzip"), ascii.LowerEq(token, "x-gzip"):
		return Gzip, true
	case ascii.LowerEq(token, "zstd"):
		return Zstd, true
	case ascii.LowerEq(token, "br"):
		return Br, true
	case ascii.LowerEq(token, "identity"):
		return Identity, true
	}
	return Identity, false
}

// Of parses a response's Content-Encoding field lines
// (h["Content-Encoding"], RFC 9110 §8.4). No lines, only empty list
// elements, or "identity" give Identity; exactly one element naming gzip,
// x-gzip, zstd or br (case-insensitive, OWS trimmed) gives that coding. ok is
// false for anything else, an unknown coding or several codings stacked
// ("gzip, br"): the caller passes such a body through untouched. Of does not
// allocate.
func Of(values []string) (c Coding, ok bool) {
	seen := false
	for elem := range elements(values) {
		if seen {
			return Identity, false // stacked codings
		}
		seen = true
		if c, ok = lookup(elem); !ok {
			return Identity, false
		}
	}
	return c, true
}

// elements yields the non-empty elements of comma-separated list field
// lines (RFC 9110 §5.6.1), each trimmed of OWS.
func elements[S ~string | ~[]byte](values []S) iter.Seq[S] {
	return func(yield func(S) bool) {
		for _, line := range values {
			for len(line) > 0 {
				elem := line
				line = line[len(line):]
				if i := ascii.IndexByte(elem, ','); i >= 0 {
					elem, line = elem[:i], elem[i+1:]
				}
				if elem = trimOWS(elem); len(elem) > 0 && !yield(elem) {
					return
				}
			}
		}
	}
}

// trimOWS trims spaces and horizontal tabs (OWS, RFC 9110 §5.6.3) from both
// ends of s.
func trimOWS[S ~string | ~[]byte](s S) S {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// ETag returns the entity tag of a representation the node derived in coding
// c from one whose tag is etag: `"abc"` gives `"abc-zstd"` and `W/"abc"`
// gives `W/"abc-zstd"`, the suffix inside the quotes and weakness kept, so a
// validator of one coding never matches another's bytes (RFC 9110 §8.8.3).
// It returns "" when etag is empty or not a valid entity-tag; the caller then
// drops the field.
func ETag(etag string, c Coding) string {
	weak := strings.HasPrefix(etag, "W/")
	opaque := strings.TrimPrefix(etag, "W/")
	if len(opaque) < 2 || opaque[0] != '"' || opaque[len(opaque)-1] != '"' {
		return ""
	}
	for i := 1; i < len(opaque)-1; i++ {
		if b := opaque[i]; b < 0x21 || b == '"' || b == 0x7f {
			return "" // etagc = %x21 / %x23-7E / obs-text
		}
	}
	name := c.String()
	var b strings.Builder
	b.Grow(len(etag) + 1 + len(name))
	if weak {
		b.WriteString("W/")
	}
	b.WriteString(opaque[:len(opaque)-1])
	b.WriteByte('-')
	b.WriteString(name)
	b.WriteByte('"')
	return b.String()
}
