package cachestore

import (
	"bytes"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/cdnnode/cdnnode/cachepolicy"
	"github.com/cdnnode/cdnnode/coding"
)

func TestMetaRoundTrip(t *testing.T) {
	rt := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		obj  *Object
	}{
		{"plain", &Object{Key: "http://a/x", Status: 200, Header: http.Header{"Content-Type": {"text/plain"}, "Etag": {`"v"`}},
			Policy: cachepolicy.Entry{Lifetime: time.Minute, InitialAge: 5 * time.Second, ResponseTime: rt}}},
		{"tags and targeted", &Object{Key: "http://a/y", Status: 404, Tags: []string{"a", "b"}, Stamp: rt.Add(-time.Second),
			Targeted: http.Header{"Cdn-Cache-Control": {"max-age=10"}},
			Policy:   cachepolicy.Entry{NoCache: true, MustRevalidate: true, StaleIfError: time.Hour, StaleWhileRevalidate: time.Second, ResponseTime: rt}}},
		{"vary index", &Object{Key: "http://a/z", Vary: []string{"Accept-Language"}}},
		{"coded by the node", &Object{Key: "http://a/c", Status: 200, Header: http.Header{"Content-Length": {"12"}},
			Policy: cachepolicy.Entry{ResponseTime: rt}, Coding: coding.Zstd, IdentitySize: 4096}},
		{"coded, length unknown", &Object{Key: "http://a/d", Status: 200, Coding: coding.Gzip, IdentitySize: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.obj.prepare() // as NewWriter would
			b, err := encodeMeta(tt.obj)
			if err != nil {
				t.Fatal(err)
			}
			got, err := decodeMeta(b)
			if err != nil {
				t.Fatalf("decodeMeta(%s): %v", b, err)
			}
			if !reflect.DeepEqual(got, tt.obj) {
				t.Errorf("decodeMeta(encodeMeta(o)) = %+v, want %+v", got, tt.obj)
			}
		})
	}
}

func TestDecodeMetaRejects(t *testing.T) {
	tests := []struct{ name, in string }{
		{"not json", "\x00\x01"},
		{"other version", `{"v":2,"key":"k","status":200}`},
		{"no key", `{"v":1,"status":200}`},
		{"bad status", `{"v":1,"key":"k","status":7}`},
		{"negative lifetime", `{"v":1,"key":"k","status":200,"lifetime":-1}`},
		{"wrong type", `{"v":1,"key":"k","status":"200"}`},
		{"unknown coding", `{"v":1,"key":"k","status":200,"coding":"br"}`},
		{"identity coding named", `{"v":1,"key":"k","status":200,"coding":"identity"}`},
		{"identity size alone", `{"v":1,"key":"k","status":200,"identity_size":5}`},
		{"negative identity size", `{"v":1,"key":"k","status":200,"coding":"zstd","identity_size":-2}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if o, err := decodeMeta([]byte(tt.in)); err == nil {
				t.Errorf("decodeMeta(%q) = %+v, want an error", tt.in, o)
			}
		})
	}
}

// FuzzDecodeMeta: metadata read from disk never panics the node, and what
// decodes re-encodes to a fixed point: decoding and encoding it again gives
// the same bytes.
func FuzzDecodeMeta(f *testing.F) {
	f.Add(`{"v":1,"key":"http://a/x","status":200,"header":{"Etag":["\"v\""]},"lifetime":60000000000}`) // a stored 200
	f.Add(`{"v":1,"key":"http://a/z","vary":["Accept-Language"]}`)                                      // a Vary index
	f.Add(`{"v":1,"key":"k","status":200,"response_time":"not a time"}`)                                // bad time
	f.Add(`{"v":1,"key":"k","status":200,"header":{"A":[null]}}`)                                       // null value
	f.Add(`{"v":1,"key":"k","status":200,"coding":"zstd","identity_size":-1}`)                          // coded by the node
	f.Fuzz(func(t *testing.T, s string) {
		o, err := decodeMeta([]byte(s))
		if err != nil {
			return
		}
		b, err := encodeMeta(o)
		if err != nil {
			t.Fatalf("re-encode of %q: %v", s, err)
		}
		again, err := decodeMeta(b)
		if err != nil {
			t.Fatalf("decode of re-encoded %q: %v", b, err)
		}
		if b2, err := encodeMeta(again); err != nil || !bytes.Equal(b2, b) {
			t.Fatalf("round trip of %q changed: %q then %q, %v", s, b, b2, err)
		}
	})
}
