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
			a:    http.Header{"Accept-Encoding": {"gzip, br"}},
			b:    http.Header{"Accept-Encoding": {"br, gzip"}},
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
	h := http.Header{"Accept-Encoding": {"GZIP ,  br", "zstd"}, "X-A": {"one   two"}}
	got := base.Variant([]string{"Accept-Encoding", "x-a"}, h)
	want := "http://h/p\x00Accept-Encoding:gzip,br,zstd\x00X-A:one two"
	if got.Full != want {
		t.Errorf("Variant Full = %q, want %q", got.Full, want)
	}
	if again := New("http", "h", "/p", "", Options{}).Variant([]string{"Accept-Encoding", "X-A"}, h); again != got {
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
