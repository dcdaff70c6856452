package config

import (
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// writeFiles writes each name → content into dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestParseServerProtection checks the request limits, in-flight limits
// and proxy keys of [server] and [[server.tls]]: their defaults, and values
// at the edges of what each accepts.
func TestParseServerProtection(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"cert.pem": "pem", "key.pem": "pem"})
	base, err := Parse("s.toml", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	with := func(f func(*Server)) Server {
		s := base.Server
		f(&s)
		return s
	}
	tls := lines(`[[server.tls]]`, `listen = "127.0.0.1:0"`, `cert = "cert.pem"`, `key = "key.pem"`)
	tests := []struct {
		name string
		doc  string
		want Server
	}{
		{"defaults", minimal, base.Server},
		{"shortest targets", lines(`[server]`, `max_url_bytes = 256`) + minimal, with(func(s *Server) { s.MaxURLBytes = 256 })},
		{"longest targets", lines(`[server]`, `max_url_bytes = "1MiB"`) + minimal, with(func(s *Server) { s.MaxURLBytes = 1 << 20 })},
		{"fewest header fields", lines(`[server]`, `max_header_count = 1`) + minimal, with(func(s *Server) { s.MaxHeaderCount = 1 })},
		{"most header fields", lines(`[server]`, `max_header_count = 10_000`) + minimal, with(func(s *Server) { s.MaxHeaderCount = 10000 })},
		{"unlimited bodies", lines(`[server]`, `max_body = "0"`) + minimal, with(func(s *Server) { s.MaxBody = 0 })},
		{"large bodies", lines(`[server]`, `max_body = "5GiB"`) + minimal, with(func(s *Server) { s.MaxBody = 5 << 30 })},
		{"one stream", lines(`[server]`, `max_concurrent_streams = 1`) + minimal, with(func(s *Server) { s.MaxConcurrentStreams = 1 })},
		{"most streams", lines(`[server]`, `max_concurrent_streams = 10000`) + minimal, with(func(s *Server) { s.MaxConcurrentStreams = 10000 })},
		{"in-flight limits", lines(`[server]`, `max_in_flight = 1`, `max_in_flight_per_client = 1`) + minimal,
			with(func(s *Server) { s.MaxInFlight, s.MaxInFlightPerClient = 1, 1 })},
		{"in-flight limits written as unlimited", lines(`[server]`, `max_in_flight = 0`, `max_in_flight_per_client = 0`) + minimal, base.Server},
		{"trusted proxies", lines(`[server]`, `trusted_proxies = ["10.0.0.0/8", "192.0.2.7", "::1"]`) + minimal,
			with(func(s *Server) {
				s.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32"), netip.MustParsePrefix("::1/128")}
			})},
		{"no trusted proxies", lines(`[server]`, `trusted_proxies = []`, `proxy_protocol = "off"`) + minimal, base.Server},
		{"PROXY protocol v1", lines(`[server]`, `trusted_proxies = ["10.0.0.1"]`, `proxy_protocol = "v1"`) + minimal,
			with(func(s *Server) {
				s.TrustedProxies, s.ProxyProtocol = []netip.Prefix{netip.MustParsePrefix("10.0.0.1/32")}, "v1"
			})},
		{"PROXY protocol either version", lines(`[server]`, `trusted_proxies = ["0.0.0.0/0", "::/0"]`, `proxy_protocol = "any"`) + minimal,
			with(func(s *Server) {
				s.TrustedProxies, s.ProxyProtocol = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}, "any"
			})},
		{"PROXY protocol v2 on a TLS listener only", lines(`[server]`, `listen = []`, `trusted_proxies = ["10.0.0.0/8"]`) + tls + lines(`proxy_protocol = "v2"`) + minimal,
			with(func(s *Server) {
				s.Listen, s.TrustedProxies = []string{}, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
				s.TLS = []TLSListener{{Listen: "127.0.0.1:0", Cert: filepath.Join(dir, "cert.pem"), Key: filepath.Join(dir, "key.pem"), ProxyProtocol: "v2"}}
			})},
		{"TLS listener without PROXY protocol", tls + minimal,
			with(func(s *Server) {
				s.Listen = nil
				s.TLS = []TLSListener{{Listen: "127.0.0.1:0", Cert: filepath.Join(dir, "cert.pem"), Key: filepath.Join(dir, "key.pem"), ProxyProtocol: "off"}}
			})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(filepath.Join(dir, "s.toml"), []byte(tt.doc))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c.Server, tt.want) {
				t.Errorf("Server =\n%+v\nwant\n%+v", c.Server, tt.want)
			}
		})
	}
}

