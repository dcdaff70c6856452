package keys

import (
	"net/http"
	"net/textproto"
	"slices"
	"strings"

	"github.com/cespare/xxhash/v2"
	"golang.org/x/net/http/httpguts"

	"github.com/cdnnode/cdnnode/coding"
)

// Variant returns the secondary key for a response that varies on fields:
// Full + "\x00" + normalised "name:value" per field, separated by "\x00",
// hashed anew (RFC 9111 §4.1). Pass fields as VaryFields returns them
// (canonical, de-duplicated, sorted); a name that is not canonical is
// canonicalised, but order and duplicates are kept as given.
//
// A field's value is every line of it in reqH joined with ",", split into
// list elements on ",", each trimmed of OWS with inner runs of spaces and
// tabs collapsed to one space, empty elements dropped (RFC 9110 §5.6.1), and
// the elements joined with "," in their original order. Accept-Language and
// Accept-Charset hold case-insensitive tokens, so they are lower-cased too.
// A comma inside a quoted string is split like any other, which may only
// merge values that differ in whitespace around it.
//
// Accept-Encoding is reduced further, to the coding the node would serve the
// client: coding.ParseAccept(...).Best(), one of "zstd", "gzip" or
// "identity". Clients send hundreds of distinct Accept-Encoding strings, and
// the node serves every one of them from at most three variants of an object
// that varies on it.
//
// A field missing from reqH selects the same variant as one sent empty:
// RFC 9111 §4.1 lets a cache normalise, and no origin we know of answers the
// two differently.
func (k Key) Variant(fields []string, reqH http.Header) Key {
	var b strings.Builder
	n := len(k.Full) + 1
	for _, f := range fields {
		n += 2 + len(f)
		if textproto.CanonicalMIMEHeaderKey(f) == acceptEncoding {
			n += len("identity") // the longest Best coding
			continue
		}
		for _, v := range reqH[textproto.CanonicalMIMEHeaderKey(f)] {
			n += len(v) + 1
		}
	}
	b.Grow(n)
	b.WriteString(k.Full)
	b.WriteByte(0) // even with no fields, a variant is never its primary key
	for i, f := range fields {
		name := textproto.CanonicalMIMEHeaderKey(f)
		if i > 0 {
			b.WriteByte(0)
		}
		b.WriteString(name)
		b.WriteByte(':')
		if name == acceptEncoding {
			b.WriteString(coding.ParseAccept(reqH[name]).Best().String())
			continue
		}
		writeFieldValue(&b, reqH[name], lowerCased(name))
	}
	full := b.String()
	return Key{Hash: xxhash.Sum64String(full), Full: full}
}

// acceptEncoding is the field Variant reduces to the coding served.
const acceptEncoding = "Accept-Encoding"

// lowerCased reports whether field name (canonical) holds case-insensitive
// tokens only, so its value can be lower-cased for the key.
func lowerCased(name string) bool {
	switch name {
	case "Accept-Language", // RFC 9110 §8.5.1, RFC 4647: language ranges are case-insensitive
		"Accept-Charset": // RFC 9110 §8.3.2: charsets are case-insensitive
		return true
	}
	return false
}

// writeFieldValue writes the normalised list value of lines to b; see
// Variant.
func writeFieldValue(b *strings.Builder, lines []string, lower bool) {
	first := true
	for _, line := range lines {
		for elem := range strings.SplitSeq(line, ",") {
			elem = strings.Trim(elem, " \t")
			if elem == "" {
				continue
			}
			if !first {
				b.WriteByte(',')
			}
			first = false
			space := false
			for i := 0; i < len(elem); i++ {
				c := elem[i]
				if c == ' ' || c == '\t' {
					space = true
					continue
				}
				if space {
					b.WriteByte(' ')
					space = false
				}
				if lower && 'A' <= c && c <= 'Z' {
					c += 'a' - 'A'
				}
				b.WriteByte(c)
			}
		}
	}
}

// VaryFields parses a response's Vary field(s) (RFC 9110 §12.5.5): canonical
// header names, de-duplicated, sorted; star true if "*" appears, in which
// case the response matches no later request (RFC 9111 §4.1). A member that
// is not a valid field name also sets star: the response varies on something
// this cache cannot name, so sharing it would be wrong. fields is a new slice
// the caller owns; nil when there are none.
func VaryFields(h http.Header) (fields []string, star bool) {
	for _, line := range h.Values("Vary") {
		for elem := range strings.SplitSeq(line, ",") {
			elem = strings.Trim(elem, " \t")
			switch {
			case elem == "":
			case elem == "*":
				star = true
			case !httpguts.ValidHeaderFieldName(elem):
				star = true
			default:
				fields = append(fields, textproto.CanonicalMIMEHeaderKey(elem))
			}
		}
	}
	slices.Sort(fields)
	return slices.Compact(fields), star
}
