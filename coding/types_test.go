package coding

import (
	"mime"
	"strconv"
	"strings"
	"testing"
)

// mustTypes compiles patterns or fails t.
func mustTypes(t testing.TB, patterns ...string) *Types {
	t.Helper()
	ts, err := ParseTypes(patterns)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

func TestTypesMatch(t *testing.T) {
	defaults := mustTypes(t, DefaultTypes()...)
	custom := mustTypes(t, "Application/Vnd.Custom", "model/*", "application/*+CBOR")
	tests := []struct {
		name  string
		types *Types
		ct    string
		want  bool
	}{
		{"exact", defaults, "application/json", true},
		{"type wildcard", defaults, "text/html", true},
		{"type wildcard, unusual subtype", defaults, "text/x-markdown", true},
		{"json suffix", defaults, "application/ld+json", true},
		{"vendor json suffix", defaults, "application/vnd.api+json", true},
		{"last plus starts the suffix", defaults, "application/a+b+json", true},
		{"xml suffix", defaults, "application/rss+xml", true},
		{"svg", defaults, "image/svg+xml", true},
		{"wasm", defaults, "application/wasm", true},
		{"charset parameter", defaults, "text/html; charset=utf-8", true},
		{"parameter without space", defaults, "application/json;charset=UTF-8", true},
		{"spaces and tabs around", defaults, " \ttext/css \t; charset=utf-8", true},
		{"trailing OWS", defaults, "text/css  ", true},
		{"empty parameters", defaults, "text/plain;", true},
		{"parameters are not checked", defaults, "text/plain; ;=;\"", true},
		{"upper case", defaults, "TEXT/HTML", true},
		{"mixed case suffix", defaults, "Application/LD+JSON; Charset=UTF-8", true},
		{"png", defaults, "image/png", false},
		{"jpeg", defaults, "image/jpeg", false},
		{"woff2", defaults, "font/woff2", false},
		{"zip", defaults, "application/zip", false},
		{"octet-stream", defaults, "application/octet-stream", false},
		{"suffix under another type", defaults, "image/ld+json", false},
		{"suffix with an empty base", defaults, "application/+json", false},
		{"suffix is not a prefix", defaults, "application/json+zstd", false},
		{"subtype prefix is not enough", defaults, "application/jsonx", false},
		{"empty", defaults, "", false},
		{"spaces only", defaults, "   ", false},
		{"no subtype", defaults, "text", false},
		{"empty subtype", defaults, "text/", false},
		{"empty subtype with parameters", defaults, "text/; charset=utf-8", false},
		{"empty type", defaults, "/html", false},
		{"two slashes", defaults, "text/html/x", false},
		{"space inside", defaults, "text/ html", false},
		{"junk after the subtype", defaults, "text/html junk", false},
		{"list of media types", defaults, "text/html, application/json", false},
		{"newline after", defaults, "text/html\n", false},
		{"non-ASCII", defaults, "tëxt/html", false},
		{"wildcard content type", defaults, "*/*", false},
		{"longest suffixed subtype", defaults, "application/" + strings.Repeat("a", 122) + "+json", true},
		{"subtype name too long", defaults, "application/" + strings.Repeat("a", 123) + "+json", false},
		{"longest names", mustTypes(t, strings.Repeat("a", 127)+"/"+strings.Repeat("b", 127)), strings.Repeat("A", 127) + "/" + strings.Repeat("B", 127), true},
		{"custom exact, case-insensitive", custom, "application/vnd.custom", true},
		{"custom type wildcard", custom, "model/gltf+json", true},
		{"custom suffix, case-insensitive", custom, "application/senml+cbor", true},
		{"custom list leaves out the defaults", custom, "text/html", false},
		{"zero Types", &Types{}, "text/html", false},
		{"no patterns", mustTypes(t), "text/html", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.types.Match(tt.ct); got != tt.want {
				t.Errorf("Match(%q) = %v, want %v", tt.ct, got, tt.want)
			}
		})
	}
}

func TestParseTypesErrors(t *testing.T) {
	tests := []struct {
		name     string
		patterns []string
		want     string
	}{
		{"empty", []string{""}, `media type pattern "": want type/subtype, type/* or type/*+suffix`},
		{"no slash", []string{"text"}, `media type pattern "text": want type/subtype, type/* or type/*+suffix`},
		{"parameters", []string{"text/html; charset=utf-8"}, `media type pattern "text/html; charset=utf-8": parameters are not allowed`},
		{"any type", []string{"*/*"}, `media type pattern "*/*": invalid type "*": want a letter or digit, then letters, digits and !#$&-^_.+ (RFC 6838 §4.2)`},
		{"type wildcard in the type", []string{"*/json"}, `media type pattern "*/json": invalid type "*"`},
		{"empty type", []string{"/json"}, `media type pattern "/json": invalid type ""`},
		{"empty subtype", []string{"text/"}, `media type pattern "text/": invalid subtype "": want a name, "*" or "*+suffix"`},
		{"two slashes", []string{"text/html/x"}, `media type pattern "text/html/x": invalid subtype "html/x"`},
		{"space", []string{"text/ html"}, `media type pattern "text/ html": invalid subtype " html"`},
		{"prefix wildcard", []string{"application/json*"}, `media type pattern "application/json*": invalid subtype "json*"`},
		{"wildcard without plus", []string{"application/*json"}, `media type pattern "application/*json": invalid subtype "*json"`},
		{"empty suffix", []string{"application/*+"}, `media type pattern "application/*+": invalid subtype "*+"`},
		{"double wildcard", []string{"application/**"}, `media type pattern "application/**": invalid subtype "**"`},
		{"name starting with a symbol", []string{"text/.html"}, `media type pattern "text/.html": invalid subtype ".html"`},
		{"name too long", []string{"text/" + strings.Repeat("x", 128)}, `media type pattern "text/` + strings.Repeat("x", 128) + `": invalid subtype`},
		{"first bad pattern is named", []string{"text/*", "image/", "font/"}, `media type pattern "image/": invalid subtype ""`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts, err := ParseTypes(tt.patterns)
			if err == nil {
				t.Fatalf("ParseTypes(%q) = %v, nil; want an error starting %q", tt.patterns, ts, tt.want)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("ParseTypes(%q) error = %q, want it to start %q", tt.patterns, err, tt.want)
			}
		})
	}
}

