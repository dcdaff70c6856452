package config

import (
	"testing"

	"github.com/cdnnode/cdnnode/internal/testkit"
)

func TestMatch(t *testing.T) {
	c, err := Parse("match.toml", []byte(lines(
		`[pools.p]`,
		`peers = ["127.0.0.1:1"]`,
		`[[sites]]`,
		`name = "exact"`,
		`hosts = ["Example.com", "10.0.0.1", "[2001:DB8::1]"]`,
		`pool = "p"`,
		`[[sites]]`,
		`name = "sub"`,
		`hosts = ["*.example.com"]`,
		`pool = "p"`,
		`[[sites]]`,
		`name = "shadowed"`,
		`hosts = ["a.example.com"]`, // after "sub": first match wins
		`pool = "p"`,
		`[[sites]]`,
		`name = "other"`,
		`hosts = ["other.test"]`,
		`pool = "p"`,
	)))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, host, want string // want "" = no site
	}{
		{"exact", "example.com", "exact"},
		{"exact with port", "example.com:8080", "exact"},
		{"case-insensitive", "EXAMPLE.Com", "exact"},
		{"trailing dot", "example.com.", "exact"},
		{"ipv4", "10.0.0.1:80", "exact"},
		{"ipv6 with port", "[2001:db8::1]:443", "exact"},
		{"ipv6 bracketed", "[2001:0db8:0::1]", "exact"},
		{"ipv6 bare", "2001:db8::1", "exact"},
		{"subdomain", "a.example.com", "sub"},
		{"deep subdomain", "x.y.example.com:8443", "sub"},
		{"wildcard any case", "A.Example.COM.", "sub"},
		{"wildcard needs a label", ".example.com", ""},
		{"suffix is not a subdomain", "badexample.com", ""},
		{"other", "other.test", "other"},
		{"unknown", "nope.test", ""},
		{"empty", "", ""},
		{"bracket inside", "a[b:c:d", ""},
		{"ipv6 unclosed bracket", "[2001:db8::1", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ""
			if s := c.Match(tt.host); s != nil {
				got = s.Name
			}
			if got != tt.want {
				t.Errorf("Match(%q) = %q, want %q", tt.host, got, tt.want)
			}
			if got, want := c.MatchBytes([]byte(tt.host)), c.Match(tt.host); got != want {
				t.Errorf("MatchBytes(%q) = %p, want Match's %p", tt.host, got, want)
			}
		})
	}
}

func TestMatchStar(t *testing.T) {
	c, err := Parse("star.toml", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"", "example.com", "[::1]:80", "anything:1"} {
		if got := c.Match(host); got != &c.Sites[0] {
			t.Errorf("Match(%q) = %p, want %p (the site in c.Sites)", host, got, &c.Sites[0])
		}
	}
}

func BenchmarkMatch(b *testing.B) {
	c, err := Parse("bench.toml", []byte(lines(
		`[pools.p]`, `peers = ["127.0.0.1:1"]`,
		`[[sites]]`, `name = "a"`, `hosts = ["a.test", "b.test", "*.c.test"]`, `pool = "p"`,
		`[[sites]]`, `name = "d"`, `hosts = ["*.example.com"]`, `pool = "p"`,
	)))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if c.Match("www.example.com:8080") == nil {
			b.Fatal("no match")
		}
	}
}

// TestMatchBytesDoesNotAllocate: the fast path routes a request head's
// Host bytes, in any case, without allocating.
func TestMatchBytesDoesNotAllocate(t *testing.T) {
	c, err := Parse("bytes.toml", []byte(lines(
		`[pools.p]`, `peers = ["127.0.0.1:1"]`,
		`[[sites]]`, `name = "a"`, `hosts = ["a.test", "*.example.com"]`, `pool = "p"`,
	)))
	if err != nil {
		t.Fatal(err)
	}
	host := []byte("WWW.Example.com.:8080")
	var got *Site
	if n := testing.AllocsPerRun(100, func() { got = c.MatchBytes(host) }); n != 0 {
		t.Errorf("MatchBytes allocates %v times, want 0", n)
	}
	if got != &c.Sites[0] {
		t.Errorf("MatchBytes(%q) = %p, want %p", host, got, &c.Sites[0])
	}
}

// FuzzMatch: MatchBytes agrees with Match, and case never matters.
func FuzzMatch(f *testing.F) {
	c, err := Parse("fuzz.toml", []byte(lines(
		`[pools.p]`, `peers = ["127.0.0.1:1"]`,
		`[[sites]]`, `name = "a"`, `hosts = ["example.com", "[2001:db8::1]", "10.0.0.1"]`, `pool = "p"`,
		`[[sites]]`, `name = "b"`, `hosts = ["*.example.com"]`, `pool = "p"`,
	)))
	if err != nil {
		f.Fatal(err)
	}
	f.Add("Example.com.:80")      // case, trailing dot, port
	f.Add("[2001:DB8:0::1]:443")  // bracketed IPv6, not canonical
	f.Add("2001:db8::1")          // bare IPv6
	f.Add("[fe80::1%25eth0]")     // a zone: no canonical form
	f.Add("x.EXAMPLE.com:1:2")    // two colons, no address
	f.Add("\xff.example.com\x00") // raw bytes
	f.Fuzz(func(t *testing.T, host string) {
		want := c.Match(host)
		if got := c.MatchBytes([]byte(host)); got != want {
			t.Fatalf("MatchBytes(%q) = %p, want Match's %p", host, got, want)
		}
		if got := c.Match(testkit.ASCIIUpper(host)); got != want {
			t.Fatalf("Match(%q) = %p, but %p for %q", testkit.ASCIIUpper(host), got, want, host)
		}
	})
}
