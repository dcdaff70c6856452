package keys

import (
	"net/http"
	"testing"
)

func BenchmarkNew(b *testing.B) {
	b.Run("no query", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = New("https", "Example.com:443", "/static/app.js", "", Options{})
		}
	})
	b.Run("sorted query", func(b *testing.B) {
		o := Options{SortQuery: true, DropParams: []string{"utm_source", "fbclid"}}
		b.ReportAllocs()
		for b.Loop() {
			_ = New("https", "example.com", "/search", "q=cdn&page=2&utm_source=x&lang=en", o)
		}
	})
}

// BenchmarkMapBaseline is the floor New is measured against: hashing a
// ready-made key string.
func BenchmarkMapBaseline(b *testing.B) {
	m := map[string]int{"https://example.com/static/app.js": 1}
	b.ReportAllocs()
	for b.Loop() {
		if m["https://example.com/static/app.js"] != 1 {
			b.Fatal("miss")
		}
	}
}

func BenchmarkVariant(b *testing.B) {
	k := New("https", "example.com", "/a", "", Options{})
	fields := []string{"Accept-Encoding", "Accept-Language"}
	h := http.Header{"Accept-Encoding": {"gzip, deflate, br"}, "Accept-Language": {"en-GB,en;q=0.9"}}
	b.ReportAllocs()
	for b.Loop() {
		_ = k.Variant(fields, h)
	}
}