// TestParseSiteProtection checks the access, body, error and rate-limit
// keys of [[sites]], and where a site's max_body comes from.
func TestParseSiteProtection(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"error.html": `<h1>{{.Status}} {{.Title}}</h1><p>{{.Message}}</p>`})
	base, err := Parse("s.toml", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	with := func(f func(*Site)) Site {
		s := base.Sites[0]
		f(&s)
		return s
	}
	limit := func(prefix, key, algo string, n int, window time.Duration, maxKeys int) RateLimit {
		return RateLimit{Prefix: prefix, Key: key, Algorithm: algo, Limit: n, Window: Duration(window), MaxKeys: maxKeys}
	}
	tests := []struct {
		name string
		doc  string
		want Site
	}{
		{"defaults", minimal, base.Sites[0]},
		{"max_body from [server]", lines(`[server]`, `max_body = "1MiB"`) + minimal, with(func(s *Site) { s.MaxBody = 1 << 20 })},
		{"unlimited max_body from [server]", lines(`[server]`, `max_body = 0`) + minimal, with(func(s *Site) { s.MaxBody = 0 })},
		{"own max_body above the server's", lines(`[server]`, `max_body = "1MiB"`) + minimal + lines(`max_body = "2GiB"`), with(func(s *Site) { s.MaxBody = 2 << 30 })},
		{"own max_body unlimited", minimal + lines(`max_body = "0B"`), with(func(s *Site) { s.MaxBody = 0 })},
		{"allow and deny", minimal + lines(`allow = ["10.0.0.0/8", "2001:db8::/32"]`, `deny = ["10.0.0.7", "10.9.0.0/16"]`),
			with(func(s *Site) {
				s.Allow = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")}
				s.Deny = []netip.Prefix{netip.MustParsePrefix("10.0.0.7/32"), netip.MustParsePrefix("10.9.0.0/16")}
			})},
		{"allow written as everyone", minimal + lines(`allow = []`, `deny = []`), base.Sites[0]},
		{"json errors", minimal + lines(`errors = "json"`), with(func(s *Site) { s.Errors = "json" })},
		{"html errors, built-in page", minimal + lines(`errors = "html"`), with(func(s *Site) { s.Errors = "html" })},
		{"html errors, own page resolved against the file's directory", minimal + lines(`errors = "html"`, `error_page = "error.html"`),
			with(func(s *Site) { s.Errors, s.ErrorPage = "html", filepath.Join(dir, "error.html") })},
		{"rate limit with defaults", minimal + lines(`[[sites.rate_limit]]`, `limit = 10`, `window = "1s"`),
			with(func(s *Site) { s.RateLimits = []RateLimit{limit("/", "ip", "sliding", 10, time.Second, 65536)} })},
		{"rate limits in file order", minimal + lines(
			`[[sites.rate_limit]]`, `prefix = "/api/"`, `key = "header:X-Api-Key"`, `algorithm = "fixed"`, `limit = 1_000_000_000`, `window = "24h"`, `max_keys = 16`,
			`[[sites.rate_limit]]`, `prefix = "/"`, `key = "ip"`, `algorithm = "sliding"`, `limit = 1`, `window = "1m30s"`, `max_keys = 10_000_000`),
			with(func(s *Site) {
				s.RateLimits = []RateLimit{
					limit("/api/", "header:X-Api-Key", "fixed", 1e9, 24*time.Hour, 16),
					limit("/", "ip", "sliding", 1, 90*time.Second, 10_000_000),
				}
			})},
		{"rate limits inline", minimal + lines(`rate_limit = [{limit = 5, window = "10s"}, {prefix = "/login", limit = 3, window = "1m"}]`),
			with(func(s *Site) {
				s.RateLimits = []RateLimit{limit("/", "ip", "sliding", 5, 10*time.Second, 65536), limit("/login", "ip", "sliding", 3, time.Minute, 65536)}
			})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(filepath.Join(dir, "s.toml"), []byte(tt.doc))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c.Sites[0], tt.want) {
				t.Errorf("Sites[0] =\n%+v\nwant\n%+v", c.Sites[0], tt.want)
			}
		})
	}
}

