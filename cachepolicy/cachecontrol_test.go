package cachepolicy

import (
	"net/http"
	"reflect"
	"testing"
	"time"
)

func TestParseCacheControl(t *testing.T) {
	with := func(f func(*Directives)) Directives {
		d := NewDirectives()
		f(&d)
		return d
	}
	tests := []struct {
		name string
		in   string
		want Directives
	}{
		{"empty", "", NewDirectives()},
		{"only commas and spaces", " , ,\t,", NewDirectives()},
		{"max-age", "max-age=60", with(func(d *Directives) { d.MaxAge = 60 })},
		{"case-insensitive names", "Max-Age=60, NO-STORE", with(func(d *Directives) { d.MaxAge = 60; d.NoStore = true })},
		{"quoted delta accepted", `max-age="60"`, with(func(d *Directives) { d.MaxAge = 60 })},
		{"OWS around equals and commas", " max-age = 5 ,s-maxage=7 ", with(func(d *Directives) { d.MaxAge = 5; d.SMaxAge = 7 })},
		{"first of repeated max-age wins", "max-age=10, max-age=20", with(func(d *Directives) { d.MaxAge = 10 })},
		{"huge delta clamped", "max-age=99999999999999999999999", with(func(d *Directives) { d.MaxAge = 2147483648 })},
		{"every flag", "public, private, no-cache, no-store, no-transform, must-revalidate, proxy-revalidate, must-understand, immutable, only-if-cached",
			with(func(d *Directives) {
				d.Public, d.Private, d.NoCache, d.NoStore, d.NoTransform = true, true, true, true, true
				d.MustRevalidate, d.ProxyRevalidate, d.MustUnderstand, d.Immutable, d.OnlyIfCached = true, true, true, true, true
			})},
		{"qualified no-cache does not set NoCache", `no-cache="set-cookie, X-Foo"`,
			with(func(d *Directives) { d.NoCacheFields = []string{"Set-Cookie", "X-Foo"} })},
		{"qualified private token form", `private=Set-Cookie`,
			with(func(d *Directives) { d.PrivateFields = []string{"Set-Cookie"} })},
		{"quoted list with commas inside", `no-cache="A,B", max-age=3`,
			with(func(d *Directives) { d.NoCacheFields = []string{"A", "B"}; d.MaxAge = 3 })},
		{"max-stale without value", "max-stale", with(func(d *Directives) { d.MaxStaleAny = true })},
		{"max-stale with value", "max-stale=30", with(func(d *Directives) { d.MaxStale = 30 })},
		{"request directives", "min-fresh=5, stale-if-error=9, stale-while-revalidate=8",
			with(func(d *Directives) { d.MinFresh = 5; d.StaleIfError = 9; d.StaleWhileRevalidate = 8 })},
		{"extensions kept", `Foo, bar="a, \"b\"", baz=1`,
			with(func(d *Directives) { d.Extensions = []string{"foo", `bar="a, \"b\""`, "baz=1"} })},
		{"argument on flag ignored", "no-store=yes", with(func(d *Directives) { d.NoStore = true })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCacheControl(tt.in)
			if err != nil {
				t.Fatalf("ParseCacheControl(%q) error %v", tt.in, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseCacheControl(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseCacheControlErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{"non-numeric max-age", "max-age=abc"},
		{"negative max-age", "max-age=-1"},
		{"max-age without value", "max-age"},
		{"max-age with empty value", "max-age="},
		{"unterminated quote", `no-cache="Set-Cookie`},
		{"trailing backslash in quote", `foo="a\`},
		{"junk after directive", "max-age=1 2"},
		{"invalid character", "max-age=1; public"},
		{"control byte in quote", "foo=\"a\x01\""},
		{"bad field name in list", `private="a b"`},
		{"bad max-stale value", "max-stale=x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCacheControl(tt.in)
			if err == nil {
				t.Fatalf("ParseCacheControl(%q) = %+v, want an error", tt.in, got)
			}
			if !reflect.DeepEqual(got, NewDirectives()) {
				t.Errorf("ParseCacheControl(%q) returned %+v with its error, want NewDirectives()", tt.in, got)
			}
		})
	}
}

func TestDirectivesString(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", ""},
		{"canonical order", "max-age=5, no-cache, public", "public, no-cache, max-age=5"},
		{"fields merged", `no-cache="A", no-cache="b"`, `no-cache="A, B"`},
		{"max-stale any", "max-stale", "max-stale"},
		{"extension verbatim", `X-Thing="q"`, `x-thing="q"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := ParseCacheControl(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got := d.String(); got != tt.want {
				t.Errorf("ParseCacheControl(%q).String() = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseHeader(t *testing.T) {
	tests := []struct {
		name    string
		h       http.Header
		want    string
		wantErr bool
	}{
		{"missing", hdr(), "", false},
		{"lines joined", hdr("Cache-Control", "public", "Cache-Control", "max-age=5"), "public, max-age=5", false},
		{"malformed line", hdr("Cache-Control", "public", "Cache-Control", "max-age=x"), "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := ParseHeader(tt.h, "Cache-Control")
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseHeader(%v) error %v, want error %v", tt.h, err, tt.wantErr)
			}
			if got := d.String(); got != tt.want {
				t.Errorf("ParseHeader(%v) = %q, want %q", tt.h, got, tt.want)
			}
			if d.MaxAge == 0 {
				t.Errorf("ParseHeader(%v).MaxAge = 0, want Absent or a parsed value", tt.h)
			}
		})
	}
}

func TestDeltaDuration(t *testing.T) {
	tests := []struct {
		name string
		d    Delta
		want time.Duration
	}{
		{"absent", Absent, 0},
		{"zero", 0, 0},
		{"minute", 60, time.Minute},
		{"clamp", 2147483648, 2147483648 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.d.Duration(); got != tt.want {
				t.Errorf("Delta(%d).Duration() = %v, want %v", tt.d, got, tt.want)
			}
		})
	}
}

func FuzzParseCacheControl(f *testing.F) {
	f.Add("max-age=60, s-maxage=10")                // shared caches use s-maxage
	f.Add(`no-cache="Set-Cookie"`)                  // quoted field list
	f.Add(`private="a, b", no-cache=x-y`)           // both qualified forms
	f.Add("max-stale, max-stale=5, min-fresh=1")    // valueless max-stale first
	f.Add(`ext="a\"b", ext2=tok, ext3`)             // extensions with escapes
	f.Add("max-age=99999999999999999999")           // clamped delta
	f.Add(" , ,MAX-AGE = 1 ,\tpublic")              // OWS, case and empty elements
	f.Add(`no-cache=""`)                            // qualified form with no fields
	f.Add("stale-while-revalidate=1, immutable")    // RFC 5861 and 8246
	f.Add("must-understand, no-store, max-age=abc") // malformed
	f.Fuzz(func(t *testing.T, s string) {
		cc, err := ParseCacheControl(s)
		if err != nil {
			return
		}
		again, err := ParseCacheControl(cc.String())
		if err != nil || again.String() != cc.String() {
			t.Fatalf("round trip of %q changed: %q to %q, %v", s, cc.String(), again.String(), err)
		}
	})
}

func TestNoTransform(t *testing.T) {
	tests := []struct {
		lines []string
		want  bool
	}{
		{nil, false},
		{[]string{"no-transform"}, true},
		{[]string{"public, max-age=60"}, false},
		{[]string{"max-age=60 ,\tNo-Transform , public"}, true},
		{[]string{"public", "no-transform"}, true},
		{[]string{"no-transformx"}, false},
		{[]string{`no-cache="no-transform"`}, false},
	}
	for _, tt := range tests {
		h := http.Header{}
		if tt.lines != nil {
			h["Cache-Control"] = tt.lines
		}
		if got := NoTransform(h); got != tt.want {
			t.Errorf("NoTransform(%q) = %v, want %v", tt.lines, got, tt.want)
		}
	}
	h := http.Header{"Cache-Control": {"public, max-age=60, no-transform"}}
	if n := testing.AllocsPerRun(100, func() { NoTransform(h) }); n != 0 {
		t.Errorf("NoTransform allocates %v times", n)
	}
}
