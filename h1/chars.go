package h1

import "strings"

// Byte classes, one bit each in class.
const (
	isTchar  = 1 << iota // token character (RFC 9110 §5.6.2)
	isValue              // field-vchar, SP, HTAB or obs-text (RFC 9110 §5.5)
	isTarget             // allowed in a request-target: VCHAR but '#', or obs-text
	isHost               // allowed in a reg-name or IPv4 host: ALPHA, DIGIT, "-._~"
	isHex                // HEXDIG
	isQdtext             // qdtext of a quoted-string (RFC 9110 §5.6.4)
)

// class maps a byte to its classes; built once, never written after.
var class = func() (t [256]uint8) {
	for c := range 256 {
		var k uint8
		alnum := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
		if alnum || c < 0x80 && c > ' ' && strings.IndexByte("!#$%&'*+-.^_`|~", byte(c)) >= 0 {
			k |= isTchar
		}
		if c == '\t' || c >= ' ' && c != 0x7f {
			k |= isValue
		}
		if c > ' ' && c != 0x7f && c != '#' {
			k |= isTarget // a fragment is never sent (RFC 9112 §3.2)
		}
		if alnum || c == '-' || c == '.' || c == '_' || c == '~' {
			k |= isHost
		}
		if '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' {
			k |= isHex
		}
		if c == '\t' || c == ' ' || c == 0x21 || 0x23 <= c && c <= 0x5b || 0x5d <= c && c <= 0x7e || c >= 0x80 {
			k |= isQdtext
		}
		t[c] = k
	}
	return t
}()

// all reports whether every byte of b has class k.
func all(b []byte, k uint8) bool {
	for _, c := range b {
		if class[c]&k == 0 {
			return false
		}
	}
	return true
}

// foldEq reports whether a and b are equal ignoring ASCII case.
func foldEq(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i, c := range a {
		d := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if 'A' <= d && d <= 'Z' {
			d += 'a' - 'A'
		}
		if c != d {
			return false
		}
	}
	return true
}
