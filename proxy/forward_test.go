package proxy

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"unicode"
)

func TestSurrogateKeys(t *testing.T) {
	tests := []struct {
		name   string
		header http.Header
		want   []string
	}{
		{"none", http.Header{}, nil},
		{"surrogate-key", http.Header{"Surrogate-Key": {"red  blue\tgreen"}}, []string{"blue", "green", "red"}},
		{"cache-tag", http.Header{"Cache-Tag": {"red, blue ,, green,"}}, []string{"blue", "green", "red"}},
		{"both, repeated", http.Header{"Surrogate-Key": {"a b", "a"}, "Cache-Tag": {"b,c"}}, []string{"a", "b", "c"}},
		{"a cache-tag keeps inner spaces", http.Header{"Cache-Tag": {"product 7, x"}}, []string{"product 7", "x"}},
		{"blank", http.Header{"Surrogate-Key": {"  "}, "Cache-Tag": {" , "}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := surrogateKeys(tt.header); !slices.Equal(got, tt.want) {
				t.Errorf("surrogateKeys(%v) = %q, want %q", tt.header, got, tt.want)
			}
		})
	}
}

// FuzzSurrogateKeys checks the origin's tag fields never yield an empty,
// padded or repeated tag, nor a Surrogate-Key tag with a space in it.
func FuzzSurrogateKeys(f *testing.F) {
	f.Add("a b", "c, d")
	f.Add("", ",,")
	f.Add("x\ty x", " x ,y")
	f.Fuzz(func(t *testing.T, sk, ct string) {
		tags := surrogateKeys(http.Header{"Surrogate-Key": {sk}, "Cache-Tag": {ct}})
		for i, tag := range tags {
			if tag == "" || tag != strings.TrimFunc(tag, unicode.IsSpace) || (i > 0 && tags[i-1] == tag) {
				t.Fatalf("tags %q from %q, %q", tags, sk, ct)
			}
			if strings.ContainsFunc(tag, unicode.IsSpace) && !strings.Contains(ct, tag) {
				t.Fatalf("tag %q with a space from Surrogate-Key %q", tag, sk)
			}
		}
	})
}
