package proxy

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/cdnnode/cdnnode/purge"
)

func TestSurrogateKeys(t *testing.T) {
	tests := []struct {
		name    string
		header  http.Header
		want    []string
		dropped []string
	}{
		{"none", http.Header{}, nil, nil},
		{"surrogate-key", http.Header{"Surrogate-Key": {"red  blue\tgreen"}}, []string{"blue", "green", "red"}, nil},
		{"cache-tag", http.Header{"Cache-Tag": {"red, blue ,, green,"}}, []string{"blue", "green", "red"}, nil},
		{"both, repeated", http.Header{"Surrogate-Key": {"a b", "a"}, "Cache-Tag": {"b,c"}}, []string{"a", "b", "c"}, nil},
		{"punctuation is kept", http.Header{"Surrogate-Key": {"user:7 a/b"}, "Cache-Tag": {`"q";x=1`}}, []string{`"q";x=1`, "a/b", "user:7"}, nil},
		{"a cache-tag with a space is dropped", http.Header{"Cache-Tag": {"product 7, x"}}, []string{"x"}, []string{"product 7"}},
		{"a surrogate-key with a comma is dropped", http.Header{"Surrogate-Key": {"a,b c"}}, []string{"c"}, []string{"a,b"}},
		{"control bytes are dropped", http.Header{"Surrogate-Key": {"a\x01 b\x7f"}, "Cache-Tag": {"c\x00"}}, nil, []string{"a\x01", "b\x7f", "c\x00"}},
		{"non-ascii is dropped", http.Header{"Surrogate-Key": {"caf\u00e9 ok"}}, []string{"ok"}, []string{"caf\u00e9"}},
		{"blank", http.Header{"Surrogate-Key": {"  "}, "Cache-Tag": {" , "}}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, dropped := surrogateKeys(tt.header)
			if !slices.Equal(got, tt.want) || !slices.Equal(dropped, tt.dropped) {
				t.Errorf("surrogateKeys(%q) = %q, dropped %q; want %q, dropped %q", tt.header, got, dropped, tt.want, tt.dropped)
			}
		})
	}
}

// FuzzSurrogateKeys checks the origin's tag fields never yield an empty,
// repeated or unpurgeable tag (purge.ValidTag), and drop only tags that
// are.
func FuzzSurrogateKeys(f *testing.F) {
	f.Add("a b", "c, d")
	f.Add("", ",,")
	f.Add("x\ty x", " x ,y")
	f.Add("a,b", "product 7") // each field's separator inside the other's tag
	f.Add("caf\u00e9\x01", "\x7f")
	f.Fuzz(func(t *testing.T, sk, ct string) {
		tags, dropped := surrogateKeys(http.Header{"Surrogate-Key": {sk}, "Cache-Tag": {ct}})
		for i, tag := range tags {
			if !purge.ValidTag(tag) || (i > 0 && tags[i-1] >= tag) {
				t.Fatalf("tags %q from %q, %q", tags, sk, ct)
			}
		}
		for _, tag := range dropped {
			if purge.ValidTag(tag) || tag == "" {
				t.Fatalf("dropped %q from %q, %q", tag, sk, ct)
			}
		}
	})
}

// tagRules is how each field that carries surrogate keys reads a single
// tag t: whether the origin's Surrogate-Key and Cache-Tag fields store
// exactly t, and whether a PURGE's Surrogate-Key field and the API purge
// exactly t.
func tagRules(t string) (surrogateKey, cacheTag, purgeField, api bool) {
	one := func(h http.Header) bool {
		tags, _ := surrogateKeys(h)
		return slices.Equal(tags, []string{t})
	}
	req := purgeFromRequest("http", "a.example", "/", []string{t}, nil)
	_, err := req.Kind()
	_, apiErr := (&purge.Request{Tags: []string{t}}).Kind()
	return one(http.Header{"Surrogate-Key": {t}}), one(http.Header{"Cache-Tag": {t}}),
		err == nil && slices.Equal(req.Tags, []string{t}), apiErr == nil
}

// TestTagRulesAgree: a tag the node stores from either origin field is one
// a PURGE and the API can name, and a tag they refuse is never stored.
func TestTagRulesAgree(t *testing.T) {
	tests := []struct {
		name string
		tag  string
		want bool
	}{
		{"word", "product-7", true},
		{"punctuation", `user:7/"x";y=1`, true},
		{"empty", "", false},
		{"space inside", "product 7", false},
		{"tab inside", "a\tb", false},
		{"padded", " a ", false},
		{"comma", "a,b", false},
		{"control byte", "a\x01", false},
		{"delete", "a\x7f", false},
		{"non-ascii", "caf\u00e9", false},
		{"non-ascii space", "a\u00a0b", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := purge.ValidTag(tt.tag); got != tt.want {
				t.Errorf("ValidTag(%q) = %v, want %v", tt.tag, got, tt.want)
			}
			sk, ct, field, api := tagRules(tt.tag)
			if sk != tt.want || ct != tt.want || field != tt.want || api != tt.want {
				t.Errorf("tag %q: stored from Surrogate-Key %v, from Cache-Tag %v; purged by PURGE %v, by the API %v; want all %v",
					tt.tag, sk, ct, field, api, tt.want)
			}
		})
	}
}

// FuzzTagRules checks that every field carrying surrogate keys agrees on
// every tag: stored exactly when purgeable, by either way of purging.
func FuzzTagRules(f *testing.F) {
	f.Add("product-7")
	f.Add("product 7") // Cache-Tag would keep it; no PURGE could name it
	f.Add("a,b")       // Surrogate-Key would keep it; the API could not name it
	f.Add("a\u00a0b")  // strings.Fields splits at U+00A0
	f.Add("\x00")
	f.Fuzz(func(t *testing.T, tag string) {
		want := purge.ValidTag(tag)
		if sk, ct, field, api := tagRules(tag); sk != want || ct != want || field != want || api != want {
			t.Errorf("tag %q: stored from Surrogate-Key %v, from Cache-Tag %v; purged by PURGE %v, by the API %v; ValidTag %v",
				tag, sk, ct, field, api, want)
		}
		if want && (strings.ContainsAny(tag, " ,") || tag == "") {
			t.Errorf("ValidTag(%q) = true", tag)
		}
	})
}
