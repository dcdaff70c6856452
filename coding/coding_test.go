package coding

import (
	"strings"
	"testing"
)

func TestString(t *testing.T) {
	for c, want := range map[Coding]string{Identity: "identity", Gzip: "gzip", Zstd: "zstd", Br: "br", 9: "coding(9)"} {
		if got := c.String(); got != want {
			t.Errorf("Coding(%d).String() = %q, want %q", uint8(c), got, want)
		}
	}
}

func TestOf(t *testing.T) {
	tests := []struct {
		name   string
		values []string
		want   Coding
		wantOK bool
	}{
		{name: "absent", values: nil, want: Identity, wantOK: true},
		{name: "empty", values: []string{""}, want: Identity, wantOK: true},
		{name: "only empty elements", values: []string{" , ,", "\t"}, want: Identity, wantOK: true},
		{name: "identity", values: []string{"identity"}, want: Identity, wantOK: true},
		{name: "gzip", values: []string{"gzip"}, want: Gzip, wantOK: true},
		{name: "x-gzip", values: []string{"x-gzip"}, want: Gzip, wantOK: true},
		{name: "zstd", values: []string{"zstd"}, want: Zstd, wantOK: true},
		{name: "br", values: []string{"br"}, want: Br, wantOK: true},
		{name: "case and OWS", values: []string{" \tGZip  "}, want: Gzip, wantOK: true},
		{name: "empty elements around one", values: []string{", zstd ,"}, want: Zstd, wantOK: true},
		{name: "one coding among empty lines", values: []string{"", "br", ""}, want: Br, wantOK: true},
		{name: "stacked on one line", values: []string{"gzip, br"}},
		{name: "stacked on two lines", values: []string{"gzip", "br"}},
		{name: "same coding twice", values: []string{"gzip, gzip"}},
		{name: "identity and gzip", values: []string{"identity, gzip"}},
		{name: "unknown", values: []string{"deflate"}},
		{name: "unknown x-", values: []string{"x-compress"}},
		{name: "parameter", values: []string{"gzip;q=1"}},
		{name: "inner space", values: []string{"g zip"}},
		{name: "unicode fold is not ASCII fold", values: []string{"z\u017ftd"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Of(tt.values)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("Of(%q) = %v, %v, want %v, %v", tt.values, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestParsersDoNotAllocate(t *testing.T) {
	ce := []string{" GZip "}
	ae := []string{"gzip, deflate, br, zstd", "identity;q=0.5, *;q=0"}
	if n := testing.AllocsPerRun(100, func() { _, _ = Of(ce) }); n != 0 {
		t.Errorf("Of allocates %v times, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() { _ = ParseAccept(ae).Best() }); n != 0 {
		t.Errorf("ParseAccept allocates %v times, want 0", n)
	}
	aeBytes := [][]byte{[]byte(ae[0]), []byte(ae[1])}
	if n := testing.AllocsPerRun(100, func() { _ = ParseAccept(aeBytes).Best() }); n != 0 {
		t.Errorf("ParseAccept of bytes allocates %v times, want 0", n)
	}
}

// FuzzOf checks Of against a plain split-and-compare reading of the list.
func FuzzOf(f *testing.F) {
	f.Add("gzip")                 // one coding
	f.Add(" X-GZIP ,")            // alias, case, empty element
	f.Add("gzip, br")             // stacked
	f.Add("identity\nzstd")       // two lines
	f.Add(" , \n\t")              // nothing but empty elements
	f.Add("br;q=1")               // parameter: not a coding
	f.Add("z\u017ftd\n\xff,\x00") // non-ASCII fold, raw bytes
	f.Fuzz(func(t *testing.T, s string) {
		values := strings.Split(s, "\n")
		got, ok := Of(values)
		var elems []string
		for _, line := range values {
			for e := range strings.SplitSeq(line, ",") {
				if e = strings.Trim(e, " \t"); e != "" {
					elems = append(elems, strings.ToLower(e))
				}
			}
		}
		want, wantOK := Identity, true
		switch {
		case len(elems) > 1:
			want, wantOK = Identity, false
		case len(elems) == 1:
			switch elems[0] {
			case "identity":
			case "gzip", "x-gzip":
				want = Gzip
			case "zstd":
				want = Zstd
			case "br":
				want = Br
			default:
				wantOK = false
			}
		}
		if got != want || ok != wantOK {
			t.Fatalf("Of(%q) = %v, %v, want %v, %v", values, got, ok, want, wantOK)
		}
	})
}

func TestETag(t *testing.T) {
	tests := []struct {
		etag string
		c    Coding
		want string
	}{
		{`"abc"`, Zstd, `"abc-zstd"`},
		{`W/"abc"`, Zstd, `W/"abc-zstd"`},
		{`"abc"`, Gzip, `"abc-gzip"`},
		{`"abc"`, Identity, `"abc-identity"`},
		{`""`, Gzip, `"-gzip"`},
		{`W/""`, Gzip, `W/"-gzip"`},
		{"\"\x80\xff!#~\"", Zstd, "\"\x80\xff!#~-zstd\""}, // obs-text and edge characters
		{"", Zstd, ""},
		{`abc`, Zstd, ""},
		{`"abc`, Zstd, ""},
		{`"`, Zstd, ""},
		{`w/"abc"`, Zstd, ""},      // W/ is case-sensitive
		{`W/abc`, Zstd, ""},        // weak but unquoted
		{`"a"b"`, Zstd, ""},        // quote inside
		{`"a b"`, Zstd, ""},        // space is not etagc
		{"\"a\x7fb\"", Zstd, ""},   // DEL is not etagc
		{` "abc"`, Zstd, ""},       // leading space
		{`"abc", "def"`, Zstd, ""}, // a list, as in If-None-Match
		{`W/W/"abc"`, Zstd, ""},    // doubled prefix
		{`*`, Zstd, ""},            // If-Match's star is no entity-tag
		{`"abc"`, Br, `"abc-br"`},  // suffix for every coding
		{`W/"x-gzip"`, Zstd, `W/"x-gzip-zstd"`},
	}
	for _, tt := range tests {
		if got := ETag(tt.etag, tt.c); got != tt.want {
			t.Errorf("ETag(%q, %v) = %q, want %q", tt.etag, tt.c, got, tt.want)
		}
	}
}

// validETag reports whether s is an entity-tag (RFC 9110 §8.8.3), written
// independently of ETag as the fuzz oracle.
func validETag(s string) bool {
	s = strings.TrimPrefix(s, "W/")
	if len(s) < 2 || !strings.HasPrefix(s, `"`) || !strings.HasSuffix(s, `"`) {
		return false
	}
	return !strings.ContainsFunc(s[1:len(s)-1], func(r rune) bool {
		return r == '"' || r == 0x7f || r < 0x21
	})
}

func FuzzETag(f *testing.F) {
	f.Add(`"abc"`, uint8(Zstd))      // strong
	f.Add(`W/"abc"`, uint8(Gzip))    // weak
	f.Add(`W/""`, uint8(Identity))   // empty opaque tag
	f.Add(`"a"b"`, uint8(Zstd))      // quote inside
	f.Add("\"\xff\x00\"", uint8(Br)) // obs-text and a control byte
	f.Add(`W/`, uint8(Zstd))         // prefix only
	f.Fuzz(func(t *testing.T, etag string, c uint8) {
		cod := Coding(c % numCodings)
		got := ETag(etag, cod)
		if got == "" {
			if validETag(etag) {
				t.Fatalf("ETag(%q, %v) = \"\" for a valid entity-tag", etag, cod)
			}
			return
		}
		if !validETag(etag) {
			t.Fatalf("ETag(%q, %v) = %q for an invalid entity-tag", etag, cod, got)
		}
		if !validETag(got) {
			t.Fatalf("ETag(%q, %v) = %q, not an entity-tag", etag, cod, got)
		}
		if weak := strings.HasPrefix(etag, "W/"); strings.HasPrefix(got, "W/") != weak {
			t.Fatalf("ETag(%q, %v) = %q changed weakness", etag, cod, got)
		}
		if want := strings.TrimSuffix(etag, `"`) + "-" + cod.String() + `"`; got != want {
			t.Fatalf("ETag(%q, %v) = %q, want %q", etag, cod, got, want)
		}
	})
}
