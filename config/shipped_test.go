package config

import (
	"errors"
	"net/netip"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cdnnode/cdnnode/coding"
)

// shipped is the example configuration at the repository root.
const shipped = "../config.toml"

func TestShippedConfigLoads(t *testing.T) {
	c, err := Load(shipped)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Server.Listen, []string{"127.0.0.1:8080"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Server.Listen = %q, want %q", got, want)
	}
	if got, want := c.Admin.Listen, "127.0.0.1:9090"; got != want {
		t.Errorf("Admin.Listen = %q, want %q", got, want)
	}
	if got, want := c.Pools["demo"].Peers, []string{"127.0.0.1:8081"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Pools[demo].Peers = %q, want %q", got, want)
	}
	demo := c.Pools["demo"]
	if got, want := demo.PeerList, []Peer{{Addr: "127.0.0.1:8081", Scheme: "http", Weight: 1}}; !reflect.DeepEqual(got, want) {
		t.Errorf("Pools[demo].PeerList = %+v, want %+v", got, want)
	}
	if demo.Selection != "round_robin" || demo.Health.Kind != "" || demo.Passive.MaxFails != 5 || demo.HeaderPolicy.Mode != "strip" {
		t.Errorf("Pools[demo] = %+v, want round robin, no active checks, passive ejection after 5 failures, strip header policy", demo)
	}
	s := c.Match("localhost:8080")
	if s == nil || s.Pool != "demo" || !s.Cache {
		t.Errorf("Match(localhost:8080) = %+v, want a caching site on pool demo", s)
	}
	if got, want := c.Cache.Disk, (Disk{Path: "../cache-data", Size: 1 << 30, RetryInterval: Duration(30 * time.Second)}); got != want {
		t.Errorf("Cache.Disk = %+v, want %+v (the disk tier on, beside the file)", got, want)
	}
	if got, want := c.Purge.Allow, []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}; !reflect.DeepEqual(got, want) || len(c.Purge.Peers) != 0 {
		t.Errorf("Purge = %+v, want allow %v and no peers (loopback purges only)", c.Purge, want)
	}
	if want := (Compression{Types: coding.DefaultTypes(), MinSize: 512, ZstdLevel: 3, GzipLevel: 6, GzipVariantAfter: 3}); !reflect.DeepEqual(c.Compression, want) || !c.Sites[0].Compress {
		t.Errorf("Compression = %+v, site compress %v; want the defaults written out, %+v, and compress on", c.Compression, c.Sites[0].Compress, want)
	}
	if sv := c.Server; sv.MaxInFlight != 0 || sv.MaxInFlightPerClient != 0 || len(sv.TrustedProxies) != 0 || sv.ProxyProtocol != "off" ||
		sv.MaxBody != 100<<20 || sv.MaxURLBytes != 8<<10 || sv.MaxHeaderCount != 100 || sv.MaxConcurrentStreams != 100 {
		t.Errorf("Server = %+v, want no in-flight limits, no trusted proxies, no PROXY protocol and the default request limits", sv)
	}
	if s := c.Sites[0]; len(s.Allow) != 0 || len(s.Deny) != 0 || len(s.RateLimits) != 0 || len(s.Auth) != 0 || s.MaxBody != 100<<20 || s.Errors != "text" {
		t.Errorf("Sites[0] = %+v, want every client let in, no rate limit, no auth, the server's max_body and text errors", s)
	}
	if c.Path != shipped {
		t.Errorf("Path = %q, want %q", c.Path, shipped)
	}
}

