package cachepolicy

import (
	"net/http"
	"net/url"
	"reflect"
	"testing"
)

func TestInvalidates(t *testing.T) {
	target, err := url.Parse("https://example.com/items/7?x=1")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		method string
		status int
		respH  http.Header
		want   []string
	}{
		{"GET does nothing", http.MethodGet, 200, hdr("Location", "/a"), nil},
		{"HEAD does nothing", http.MethodHead, 200, hdr(), nil},
		{"OPTIONS does nothing", http.MethodOptions, 200, hdr(), nil},
		{"500 does nothing", http.MethodPost, 500, hdr("Location", "/a"), nil},
		{"404 does nothing", http.MethodDelete, 404, hdr(), nil},
		{"POST target only", http.MethodPost, 200, hdr(), []string{"https://example.com/items/7?x=1"}},
		{"303 counts", http.MethodPost, 303, hdr(), []string{"https://example.com/items/7?x=1"}},
		{"same-origin relative Location", http.MethodPost, 201, hdr("Location", "/items/8"),
			[]string{"https://example.com/items/7?x=1", "https://example.com/items/8"}},
		{"same-origin absolute Content-Location", http.MethodPut, 200, hdr("Content-Location", "https://EXAMPLE.com/items/7.json#frag"),
			[]string{"https://example.com/items/7?x=1", "https://example.com/items/7.json"}},
		{"cross-origin Location ignored", http.MethodPost, 201, hdr("Location", "https://evil.example/items/8"),
			[]string{"https://example.com/items/7?x=1"}},
		{"other scheme ignored", http.MethodPost, 201, hdr("Location", "http://example.com/items/8"),
			[]string{"https://example.com/items/7?x=1"}},
		{"duplicate of target left out", http.MethodDelete, 204, hdr("Content-Location", "/items/7?x=1"),
			[]string{"https://example.com/items/7?x=1"}},
		{"unparseable Location ignored", http.MethodPost, 200, hdr("Location", "http://[::1"),
			[]string{"https://example.com/items/7?x=1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, u := range Invalidates(tt.method, tt.status, target, tt.respH) {
				got = append(got, u.String())
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Invalidates(%s, %d, %v) = %q, want %q", tt.method, tt.status, tt.respH, got, tt.want)
			}
		})
	}
	t.Run("nil target", func(t *testing.T) {
		if got := Invalidates(http.MethodPost, 200, nil, hdr()); got != nil {
			t.Errorf("Invalidates with nil target = %v, want nil", got)
		}
	})
	t.Run("target not aliased", func(t *testing.T) {
		got := Invalidates(http.MethodPost, 200, target, hdr())
		got[0].Path = "/changed"
		if target.Path != "/items/7" {
			t.Errorf("Invalidates returned the caller's URL: target.Path = %q", target.Path)
		}
	})
}
