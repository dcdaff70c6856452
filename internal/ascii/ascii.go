// Package ascii holds the byte-level string helpers the HTTP code shares,
// each for strings and byte slices alike (a request head's bytes are
// looked at without making strings of them). HTTP's tokens, field names
// and host names compare as ASCII: no Unicode folding, so that "zſtd" is
// never "zstd".
package ascii

// Text is what the helpers take: a string or a byte slice.
type Text interface{ ~string | ~[]byte }

// LowerEq reports whether s equals lower, which must be lower-case,
// ignoring the case of ASCII letters only.
func LowerEq[S Text](s S, lower string) bool {
	if len(s) != len(lower) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// IndexByte is the index of the first c in s, or -1.
func IndexByte[S Text](s S, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}

// LastIndexByte is the index of the last c in s, or -1.
func LastIndexByte[S Text](s S, c byte) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == c {
			return i
		}
	}
	return -1
}
