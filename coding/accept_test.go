package coding

import (
	"slices"
	"strings"
	"testing"

	"github.com/cdnnode/cdnnode/internal/testkit"
)

func TestParseAccept(t *testing.T) {
	tests := []struct {
		name   string
		values []string
		best   Coding
		allows []Coding // exactly the codings allowed
	}{
		{name: "absent", values: nil, best: Identity, allows: []Coding{Identity}},
		{name: "empty", values: []string{""}, best: Identity, allows: []Coding{Identity}},
		{name: "only commas", values: []string{" , ,"}, best: Identity, allows: []Coding{Identity}},
		{name: "browser", values: []string{"gzip, deflate, br, zstd"}, best: Zstd, allows: []Coding{Identity, Gzip, Zstd, Br}},
		{name: "gzip only", values: []string{"gzip"}, best: Gzip, allows: []Coding{Identity, Gzip}},
		{name: "br only", values: []string{"br"}, best: Identity, allows: []Coding{Identity, Br}},
		{name: "x-gzip", values: []string{"x-gzip"}, best: Gzip, allows: []Coding{Identity, Gzip}},
		{name: "case", values: []string{"GZIP, ZStd;Q=0.5"}, best: Gzip, allows: []Coding{Identity, Gzip, Zstd}},
		{name: "weights pick gzip", values: []string{"zstd;q=0.5, gzip;q=0.8"}, best: Gzip, allows: []Coding{Identity, Gzip, Zstd}},
		{name: "tie goes to zstd", values: []string{"gzip;q=0.5, zstd;q=0.500"}, best: Zstd, allows: []Coding{Identity, Gzip, Zstd}},
		{name: "three decimals", values: []string{"gzip;q=0.002, zstd;q=0.001"}, best: Gzip, allows: []Coding{Identity, Gzip, Zstd}},
		{name: "low weight still beats default identity", values: []string{"gzip;q=0.001"}, best: Gzip, allows: []Coding{Identity, Gzip}},
		{name: "listed identity beats weaker gzip", values: []string{"identity;q=1, gzip;q=0.5"}, best: Identity, allows: []Coding{Identity, Gzip}},
		{name: "tie of gzip and identity goes to gzip", values: []string{"identity, gzip"}, best: Gzip, allows: []Coding{Identity, Gzip}},
		{name: "q=0 excludes", values: []string{"gzip;q=0, zstd"}, best: Zstd, allows: []Coding{Identity, Zstd}},
		{name: "q=0.000 excludes", values: []string{"zstd;q=0.000"}, best: Identity, allows: []Coding{Identity}},
		{name: "q=1.000", values: []string{"zstd;q=1.000"}, best: Zstd, allows: []Coding{Identity, Zstd}},
		{name: "q=1.", values: []string{"zstd;q=1."}, best: Zstd, allows: []Coding{Identity, Zstd}},
		{name: "q=0.", values: []string{"zstd;q=0."}, best: Identity, allows: []Coding{Identity}},
		{name: "OWS around ; and =", values: []string{"gzip \t; q = 0.3 , zstd ;q=0.2"}, best: Gzip, allows: []Coding{Identity, Gzip, Zstd}},
		{name: "star", values: []string{"*"}, best: Zstd, allows: []Coding{Identity, Gzip, Zstd, Br}},
		{name: "star weight for unlisted", values: []string{"gzip;q=0.9, *;q=0.1"}, best: Gzip, allows: []Coding{Identity, Gzip, Zstd, Br}},
		{name: "star loses to listed", values: []string{"*;q=0.5, zstd;q=0"}, best: Gzip, allows: []Coding{Identity, Gzip, Br}},
		{name: "star q=0 excludes identity", values: []string{"*;q=0"}, best: Identity, allows: nil},
		{name: "star q=0 with gzip", values: []string{"gzip, *;q=0"}, best: Gzip, allows: []Coding{Gzip}},
		{name: "star q=0 but identity listed", values: []string{"*;q=0, identity"}, best: Identity, allows: []Coding{Identity}},
		{name: "identity q=0", values: []string{"identity;q=0"}, best: Identity, allows: nil},
		{name: "identity q=0 with gzip", values: []string{"gzip;q=0.1, identity;q=0"}, best: Gzip, allows: []Coding{Gzip}},
		{name: "identity q=0 with only br", values: []string{"br, identity;q=0"}, best: Identity, allows: []Coding{Br}},
		{name: "duplicates keep highest", values: []string{"gzip;q=0, gzip;q=0.7"}, best: Gzip, allows: []Coding{Identity, Gzip}},
		{name: "duplicates in either order", values: []string{"gzip;q=0.7, gzip;q=0"}, best: Gzip, allows: []Coding{Identity, Gzip}},
		{name: "x-gzip and gzip merge", values: []string{"x-gzip;q=0, gzip;q=0.4"}, best: Gzip, allows: []Coding{Identity, Gzip}},
		{name: "lines are one list", values: []string{"gzip;q=0.5", "zstd;q=0.9"}, best: Zstd, allows: []Coding{Identity, Gzip, Zstd}},
		{name: "unknown codings ignored", values: []string{"deflate, compress, snappy"}, best: Identity, allows: []Coding{Identity}},
		{name: "weight above 1 ignored", values: []string{"gzip;q=2, zstd;q=1.5"}, best: Identity, allows: []Coding{Identity}},
		{name: "1 with non-zero decimals ignored", values: []string{"gzip;q=1.001"}, best: Identity, allows: []Coding{Identity}},
		{name: "four decimals ignored", values: []string{"gzip;q=0.1234"}, best: Identity, allows: []Coding{Identity}},
		{name: "bare dot ignored", values: []string{"gzip;q=.5"}, best: Identity, allows: []Coding{Identity}},
		{name: "negative ignored", values: []string{"gzip;q=-0"}, best: Identity, allows: []Coding{Identity}},
		{name: "empty weight ignored", values: []string{"gzip;q=, zstd;q"}, best: Identity, allows: []Coding{Identity}},
		{name: "other parameter ignored", values: []string{"gzip;level=9, zstd;q=0.5;x=1"}, best: Identity, allows: []Coding{Identity}},
		{name: "bad element does not spoil the rest", values: []string{"gzip;q=junk, zstd"}, best: Zstd, allows: []Coding{Identity, Zstd}},
		{name: "junk", values: []string{";;;,==,q=1,\x00\xff"}, best: Identity, allows: []Coding{Identity}},
		{name: "quoted weight ignored", values: []string{`gzip;q="0.5"`}, best: Identity, allows: []Coding{Identity}},
		{name: "inner space is no token", values: []string{"g zip"}, best: Identity, allows: []Coding{Identity}},
		{name: "non-ASCII fold", values: []string{"z\u017ftd"}, best: Identity, allows: []Coding{Identity}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := ParseAccept(tt.values)
			if got := a.Best(); got != tt.best {
				t.Errorf("ParseAccept(%q).Best() = %v, want %v", tt.values, got, tt.best)
			}
			for c := range Coding(numCodings) {
				if got, want := a.Allows(c), slices.Contains(tt.allows, c); got != want {
					t.Errorf("ParseAccept(%q).Allows(%v) = %v, want %v", tt.values, c, got, want)
				}
			}
		})
	}
}