func TestDefaultTypes(t *testing.T) {
	ts, err := ParseTypes(DefaultTypes())
	if err != nil {
		t.Fatalf("ParseTypes(DefaultTypes()) = %v", err)
	}
	seen := map[string]bool{}
	for _, p := range DefaultTypes() {
		if seen[p] || p != strings.ToLower(p) {
			t.Errorf("DefaultTypes() has %q twice or not in lower case", p)
		}
		seen[p] = true
		if !strings.Contains(p, "*") && !ts.Match(p) {
			t.Errorf("defaults do not match their own entry %q", p)
		}
	}
	d := DefaultTypes()
	d[0] = "changed/by-caller"
	if DefaultTypes()[0] == d[0] {
		t.Error("DefaultTypes returned a shared slice")
	}
}

func TestTypesMatchAllocs(t *testing.T) {
	ts := mustTypes(t, DefaultTypes()...)
	for _, ct := range []string{"text/html; charset=utf-8", "Application/LD+JSON", "image/png", "application/a+b+c+d", "junk"} {
		if n := testing.AllocsPerRun(100, func() { ts.Match(ct) }); n != 0 {
			t.Errorf("Match(%q) allocates %v times, want 0", ct, n)
		}
	}
}

// upperASCII upper-cases ASCII letters only, which Match treats as equal
// (strings.ToUpper would also turn some non-ASCII letters into ASCII ones).
func upperASCII(s string) string {
	return strings.Map(func(r rune) rune {
		if 'a' <= r && r <= 'z' {
			return r - ('a' - 'A')
		}
		return r
	}, s)
}

// FuzzTypesMatch feeds ParseTypes a pattern and Match a Content-Type as an
// origin might send it: neither may panic, "" never matches, case and
// appended parameters never change the answer, and an exact pattern matches
// itself.
func FuzzTypesMatch(f *testing.F) {
	f.Add("text/*", "text/html; charset=utf-8")                             // wildcard, parameter
	f.Add("application/*+json", "application/ld+json")                      // structured suffix
	f.Add("application/json", "APPLICATION/JSON;charset=UTF-8")             // case, parameter without space
	f.Add("image/svg+xml", " image/svg+xml \t; a=b")                        // OWS around
	f.Add("text/*", "text/html, text/plain")                                // a list, not one value
	f.Add("application/*+xml", "application/+xml")                          // empty base
	f.Add("a/b", "a/b/c")                                                   // two slashes
	f.Add("text/html; q=1", "text/")                                        // parameters in a pattern, empty subtype
	f.Add("*/*", "")                                                        // no wildcard type; empty value
	f.Add("font/ttf", "font/ttf\r\n")                                       // CRLF is not OWS
	f.Add("x/*+y", strings.Repeat("x", 200)+"/"+strings.Repeat("a+y", 100)) // over-long names
	f.Fuzz(func(t *testing.T, pattern, ct string) {
		ts, err := ParseTypes([]string{pattern})
		if err != nil {
			if !strings.Contains(err.Error(), strconv.Quote(pattern)) {
				t.Fatalf("ParseTypes(%q) error %q does not name the pattern", pattern, err)
			}
			ts = mustTypes(t, DefaultTypes()...)
		} else if !strings.Contains(pattern, "*") {
			for _, v := range []string{pattern, upperASCII(pattern), " " + pattern + " ; charset=x"} {
				if !ts.Match(v) {
					t.Fatalf("exact pattern %q does not match %q", pattern, v)
				}
			}
		}
		if ts.Match("") {
			t.Fatal(`Match("") = true`)
		}
		got := ts.Match(ct)
		if up := ts.Match(upperASCII(ct)); up != got {
			t.Fatalf("Match(%q) = %v but Match of its upper case = %v", ct, got, up)
		}
		if withParam := ts.Match(ct + ";a=b"); withParam != got {
			t.Fatalf("Match(%q) = %v but with a parameter appended = %v", ct, got, withParam)
		}
	})
}

func BenchmarkTypesMatch(b *testing.B) {
	ts := mustTypes(b, DefaultTypes()...)
	for _, bm := range []struct{ name, ct string }{
		{"exact", "application/json"},
		{"wildcard", "text/html; charset=utf-8"},
		{"suffix", "application/vnd.api+json"},
		{"miss", "image/png"},
	} {
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				ts.Match(bm.ct)
			}
		})
	}
	// Baseline: the standard library's parse alone, before any lookup.
	b.Run("mime.ParseMediaType", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := mime.ParseMediaType("text/html; charset=utf-8"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
