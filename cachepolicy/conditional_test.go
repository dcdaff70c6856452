package cachepolicy

import (
	"net/http"
	"reflect"
	"testing"
	"time"
)

func TestNotModified(t *testing.T) {
	strong := hdr("ETag", `"v1"`, "Last-Modified", date(-time.Hour))
	weak := hdr("ETag", `W/"v1"`)
	tests := []struct {
		name   string
		reqH   http.Header
		stored http.Header
		want   bool
	}{
		{"no conditionals", hdr(), strong, false},
		{"strong etag matches", hdr("If-None-Match", `"v1"`), strong, true},
		{"weak request tag matches strong stored (weak comparison)", hdr("If-None-Match", `W/"v1"`), strong, true},
		{"strong request tag matches weak stored", hdr("If-None-Match", `"v1"`), weak, true},
		{"different tag", hdr("If-None-Match", `"v2"`), strong, false},
		{"list with match", hdr("If-None-Match", `"a", W/"b" ,"v1"`), strong, true},
		{"list across lines", hdr("If-None-Match", `"a"`, "If-None-Match", `"v1"`), strong, true},
		{"comma inside tag", hdr("If-None-Match", `"v,1"`), hdr("ETag", `"v,1"`), true},
		{"list without match", hdr("If-None-Match", `"a", "b"`), strong, false},
		{"star matches", hdr("If-None-Match", "*"), hdr(), true},
		{"no stored etag", hdr("If-None-Match", `"v1"`), hdr("Last-Modified", date(-time.Hour)), false},
		{"malformed list", hdr("If-None-Match", `v1`), hdr("ETag", `"v1"`), false},
		{"If-None-Match decides over IMS", hdr("If-None-Match", `"v2"`, "If-Modified-Since", date(0)), strong, false},
		{"IMS after LM", hdr("If-Modified-Since", date(0)), strong, true},
		{"IMS equal to LM", hdr("If-Modified-Since", date(-time.Hour)), strong, true},
		{"IMS before LM", hdr("If-Modified-Since", date(-2*time.Hour)), strong, false},
		{"IMS invalid", hdr("If-Modified-Since", "last tuesday"), strong, false},
		{"IMS without stored LM", hdr("If-Modified-Since", date(0)), hdr("ETag", `"v1"`), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NotModified(tt.reqH, tt.stored); got != tt.want {
				t.Errorf("NotModified(%v, %v) = %v, want %v", tt.reqH, tt.stored, got, tt.want)
			}
		})
	}
}

func TestConditionals(t *testing.T) {
	lm := date(-time.Hour)
	tests := []struct {
		name          string
		stored        http.Header
		want          http.Header
		wantValidator bool
	}{
		{"none", hdr(), hdr(), false},
		{"etag", hdr("ETag", `"v1"`), hdr("If-None-Match", `"v1"`), true},
		{"weak etag", hdr("ETag", `W/"v1"`), hdr("If-None-Match", `W/"v1"`), true},
		{"last-modified", hdr("Last-Modified", lm), hdr("If-Modified-Since", lm), true},
		{"both", hdr("ETag", `"v1"`, "Last-Modified", lm), hdr("If-None-Match", `"v1"`, "If-Modified-Since", lm), true},
		{"invalid validators", hdr("ETag", "v1", "Last-Modified", "soon"), hdr(), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Conditionals(tt.stored); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Conditionals(%v) = %v, want %v", tt.stored, got, tt.want)
			}
			if got := HasValidators(tt.stored); got != tt.wantValidator {
				t.Errorf("HasValidators(%v) = %v, want %v", tt.stored, got, tt.wantValidator)
			}
		})
	}
}
