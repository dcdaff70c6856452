package keys

import (
	"net/http"
	"strings"
	"testing"

	"github.com/cespare/xxhash/v2"

	"github.com/cdnnode/cdnnode/coding"
	"github.com/cdnnode/cdnnode/internal/testkit"
)

func FuzzNew(f *testing.F) {
	f.Add("http", "Example.com:80", "/a/b", "b=2&a=1", true, "utm")    // sort, default port
	f.Add("https", "[::1]:443", "", "utm=1&&x", false, "utm")          // IPv6, empty path, drop
	f.Add("HTTP", "h:", "/%2F", "&", true, "")                         // empty port, empty params only
	f.Add("https", "[bad", "/", "a=1&a=0&=&==", true, "a")             // unclosed bracket, odd params
	f.Add("ws", "h:80:80", "*", "x=%zz&x%5F=1", false, "x_")           // colons, bad escape, escaped drop
	f.Add("", "", "", "", false, "")                                   // all empty
	f.Add("http", "\x00\xff", "/\x00", "\xff=\x00&\x00", true, "\x00") // raw bytes
	f.Fuzz(func(t *testing.T, scheme, host, path, q string, sortQ bool, drop string) {
		o := Options{SortQuery: sortQ}
		if drop != "" {
			o.DropParams = strings.Split(drop, ",")
		}
		k := New(scheme, host, path, q, o)
		if got, want := k.Hash, xxhash.Sum64String(k.Full); got != want {
			t.Fatalf("Hash = %#x, want xxhash(Full) %#x", got, want)
		}
		if full := AppendFull(nil, scheme, []byte(host), []byte(path), []byte(q), o); string(full) != k.Full || HashOf(full) != k.Hash {
			t.Fatalf("AppendFull of bytes = %q, want New's %q", full, k.Full)
		}
		nq := string(appendQuery(nil, q, o))
		if again := string(appendQuery(nil, nq, o)); again != nq {
			t.Fatalf("query normalisation not idempotent: %q -> %q -> %q", q, nq, again)
		}
		if again := New(scheme, host, path, nq, o); again != k {
			t.Fatalf("New with normalised query %q = %q, want %q", nq, again.Full, k.Full)
		}
		if nq != "" && !strings.HasSuffix(k.Full, "?"+nq) {
			t.Fatalf("Full %q does not end in normalised query %q", k.Full, nq)
		}
		if nq == "" && strings.HasSuffix(k.Full, "?") && !strings.HasSuffix(path, "?") {
			t.Fatalf("Full %q ends in a bare ?", k.Full)
		}
		h, port := splitPort(host)
		if port == defaultPortOf(scheme) {
			port = ""
		}
		norm := asciiLower(h)
		if port != "" {
			norm += ":" + port
		}
		if again := New(testkit.ASCIIUpper(scheme), norm, path, nq, o); again != k {
			t.Fatalf("New on normalised parts = %q, want %q", again.Full, k.Full)
		}
		if s := k.Shard(7); s < 0 || s >= 7 {
			t.Fatalf("Shard(7) = %d", s)
		}
	})
}

func FuzzVariant(f *testing.F) {
	f.Add("accept-encoding, x-a", "GZip , br", "a  b")   // lower-cased list, collapsed spaces
	f.Add("*", "", "")                                   // star only
	f.Add("Accept-Language,,X-A", " , ", "\t")           // empty elements
	f.Add("bad name, X-A", "x\x00y", "\xff,\xfe")        // invalid name, raw bytes
	f.Add("X-A, x-a, X-A", "a,b", "c , d")               // duplicates
	f.Add("Accept-Encoding", "gzip;q=0.5", "zstd;q=0.5") // weights over two lines
	f.Add("Accept-Encoding", "*;q=0", "identity;q=0")    // nothing acceptable
	f.Fuzz(func(t *testing.T, vary, v1, v2 string) {
		fields, _ := VaryFields(http.Header{"Vary": {vary}})
		for i := 1; i < len(fields); i++ {
			if fields[i-1] >= fields[i] {
				t.Fatalf("VaryFields(%q) = %q: not sorted and unique", vary, fields)
			}
		}
		h := http.Header{}
		for _, name := range fields {
			h.Add(name, v1)
			h.Add(name, v2)
		}
		base := New("http", "h", "/", "", Options{})
		k := base.Variant(fields, h)
		if got, want := k.Hash, xxhash.Sum64String(k.Full); got != want {
			t.Fatalf("Hash = %#x, want %#x", got, want)
		}
		if !strings.HasPrefix(k.Full, base.Full+"\x00") {
			t.Fatalf("variant %q does not extend %q", k.Full, base.Full)
		}
		// The same value sent as one comma-joined line selects the same variant.
		joined := http.Header{}
		for _, name := range fields {
			joined.Set(name, v1+","+v2)
		}
		if j := base.Variant(fields, joined); j != k {
			t.Fatalf("joined lines give %q, separate lines %q", j.Full, k.Full)
		}
		// Accept-Encoding counts only through the coding served: sending
		// just that coding's name selects the same variant.
		best := coding.ParseAccept(h["Accept-Encoding"]).Best()
		if best != coding.Identity && best != coding.Gzip && best != coding.Zstd {
			t.Fatalf("Accept-Encoding %q: Best() = %v", h["Accept-Encoding"], best)
		}
		plain := h.Clone()
		plain["Accept-Encoding"] = []string{best.String()}
		if p := base.Variant(fields, plain); p != k {
			t.Fatalf("Accept-Encoding %q gives %q, its best coding %v alone %q", h["Accept-Encoding"], k.Full, best, p.Full)
		}
	})
}

// asciiLower lower-cases ASCII letters only, leaving other bytes alone.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
