package keys

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/cespare/xxhash/v2"

	"github.com/cdnnode/cdnnode/coding"
)

func TestNew(t *testing.T) {
	tests := []struct {
		name                    string
		scheme, host, path, raw string
		o                       Options
		want                    string
	}{
		{name: "http default port dropped", scheme: "http", host: "example.com:80", path: "/a", want: "http://example.com/a"},
		{name: "https default port dropped", scheme: "https", host: "example.com:443", path: "/a", want: "https://example.com/a"},
		{name: "http keeps 443", scheme: "http", host: "example.com:443", path: "/a", want: "http://example.com:443/a"},
		{name: "https keeps 80", scheme: "https", host: "example.com:80", path: "/a", want: "https://example.com:80/a"},
		{name: "non-default port kept", scheme: "http", host: "example.com:8080", path: "/a", want: "http://example.com:8080/a"},
		{name: "empty port dropped", scheme: "http", host: "example.com:", path: "/a", want: "http://example.com/a"},
		{name: "upper-case host and scheme", scheme: "HTTP", host: "Example.COM", path: "/A", want: "http://example.com/A"},
		{name: "upper-case scheme default port", scheme: "HTTPS", host: "EXAMPLE.com:443", path: "/", want: "https://example.com/"},
		{name: "empty path", scheme: "http", host: "example.com", want: "http://example.com/"},
		{name: "escaped path kept", scheme: "http", host: "h", path: "/a%2Fb/%7E", want: "http://h/a%2Fb/%7E"},
		{name: "query kept in order", scheme: "http", host: "h", path: "/p", raw: "b=2&a=1", want: "http://h/p?b=2&a=1"},
		{name: "empty params dropped", scheme: "http", host: "h", path: "/p", raw: "&b=2&&a=1&", want: "http://h/p?b=2&a=1"},
		{name: "query sorted", scheme: "http", host: "h", path: "/p", raw: "b=2&a=1&c", o: Options{SortQuery: true}, want: "http://h/p?a=1&b=2&c"},
		{name: "sort is stable for repeated names", scheme: "http", host: "h", path: "/p", raw: "x=3&a=1&x=1&x=2", o: Options{SortQuery: true}, want: "http://h/p?a=1&x=3&x=1&x=2"},
		{name: "drop params", scheme: "http", host: "h", path: "/p", raw: "utm_source=x&id=7&fbclid=y", o: Options{DropParams: []string{"utm_source", "fbclid"}}, want: "http://h/p?id=7"},
		{name: "drop is case-sensitive", scheme: "http", host: "h", path: "/p", raw: "UTM_SOURCE=x&id=7", o: Options{DropParams: []string{"utm_source"}}, want: "http://h/p?UTM_SOURCE=x&id=7"},
		{name: "drop matches escaped name", scheme: "http", host: "h", path: "/p", raw: "utm%5Fsource=x&id=7", o: Options{DropParams: []string{"utm_source"}}, want: "http://h/p?id=7"},
		{name: "drop name without value", scheme: "http", host: "h", path: "/p", raw: "debug&id=7", o: Options{DropParams: []string{"debug"}}, want: "http://h/p?id=7"},
		{name: "drop all params leaves no question mark", scheme: "http", host: "h", path: "/p", raw: "utm_source=x&utm_source=y", o: Options{DropParams: []string{"utm_source"}}, want: "http://h/p"},
		{name: "only empty params leaves no question mark", scheme: "http", host: "h", path: "/p", raw: "&&", want: "http://h/p"},
		{name: "sort and drop", scheme: "http", host: "h", path: "/p", raw: "z=1&utm=2&a=3", o: Options{SortQuery: true, DropParams: []string{"utm"}}, want: "http://h/p?a=3&z=1"},
		{name: "ipv6 literal", scheme: "http", host: "[2001:DB8::1]", path: "/", want: "http://[2001:db8::1]/"},
		{name: "ipv6 default port dropped", scheme: "http", host: "[::1]:80", path: "/", want: "http://[::1]/"},
		{name: "ipv6 port kept", scheme: "https", host: "[::1]:8443", path: "/", want: "https://[::1]:8443/"},
		{name: "unbracketed ipv6 taken as no port", scheme: "http", host: "::1", path: "/", want: "http://::1/"},
		{name: "unknown scheme keeps port", scheme: "gopher", host: "h:80", path: "/", want: "gopher://h:80/"},
		{name: "many params sorted past the stack buffer", scheme: "http", host: "h", path: "/", raw: manyParams(40), o: Options{SortQuery: true}, want: "http://h/?" + sortedManyParams(40)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := New(tt.scheme, tt.host, tt.path, tt.raw, tt.o)
			if k.Full != tt.want {
				t.Errorf("New(%q, %q, %q, %q).Full = %q, want %q", tt.scheme, tt.host, tt.path, tt.raw, k.Full, tt.want)
			}
			if got, want := k.Hash, xxhash.Sum64String(tt.want); got != want {
				t.Errorf("Hash = %#x, want %#x", got, want)
			}
			if got := k.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
			full := AppendFull([]byte("prefix"), tt.scheme, []byte(tt.host), []byte(tt.path), []byte(tt.raw), tt.o)
			if got := string(full[len("prefix"):]); got != tt.want {
				t.Errorf("AppendFull of bytes = %q, want %q", got, tt.want)
			}
			if got, want := HashOf(full[len("prefix"):]), k.Hash; got != want {
				t.Errorf("HashOf = %#x, want %#x", got, want)
			}
		})
	}
}