// TestShippedExamplesParse uncomments the example [[sites.rate_limit]] and
// [[sites.auth]] tables under the shipped site and checks that they parse
// to what their comments say.
func TestShippedExamplesParse(t *testing.T) {
	data, err := os.ReadFile(shipped)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("CDNNODE_PRIVATE_TOKEN", "private-token")
	t.Setenv("CDNNODE_OPS_USERS", "ops:ops-pw")
	// A block runs from its "# [[sites." header to the next blank line.
	var doc strings.Builder
	doc.Write(data)
	in := false
	for l := range strings.SplitSeq(string(data), "\n") {
		switch {
		case strings.HasPrefix(l, "# [[sites."):
			in = true
		case l == "":
			in = false
		}
		if in {
			doc.WriteString(strings.TrimPrefix(strings.TrimPrefix(l, "#"), " ") + "\n")
		}
	}
	c, err := Parse(shipped, []byte(doc.String()))
	if err != nil {
		t.Fatalf("Parse(shipped, examples uncommented) = %v; document:\n%s", err, doc.String())
	}
	s := c.Sites[len(c.Sites)-1]
	wantLimits := []RateLimit{{Prefix: "/api/", Key: "ip", Algorithm: "sliding", Limit: 100, Window: Duration(time.Minute), MaxKeys: 65536}}
	if !reflect.DeepEqual(s.RateLimits, wantLimits) {
		t.Errorf("RateLimits = %+v, want %+v", s.RateLimits, wantLimits)
	}
	wantAuth := []Auth{
		{Prefix: "/private/", Type: "bearer", Token: "private-token"},
		{Prefix: "/admin/", Type: "basic", Users: []User{{"alice", "change-me"}}, Realm: "cdnnode"},
		{Prefix: "/ops/", Type: "basic", Users: []User{{"ops", "ops-pw"}}, Realm: "cdnnode"},
	}
	if !reflect.DeepEqual(s.Auth, wantAuth) {
		t.Errorf("Auth = %s, want %s", authValues(s.Auth), authValues(wantAuth))
	}
}

// TestShippedConfigIsComplete checks that the example names every key of
// the schema (commented out where optional), with a comment above it.
func TestShippedConfigIsComplete(t *testing.T) {
	data, err := os.ReadFile(shipped)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	var keys []string
	var walk func(reflect.Type)
	walk = func(rt reflect.Type) {
		for f := range rt.Fields() {
			keys = append(keys, f.Tag.Get("toml"))
			switch ft := f.Type; {
			case ft.Kind() == reflect.Struct:
				walk(ft)
			case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct, ft.Kind() == reflect.Map,
				ft.Kind() == reflect.Pointer && ft.Elem().Kind() == reflect.Struct:
				walk(ft.Elem())
			}
		}
	}
	walk(reflect.TypeFor[rawConfig]())
	for _, k := range keys {
		re := regexp.MustCompile(`(?m)^# .*\n(# )?(` + k + ` = |\[\[?(\w+\.)*` + k + `[\].])`)
		if !re.MatchString(text) {
			t.Errorf("%s: no commented entry for key %q", shipped, k)
		}
	}
}

func TestParseInlineTables(t *testing.T) {
	doc := lines(
		`pools = { demo = { peers = ["127.0.0.1:8081"] } }`,
		`sites = [`,
		`  { name = "a", hosts = ["*"], pool = "demo" },`,
		`  { name = "b", hosts = ["*"], pool = "nope" },`,
		`]`,
	)
	_, err := Parse("inline.toml", []byte(doc))
	var e *Error
	if !errors.As(err, &e) || e.Line != 4 || !strings.Contains(e.Msg, `sites[1].pool: no pool "nope"`) {
		t.Errorf("Parse = %v, want line 4: sites[1].pool: no pool", err)
	}
}

func TestParseReportsEveryProblemInLineOrder(t *testing.T) {
	doc := lines(
		`[log]`,
		`format = "xml"`,
		`[server]`,
		`idle_timeout = "soon"`,
		`[[sites]]`,
		`name = "a"`,
		`hosts = ["*"]`,
		`pool = "none"`,
	)
	_, err := Parse("many.toml", []byte(doc))
	if err == nil {
		t.Fatal("Parse succeeded, want three errors")
	}
	got := strings.Split(err.Error(), "\n")
	want := []string{"many.toml:2: log.format", "many.toml:4: server.idle_timeout", "many.toml:8: sites[0].pool"}
	if len(got) != len(want) {
		t.Fatalf("Parse error has %d lines, want %d:\n%v", len(got), len(want), err)
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("error line %d = %q, want prefix %q", i, got[i], want[i])
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load("does-not-exist.toml")
	if err == nil || !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "does-not-exist.toml") {
		t.Errorf("Load(missing) = %v, want a not-exist error naming the file", err)
	}
}