// TestParseAuth checks [[sites.auth]]: credentials from the file and from
// the environment, and the defaults of each type.
func TestParseAuth(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		doc  string
		want []Auth
	}{
		{"bearer token", nil, lines(`[[sites.auth]]`, `prefix = "/private/"`, `type = "bearer"`, `token = "s3cr3t-t0ken.v1~+/=="`),
			[]Auth{{Prefix: "/private/", Type: "bearer", Token: "s3cr3t-t0ken.v1~+/=="}}},
		{"bearer token from the environment, whitespace trimmed", map[string]string{"CDNNODE_TEST_TOKEN": " from-env\n"},
			lines(`[[sites.auth]]`, `prefix = "/"`, `type = "bearer"`, `token_env = "CDNNODE_TEST_TOKEN"`),
			[]Auth{{Prefix: "/", Type: "bearer", Token: "from-env"}}},
		{"basic users, default realm", nil, lines(`[[sites.auth]]`, `prefix = "/admin/"`, `type = "basic"`, `users = ["alice:pw:with:colons", "bob:p w"]`),
			[]Auth{{Prefix: "/admin/", Type: "basic", Users: []User{{"alice", "pw:with:colons"}, {"bob", "p w"}}, Realm: "cdnnode"}}},
		{"basic users from the environment", map[string]string{"CDNNODE_TEST_USERS": "alice:pw1, bob:pw2\n"},
			lines(`[[sites.auth]]`, `prefix = "/ops"`, `type = "basic"`, `users_env = "CDNNODE_TEST_USERS"`, `realm = "Ops, staging"`),
			[]Auth{{Prefix: "/ops", Type: "basic", Users: []User{{"alice", "pw1"}, {"bob", "pw2"}}, Realm: "Ops, staging"}}},
		{"empty realm", nil, lines(`[[sites.auth]]`, `prefix = "/"`, `type = "basic"`, `users = ["a:b"]`, `realm = ""`),
			[]Auth{{Prefix: "/", Type: "basic", Users: []User{{"a", "b"}}, Realm: ""}}},
		{"nested prefixes", nil, lines(`[[sites.auth]]`, `prefix = "/api"`, `type = "bearer"`, `token = "a"`, `[[sites.auth]]`, `prefix = "/api/admin"`, `type = "basic"`, `users = ["root:pw"]`),
			[]Auth{{Prefix: "/api", Type: "bearer", Token: "a"}, {Prefix: "/api/admin", Type: "basic", Users: []User{{"root", "pw"}}, Realm: "cdnnode"}}},
		{"inline", nil, lines(`auth = [{prefix = "/x", type = "bearer", token = "t"}]`), []Auth{{Prefix: "/x", Type: "bearer", Token: "t"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			c, err := Parse("a.toml", []byte(minimal+tt.doc))
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Sites[0].Auth; !reflect.DeepEqual(got, tt.want) {
				// %#v would show [redacted]: the values are what is compared.
				t.Errorf("Sites[0].Auth = %s, want %s", authValues(got), authValues(tt.want))
			}
		})
	}
}

// authValues renders auth with its secrets, for test failures.
func authValues(auth []Auth) string {
	var b strings.Builder
	for _, a := range auth {
		fmt.Fprintf(&b, "{%s %s token=%q realm=%q users=[", a.Prefix, a.Type, string(a.Token), a.Realm)
		for _, u := range a.Users {
			fmt.Fprintf(&b, "%q:%q ", u.Name, string(u.Password))
		}
		b.WriteString("]}")
	}
	return b.String()
}