// acceptElements lists the elements of field lines as ParseAccept sees them.
func acceptElements(values []string) []string {
	var elems []string
	for _, line := range values {
		elems = append(elems, strings.Split(line, ",")...)
	}
	return elems
}

func FuzzParseAccept(f *testing.F) {
	f.Add("gzip, deflate, br, zstd")            // a browser
	f.Add("gzip;q=1.0, identity; q=0.5, *;q=0") // weights and a star
	f.Add("identity;q=0\n*;q=0")                // nothing acceptable, two lines
	f.Add("ZSTD;Q=0.001,x-gzip;q=0.001")        // case, alias, tie
	f.Add("gzip;q=0,gzip;q=1")                  // duplicate
	f.Add("gzip;q=1.001, br;q=0.1234, ;q=1")    // invalid weights, empty coding
	f.Add(" , \t,\n\xff;q=\x00")                // empty elements, raw bytes
	f.Fuzz(func(t *testing.T, s string) {
		values := strings.Split(s, "\n")
		a := ParseAccept(values)
		best := a.Best()
		if best == Br {
			t.Fatalf("ParseAccept(%q).Best() = br, which the node does not encode", values)
		}
		if best != Identity && !a.Allows(best) {
			t.Fatalf("ParseAccept(%q).Best() = %v, which it does not allow", values, best)
		}
		for _, c := range []Coding{Zstd, Gzip, Identity} {
			if a.q[c] > a.q[best] {
				t.Fatalf("ParseAccept(%q).Best() = %v (q %d), but %v has q %d", values, best, a.q[best], c, a.q[c])
			}
		}
		if a.Allows(Gzip) && !a.Allows(best) {
			t.Fatalf("ParseAccept(%q): gzip allowed but Best() = %v is not", values, best)
		}
		elems := acceptElements(values)
		if joined := ParseAccept([]string{strings.Join(elems, ",")}); joined != a {
			t.Fatalf("ParseAccept(%q) = %+v, as one line %+v", values, a, joined)
		}
		slices.Reverse(elems)
		if reversed := ParseAccept([]string{strings.Join(elems, ",")}); reversed != a {
			t.Fatalf("ParseAccept(%q) = %+v, reversed %+v", values, a, reversed)
		}
		upper := make([]string, len(values))
		for i, v := range values {
			upper[i] = testkit.ASCIIUpper(v)
		}
		if u := ParseAccept(upper); u != a {
			t.Fatalf("ParseAccept(%q) = %+v, upper-cased %+v", values, a, u)
		}
		raw := make([][]byte, len(values))
		for i, v := range values {
			raw[i] = []byte(v)
		}
		if b := ParseAccept(raw); b != a {
			t.Fatalf("ParseAccept(%q) = %+v, as bytes %+v", values, a, b)
		}
	})
}
