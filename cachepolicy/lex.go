package cachepolicy

import (
	"errors"
	"fmt"

	"golang.org/x/net/http/httpguts"
)

// skipOWS returns the index of the first byte at or after i that is not
// optional whitespace (SP or HTAB, RFC 9110 §5.6.3).
func skipOWS(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	return i
}

// scanToken returns the end of the token starting at i (i itself when there
// is none).
func scanToken(s string, i int) int {
	for i < len(s) && httpguts.IsTokenRune(rune(s[i])) {
		i++
	}
	return i
}

var errUnterminated = errors.New("unterminated quoted-string")

// scanQuoted reads the quoted-string starting at s[i] == '"' (RFC 9110
// §5.6.4). It returns the unescaped content and the index just past the
// closing quote.
func scanQuoted(s string, i int) (value string, end int, err error) {
	var buf []byte
	start := i + 1
	for j := start; j < len(s); j++ {
		c := s[j]
		switch {
		case c == '"':
			if buf == nil {
				return s[start:j], j + 1, nil
			}
			return string(buf), j + 1, nil
		case c == '\\':
			if j+1 >= len(s) {
				return "", 0, errUnterminated
			}
			if !isQuotedPairChar(s[j+1]) {
				return "", 0, fmt.Errorf("invalid quoted-pair %q", s[j:j+2])
			}
			if buf == nil {
				buf = append([]byte(nil), s[start:j]...)
			}
			j++
			buf = append(buf, s[j])
		case isQdtext(c):
			if buf != nil {
				buf = append(buf, c)
			}
		default:
			return "", 0, fmt.Errorf("invalid byte %#x in quoted-string", c)
		}
	}
	return "", 0, errUnterminated
}

// isQdtext reports whether c may appear unescaped in a quoted-string.
func isQdtext(c byte) bool {
	return c == '\t' || c == ' ' || c == 0x21 || (0x23 <= c && c <= 0x5B) || (0x5D <= c && c <= 0x7E) || c >= 0x80
}

// isQuotedPairChar reports whether c may follow a backslash in a
// quoted-string.
func isQuotedPairChar(c byte) bool {
	return c == '\t' || c == ' ' || (0x21 <= c && c <= 0x7E) || c >= 0x80
}
