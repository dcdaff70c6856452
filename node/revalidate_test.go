package node_test

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

// TestRevalidationKeepsTargetedFields proves that a 304 which omits
// CDN-Cache-Control refreshes the stored response by the CDN-Cache-Control
// it was stored under (RFC 9213), not by the Cache-Control meant for
// browsers.
func TestRevalidationKeepsTargetedFields(t *testing.T) {
	t.Parallel()
	seen := make(chan string, 4)
	h := newHarness(t, "h1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Header.Get("If-None-Match")
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.Header().Set("ETag", `"v1"`)
			w.WriteHeader(http.StatusNotModified) // no CDN-Cache-Control, no Cache-Control
			return
		}
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("Cache-Control", "max-age=1000")
		w.Header().Set("CDN-Cache-Control", "max-age=0")
		_, _ = w.Write([]byte("body"))
	}))

	want := []struct{ cache, inm string }{
		{"fwd=miss; stored", ""},
		{"fwd=stale; fwd-status=304", `"v1"`},
		{"fwd=stale; fwd-status=304", `"v1"`},
	}
	for i, w := range want {
		resp, body, err := h.do("GET", "/targeted", nil)
		if err != nil {
			t.Fatal(err)
		}
		if cs := resp.Header.Get("Cache-Status"); !strings.Contains(cs, w.cache) || string(body) != "body" {
			t.Errorf("request %d: Cache-Status %q body %q, want %q and the stored body", i, cs, body, w.cache)
		}
		// The origin reports before it answers, so by now it has or never will.
		select {
		case got := <-seen:
			if got != w.inm {
				t.Errorf("request %d: origin saw If-None-Match %q, want %q", i, got, w.inm)
			}
		default:
			t.Errorf("request %d: the origin was not asked, want a revalidation", i)
		}
	}
}

// TestUnstorableVariantDropsOnlyItself proves that when a stale variant's
// refetch is no longer storable, only that variant is dropped: the Vary
// index and the other variants stay.
func TestUnstorableVariantDropsOnlyItself(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	h := newHarness(t, "h1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Vary", "Accept-Language")
		w.Header().Set("Cache-Control", "max-age=0")
		if calls.Add(1) == 3 {
			w.Header().Set("Cache-Control", "no-store")
		}
		_, _ = w.Write([]byte(r.Header.Get("Accept-Language")))
	}))
	want := []struct{ lang, cache string }{
		{"en", "fwd=miss; stored"},
		{"fr", "fwd=vary-miss; stored"},
		{"en", "fwd=stale; fwd-status=200; detail=no-store"},
		{"fr", "fwd=stale; fwd-status=200; stored"},
		{"en", "fwd=vary-miss; stored"},
	}
	for i, w := range want {
		resp, body, err := h.do("GET", "/variants", map[string]string{"Accept-Language": w.lang})
		if err != nil {
			t.Fatal(err)
		}
		if cs := resp.Header.Get("Cache-Status"); !strings.Contains(cs, w.cache) || string(body) != w.lang {
			t.Errorf("request %d (%s): Cache-Status %q body %q, want %q", i, w.lang, cs, body, w.cache)
		}
	}
}