// TestAppendFullDoesNotAllocate: a key of a request head's bytes, query
// sorted and filtered, is built into a buffer with room without
// allocating, as the fast path needs.
func TestAppendFullDoesNotAllocate(t *testing.T) {
	o := Options{SortQuery: true, DropParams: []string{"utm_source", "fbclid"}}
	host, path, q := []byte("Example.com:443"), []byte("/search"), []byte("q=cdn&page=2&utm_source=x&lang=en")
	buf := make([]byte, 0, 256)
	var full []byte
	if n := testing.AllocsPerRun(100, func() { full = AppendFull(buf, "https", host, path, q, o) }); n != 0 {
		t.Errorf("AppendFull allocates %v times, want 0", n)
	}
	if got, want := string(full), "https://example.com/search?lang=en&page=2&q=cdn"; got != want {
		t.Errorf("AppendFull = %q, want %q", got, want)
	}
}

// manyParams is "p39=39&p38=38&...&p0=0".
func manyParams(n int) string {
	s := ""
	for i := n - 1; i >= 0; i-- {
		if s != "" {
			s += "&"
		}
		s += fmt.Sprintf("p%02d=%d", i, i)
	}
	return s
}

// sortedManyParams is manyParams(n) in name order.
func sortedManyParams(n int) string {
	s := ""
	for i := range n {
		if s != "" {
			s += "&"
		}
		s += fmt.Sprintf("p%02d=%d", i, i)
	}
	return s
}

func TestNewEquivalentRequestsShareKey(t *testing.T) {
	o := Options{SortQuery: true, DropParams: []string{"utm_source"}}
	a := New("http", "Example.com:80", "/x", "b=1&a=2&utm_source=z", o)
	b := New("HTTP", "example.com", "/x", "a=2&b=1", o)
	if a != b {
		t.Errorf("keys differ: %q vs %q", a, b)
	}
	c := New("http", "example.com", "/X", "a=2&b=1", o)
	if a == c {
		t.Errorf("paths differing in case share key %q", a)
	}
}

func TestShard(t *testing.T) {
	tests := []struct {
		name string
		hash uint64
		n    int
		want int
	}{
		{name: "one shard", hash: 12345, n: 1, want: 0},
		{name: "zero hash", hash: 0, n: 8, want: 0},
		{name: "max hash", hash: ^uint64(0), n: 8, want: 7},
		{name: "half", hash: 1 << 63, n: 4, want: 2},
		{name: "zero shards", hash: 99, n: 0, want: 0},
		{name: "negative shards", hash: 99, n: -3, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := (Key{Hash: tt.hash}).Shard(tt.n); got != tt.want {
				t.Errorf("Key{Hash: %#x}.Shard(%d) = %d, want %d", tt.hash, tt.n, got, tt.want)
			}
		})
	}
}

func TestShardSpreads(t *testing.T) {
	const n, keys = 8, 8000
	var counts [n]int
	for i := range keys {
		k := New("http", "h", fmt.Sprintf("/obj/%d", i), "", Options{})
		s := k.Shard(n)
		if s < 0 || s >= n {
			t.Fatalf("Shard(%d) = %d, out of range", n, s)
		}
		counts[s]++
	}
	for s, c := range counts {
		// Expect 1000 each; a fair hash stays well within a factor of 1.5.
		if c < keys/n*2/3 || c > keys/n*3/2 {
			t.Errorf("shard %d got %d of %d keys, want about %d", s, c, keys, keys/n)
		}
	}
}

func TestCoded(t *testing.T) {
	k := New("https", "example.com", "/app.js", "v=1", Options{})
	h := http.Header{"Accept-Encoding": {"gzip"}, "Accept-Language": {"en"}}
	variants := []Key{
		k.Variant(nil, h),
		k.Variant([]string{"Accept-Encoding"}, h),
		k.Variant([]string{"Accept-Encoding", "Accept-Language"}, h),
		k.Variant([]string{";coding=zstd"}, h), // not a field name, but still no collision
	}
	seen := map[Key]coding.Coding{}
	for _, c := range []coding.Coding{coding.Identity, coding.Gzip, coding.Zstd, coding.Br} {
		ck := k.Coded(c)
		if want := k.Full + "\x00;coding=" + c.String(); ck.Full != want {
			t.Errorf("Coded(%v).Full = %q, want %q", c, ck.Full, want)
		}
		if got, want := ck.Hash, xxhash.Sum64String(ck.Full); got != want {
			t.Errorf("Coded(%v).Hash = %#x, want xxhash(Full) %#x", c, got, want)
		}
		if ck == k {
			t.Errorf("Coded(%v) equals the primary key %q", c, k.Full)
		}
		for _, v := range variants {
			if ck == v {
				t.Errorf("Coded(%v) equals variant %q", c, v.Full)
			}
		}
		if prev, dup := seen[ck]; dup {
			t.Errorf("Coded(%v) equals Coded(%v)", c, prev)
		}
		seen[ck] = c
	}
}

// TestOf: a key rebuilt from its Full is the key.
func TestOf(t *testing.T) {
	k := New("https", "Example.com:443", "/a b", "x=1", Options{})
	v := k.Variant([]string{"Accept-Encoding"}, http.Header{"Accept-Encoding": {"zstd"}})
	for _, want := range []Key{k, v, k.Coded(coding.Gzip)} {
		if got := Of(want.Full); got != want {
			t.Errorf("Of(%q) = %+v, want %+v", want.Full, got, want)
		}
	}
}
