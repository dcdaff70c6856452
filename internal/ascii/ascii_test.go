package ascii

import (
	"bytes"
	"strings"
	"testing"
)

func TestLowerEq(t *testing.T) {
	tests := []struct {
		s, lower string
		want     bool
	}{
		{"gzip", "gzip", true},
		{"GZip", "gzip", true},
		{"gzi", "gzip", false},
		{"zſtd", "zstd", false}, // no Unicode folding
		{"Content-Length", "content-length", true},
		{"", "", true},
	}
	for _, tt := range tests {
		if got := LowerEq(tt.s, tt.lower); got != tt.want {
			t.Errorf("LowerEq(%q, %q) = %v, want %v", tt.s, tt.lower, got, tt.want)
		}
		if got := LowerEq([]byte(tt.s), tt.lower); got != tt.want {
			t.Errorf("LowerEq([]byte(%q), %q) = %v, want %v", tt.s, tt.lower, got, tt.want)
		}
	}
}

// FuzzIndex holds IndexByte and LastIndexByte to the standard library's.
func FuzzIndex(f *testing.F) {
	f.Add("a:b:c", byte(':'))
	f.Add("", byte('x'))
	f.Fuzz(func(t *testing.T, s string, c byte) {
		if got, want := IndexByte(s, c), strings.IndexByte(s, c); got != want {
			t.Errorf("IndexByte(%q, %q) = %d, want %d", s, c, got, want)
		}
		if got, want := IndexByte([]byte(s), c), bytes.IndexByte([]byte(s), c); got != want {
			t.Errorf("IndexByte(bytes %q, %q) = %d, want %d", s, c, got, want)
		}
		if got, want := LastIndexByte(s, c), strings.LastIndexByte(s, c); got != want {
			t.Errorf("LastIndexByte(%q, %q) = %d, want %d", s, c, got, want)
		}
	})
}
