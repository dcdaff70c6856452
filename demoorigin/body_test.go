package demoorigin

import (
	"bytes"
	"testing"
)

func TestBodyGenChunking(t *testing.T) {
	tests := []struct {
		name  string
		size  int
		chunk int
	}{
		{name: "empty", size: 0, chunk: 8},
		{name: "shorter than a word", size: 5, chunk: 8},
		{name: "word chunks with tail", size: 1001, chunk: 8},
		{name: "big chunks with tail", size: 100_003, chunk: 4096},
		{name: "exact multiple", size: 64 << 10, chunk: 32 << 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := expected("x", tt.size)
			g := newBodyGen("x", false, "")
			var got []byte
			buf := make([]byte, tt.chunk)
			for left := tt.size; left > 0; {
				n := min(tt.chunk, left)
				g.fill(buf[:n])
				got = append(got, buf[:n]...)
				left -= n
			}
			if !bytes.Equal(got, want) {
				t.Errorf("body of %d bytes in chunks of %d differs from one fill", tt.size, tt.chunk)
			}
		})
	}
}

func TestBodyGenSeeds(t *testing.T) {
	a := expected("a", 256)
	if !bytes.Equal(a, expected("a", 256)) {
		t.Error("same name, same size: bodies differ")
	}
	if bytes.Equal(a, expected("b", 256)) {
		t.Error("different names: bodies equal")
	}
	if !bytes.Equal(expected("a", 100), a[:100]) {
		t.Error("a shorter body of one name is not a prefix of the longer")
	}
	for _, tc := range []struct{ v1, v2 string }{{"en", "fr"}, {"", "x"}} {
		g1, g2 := newBodyGen("a", true, tc.v1), newBodyGen("a", true, tc.v2)
		b1, b2 := make([]byte, 64), make([]byte, 64)
		g1.fill(b1)
		g2.fill(b2)
		if bytes.Equal(b1, b2) {
			t.Errorf("vary values %q and %q: bodies equal", tc.v1, tc.v2)
		}
	}
	g := newBodyGen("a", true, "")
	b := make([]byte, 64)
	g.fill(b)
	if bytes.Equal(b, a[:64]) {
		t.Error("varying object with empty value has the unvaried body")
	}
}

func TestPrintableCoversRange(t *testing.T) {
	seen := map[byte]bool{}
	for i := range 256 {
		c := printable(byte(i))
		if c < 0x20 || c > 0x7e {
			t.Fatalf("printable(%#x) = %#x, outside 0x20-0x7e", i, c)
		}
		seen[c] = true
	}
	if got, want := len(seen), 95; got != want {
		t.Errorf("printable hits %d characters, want %d", got, want)
	}
}
