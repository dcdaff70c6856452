package cachepolicy

import (
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseRange(t *testing.T) {
	const size = 1000
	tests := []struct {
		name    string
		in      string
		size    int64
		want    []ByteRange
		wantErr error
	}{
		{"single", "bytes=0-499", size, []ByteRange{{0, 500}}, nil},
		{"unit case-insensitive", "Bytes=10-19", size, []ByteRange{{10, 10}}, nil},
		{"suffix", "bytes=-100", size, []ByteRange{{900, 100}}, nil},
		{"suffix longer than size", "bytes=-5000", size, []ByteRange{{0, size}}, nil},
		{"open ended", "bytes=900-", size, []ByteRange{{900, 100}}, nil},
		{"last beyond size clamped", "bytes=900-5000", size, []ByteRange{{900, 100}}, nil},
		{"huge last clamped", "bytes=0-99999999999999999999999", size, []ByteRange{{0, size}}, nil},
		{"multiple kept in order", "bytes=500-599, 0-99", size, []ByteRange{{500, 100}, {0, 100}}, nil},
		{"overlapping coalesced", "bytes=0-99,50-149", size, []ByteRange{{0, 150}}, nil},
		{"adjacent coalesced", "bytes=100-199,0-99", size, []ByteRange{{0, 200}}, nil},
		{"unsatisfiable part dropped", "bytes=0-9,2000-3000", size, []ByteRange{{0, 10}}, nil},
		{"empty elements skipped", "bytes=,0-9,,", size, []ByteRange{{0, 10}}, nil},
		{"unsatisfiable start", "bytes=1000-", size, nil, ErrUnsatisfiable},
		{"zero suffix unsatisfiable", "bytes=-0", size, nil, ErrUnsatisfiable},
		{"empty representation", "bytes=0-", 0, nil, ErrUnsatisfiable},
		{"not bytes", "items=0-1", size, nil, ErrRangeInvalid},
		{"no equals", "bytes 0-1", size, nil, ErrRangeInvalid},
		{"last before first", "bytes=10-5", size, nil, ErrRangeInvalid},
		{"no dash", "bytes=10", size, nil, ErrRangeInvalid},
		{"garbage number", "bytes=a-b", size, nil, ErrRangeInvalid},
		{"only dash", "bytes=-", size, nil, ErrRangeInvalid},
		{"empty set", "bytes=", size, nil, ErrRangeInvalid},
		{"too many ranges", "bytes=" + strings.Repeat("0-0,", 33), size, nil, ErrRangeInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRange(tt.in, tt.size)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("ParseRange(%q, %d) error %v, want %v", tt.in, tt.size, err, tt.wantErr)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseRange(%q, %d) = %v, want %v", tt.in, tt.size, got, tt.want)
			}
		})
	}
}

func TestContentRange(t *testing.T) {
	if got, want := (ByteRange{Start: 10, Length: 5}).ContentRange(100), "bytes 10-14/100"; got != want {
		t.Errorf("ContentRange = %q, want %q", got, want)
	}
}

func TestIfRange(t *testing.T) {
	lm := date(-time.Hour)
	stored := hdr("ETag", `"v1"`, "Last-Modified", lm)
	tests := []struct {
		name   string
		reqH   http.Header
		stored http.Header
		want   bool
	}{
		{"absent", hdr(), stored, true},
		{"strong etag match", hdr("If-Range", `"v1"`), stored, true},
		{"etag mismatch", hdr("If-Range", `"v2"`), stored, false},
		{"weak request tag never matches", hdr("If-Range", `W/"v1"`), stored, false},
		{"weak stored tag never matches", hdr("If-Range", `"v1"`), hdr("ETag", `W/"v1"`), false},
		{"date equal to Last-Modified", hdr("If-Range", lm), stored, true},
		{"date differs", hdr("If-Range", date(0)), stored, false},
		{"date without stored Last-Modified", hdr("If-Range", lm), hdr("ETag", `"v1"`), false},
		{"garbage", hdr("If-Range", "whenever"), stored, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IfRange(tt.reqH, tt.stored); got != tt.want {
				t.Errorf("IfRange(%v, %v) = %v, want %v", tt.reqH, tt.stored, got, tt.want)
			}
		})
	}
}

func FuzzParseRange(f *testing.F) {
	f.Add("bytes=0-499", int64(1000))                  // single
	f.Add("bytes=-100", int64(50))                     // suffix longer than the body
	f.Add("bytes=900-", int64(1000))                   // open ended
	f.Add("bytes=0-1,1-2,5-9,3-4", int64(8))           // coalescing
	f.Add("bytes=9223372036854775807-", int64(10))     // largest start
	f.Add("bytes=0-9223372036854775808", int64(1<<62)) // last overflows
	f.Add("bytes=,,", int64(0))                        // empty elements only
	f.Add("bytes=5-1", int64(-1))                      // invalid and negative size
	f.Fuzz(func(t *testing.T, s string, size int64) {
		rs, err := ParseRange(s, size)
		if err != nil {
			if len(rs) != 0 {
				t.Fatalf("ParseRange(%q, %d) = %v with error %v", s, size, rs, err)
			}
			return
		}
		if len(rs) == 0 || len(rs) > maxRanges {
			t.Fatalf("ParseRange(%q, %d) returned %d ranges", s, size, len(rs))
		}
		for _, r := range rs {
			if r.Start < 0 || r.Length < 1 || r.Start >= size || r.Length > size-r.Start {
				t.Fatalf("ParseRange(%q, %d) returned %v, outside [0,%d)", s, size, r, size)
			}
			if got := r.ContentRange(size); !strings.HasPrefix(got, fmt.Sprintf("bytes %d-", r.Start)) {
				t.Fatalf("ContentRange = %q", got)
			}
		}
	})
}
