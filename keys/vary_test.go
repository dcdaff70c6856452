package keys

import (
	"net/http"
	"slices"
	"testing"
)

func TestVaryFields(t *testing.T) {
	tests := []struct {
		name   string
		lines  []string
		want   []string
		wantSt bool
	}{
		{name: "none", lines: nil, want: nil},
		{name: "one", lines: []string{"accept-encoding"}, want: []string{"Accept-Encoding"}},
		{name: "list sorted", lines: []string{"User-Agent, Accept-Encoding"}, want: []string{"Accept-Encoding", "User-Agent"}},
		{name: "several lines de-duplicated", lines: []string{"Accept-Encoding", "accept-language, ACCEPT-ENCODING", " Origin "}, want: []string{"Accept-Encoding", "Accept-Language", "Origin"}},
		{name: "empty elements", lines: []string{" , ,Origin,,", ""}, want: []string{"Origin"}},
		{name: "star alone", lines: []string{"*"}, want: nil, wantSt: true},
		{name: "star among fields", lines: []string{"Accept-Encoding", " * , Origin"}, want: []string{"Accept-Encoding", "Origin"}, wantSt: true},
		{name: "invalid name counts as star", lines: []string{"Accept Encoding, Origin"}, want: []string{"Origin"}, wantSt: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{"Vary": tt.lines}
			got, star := VaryFields(h)
			if !slices.Equal(got, tt.want) || star != tt.wantSt {
				t.Errorf("VaryFields(%q) = %q, %v, want %q, %v", tt.lines, got, star, tt.want, tt.wantSt)
			}
		})
	}
}

func TestVariant(t *testing.T) {
	base := New("https", "example.com", "/a", "", Options{})
	fields := []string{"Accept-Encoding", "Accept-Language", "X-Device"}
	tests := []struct {
		name string
		a, b http.Header
		same bool
	}{
		{
			name: "identical",
			a:    http.Header{"Accept-Encoding": {"gzip"}},
			b:    http.Header{"Accept-Encoding": {"gzip"}},
			same: true,
		},
		{
			name: "different encodings differ",
			a:    http.Header{"Accept-Encoding": {"gzip"}},
			b:    http.Header{"Accept-Encoding": {"br"}},
		},
		{
			name: "whitespace around elements",
			a:    http.Header{"Accept-Encoding": {"gzip,br"}},
			b:    http.Header{"Accept-Encoding": {"  gzip ,\tbr  "}},
			same: true,
		},
		{
			name: "lines joined like one list",
			a:    http.Header{"Accept-Encoding": {"gzip, br"}},
			b:    http.Header{"Accept-Encoding": {"gzip", "br"}},
			same: true,
		},
		{
			name: "case of case-insensitive tokens",
			a:    http.Header{"Accept-Encoding": {"GZip"}, "Accept-Language": {"en-GB"}},
			b:    http.Header{"Accept-Encoding": {"gzip"}, "Accept-Language": {"EN-gb"}},
			same: true,
		},
		{
			name: "case of other fields matters",
			a:    http.Header{"X-Device": {"Mobile"}},
			b:    http.Header{"X-Device": {"mobile"}},
		},
		{
			name: "inner whitespace collapsed",
			a:    http.Header{"X-Device": {"big  phone"}},
			b:    http.Header{"X-Device": {"big \t phone"}},
			same: true,
		},
		{
			name: "inner whitespace kept as one space",
			a:    http.Header{"X-Device": {"big phone"}},
			b:    http.Header{"X-Device": {"bigphone"}},
		},
		{
			name: "order kept",
			a:    http.Header{"Accept-Language": {"en, fr"}},
			b:    http.Header{"Accept-Language": {"fr, en"}},
		},
		{
			name: "encodings reduced to the coding served",
			a:    http.Header{"Accept-Encoding": {"gzip, deflate, br"}},
			b:    http.Header{"Accept-Encoding": {"x-gzip;q=0.8"}},
			same: true,
		},
		{
			name: "encoding order does not matter",
			a:    http.Header{"Accept-Encoding": {"gzip, br"}},
			b:    http.Header{"Accept-Encoding": {"br, gzip"}},
			same: true,
		},
		{
			name: "missing equals empty",
			a:    http.Header{},
			b:    http.Header{"Accept-Encoding": {""}, "X-Device": {" , "}},
			same: true,
		},
		{
			name: "value moved to another field differs",
			a:    http.Header{"Accept-Language": {"en"}},
			b:    http.Header{"X-Device": {"en"}},
		},
		{
			name: "unrelated fields ignored",
			a:    http.Header{"Accept-Encoding": {"gzip"}, "Cookie": {"a=1"}},
			b:    http.Header{"Accept-Encoding": {"gzip"}, "Cookie": {"a=2"}},
			same: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ka, kb := base.Variant(fields, tt.a), base.Variant(fields, tt.b)
			if got := ka == kb; got != tt.same {
				t.Errorf("Variant(%v) == Variant(%v) is %v, want %v\n a: %q\n b: %q", tt.a, tt.b, got, tt.same, ka.Full, kb.Full)
			}
			if ka == base {
				t.Errorf("variant key equals primary key %q", base.Full)
			}
		})
	}
}