// TestParseProtectionErrors checks the whole message of each broken rule
// of the edge protection keys.
func TestParseProtectionErrors(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"cert.pem":    "pem",
		"key.pem":     "pem",
		"ok.html":     `{{.Status}} {{.Title}}: {{.Message}}`,
		"syntax.html": `<p>{{.Status}</p>`,
		"field.html":  `<p>{{.RequestID}}</p>`,
		"empty.html":  " \n",
		"large.html":  strings.Repeat("x", int(maxErrorPage)+1),
	})
	t.Setenv("CDNNODE_TEST_UNSET", "")
	t.Setenv("CDNNODE_TEST_BAD_TOKEN", "hunter2 with spaces")
	t.Setenv("CDNNODE_TEST_USERS", "alice:pw1,bob,alice:pw3,:x,carol:")
	name := filepath.Join(dir, "p.toml")
	tls := lines(`[[server.tls]]`, `listen = "127.0.0.1:0"`, `cert = "cert.pem"`, `key = "key.pem"`)
	auth := func(ls ...string) string { return minimal + lines(append([]string{`[[sites.auth]]`}, ls...)...) }
	tests := []struct {
		name string
		doc  string
		want string // without the leading name
	}{
		{"max_url_bytes too small", lines(`[server]`, `max_url_bytes = 255`) + minimal,
			`:2: server.max_url_bytes: 255B is below the minimum of 256B`},
		{"max_url_bytes too large", lines(`[server]`, `max_url_bytes = "2MiB"`) + minimal,
			`:2: server.max_url_bytes: 2MiB is above the maximum of 1MiB`},
		{"bad max_url_bytes", lines(`[server]`, `max_url_bytes = "8 KB!"`) + minimal,
			`:2: server.max_url_bytes: invalid size "8 KB!": unknown unit "KB!" (want B, KB, MB, GB, KiB, MiB or GiB)`},
		{"zero max_header_count", lines(`[server]`, `max_header_count = 0`) + minimal,
			`:2: server.max_header_count: 0 is out of range: want 1 to 10000`},
		{"max_header_count too high", lines(`[server]`, `max_header_count = 10001`) + minimal,
			`:2: server.max_header_count: 10001 is out of range: want 1 to 10000`},
		{"negative max_body", lines(`[server]`, `max_body = -1`) + minimal,
			`:2: server.max_body: invalid size -1: negative`},
		{"wrong type: max_body given a boolean", lines(`[server]`, `max_body = false`) + minimal,
			`:2: server.max_body: wrong type: got boolean, want a size such as "256MiB" or an integer`},
		{"zero max_concurrent_streams", lines(`[server]`, `max_concurrent_streams = 0`) + minimal,
			`:2: server.max_concurrent_streams: 0 is out of range: want 1 to 10000`},
		{"max_concurrent_streams too high", lines(`[server]`, `max_concurrent_streams = 10001`) + minimal,
			`:2: server.max_concurrent_streams: 10001 is out of range: want 1 to 10000`},
		{"negative max_in_flight", lines(`[server]`, `max_in_flight = -1`) + minimal,
			`:2: server.max_in_flight: -1 is out of range: want at least 0`},
		{"negative max_in_flight_per_client", lines(`[server]`, `max_in_flight_per_client = -5`) + minimal,
			`:2: server.max_in_flight_per_client: -5 is out of range: want at least 0`},
		{"wrong type: max_in_flight given a string", lines(`[server]`, `max_in_flight = "100"`) + minimal,
			`:2: server.max_in_flight: wrong type: got string, want integer`},
		{"bad trusted proxy", lines(`[server]`, `trusted_proxies = [`, `  "10.0.0.0/8",`, `  "10.0.0.0/33",`, `]`) + minimal,
			`:4: server.trusted_proxies[1]: invalid network "10.0.0.0/33": want a CIDR such as "10.0.0.0/8" or "fd00::/8", or one address`},
		{"trusted proxy with host bits", lines(`[server]`, `trusted_proxies = ["10.1.2.3/8"]`) + minimal,
			`:2: server.trusted_proxies[0]: invalid network "10.1.2.3/8": address bits set past /8; did you mean 10.0.0.0/8?`},
		{"wrong type: trusted_proxies given a string", lines(`[server]`, `trusted_proxies = "10.0.0.0/8"`) + minimal,
			`:2: server.trusted_proxies: wrong type: got string, want array of strings`},
		{"bad proxy_protocol", lines(`[server]`, `proxy_protocol = "v3"`) + minimal,
			`:2: server.proxy_protocol: invalid proxy_protocol "v3": want "off", "v1", "v2" or "any"`},
		{"proxy_protocol in upper case", lines(`[server]`, `trusted_proxies = ["10.0.0.1"]`, `proxy_protocol = "V1"`) + minimal,
			`:3: server.proxy_protocol: invalid proxy_protocol "V1": want "off", "v1", "v2" or "any"`},
		{"wrong type: proxy_protocol given a boolean", lines(`[server]`, `proxy_protocol = true`) + minimal,
			`:2: server.proxy_protocol: wrong type: got boolean, want string`},
		{"proxy_protocol without trusted proxies", lines(`[server]`, `proxy_protocol = "v1"`) + minimal,
			`:2: server.proxy_protocol: "v1" needs server.trusted_proxies: a PROXY header is believed only from a trusted proxy`},
		{"proxy_protocol with no trusted proxy", lines(`[server]`, `proxy_protocol = "any"`, `trusted_proxies = []`) + minimal,
			`:2: server.proxy_protocol: "any" needs server.trusted_proxies: a PROXY header is believed only from a trusted proxy`},
		{"proxy_protocol without plain listeners", lines(`[server]`, `listen = []`, `trusted_proxies = ["10.0.0.1"]`, `proxy_protocol = "v2"`) + tls + minimal,
			`:4: server.proxy_protocol: applies to the plain listeners, and listen is empty; set it in [[server.tls]]`},
		{"TLS proxy_protocol without trusted proxies", tls + lines(`proxy_protocol = "v2"`) + minimal,
			`:5: server.tls[0].proxy_protocol: "v2" needs server.trusted_proxies: a PROXY header is believed only from a trusted proxy`},
		{"bad TLS proxy_protocol", tls + lines(`proxy_protocol = "2"`) + minimal,
			`:5: server.tls[0].proxy_protocol: invalid proxy_protocol "2": want "off", "v1", "v2" or "any"`},
		{"unknown key in [server]", lines(`[server]`, `max_url_length = 1024`) + minimal,
			`:2: unknown key "max_url_length" in [server]`},

		{"bad allow", minimal + lines(`allow = ["everyone"]`),
			`:8: sites[0].allow[0]: invalid network "everyone": want a CIDR such as "10.0.0.0/8" or "fd00::/8", or one address`},
		{"IPv4-mapped allow", minimal + lines(`allow = ["::ffff:10.0.0.0/104"]`),
			`:8: sites[0].allow[0]: invalid network "::ffff:10.0.0.0/104": write IPv4 networks in IPv4 form, such as "10.0.0.0/8"`},
		{"deny with host bits", minimal + lines(`deny = [`, `  "10.0.0.0/8",`, `  "10.1.2.3/8",`, `]`),
			`:10: sites[0].deny[1]: invalid network "10.1.2.3/8": address bits set past /8; did you mean 10.0.0.0/8?`},
		{"deny with a zone", minimal + lines(`deny = ["fe80::1%eth0"]`),
			`:8: sites[0].deny[0]: invalid network "fe80::1%eth0": want a CIDR such as "10.0.0.0/8" or "fd00::/8", or one address`},
		{"negative site max_body", minimal + lines(`max_body = "-1MiB"`),
			`:8: sites[0].max_body: invalid size "-1MiB": negative`},
		{"bad site max_body in a second site", minimal + lines(`[[sites]]`, `name = "b"`, `hosts = ["b.example"]`, `pool = "demo"`, `max_body = "lots"`),
			`:12: sites[1].max_body: invalid size "lots": want digits and an optional unit such as 256MiB`},
		{"bad errors", minimal + lines(`errors = "xml"`),
			`:8: sites[0].errors: invalid errors "xml": want "text", "json" or "html"`},
		{"errors in upper case", minimal + lines(`errors = "HTML"`),
			`:8: sites[0].errors: invalid errors "HTML": want "text", "json" or "html"`},
		{"error_page with text errors", minimal + lines(`error_page = "ok.html"`),
			`:8: sites[0].error_page: applies only to errors = "html", and errors is "text"`},
		{"error_page with json errors", minimal + lines(`errors = "json"`, `error_page = "ok.html"`),
			`:9: sites[0].error_page: applies only to errors = "html", and errors is "json"`},
		{"missing error_page", minimal + lines(`errors = "html"`, `error_page = "missing.html"`),
			`:9: sites[0].error_page: stat ` + filepath.Join(dir, "missing.html") + `: no such file or directory`},
		{"empty error_page name", minimal + lines(`errors = "html"`, `error_page = ""`),
			`:9: sites[0].error_page: empty file name`},
		{"error_page is a directory", minimal + lines(`errors = "html"`, `error_page = "."`),
			`:9: sites[0].error_page: ` + dir + ` is not a regular file`},
		{"error_page that does not parse", minimal + lines(`errors = "html"`, `error_page = "syntax.html"`),
			`:9: sites[0].error_page: template: syntax.html:1: bad character U+007D '}'`},
		{"error_page using other data", minimal + lines(`errors = "html"`, `error_page = "field.html"`),
			`:9: sites[0].error_page: template: field.html:1:5: executing "field.html" at <.RequestID>: can't evaluate field RequestID in type config.ErrorPageData`},
		{"empty error_page", minimal + lines(`errors = "html"`, `error_page = "empty.html"`),
			`:9: sites[0].error_page: ` + filepath.Join(dir, "empty.html") + ` is empty`},
		{"error_page too large", minimal + lines(`errors = "html"`, `error_page = "large.html"`),
			`:9: sites[0].error_page: ` + filepath.Join(dir, "large.html") + ` is larger than 1MiB`},

		{"rate limit without limit", minimal + lines(`[[sites.rate_limit]]`, `window = "1s"`),
			`:8: sites[0].rate_limit[0]: missing required key limit`},
		{"rate limit without window", minimal + lines(`[[sites.rate_limit]]`, `limit = 10`),
			`:8: sites[0].rate_limit[0]: missing required key window`},
		{"zero limit", minimal + lines(`[[sites.rate_limit]]`, `limit = 0`, `window = "1s"`),
			`:9: sites[0].rate_limit[0].limit: 0 is out of range: want 1 to 1000000000`},
		{"limit too high", minimal + lines(`[[sites.rate_limit]]`, `limit = 1_000_000_001`, `window = "1s"`),
			`:9: sites[0].rate_limit[0].limit: 1000000001 is out of range: want 1 to 1000000000`},
		{"window too short", minimal + lines(`[[sites.rate_limit]]`, `limit = 1`, `window = "999ms"`),
			`:10: sites[0].rate_limit[0].window: 999ms is below the minimum of 1s`},
		{"window too long", minimal + lines(`[[sites.rate_limit]]`, `limit = 1`, `window = "25h"`),
			`:10: sites[0].rate_limit[0].window: 25h0m0s is above the maximum of 24h0m0s`},
		{"bad window", minimal + lines(`[[sites.rate_limit]]`, `limit = 1`, `window = "1d"`),
			`:10: sites[0].rate_limit[0].window: invalid duration "1d": time: unknown unit "d" in duration "1d"`},
		{"wrong type: window given an integer", minimal + lines(`[[sites.rate_limit]]`, `limit = 1`, `window = 60`),
			`:10: sites[0].rate_limit[0].window: wrong type: got integer, want a duration string such as "30s"`},
		{"max_keys too low", minimal + lines(`[[sites.rate_limit]]`, `limit = 1`, `window = "1s"`, `max_keys = 15`),
			`:11: sites[0].rate_limit[0].max_keys: 15 is out of range: want 16 to 10000000`},
		{"max_keys too high", minimal + lines(`[[sites.rate_limit]]`, `limit = 1`, `window = "1s"`, `max_keys = 10_000_001`),
			`:11: sites[0].rate_limit[0].max_keys: 10000001 is out of range: want 16 to 10000000`},
		{"relative prefix", minimal + lines(`[[sites.rate_limit]]`, `prefix = "api/"`, `limit = 1`, `window = "1s"`),
			`:9: sites[0].rate_limit[0].prefix: invalid prefix "api/": want a path starting with "/"`},
		{"empty prefix", minimal + lines(`[[sites.rate_limit]]`, `prefix = ""`, `limit = 1`, `window = "1s"`),
			`:9: sites[0].rate_limit[0].prefix: invalid prefix "": want a path starting with "/"`},
		{"prefix with a query", minimal + lines(`[[sites.rate_limit]]`, `prefix = "/search?q="`, `limit = 1`, `window = "1s"`),
			`:9: sites[0].rate_limit[0].prefix: invalid prefix "/search?q=": a path prefix has no query or fragment`},
		{"prefix with a space", minimal + lines(`[[sites.rate_limit]]`, `prefix = "/a b"`, `limit = 1`, `window = "1s"`),
			`:9: sites[0].rate_limit[0].prefix: invalid prefix "/a b": no spaces or control characters`},
		{"prefix with a control character", minimal + lines(`[[sites.rate_limit]]`, `prefix = "/a\u0000"`, `limit = 1`, `window = "1s"`),
			`:9: sites[0].rate_limit[0].prefix: invalid prefix "/a\x00": no spaces or control characters`},
		{"bad key", minimal + lines(`[[sites.rate_limit]]`, `key = "cookie:session"`, `limit = 1`, `window = "1s"`),
			`:9: sites[0].rate_limit[0].key: invalid key "cookie:session": want "ip" or "header:NAME"`},
		{"key in upper case", minimal + lines(`[[sites.rate_limit]]`, `key = "IP"`, `limit = 1`, `window = "1s"`),
			`:9: sites[0].rate_limit[0].key: invalid key "IP": want "ip" or "header:NAME"`},
		{"key with a bad field name", minimal + lines(`[[sites.rate_limit]]`, `key = "header:X Api Key"`, `limit = 1`, `window = "1s"`),
			`:9: sites[0].rate_limit[0].key: invalid key "header:X Api Key": "X Api Key" is not a field name (RFC 9110 §5.1: a token)`},
		{"key without a field name", minimal + lines(`[[sites.rate_limit]]`, `key = "header:"`, `limit = 1`, `window = "1s"`),
			`:9: sites[0].rate_limit[0].key: invalid key "header:": "" is not a field name (RFC 9110 §5.1: a token)`},
		{"bad algorithm", minimal + lines(`[[sites.rate_limit]]`, `algorithm = "token_bucket"`, `limit = 1`, `window = "1s"`),
			`:9: sites[0].rate_limit[0].algorithm: invalid algorithm "token_bucket": want "sliding" or "fixed"`},
		{"unknown key in a rate limit", minimal + lines(`[[sites.rate_limit]]`, `limit = 1`, `window = "1s"`, `burst = 5`),
			`:11: unknown key "burst" in [[sites.rate_limit]]`},
		{"rate limit written as a table", minimal + lines(`[sites.rate_limit]`, `limit = 1`, `window = "1s"`),
			`:8: sites[0].rate_limit: want an array of tables: write [[sites.rate_limit]], not [sites.rate_limit]`},
		{"wrong type: rate_limit given a string", minimal + lines(`rate_limit = "10/s"`),
			`:8: sites.rate_limit: wrong type: got string, want array of tables`},
		{"bad rate limit in a second site", minimal + lines(`[[sites.rate_limit]]`, `limit = 1`, `window = "1s"`,
			`[[sites]]`, `name = "b"`, `hosts = ["b.example"]`, `pool = "demo"`, `[[sites.rate_limit]]`, `limit = -1`, `window = "1s"`),
			`:16: sites[1].rate_limit[0].limit: -1 is out of range: want 1 to 1000000000`},

		{"auth without prefix", auth(`type = "bearer"`, `token = "t"`),
			`:8: sites[0].auth[0]: missing required key prefix`},
		{"auth with a relative prefix", auth(`prefix = "admin"`, `type = "bearer"`, `token = "t"`),
			`:9: sites[0].auth[0].prefix: invalid prefix "admin": want a path starting with "/"`},
		{"auth without type", auth(`prefix = "/"`),
			`:8: sites[0].auth[0]: missing required key type`},
		{"bad auth type", auth(`prefix = "/"`, `type = "digest"`),
			`:10: sites[0].auth[0].type: invalid type "digest": want "bearer" or "basic"`},
		{"empty auth type", auth(`prefix = "/"`, `type = ""`),
			`:10: sites[0].auth[0].type: invalid type "": want "bearer" or "basic"`},
		{"bearer without token", auth(`prefix = "/"`, `type = "bearer"`),
			`:8: sites[0].auth[0]: a bearer auth needs token or token_env`},
		{"bearer with token and token_env", auth(`prefix = "/"`, `type = "bearer"`, `token_env = "T"`, `token = "t"`),
			`:12: sites[0].auth[0].token: set token or token_env, not both`},
		{"bearer with a bad token", auth(`prefix = "/"`, `type = "bearer"`, `token = "hunter2 with spaces"`),
			`:11: sites[0].auth[0].token: not a valid bearer token: want letters, digits and -._~+/, then optional = padding (RFC 6750 §2.1)`},
		{"bearer with an empty token", auth(`prefix = "/"`, `type = "bearer"`, `token = ""`),
			`:11: sites[0].auth[0].token: not a valid bearer token: want letters, digits and -._~+/, then optional = padding (RFC 6750 §2.1)`},
		{"bearer token_env unset", auth(`prefix = "/"`, `type = "bearer"`, `token_env = "CDNNODE_TEST_UNSET"`),
			`:11: sites[0].auth[0].token_env: $CDNNODE_TEST_UNSET is not set or is empty`},
		{"bearer token_env holding a bad token", auth(`prefix = "/"`, `type = "bearer"`, `token_env = "CDNNODE_TEST_BAD_TOKEN"`),
			`:11: sites[0].auth[0].token_env: $CDNNODE_TEST_BAD_TOKEN does not hold a valid bearer token: want letters, digits and -._~+/, then optional = padding (RFC 6750 §2.1)`},
		{"bearer with a bad token_env", auth(`prefix = "/"`, `type = "bearer"`, `token_env = "MY-TOKEN"`),
			`:11: sites[0].auth[0].token_env: invalid environment variable name "MY-TOKEN": want letters, digits and _, not starting with a digit`},
		{"bearer with an empty token_env", auth(`prefix = "/"`, `type = "bearer"`, `token_env = ""`),
			`:11: sites[0].auth[0].token_env: invalid environment variable name "": want letters, digits and _, not starting with a digit`},
		{"bearer with users", auth(`prefix = "/"`, `type = "bearer"`, `token = "t"`, `users = ["a:b"]`),
			`:12: sites[0].auth[0].users: does not apply to type = "bearer"`},
		{"bearer with a realm", auth(`prefix = "/"`, `type = "bearer"`, `token = "t"`, `realm = "api"`),
			`:12: sites[0].auth[0].realm: does not apply to type = "bearer"`},
		{"basic with a token", auth(`prefix = "/"`, `type = "basic"`, `users = ["a:b"]`, `token_env = "T"`),
			`:12: sites[0].auth[0].token_env: does not apply to type = "basic"`},
		{"basic without users", auth(`prefix = "/"`, `type = "basic"`),
			`:8: sites[0].auth[0]: a basic auth needs users or users_env`},
		{"basic with no user", auth(`prefix = "/"`, `type = "basic"`, `users = []`),
			`:11: sites[0].auth[0].users: a basic auth needs at least one user`},
		{"basic with users and users_env", auth(`prefix = "/"`, `type = "basic"`, `users = ["a:b"]`, `users_env = "U"`),
			`:12: sites[0].auth[0].users_env: set users or users_env, not both`},
		{"user without a password", auth(`prefix = "/"`, `type = "basic"`, `users = [`, `  "alice:pw",`, `  "hunter2",`, `]`),
			`:13: sites[0].auth[0].users[1]: want "name:password"`},
		{"user without a name", auth(`prefix = "/"`, `type = "basic"`, `users = [":hunter2"]`),
			`:11: sites[0].auth[0].users[0]: empty user name: want "name:password"`},
		{"user with an empty password", auth(`prefix = "/"`, `type = "basic"`, `users = ["alice:"]`),
			`:11: sites[0].auth[0].users[0]: user "alice" has an empty password`},
		{"user name with a control character", auth(`prefix = "/"`, `type = "basic"`, `users = ["al\tice:hunter2"]`),
			`:11: sites[0].auth[0].users[0]: user name "al\tice" has control characters (RFC 7617 §2)`},
		{"password with a control character", auth(`prefix = "/"`, `type = "basic"`, `users = ["alice:hunter2\n"]`),
			`:11: sites[0].auth[0].users[0]: the password of user "alice" has control characters (RFC 7617 §2)`},
		{"user listed twice", auth(`prefix = "/"`, `type = "basic"`, `users = ["alice:a", "bob:b", "alice:hunter2"]`),
			`:11: sites[0].auth[0].users[2]: user "alice" is listed twice`},
		{"users_env unset", auth(`prefix = "/"`, `type = "basic"`, `users_env = "CDNNODE_TEST_UNSET"`),
			`:11: sites[0].auth[0].users_env: $CDNNODE_TEST_UNSET is not set or is empty`},
		{"bad users_env", auth(`prefix = "/"`, `type = "basic"`, `users_env = "1USERS"`),
			`:11: sites[0].auth[0].users_env: invalid environment variable name "1USERS": want letters, digits and _, not starting with a digit`},
		{"every bad entry of users_env", auth(`prefix = "/"`, `type = "basic"`, `users_env = "CDNNODE_TEST_USERS"`),
			`:11: sites[0].auth[0].users_env: $CDNNODE_TEST_USERS entry 2: want "name:password"` + "\n" +
				name + `:11: sites[0].auth[0].users_env: $CDNNODE_TEST_USERS entry 3: user "alice" is listed twice` + "\n" +
				name + `:11: sites[0].auth[0].users_env: $CDNNODE_TEST_USERS entry 4: empty user name: want "name:password"` + "\n" +
				name + `:11: sites[0].auth[0].users_env: $CDNNODE_TEST_USERS entry 5: user "carol" has an empty password`},
		{"realm with a quote", auth(`prefix = "/"`, `type = "basic"`, `users = ["a:b"]`, `realm = 'say "hi"'`),
			`:12: sites[0].auth[0].realm: invalid realm "say \"hi\"": it is sent quoted, so no '"', '\' or control characters`},
		{"realm with a backslash", auth(`prefix = "/"`, `type = "basic"`, `users = ["a:b"]`, `realm = 'a\b'`),
			`:12: sites[0].auth[0].realm: invalid realm "a\\b": it is sent quoted, so no '"', '\' or control characters`},
		{"realm with a control character", auth(`prefix = "/"`, `type = "basic"`, `users = ["a:b"]`, `realm = "a\u007f"`),
			`:12: sites[0].auth[0].realm: invalid realm "a\x7f": it is sent quoted, so no '"', '\' or control characters`},
		{"prefix protected twice", auth(`prefix = "/admin/"`, `type = "bearer"`, `token = "t"`, `[[sites.auth]]`, `prefix = "/admin/"`, `type = "basic"`, `users = ["a:b"]`),
			`:13: sites[0].auth[1].prefix: "/admin/" is already protected by sites[0].auth[0]`},
		{"unknown key in an auth", auth(`prefix = "/"`, `type = "basic"`, `user = ["a:b"]`),
			`:11: unknown key "user" in [[sites.auth]]`},
		{"wrong type: users given a string", auth(`prefix = "/"`, `type = "basic"`, `users = "a:b"`),
			`:11: sites.auth.users: wrong type: got string, want array of strings`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(name, []byte(tt.doc))
			if err == nil {
				t.Fatalf("Parse succeeded, want %q; document:\n%s", name+tt.want, tt.doc)
			}
			if got, want := err.Error(), name+tt.want; got != want {
				t.Errorf("Parse error =\n%s\nwant\n%s", got, want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("Parse error %q shows a credential", err)
			}
		})
	}
}

