package cachepolicy

import (
	"net/http"
	"reflect"
	"testing"
	"time"
)

func TestFreshen(t *testing.T) {
	tests := []struct {
		name       string
		stored, nm http.Header
		want       http.Header
	}{
		{"nothing new", hdr("Content-Type", "text/plain"), hdr(), hdr("Content-Type", "text/plain")},
		{"fields replaced and added",
			hdr("Cache-Control", "max-age=1", "Date", date(-time.Hour), "ETag", `"v1"`),
			hdr("Cache-Control", "max-age=60", "Date", date(0), "X-New", "1"),
			hdr("Cache-Control", "max-age=60", "Date", date(0), "ETag", `"v1"`, "X-New", "1")},
		{"all lines of a field replaced",
			hdr("Link", "</a>", "Link", "</b>"), hdr("Link", "</c>"), hdr("Link", "</c>")},
		{"body fields kept",
			hdr("Content-Length", "10", "Content-Encoding", "gzip"),
			hdr("Content-Length", "0", "Content-Encoding", "br", "Content-Range", "bytes 0-1/2"),
			hdr("Content-Length", "10", "Content-Encoding", "gzip")},
		{"hop-by-hop and nominated fields skipped",
			hdr("X-A", "old"),
			hdr("Connection", "X-A, close", "X-A", "new", "Transfer-Encoding", "chunked", "Keep-Alive", "timeout=5"),
			hdr("X-A", "old")},
		{"non-canonical key in 304", hdr("Etag", `"v1"`), http.Header{"etag": {`"v2"`}}, hdr("Etag", `"v2"`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			storedBefore, nmBefore := tt.stored.Clone(), tt.nm.Clone()
			got := Freshen(tt.stored, tt.nm)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Freshen(%v, %v) = %v, want %v", tt.stored, tt.nm, got, tt.want)
			}
			if !reflect.DeepEqual(tt.stored, storedBefore) || !reflect.DeepEqual(tt.nm, nmBefore) {
				t.Errorf("Freshen modified its arguments")
			}
			for k := range got {
				if vs := tt.nm[k]; len(vs) > 0 && len(got[k]) > 0 && &vs[0] == &got[k][0] {
					t.Errorf("Freshen result shares the slice of %s with the 304", k)
				}
			}
		})
	}
	t.Run("nil stored", func(t *testing.T) {
		got := Freshen(nil, hdr("Date", date(0)))
		if want := hdr("Date", date(0)); !reflect.DeepEqual(got, want) {
			t.Errorf("Freshen(nil, ...) = %v, want %v", got, want)
		}
	})
}