func TestVariantFull(t *testing.T) {
	base := New("http", "h", "/p", "", Options{})
	h := http.Header{"Accept-Encoding": {"GZIP ,  br", "zstd"}, "Accept-Language": {"EN-gb,  fr"}, "X-A": {"one   two"}}
	got := base.Variant([]string{"Accept-Encoding", "accept-language", "x-a"}, h)
	want := "http://h/p\x00Accept-Encoding:zstd\x00Accept-Language:en-gb,fr\x00X-A:one two"
	if got.Full != want {
		t.Errorf("Variant Full = %q, want %q", got.Full, want)
	}
	if again := New("http", "h", "/p", "", Options{}).Variant([]string{"Accept-Encoding", "Accept-Language", "X-A"}, h); again != got {
		t.Errorf("Variant not deterministic: %q vs %q", again.Full, got.Full)
	}
}

func TestVariantDiffersPerURL(t *testing.T) {
	h := http.Header{"Accept-Encoding": {"gzip"}}
	f := []string{"Accept-Encoding"}
	a := New("http", "h", "/a", "", Options{}).Variant(f, h)
	b := New("http", "h", "/b", "", Options{}).Variant(f, h)
	if a == b {
		t.Errorf("variants of different URLs share key %q", a.Full)
	}
}

// TestVariantAcceptEncoding shows the many Accept-Encoding strings clients
// send selecting exactly three variants, one per coding the node serves.
func TestVariantAcceptEncoding(t *testing.T) {
	base := New("https", "example.com", "/app.js", "", Options{})
	fields := []string{"Accept-Encoding"}
	tests := []struct {
		values []string // nil: no Accept-Encoding at all
		want   string
	}{
		{[]string{"gzip, deflate, br, zstd"}, "zstd"}, // Chrome
		{[]string{"gzip, deflate, br, zstd, dcb, dcz"}, "zstd"},
		{[]string{"zstd"}, "zstd"},
		{[]string{"ZSTD;q=1.0, gzip;q=0.9"}, "zstd"},
		{[]string{"*"}, "zstd"},
		{[]string{"gzip;q=0.5", "zstd;q=0.5"}, "zstd"}, // tie, two lines
		{[]string{"gzip, deflate, br"}, "gzip"},        // Firefox before zstd, Safari
		{[]string{"gzip, deflate"}, "gzip"},            // curl --compressed, older
		{[]string{"gzip"}, "gzip"},
		{[]string{"x-gzip"}, "gzip"},
		{[]string{"gzip;q=1.0, identity; q=0.5, *;q=0"}, "gzip"},
		{[]string{"zstd;q=0.2, gzip;q=0.8"}, "gzip"},
		{[]string{"br;q=1, gzip;q=0.001"}, "gzip"},
		{nil, "identity"}, // curl
		{[]string{""}, "identity"},
		{[]string{"identity"}, "identity"},
		{[]string{"br"}, "identity"}, // the node does not encode br
		{[]string{"deflate, compress"}, "identity"},
		{[]string{"gzip;q=0, zstd;q=0"}, "identity"},
		{[]string{"identity;q=0"}, "identity"}, // nothing acceptable: served unencoded
		{[]string{"gzip;q=2"}, "identity"},     // invalid weight: element ignored
	}
	keys := map[Key]string{}
	for _, tt := range tests {
		h := http.Header{}
		if tt.values != nil {
			h["Accept-Encoding"] = tt.values
		}
		k := base.Variant(fields, h)
		if want := base.Full + "\x00Accept-Encoding:" + tt.want; k.Full != want {
			t.Errorf("Variant for Accept-Encoding %q = %q, want %q", tt.values, k.Full, want)
		}
		keys[k] = tt.want
	}
	if len(keys) != 3 {
		t.Errorf("%d Accept-Encoding strings gave %d variants, want 3: %q", len(tests), len(keys), keys)
	}
}