// TestAuthSecretsRedacted checks that auth credentials never show when a
// Config is printed or logged.
func TestAuthSecretsRedacted(t *testing.T) {
	t.Setenv("CDNNODE_TEST_USERS", "carol:hunter2-env")
	doc := minimal + lines(
		`[[sites.auth]]`, `prefix = "/a"`, `type = "bearer"`, `token = "hunter2-token"`,
		`[[sites.auth]]`, `prefix = "/b"`, `type = "basic"`, `users = ["alice:hunter2-file"]`,
		`[[sites.auth]]`, `prefix = "/c"`, `type = "basic"`, `users_env = "CDNNODE_TEST_USERS"`,
	)
	c, err := Parse("s.toml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	var logged strings.Builder
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", "auth", c.Sites[0].Auth, "cfg", c)
	for _, out := range []string{fmt.Sprint(c.Sites[0].Auth), fmt.Sprintf("%+v", *c), fmt.Sprintf("%#v", c.Sites[0].Auth), logged.String()} {
		if strings.Contains(out, "hunter2") {
			t.Errorf("output shows a credential: %s", out)
		}
		if !strings.Contains(out, "[redacted]") {
			t.Errorf("output %s does not say [redacted]", out)
		}
	}
	if got := []string{string(c.Sites[0].Auth[0].Token), string(c.Sites[0].Auth[1].Users[0].Password), string(c.Sites[0].Auth[2].Users[0].Password)}; !reflect.DeepEqual(got, []string{"hunter2-token", "hunter2-file", "hunter2-env"}) {
		t.Errorf("credentials = %q, want the values", got)
	}
}
