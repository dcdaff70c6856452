package config

import (
	"encoding/pem"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cdnnode/cdnnode/internal/testkit"
)

// siteOnP is a site whose misses go to pool p.
const siteOnP = "\n[[sites]]\nname = \"s\"\nhosts = [\"*\"]\npool = \"p\"\n"

// poolDoc returns a file defining pool p, its header on line 1 and body
// from line 2, and a site on it.
func poolDoc(body ...string) string {
	return lines(append([]string{"[pools.p]"}, body...)...) + siteOnP
}

// dur returns a pointer to the duration s.
func dur(t *testing.T, s string) *Duration {
	t.Helper()
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatal(err)
	}
	v := Duration(d)
	return &v
}

func ptr[T any](v T) *T { return &v }

// TestParsePool checks each key of [pools.NAME] and its tables: defaults,
// and values at the edges of what each accepts.
func TestParsePool(t *testing.T) {
	s := func(d string) Duration { return *dur(t, d) }
	defaultOptions := PeerOptions{
		ConnectTimeout: s("5s"), ReadTimeout: s("30s"), WriteTimeout: s("30s"), IdleTimeout: s("90s"), TCPKeepAlive: s("15s"),
		MaxIdlePerPeer: 64, VerifyCert: true, VerifyHostname: true, ALPN: "h1",
	}
	tests := []struct {
		name string
		body []string
		get  func(Pool) any
		want any
	}{
		{
			"peer entries, normalised",
			[]string{`peers = ["10.0.0.1:80", "HTTPS://Origin.Example:443", "unix:/run/origin.sock", "[0:0::1]:8080", "http://localhost:081"]`},
			func(p Pool) any { return p.PeerList },
			[]Peer{
				{Addr: "10.0.0.1:80", Scheme: "http", Weight: 1},
				{Addr: "origin.example:443", Scheme: "https", Weight: 1},
				{Addr: "/run/origin.sock", Scheme: "unix", Weight: 1},
				{Addr: "[::1]:8080", Scheme: "http", Weight: 1},
				{Addr: "localhost:81", Scheme: "http", Weight: 1},
			},
		},
		{
			"peer entries kept as written",
			[]string{`peers = ["10.0.0.1:80", "HTTPS://Origin.Example:443"]`},
			func(p Pool) any { return p.Peers },
			[]string{"10.0.0.1:80", "HTTPS://Origin.Example:443"},
		},
		{
			"scheme is the default for entries without one",
			[]string{`scheme = "HTTPS"`, `peers = ["a.example:443", "http://b.example:80"]`},
			func(p Pool) any { return p.PeerList },
			[]Peer{{Addr: "a.example:443", Scheme: "https", Weight: 1}, {Addr: "b.example:80", Scheme: "http", Weight: 1}},
		},
		{
			"peer tables after the entries, with overrides",
			[]string{
				`peers = ["10.0.0.1:80"]`,
				`[[pools.p.peer]]`,
				`addr = "https://10.0.0.2:443"`,
				`weight = 1000`,
				`connect_timeout = "0s"`,
				`total_connect_timeout = "2s"`,
				`read_timeout = "1m"`,
				`write_timeout = "5s"`,
				`sni = "origin.example"`,
				`verify_cert = false`,
				`verify_hostname = false`,
				`alpn = "h2"`,
				`idle_timeout = "0s"`,
				`tcp_keepalive = "1m"`,
				`bind_to = "fd00::5"`,
				`max_idle_per_peer = 0`,
				`alternative_cn = "10.0.0.2"`,
				`h2c = false`,
				`[[pools.p.peer]]`,
				`addr = "unix:/run/b.sock"`,
				`backup = true`,
				`alpn = "h1"`,
				`max_idle_per_peer = 1_000`,
				`[[pools.p.peer]]`,
				`addr = "10.0.0.3:80"`,
				`h2c = true`,
				`bind_to = "10.0.0.9"`,
			},
			func(p Pool) any { return []any{p.Peers, p.PeerList} },
			[]any{
				[]string{"10.0.0.1:80", "https://10.0.0.2:443", "unix:/run/b.sock", "10.0.0.3:80"},
				[]Peer{
					{Addr: "10.0.0.1:80", Scheme: "http", Weight: 1},
					{
						Addr: "10.0.0.2:443", Scheme: "https", Weight: 1000,
						ConnectTimeout: dur(t, "0s"), TotalConnectTimeout: dur(t, "2s"), ReadTimeout: dur(t, "1m"), WriteTimeout: dur(t, "5s"),
						IdleTimeout: dur(t, "0s"), TCPKeepAlive: dur(t, "1m"), BindTo: netip.MustParseAddr("fd00::5"), MaxIdlePerPeer: ptr(0),
						SNI: "origin.example", VerifyCert: ptr(false), VerifyHostname: ptr(false), AlternativeCN: "10.0.0.2", ALPN: "h2", H2C: ptr(false),
					},
					{Addr: "/run/b.sock", Scheme: "unix", Weight: 1, Backup: true, ALPN: "h1", MaxIdlePerPeer: ptr(1000)},
					{Addr: "10.0.0.3:80", Scheme: "http", Weight: 1, H2C: ptr(true), BindTo: netip.MustParseAddr("10.0.0.9")},
				},
			},
		},
		{
			"peer options: overrides over the pool's settings",
			[]string{
				`peers = ["10.0.0.1:80", "https://10.0.0.3:443", "unix:/run/a.sock"]`,
				`sni = "pool.example"`,
				`verify_cert = false`,
				`alpn = "h2"`,
				`idle_timeout = "1m"`,
				`tcp_keepalive = "0s"`,
				`bind_to = "10.0.0.9"`,
				`max_idle_per_peer = 8`,
				`alternative_cn = "pool.internal"`,
				`h2c = true`,
				`[[pools.p.peer]]`,
				`addr = "https://10.0.0.2:443"`,
				`connect_timeout = "0s"`,
				`total_connect_timeout = "2s"`,
				`read_timeout = "1m"`,
				`write_timeout = "5s"`,
				`idle_timeout = "5s"`,
				`tcp_keepalive = "30s"`,
				`bind_to = "10.0.0.10"`,
				`max_idle_per_peer = 0`,
				`sni = "origin.example"`,
				`verify_cert = true`,
				`verify_hostname = false`,
				`alternative_cn = "origin.internal"`,
				`alpn = "h1"`,
				`[[pools.p.peer]]`,
				`addr = "10.0.0.4:80"`,
				`h2c = false`,
			},
			func(p Pool) any {
				var opts []PeerOptions
				for _, pe := range p.PeerList {
					opts = append(opts, p.PeerOptions(pe))
				}
				return opts
			},
			[]PeerOptions{
				{ // http: the pool's, and h2c
					ConnectTimeout: s("5s"), ReadTimeout: s("30s"), WriteTimeout: s("30s"), IdleTimeout: s("1m"), BindTo: netip.MustParseAddr("10.0.0.9"),
					MaxIdlePerPeer: 8, SNI: "pool.example", AlternativeCN: "pool.internal", VerifyCert: false, VerifyHostname: true, ALPN: "h1", H2C: true,
				},
				{ // https: the pool's, but no h2c
					ConnectTimeout: s("5s"), ReadTimeout: s("30s"), WriteTimeout: s("30s"), IdleTimeout: s("1m"), BindTo: netip.MustParseAddr("10.0.0.9"),
					MaxIdlePerPeer: 8, SNI: "pool.example", AlternativeCN: "pool.internal", VerifyCert: false, VerifyHostname: true, ALPN: "h2",
				},
				{ // unix: the pool's, but no bind address
					ConnectTimeout: s("5s"), ReadTimeout: s("30s"), WriteTimeout: s("30s"), IdleTimeout: s("1m"),
					MaxIdlePerPeer: 8, SNI: "pool.example", AlternativeCN: "pool.internal", VerifyCert: false, VerifyHostname: true, ALPN: "h1", H2C: true,
				},
				{ // https: every override
					ConnectTimeout: 0, TotalConnectTimeout: s("2s"), ReadTimeout: s("1m"), WriteTimeout: s("5s"), IdleTimeout: s("5s"), TCPKeepAlive: s("30s"),
					BindTo: netip.MustParseAddr("10.0.0.10"), MaxIdlePerPeer: 0, SNI: "origin.example", AlternativeCN: "origin.internal",
					VerifyCert: true, VerifyHostname: false, ALPN: "h1",
				},
				{ // http: h2c off
					ConnectTimeout: s("5s"), ReadTimeout: s("30s"), WriteTimeout: s("30s"), IdleTimeout: s("1m"), BindTo: netip.MustParseAddr("10.0.0.9"),
					MaxIdlePerPeer: 8, SNI: "pool.example", AlternativeCN: "pool.internal", VerifyCert: false, VerifyHostname: true, ALPN: "h1",
				},
			},
		},
		{
			"peer options of a peer from elsewhere",
			[]string{`peers = ["10.0.0.1:80"]`},
			func(p Pool) any { return p.PeerOptions(Peer{Addr: "/s", Scheme: "unix", Weight: 1}) },
			defaultOptions,
		},
		{"selection ketama", []string{`peers = ["a:1"]`, `selection = "ketama"`}, func(p Pool) any { return p.Selection }, "ketama"},
		{"selection weighted", []string{`peers = ["a:1"]`, `selection = "weighted"`}, func(p Pool) any { return p.Selection }, "weighted"},
		{"selection least_inflight", []string{`peers = ["a:1"]`, `selection = "least_inflight"`}, func(p Pool) any { return p.Selection }, "least_inflight"},
		{"selection failover", []string{`peers = ["a:1"]`, `selection = "failover"`}, func(p Pool) any { return p.Selection }, "failover"},
		{"no retries, whole budget", []string{`peers = ["a:1"]`, `retries = 0`, `retry_budget = 1`}, func(p Pool) any { return []any{p.Retries, p.RetryBudget} }, []any{0, 1.0}},
		{"most retries, small budget", []string{`peers = ["a:1"]`, `retries = 5`, `retry_budget = 0.05`}, func(p Pool) any { return []any{p.Retries, p.RetryBudget} }, []any{5, 0.05}},
		{"no budget", []string{`peers = ["a:1"]`, `retry_budget = 0.0`}, func(p Pool) any { return p.RetryBudget }, 0.0},
		{
			"limits by default",
			[]string{`peers = ["a:1"]`},
			func(p Pool) any { return p.Limits },
			Limits{Burst: 1, PeerBurst: 1, MaxWait: s("100ms"), MaxQueue: 64},
		},
		{
			"limits, burst from a fractional rate",
			[]string{`peers = ["a:1"]`, `max_in_flight = 100`, `rate = 2.5`, `peer_max_in_flight = 10`, `peer_rate = 50`, `peer_burst = 5`, `max_wait = "1s"`, `max_queue = 1_000_000`},
			func(p Pool) any { return p.Limits },
			Limits{MaxInFlight: 100, Rate: 2.5, Burst: 3, PeerMaxInFlight: 10, PeerRate: 50, PeerBurst: 5, MaxWait: s("1s"), MaxQueue: 1000000},
		},
		{
			"limits, explicit burst, fail at once",
			[]string{`peers = ["a:1"]`, `rate = 1e9`, `burst = 1`, `max_wait = "0s"`, `max_queue = 0`},
			func(p Pool) any { return p.Limits },
			Limits{Rate: 1e9, Burst: 1, PeerBurst: 1},
		},
		{
			"connection options by default",
			[]string{`peers = ["a:1"]`},
			func(p Pool) any {
				return []any{p.TotalConnectTimeout, p.WriteTimeout, p.TCPKeepAlive, p.BindTo, p.ResolveInterval, p.PeersFile, p.FilePeers}
			},
			[]any{Duration(0), s("30s"), s("15s"), netip.Addr{}, s("30s"), "", []Peer(nil)},
		},
		{
			"connection options",
			[]string{`peers = ["a:1"]`, `total_connect_timeout = "10s"`, `write_timeout = "0s"`, `tcp_keepalive = "0s"`, `bind_to = "fd00::5"`, `resolve_interval = "0s"`},
			func(p Pool) any {
				return []any{p.TotalConnectTimeout, p.WriteTimeout, p.TCPKeepAlive, p.BindTo, p.ResolveInterval}
			},
			[]any{s("10s"), Duration(0), Duration(0), netip.MustParseAddr("fd00::5"), Duration(0)},
		},
		{
			"total_connect_timeout equal to connect_timeout",
			[]string{`peers = ["a:1"]`, `connect_timeout = "3s"`, `total_connect_timeout = "3s"`},
			func(p Pool) any { return []any{p.ConnectTimeout, p.TotalConnectTimeout} },
			[]any{s("3s"), s("3s")},
		},
		{
			"total_connect_timeout with no connect_timeout",
			[]string{`peers = ["a:1"]`, `connect_timeout = "0s"`, `total_connect_timeout = "1ms"`},
			func(p Pool) any { return []any{p.ConnectTimeout, p.TotalConnectTimeout} },
			[]any{Duration(0), s("1ms")},
		},
		{
			"TLS options by default",
			[]string{`peers = ["a:1"]`},
			func(p Pool) any {
				return []any{p.TLSVerify, p.VerifyHostname, p.SNI, p.CAFile, p.AlternativeCN, p.ClientCert, p.ClientKey, p.ALPN, p.H2C}
			},
			[]any{true, true, "", "", "", "", "", "h2h1", false},
		},
		{
			"TLS options",
			[]string{`peers = ["https://a:443"]`, `verify_cert = false`, `verify_hostname = false`, `alternative_cn = "origin.internal"`, `alpn = "h2"`},
			func(p Pool) any { return []any{p.TLSVerify, p.VerifyHostname, p.AlternativeCN, p.ALPN} },
			[]any{false, false, "origin.internal", "h2"},
		},
		{"tls_verify, the older spelling", []string{`peers = ["https://a:443"]`, `tls_verify = false`}, func(p Pool) any { return p.TLSVerify }, false},
		{"alpn h1 on a cleartext pool", []string{`peers = ["a:80"]`, `alpn = "h1"`}, func(p Pool) any { return p.ALPN }, "h1"},
		{"alpn h2 on a mixed pool", []string{`peers = ["a:80", "https://b:443"]`, `alpn = "h2"`}, func(p Pool) any { return p.ALPN }, "h2"},
		{"h2c on a unix peer", []string{`peers = ["unix:/run/a.sock"]`, `h2c = true`}, func(p Pool) any { return p.H2C }, true},
		{
			"header policy by default",
			[]string{`peers = ["a:1"]`},
			func(p Pool) any { return p.HeaderPolicy },
			HeaderPolicy{Mode: "strip", StripConnectionNominated: true, H1Upgrade: "websocket"},
		},
		{
			"header policy strip, keeping nominated fields and upgrades",
			[]string{`peers = ["a:1"]`, `header_policy = "strip"`, `strip_connection_nominated = false`, `h1_upgrade = "preserve"`},
			func(p Pool) any { return p.HeaderPolicy },
			HeaderPolicy{Mode: "strip", StripConnectionNominated: false, H1Upgrade: "preserve"},
		},
		{
			"header policy preserve",
			[]string{`peers = ["a:1"]`, `header_policy = "preserve"`},
			func(p Pool) any { return p.HeaderPolicy },
			HeaderPolicy{Mode: "preserve", StripConnectionNominated: false, H1Upgrade: "preserve"},
		},
		{"no health table, no active checks", []string{`peers = ["a:1"]`}, func(p Pool) any { return p.Health }, Health{}},
		{
			"tcp health check by default",
			[]string{`peers = ["a:1"]`, `[pools.p.health]`, `kind = "tcp"`},
			func(p Pool) any { return p.Health },
			Health{Kind: "tcp", Interval: s("5s"), Timeout: s("2s"), Rise: 2, Fall: 3},
		},
		{
			"tcp health check, inline table",
			[]string{`peers = ["a:1"]`, `health = { kind = "tcp", interval = "1s", timeout = "1s", rise = 1, fall = 1 }`},
			func(p Pool) any { return p.Health },
			Health{Kind: "tcp", Interval: s("1s"), Timeout: s("1s"), Rise: 1, Fall: 1},
		},
		{
			"http health check by default",
			[]string{`peers = ["a:1"]`, `[pools.p.health]`, `kind = "http"`},
			func(p Pool) any { return p.Health },
			Health{Kind: "http", Path: "/", ExpectStatus: []StatusRange{{200, 399}}, Interval: s("5s"), Timeout: s("2s"), Rise: 2, Fall: 3},
		},
		{
			"http health check",
			[]string{
				`peers = ["a:1"]`,
				`[pools.p.health]`,
				`kind = "http"`,
				`path = "/healthz?full=1"`,
				`host = "origin.example:8443"`,
				`expect_status = [200, "204", "300-399", 0x1F4, "599-599"]`,
				`expect_body = "ok"`,
				`interval = "10s"`,
				`timeout = "10s"`,
				`rise = 1`,
				`fall = 10`,
			},
			func(p Pool) any { return p.Health },
			Health{
				Kind: "http", Path: "/healthz?full=1", Host: "origin.example:8443",
				ExpectStatus: []StatusRange{{200, 200}, {204, 204}, {300, 399}, {500, 500}, {599, 599}},
				ExpectBody:   "ok", Interval: s("10s"), Timeout: s("10s"), Rise: 1, Fall: 10,
			},
		},
		{
			"http health check host forms",
			[]string{`peers = ["a:1"]`, `[pools.p.health]`, `kind = "http"`, `host = "[::1]:8080"`},
			func(p Pool) any { return p.Health.Host },
			"[::1]:8080",
		},
		{
			"http health check body regexp",
			[]string{`peers = ["a:1"]`, `[pools.p.health]`, `kind = "http"`, `expect_body_regexp = '^ok\b'`},
			func(p Pool) any { return []any{p.Health.ExpectBody, p.Health.ExpectBodyRegexp.String()} },
			[]any{"", `^ok\b`},
		},
		{
			"passive by default",
			[]string{`peers = ["a:1"]`},
			func(p Pool) any { return p.Passive },
			Passive{MaxFails: 5, Window: 20, MinRequests: 10, Cooldown: s("10s")},
		},
		{
			"passive",
			[]string{`peers = ["a:1"]`, `[pools.p.passive]`, `max_fails = 0`, `error_rate = 0.5`, `window = 4096`, `min_requests = 4096`, `cooldown = "1m"`},
			func(p Pool) any { return p.Passive },
			Passive{MaxFails: 0, ErrorRate: 0.5, Window: 4096, MinRequests: 4096, Cooldown: s("1m")},
		},
		{
			"passive, smallest window",
			[]string{`peers = ["a:1"]`, `[pools.p.passive]`, `error_rate = 1`, `window = 1`, `min_requests = 1`},
			func(p Pool) any { return p.Passive },
			Passive{MaxFails: 5, ErrorRate: 1, Window: 1, MinRequests: 1, Cooldown: s("10s")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("p.toml", []byte(poolDoc(tt.body...)))
			if err != nil {
				t.Fatal(err)
			}
			if got := tt.get(c.Pools["p"]); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestParsePoolErrors checks the exact error, and that it is the only one,
// for each invalid value of [pools.NAME] and its tables.
func TestParsePoolErrors(t *testing.T) {
	tests := []struct {
		name string
		body []string
		line int
		want string
	}{
		{"no peers", []string{`scheme = "http"`}, 1, `pools.p.peers: a pool needs at least one peer: add peers, [[pools.p.peer]] tables or a peers_file`},
		{"empty peers", []string{`peers = []`}, 2, `pools.p.peers: a pool needs at least one peer: add peers, [[pools.p.peer]] tables or a peers_file`},
		{"unknown peer scheme", []string{`peers = ["ftp://a:1"]`}, 2, `pools.p.peers[0]: invalid peer "ftp://a:1": unknown scheme "ftp": want http://, https:// or unix:`},
		{"peer with a path", []string{`peers = ["http://a:1/x"]`}, 2, `pools.p.peers[0]: invalid peer "http://a:1/x": want host:port, with no path, query or user`},
		{"peer with a user", []string{`peers = ["http://u@a:1"]`}, 2, `pools.p.peers[0]: invalid peer "http://u@a:1": want host:port, with no path, query or user`},
		{"https peer without port", []string{`peers = ["https://a"]`}, 2, `pools.p.peers[0]: invalid peer "https://a": want host:port`},
		{"peer with port 65536", []string{`peers = ["a:65536"]`}, 2, `pools.p.peers[0]: invalid peer "a:65536": port "65536" is not a number in 1-65535`},
		{"peer with a bad host", []string{`peers = [`, `  "a:1",`, `  "a b:80",`, `]`}, 4, `pools.p.peers[1]: invalid peer "a b:80": bad host "a b"`},
		{"relative unix socket", []string{`peers = ["unix:run/o.sock"]`}, 2, `pools.p.peers[0]: invalid peer "unix:run/o.sock": want an absolute socket path, such as "unix:/run/origin.sock"`},
		{"unclean unix socket", []string{`peers = ["unix:///run/../o.sock"]`}, 2, `pools.p.peers[0]: invalid peer "unix:///run/../o.sock": write the socket path in clean form, "unix:/o.sock"`},
		{"unix socket path too long", []string{`peers = ["unix:/` + strings.Repeat("s", 107) + `"]`}, 2, `pools.p.peers[0]: invalid peer "unix:/` + strings.Repeat("s", 107) + `": the socket path is 108 bytes, more than the 107 a unix socket address holds`},
		{"unix socket with a control character", []string{`peers = ["unix:/a\tb"]`}, 2, `pools.p.peers[0]: invalid peer "unix:/a\tb": control character in the socket path`},
		{"peer listed twice", []string{`peers = ["10.0.0.1:80", "HTTP://10.0.0.1:80"]`}, 2, `pools.p.peers[1]: peer http://10.0.0.1:80 is listed twice (first at pools.p.peers[0], line 2)`},
		{"peer listed twice, in a table", []string{`peers = ["Origin.example:80"]`, `[[pools.p.peer]]`, `addr = "http://origin.EXAMPLE:80"`}, 4, `pools.p.peer[0].addr: peer http://origin.example:80 is listed twice (first at pools.p.peers[0], line 2)`},
		{"peer table without addr", []string{`peers = ["a:1"]`, `[[pools.p.peer]]`, `weight = 2`}, 3, `pools.p.peer[0]: missing required key addr`},
		{"peer table with a bad addr", []string{`[[pools.p.peer]]`, `addr = "a"`}, 3, `pools.p.peer[0].addr: invalid peer "a": want host:port`},
		{"peer table, not an array", []string{`peers = ["a:1"]`, `[pools.p.peer]`, `addr = "b:1"`}, 3, `pools.p.peer: want an array of tables: write [[pools.p.peer]], not [pools.p.peer]`},
		{"unknown key in a peer table", []string{`[[pools.p.peer]]`, `addr = "a:1"`, `wieght = 2`}, 4, `unknown key "wieght" in [[pools.p.peer]]`},
		{"zero weight", []string{`[[pools.p.peer]]`, `addr = "a:1"`, `weight = 0`}, 4, `pools.p.peer[0].weight: 0 is out of range: want 1 to 1000`},
		{"weight too large", []string{`[[pools.p.peer]]`, `addr = "a:1"`, `weight = 1001`}, 4, `pools.p.peer[0].weight: 1001 is out of range: want 1 to 1000`},
		{"wrong type: weight given a string", []string{`[[pools.p.peer]]`, `addr = "a:1"`, `weight = "2"`}, 4, `pools.p.peer.weight: wrong type: got string, want integer`},
		{
			"weights add up to too much",
			[]string{`[[pools.p.peer]]`, `addr = "a:1"`, `weight = 1000`, `[[pools.p.peer]]`, `addr = "a:2"`, `weight = 1000`, `[[pools.p.peer]]`, `addr = "a:3"`, `weight = 1000`, `[[pools.p.peer]]`, `addr = "a:4"`, `weight = 1000`, `[[pools.p.peer]]`, `addr = "a:5"`, `weight = 97`},
			15, `pools.p.peer[4].addr: the weights of the pool's peers add up to more than 4096`,
		},
		{"only backups", []string{`[[pools.p.peer]]`, `addr = "a:1"`, `backup = true`, `[[pools.p.peer]]`, `addr = "a:2"`, `backup = true`}, 4, `pools.p.peer[0].backup: every peer of the pool is a backup: at least one must be a primary`},
		{"bad peer sni", []string{`[[pools.p.peer]]`, `addr = "https://a:1"`, `sni = "a_b c"`}, 4, `pools.p.peer[0].sni: invalid server name "a_b c"`},
		{"sni on an http peer", []string{`[[pools.p.peer]]`, `addr = "a:80"`, `sni = "a"`}, 4, `pools.p.peer[0].sni: only https peers use TLS, and http://a:80 is http`},
		{"verify_cert on a unix peer", []string{`[[pools.p.peer]]`, `addr = "unix:/s"`, `verify_cert = false`}, 4, `pools.p.peer[0].verify_cert: only https peers use TLS, and unix:/s is unix`},
		{"verify_hostname on an http peer", []string{`scheme = "https"`, `[[pools.p.peer]]`, `addr = "http://a:80"`, `verify_hostname = false`}, 5, `pools.p.peer[0].verify_hostname: only https peers use TLS, and http://a:80 is http`},
		{"alpn h2 on an http peer", []string{`[[pools.p.peer]]`, `addr = "a:80"`, `alpn = "h2h1"`}, 4, `pools.p.peer[0].alpn: only https peers use TLS, and http://a:80 is http`},
		{"bad peer alpn", []string{`[[pools.p.peer]]`, `addr = "https://a:1"`, `alpn = "h3"`}, 4, `pools.p.peer[0].alpn: invalid alpn "h3": want "h1", "h2" or "h2h1"`},
		{"peer total_connect_timeout below connect_timeout", []string{`[[pools.p.peer]]`, `addr = "a:1"`, `total_connect_timeout = "1s"`}, 4, `pools.p.peer[0].total_connect_timeout: 1s is shorter than connect_timeout (5s), which it includes`},
		{"peer connect_timeout above the pool's total", []string{`total_connect_timeout = "5s"`, `[[pools.p.peer]]`, `addr = "a:1"`, `connect_timeout = "6s"`}, 5, `pools.p.peer[0].connect_timeout: 6s is longer than total_connect_timeout (5s, the pool's)`},
		{"bad peer read_timeout", []string{`[[pools.p.peer]]`, `addr = "a:1"`, `read_timeout = "-1s"`}, 4, `pools.p.peer[0].read_timeout: invalid duration "-1s": negative`},
		{"bad peer idle_timeout", []string{`[[pools.p.peer]]`, `addr = "a:1"`, `idle_timeout = "1 minute"`}, 4, `pools.p.peer[0].idle_timeout: invalid duration "1 minute": time: unknown unit " minute" in duration "1 minute"`},
		{"wrong type: peer tcp_keepalive given an integer", []string{`[[pools.p.peer]]`, `addr = "a:1"`, `tcp_keepalive = 15`}, 4, `pools.p.peer[0].tcp_keepalive: wrong type: got integer, want a duration string such as "30s"`},
		{"peer bind_to a host name", []string{`[[pools.p.peer]]`, `addr = "a:1"`, `bind_to = "localhost"`}, 4, `pools.p.peer[0].bind_to: invalid address "localhost": want an IP address such as "10.0.0.5" or "fd00::5"`},
		{"bind_to on a unix peer", []string{`bind_to = "10.0.0.5"`, `[[pools.p.peer]]`, `addr = "unix:/s"`, `bind_to = "10.0.0.6"`}, 5, `pools.p.peer[0].bind_to: unix:/s is a unix socket, and bind_to is the local address of TCP connections`},
		{"negative peer max_idle_per_peer", []string{`[[pools.p.peer]]`, `addr = "a:1"`, `max_idle_per_peer = -1`}, 4, `pools.p.peer[0].max_idle_per_peer: must not be negative`},
		{"bad peer alternative_cn", []string{`[[pools.p.peer]]`, `addr = "https://a:1"`, `alternative_cn = "a b"`}, 4, `pools.p.peer[0].alternative_cn: invalid name "a b": want a host name or an IP address`},
		{"alternative_cn on an http peer", []string{`[[pools.p.peer]]`, `addr = "a:80"`, `alternative_cn = "a"`}, 4, `pools.p.peer[0].alternative_cn: only https peers use TLS, and http://a:80 is http`},
		{"peer client_cert without client_key", []string{`[[pools.p.peer]]`, `addr = "https://a:1"`, `client_cert = "c.pem"`}, 4, `pools.p.peer[0].client_cert: client_key is missing: set both or neither`},
		{"peer client_key without client_cert", []string{`[[pools.p.peer]]`, `addr = "https://a:1"`, `client_key = "k.pem"`}, 4, `pools.p.peer[0].client_key: client_cert is missing: set both or neither`},
		{"empty peer ca_file", []string{`[[pools.p.peer]]`, `addr = "https://a:1"`, `ca_file = ""`}, 4, `pools.p.peer[0].ca_file: empty file name`},
		{"h2c on an https peer", []string{`[[pools.p.peer]]`, `addr = "https://a:1"`, `h2c = true`}, 4, `pools.p.peer[0].h2c: h2c is for http and unix peers, and https://a:1 is https; https peers negotiate h2 by alpn`},
		{"peer h2c with alpn h1", []string{`[[pools.p.peer]]`, `addr = "a:1"`, `alpn = "h1"`, `h2c = true`}, 5, `pools.p.peer[0].h2c: h2c = true speaks HTTP/2 and alpn = "h1" HTTP/1.1: set one of them`},
		{"peer alpn h1 after h2c", []string{`[[pools.p.peer]]`, `addr = "unix:/s"`, `h2c = true`, `alpn = "h1"`}, 5, `pools.p.peer[0].alpn: h2c = true speaks HTTP/2 and alpn = "h1" HTTP/1.1: set one of them`},
		{"wrong type: peer h2c given a string", []string{`[[pools.p.peer]]`, `addr = "a:1"`, `h2c = "yes"`}, 4, `pools.p.peer.h2c: wrong type: got string, want boolean`},
		{"bad selection", []string{`peers = ["a:1"]`, `selection = "random"`}, 3, `pools.p.selection: invalid selection "random": want "round_robin", "ketama", "weighted", "least_inflight" or "failover"`},
		{"negative retries", []string{`peers = ["a:1"]`, `retries = -1`}, 3, `pools.p.retries: -1 is out of range: want 0 to 5`},
		{"too many retries", []string{`peers = ["a:1"]`, `retries = 6`}, 3, `pools.p.retries: 6 is out of range: want 0 to 5`},
		{"retry_budget above 1", []string{`peers = ["a:1"]`, `retry_budget = 1.5`}, 3, `pools.p.retry_budget: 1.5 is out of range: want 0 to 1`},
		{"negative retry_budget", []string{`peers = ["a:1"]`, `retry_budget = -0.1`}, 3, `pools.p.retry_budget: -0.1 is out of range: want 0 to 1`},
		{"retry_budget not a number", []string{`peers = ["a:1"]`, `retry_budget = nan`}, 3, `pools.p.retry_budget: NaN is not a finite number`},
		{"wrong type: retry_budget given a string", []string{`peers = ["a:1"]`, `retry_budget = "20%"`}, 3, `pools.p.retry_budget: wrong type: got string, want number`},
		{"negative max_in_flight", []string{`peers = ["a:1"]`, `max_in_flight = -1`}, 3, `pools.p.max_in_flight: -1 is out of range: want at least 0`},
		{"negative peer_max_in_flight", []string{`peers = ["a:1"]`, `peer_max_in_flight = -5`}, 3, `pools.p.peer_max_in_flight: -5 is out of range: want at least 0`},
		{"negative rate", []string{`peers = ["a:1"]`, `rate = -1`}, 3, `pools.p.rate: -1 is out of range: want 0 to 1000000000`},
		{"rate too high", []string{`peers = ["a:1"]`, `rate = 2e9`}, 3, `pools.p.rate: 2000000000 is out of range: want 0 to 1000000000`},
		{"infinite peer_rate", []string{`peers = ["a:1"]`, `peer_rate = inf`}, 3, `pools.p.peer_rate: +Inf is not a finite number`},
		{"burst without rate", []string{`peers = ["a:1"]`, `burst = 10`}, 3, `pools.p.burst: set without rate: a burst applies only to a rate`},
		{"burst with a zero rate", []string{`peers = ["a:1"]`, `rate = 0`, `burst = 10`}, 4, `pools.p.burst: set without rate: a burst applies only to a rate`},
		{"burst with an invalid rate", []string{`peers = ["a:1"]`, `rate = nan`, `burst = 10`}, 3, `pools.p.rate: NaN is not a finite number`},
		{"zero burst", []string{`peers = ["a:1"]`, `rate = 10`, `burst = 0`}, 4, `pools.p.burst: 0 is out of range: want 1 to 1000000000`},
		{"peer_burst without peer_rate", []string{`peers = ["a:1"]`, `rate = 10`, `peer_burst = 10`}, 4, `pools.p.peer_burst: set without peer_rate: a burst applies only to a rate`},
		{"no queue but a wait", []string{`peers = ["a:1"]`, `max_queue = 0`}, 3, `pools.p.max_queue: 0 lets no request wait, but max_wait is 100ms; set max_wait = "0s" to fail at once`},
		{"queue too long", []string{`peers = ["a:1"]`, `max_queue = 1_000_001`}, 3, `pools.p.max_queue: 1000001 is out of range: want 0 to 1000000`},
		{"bad max_wait", []string{`peers = ["a:1"]`, `max_wait = "100"`}, 3, `pools.p.max_wait: invalid duration "100": time: missing unit in duration "100"`},
		{"total_connect_timeout below connect_timeout", []string{`peers = ["a:1"]`, `total_connect_timeout = "1s"`}, 3, `pools.p.total_connect_timeout: 1s is shorter than connect_timeout (5s), which it includes`},
		{"negative write_timeout", []string{`peers = ["a:1"]`, `write_timeout = "-1s"`}, 3, `pools.p.write_timeout: invalid duration "-1s": negative`},
		{"wrong type: tcp_keepalive given an integer", []string{`peers = ["a:1"]`, `tcp_keepalive = 15`}, 3, `pools.p.tcp_keepalive: wrong type: got integer, want a duration string such as "30s"`},
		{"bind_to a host name", []string{`peers = ["a:1"]`, `bind_to = "localhost"`}, 3, `pools.p.bind_to: invalid address "localhost": want an IP address such as "10.0.0.5" or "fd00::5"`},
		{"bind_to with a port", []string{`peers = ["a:1"]`, `bind_to = "10.0.0.5:0"`}, 3, `pools.p.bind_to: invalid address "10.0.0.5:0": want an IP address such as "10.0.0.5" or "fd00::5"`},
		{"verify_cert after tls_verify", []string{`peers = ["a:1"]`, `tls_verify = true`, `verify_cert = false`}, 4, `pools.p.verify_cert: verify_cert is an alias of tls_verify: set one of them`},
		{"tls_verify after verify_cert", []string{`peers = ["a:1"]`, `verify_cert = false`, `tls_verify = false`}, 4, `pools.p.tls_verify: verify_cert is an alias of tls_verify: set one of them`},
		{"wrong type: verify_hostname given a string", []string{`peers = ["a:1"]`, `verify_hostname = "yes"`}, 3, `pools.p.verify_hostname: wrong type: got string, want boolean`},
		{"bad alternative_cn", []string{`peers = ["a:1"]`, `alternative_cn = "a b"`}, 3, `pools.p.alternative_cn: invalid name "a b": want a host name or an IP address`},
		{"bad alpn", []string{`peers = ["https://a:1"]`, `alpn = "http/1.1"`}, 3, `pools.p.alpn: invalid alpn "http/1.1": want "h1", "h2" or "h2h1"`},
		{"alpn h2 without https peers", []string{`peers = ["a:1", "unix:/s"]`, `alpn = "h2"`}, 3, `pools.p.alpn: "h2" is negotiated in TLS, and the pool has no https peer; for cleartext HTTP/2 set h2c = true`},
		{"h2c without cleartext peers", []string{`scheme = "https"`, `peers = ["a:1"]`, `h2c = true`}, 4, `pools.p.h2c: h2c is for http and unix peers, and every peer of the pool is https; https peers negotiate h2 by alpn`},
		{"client_cert without client_key", []string{`peers = ["a:1"]`, `client_cert = "c.pem"`}, 3, `pools.p.client_cert: client_key is missing: set both or neither`},
		{"client_key without client_cert", []string{`peers = ["a:1"]`, `client_key = "k.pem"`}, 3, `pools.p.client_key: client_cert is missing: set both or neither`},
		{"empty ca_file", []string{`peers = ["a:1"]`, `ca_file = ""`}, 3, `pools.p.ca_file: empty file name`},
		{"bad header_policy", []string{`peers = ["a:1"]`, `header_policy = "none"`}, 3, `pools.p.header_policy: invalid header_policy "none": want "strip" or "preserve"`},
		{"preserve with strip_connection_nominated", []string{`peers = ["a:1"]`, `header_policy = "preserve"`, `strip_connection_nominated = true`}, 4, `pools.p.strip_connection_nominated: has no effect with header_policy = "preserve", which forwards every field and upgrade`},
		{"preserve with h1_upgrade", []string{`peers = ["a:1"]`, `h1_upgrade = "preserve"`, `header_policy = "preserve"`}, 3, `pools.p.h1_upgrade: has no effect with header_policy = "preserve", which forwards every field and upgrade`},
		{"bad h1_upgrade", []string{`peers = ["a:1"]`, `h1_upgrade = "h2c"`}, 3, `pools.p.h1_upgrade: invalid h1_upgrade "h2c": want "websocket" or "preserve"`},
		{"negative resolve_interval", []string{`peers = ["a:1"]`, `resolve_interval = "-30s"`}, 3, `pools.p.resolve_interval: invalid duration "-30s": negative`},
		{"empty peers_file", []string{`peers = ["a:1"]`, `peers_file = ""`}, 3, `pools.p.peers_file: empty file name`},
		{"health without kind", []string{`peers = ["a:1"]`, `[pools.p.health]`, `path = "/"`}, 3, `pools.p.health: missing required key kind: want "tcp" or "http"`},
		{"bad health kind", []string{`peers = ["a:1"]`, `[pools.p.health]`, `kind = "udp"`}, 4, `pools.p.health.kind: invalid kind "udp": want "tcp" or "http"`},
		{"wrong type: health given a string", []string{`peers = ["a:1"]`, `health = "http"`}, 3, `pools.p.health: wrong type: got string, want table`},
		{"unknown key in health", []string{`peers = ["a:1"]`, `[pools.p.health]`, `kind = "tcp"`, `port = 8080`}, 5, `unknown key "port" in [pools.p.health]`},
		{"health path without a slash", []string{`peers = ["a:1"]`, `[pools.p.health]`, `kind = "http"`, `path = "healthz"`}, 5, `pools.p.health.path: invalid path "healthz": must start with "/"`},
		{"health path with a space", []string{`peers = ["a:1"]`, `[pools.p.health]`, `kind = "http"`, `path = "/a b"`}, 5, `pools.p.health.path: invalid path "/a b": no spaces, control characters or fragment`},
		{"health path with a fragment", []string{`peers = ["a:1"]`, `[pools.p.health]`, `kind = "http"`, `path = "/a#b"`}, 5, `pools.p.health.path: invalid path "/a#b": no spaces, control characters or fragment`},
		{"bad health host", []string{`peers = ["a:1"]`, `[pools.p.health]`, `kind = "http"`, `host = "a b"`}, 5, `pools.p.health.host: invalid host "a b": want a host name or IP address, with an optional port`},
		{"health host, IPv6 without brackets", []string{`peers = ["a:1"]`, `[pools.p.health]`, `kind = "http"`, `host = "::1"`}, 5, `pools.p.health.host: invalid host "::1": write an IPv6 address in brackets, "[::1]"`},
		{"health host with port 0", []string{`peers = ["a:1"]`, `[pools.p.health]`, `kind = "http"`, `host = "a:0"`}, 5, `pools.p.health.host: invalid host "a:0": port "0" is not a number in 1-65535`},
		{"empty expect_status", []string{`peers = ["a:1"]`, `[pools.p.health]`, `kind = "http"`, `expect_status = []`}, 5, `pools.p.health.expect_status: want at least one status, such as 200 or "200-399"`},
		{"expect_status out of range", []string{`peers = ["a:1"]`, `[pools.p.health]`, `kind = "http"`, `expect_status = [200, 600]`}, 5, `pools.p.health.expect_status[1]: status 600 is out of range: want 100 to 599`},
		{"expect_status range out of range", []string{`peers = ["a:1"]`, `[pools.p.health]`, `kind = "http"`, `expect_status = ["099-200"]`}, 5, `pools.p.health.expect_status[0]: status 99 is out of range: want 100 to 599`},
		{"expect_status class", []string{`peers = ["a:1"]`, `[pools.p.health]`, `kind = "http"`, `expect_status = ["2xx"]`}, 5, `pools.p.health.expect_status[0]: invalid status "2xx": want a code such as 200 or a range such as "200-399"`},
		{"expect_status signed", []string{`peers = ["a:1"]`, `[pools.p.health]`, `kind = "http"`, `expect_status = ["+200"]`}, 5, `pools.p.health.expect_status[0]: invalid status "+200": want a code such as 200 or a range such as "200-399"`},
		{"expect_status open range", []string{`peers = ["a:1"]`, `[pools.p.health]`, `kind = "http"`, `expect_status = ["200-"]`}, 5, `pools.p.health.expect_status[0]: invalid status "200-": want a code such as 200 or a range such as "200-399"`},
		{"expect_status reversed", []string{`peers = ["a:1"]`, `[pools.p.health]`, `kind = "http"`, `expect_status = ["399-200"]`}, 5, `pools.p.health.expect_status[0]: invalid status range "399-200": 399 is above 200`},
		{"expect_status of a boolean", []string{`peers = ["a:1"]`, `[pools.p.health]`, `kind = "http"`, `expect_status = [`, `  200,`, `  true,`, `]`}, 7, `pools.p.health.expect_status[1]: wrong type: got boolean, want a status such as 200 or "200-399"`},
		{"wrong type: expect_status given a string", []string{`peers = ["a:1"]`, `[pools.p.health]`, `kind = "http"`, `expect_status = "200"`}, 5, `pools.p.health.expect_status: wrong type: got string, want array`},
		{"expect_status nested", []string{`peers = ["a:1"]`, `[pools.p.health]`, `kind = "http"`, `expect_status = [[200]]`}, 5, `pools.p.health.expect_status: wrong type: got array, want string`},
		{"both body matches", []string{`peers = ["a:1"]`, `[pools.p.health]`, `kind = "http"`, `expect_body = "ok"`, `expect_body_regexp = "ok"`}, 6, `pools.p.health.expect_body_regexp: set expect_body or expect_body_regexp, not both`},
		{"bad body regexp", []string{`peers = ["a:1"]`, `[pools.p.health]`, `kind = "http"`, `expect_body_regexp = "(ok"`}, 5, "pools.p.health.expect_body_regexp: invalid regexp \"(ok\": error parsing regexp: missing closing ): `(ok`"},
		{"zero interval", []string{`peers = ["a:1"]`, `[pools.p.health]`, `kind = "tcp"`, `interval = "0s"`}, 5, `pools.p.health.interval: must be positive`},
		{"zero timeout", []string{`peers = ["a:1"]`, `[pools.p.health]`, `kind = "tcp"`, `timeout = "0s"`}, 5, `pools.p.health.timeout: must be positive`},
		{"timeout above interval", []string{`peers = ["a:1"]`, `[pools.p.health]`, `kind = "tcp"`, `timeout = "6s"`}, 5, `pools.p.health.timeout: 6s is longer than interval (5s)`},
		{"interval below the default timeout", []string{`peers = ["a:1"]`, `[pools.p.health]`, `kind = "tcp"`, `interval = "1s"`}, 5, `pools.p.health.interval: 1s is shorter than timeout (2s, the default)`},
		{"zero rise", []string{`peers = ["a:1"]`, `[pools.p.health]`, `kind = "tcp"`, `rise = 0`}, 5, `pools.p.health.rise: 0 is out of range: want at least 1`},
		{"zero fall", []string{`peers = ["a:1"]`, `[pools.p.health]`, `kind = "tcp"`, `fall = 0`}, 5, `pools.p.health.fall: 0 is out of range: want at least 1`},
		{"path on a tcp check", []string{`peers = ["a:1"]`, `[pools.p.health]`, `kind = "tcp"`, `path = "/"`}, 5, `pools.p.health.path: applies only to kind = "http"`},
		{"expect_body on a tcp check", []string{`peers = ["a:1"]`, `[pools.p.health]`, `kind = "tcp"`, `expect_body = "ok"`}, 5, `pools.p.health.expect_body: applies only to kind = "http"`},
		{"negative max_fails", []string{`peers = ["a:1"]`, `[pools.p.passive]`, `max_fails = -1`}, 4, `pools.p.passive.max_fails: -1 is out of range: want at least 0`},
		{"error_rate above 1", []string{`peers = ["a:1"]`, `[pools.p.passive]`, `error_rate = 1.01`}, 4, `pools.p.passive.error_rate: 1.01 is out of range: want 0 to 1`},
		{"zero window", []string{`peers = ["a:1"]`, `[pools.p.passive]`, `window = 0`, `min_requests = 1`}, 4, `pools.p.passive.window: 0 is out of range: want 1 to 4096`},
		{"window too large", []string{`peers = ["a:1"]`, `[pools.p.passive]`, `window = 4097`}, 4, `pools.p.passive.window: 4097 is out of range: want 1 to 4096`},
		{"zero min_requests", []string{`peers = ["a:1"]`, `[pools.p.passive]`, `min_requests = 0`}, 4, `pools.p.passive.min_requests: 0 is out of range: want 1 to 4096`},
		{"min_requests above window", []string{`peers = ["a:1"]`, `[pools.p.passive]`, `min_requests = 30`}, 4, `pools.p.passive.min_requests: 30 is more than window (20)`},
		{"window below the default min_requests", []string{`peers = ["a:1"]`, `[pools.p.passive]`, `window = 5`}, 4, `pools.p.passive.window: 5 is less than min_requests (10, the default)`},
		{"zero cooldown", []string{`peers = ["a:1"]`, `[pools.p.passive]`, `cooldown = "0s"`}, 4, `pools.p.passive.cooldown: must be positive`},
		{"unknown key in passive", []string{`peers = ["a:1"]`, `[pools.p.passive]`, `max_failures = 3`}, 4, `unknown key "max_failures" in [pools.p.passive]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := poolDoc(tt.body...)
			_, err := Parse("bad.toml", []byte(doc))
			want := fmt.Sprintf("bad.toml:%d: %s", tt.line, tt.want)
			if err == nil || err.Error() != want {
				t.Errorf("Parse error =\n%v\nwant\n%s\ndocument:\n%s", err, want, doc)
			}
			var e *Error
			if err != nil && !errors.As(err, &e) {
				t.Errorf("Parse error %v (%T) is not an *Error", err, err)
			}
		})
	}
}

// TestParsePoolRelativeFiles checks that the pool's files are resolved
// against the config file's directory, and absolute names kept.
func TestParsePoolRelativeFiles(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "peers.txt"), "10.0.0.9:80\n")
	abs := filepath.Join(t.TempDir(), "peers.txt")
	writeFile(t, abs, "10.0.0.9:80\n")
	for _, tt := range []struct{ written, want string }{
		{"peers.txt", filepath.Join(dir, "peers.txt")},
		{abs, abs},
	} {
		c, err := Parse(filepath.Join(dir, "c.toml"), []byte(poolDoc(`peers_file = "`+tt.written+`"`)))
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Pools["p"].PeersFile; got != tt.want {
			t.Errorf("peers_file = %q: PeersFile = %q, want %q", tt.written, got, tt.want)
		}
	}
}

// writeTLSFiles writes, into dir, a CA certificate (ca.pem), a client
// certificate it signed (client.pem) with its key (client-key.pem), and an
// unrelated key (other-key.pem, of another client certificate).
func writeTLSFiles(t *testing.T, dir string) {
	t.Helper()
	ca := testkit.NewCA(t)
	ca.WriteFile(t, dir, "ca")
	testkit.WriteKeyPair(t, dir, "client", ca.Client(t, "cdnnode"))
	testkit.WriteKeyPair(t, dir, "other", ca.Client(t, "other"))
}

// TestParsePoolTLSFiles checks ca_file, client_cert and client_key: found
// beside the config file, and loaded at start-up.
func TestParsePoolTLSFiles(t *testing.T) {
	dir := t.TempDir()
	writeTLSFiles(t, dir)
	writeFile(t, filepath.Join(dir, "garbage.pem"), "not PEM\n")
	writeFile(t, filepath.Join(dir, "broken.pem"), string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("junk")})))
	cfg := filepath.Join(dir, "c.toml")

	c, err := Parse(cfg, []byte(poolDoc(
		`peers = ["https://origin.example:443"]`,
		`ca_file = "ca.pem"`,
		`client_cert = "client.pem"`,
		`client_key = "`+filepath.Join(dir, "client-key.pem")+`"`,
	)))
	if err != nil {
		t.Fatal(err)
	}
	p := c.Pools["p"]
	want := []string{filepath.Join(dir, "ca.pem"), filepath.Join(dir, "client.pem"), filepath.Join(dir, "client-key.pem")}
	if got := []string{p.CAFile, p.ClientCert, p.ClientKey}; !reflect.DeepEqual(got, want) {
		t.Errorf("CAFile, ClientCert, ClientKey = %q, want %q", got, want)
	}

	c, err = Parse(cfg, []byte(poolDoc(
		`peers = ["https://a.example:443"]`,
		`ca_file = "`+filepath.Join(dir, "other.pem")+`"`, // a certificate, if not a CA's
		`[[pools.p.peer]]`,
		`addr = "https://origin.example:443"`,
		`ca_file = "ca.pem"`,
		`client_cert = "client.pem"`,
		`client_key = "client-key.pem"`,
	)))
	if err != nil {
		t.Fatal(err)
	}
	p = c.Pools["p"]
	pool, peer := p.PeerOptions(p.PeerList[0]), p.PeerOptions(p.PeerList[1])
	if got, want := []string{pool.CAFile, pool.ClientCert, pool.ClientKey}, []string{filepath.Join(dir, "other.pem"), "", ""}; !reflect.DeepEqual(got, want) {
		t.Errorf("the pool's peer: CAFile, ClientCert, ClientKey = %q, want %q", got, want)
	}
	if got := []string{peer.CAFile, peer.ClientCert, peer.ClientKey}; !reflect.DeepEqual(got, want) {
		t.Errorf("peer with overrides: CAFile, ClientCert, ClientKey = %q, want %q", got, want)
	}

	tests := []struct {
		name string
		body []string
		line int
		want string // the message after "c.toml:LINE: "
	}{
		{"ca_file missing", []string{`peers = ["a:1"]`, `ca_file = "missing.pem"`}, 3,
			`pools.p.ca_file: stat ` + filepath.Join(dir, "missing.pem") + `: no such file or directory`},
		{"ca_file a directory", []string{`peers = ["a:1"]`, `ca_file = "."`}, 3,
			`pools.p.ca_file: ` + dir + ` is not a regular file`},
		{"ca_file not PEM", []string{`peers = ["a:1"]`, `ca_file = "garbage.pem"`}, 3,
			`pools.p.ca_file: ` + filepath.Join(dir, "garbage.pem") + ` holds no PEM certificate`},
		{"ca_file of a key", []string{`peers = ["a:1"]`, `ca_file = "client-key.pem"`}, 3,
			`pools.p.ca_file: ` + filepath.Join(dir, "client-key.pem") + ` holds no PEM certificate`},
		{"ca_file with a broken certificate", []string{`peers = ["a:1"]`, `ca_file = "broken.pem"`}, 3,
			`pools.p.ca_file: ` + filepath.Join(dir, "broken.pem") + `: certificate 1: x509: malformed certificate`},
		{"client_key of another certificate", []string{`peers = ["a:1"]`, `client_cert = "client.pem"`, `client_key = "other-key.pem"`}, 3,
			`pools.p.client_cert: client_cert and client_key do not load as a key pair: tls: private key does not match public key`},
		{"client_cert not PEM", []string{`peers = ["a:1"]`, `client_cert = "garbage.pem"`, `client_key = "client-key.pem"`}, 3,
			`pools.p.client_cert: client_cert and client_key do not load as a key pair: tls: failed to find any PEM data in certificate input`},
		{"client_key missing", []string{`peers = ["a:1"]`, `client_cert = "client.pem"`, `client_key = "missing.pem"`}, 4,
			`pools.p.client_key: stat ` + filepath.Join(dir, "missing.pem") + `: no such file or directory`},
		{"peer ca_file not PEM", []string{`[[pools.p.peer]]`, `addr = "https://a:1"`, `ca_file = "garbage.pem"`}, 4,
			`pools.p.peer[0].ca_file: ` + filepath.Join(dir, "garbage.pem") + ` holds no PEM certificate`},
		{"peer client_key of another certificate", []string{`[[pools.p.peer]]`, `addr = "https://a:1"`, `client_cert = "client.pem"`, `client_key = "other-key.pem"`}, 4,
			`pools.p.peer[0].client_cert: client_cert and client_key do not load as a key pair: tls: private key does not match public key`},
		{"ca_file on an http peer", []string{`[[pools.p.peer]]`, `addr = "a:80"`, `ca_file = "ca.pem"`}, 4,
			`pools.p.peer[0].ca_file: only https peers use TLS, and http://a:80 is http`},
		{"client certificate on a unix peer", []string{`[[pools.p.peer]]`, `addr = "unix:/s"`, `client_key = "client-key.pem"`, `client_cert = "client.pem"`}, 5,
			`pools.p.peer[0].client_cert: only https peers use TLS, and unix:/s is unix`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(cfg, []byte(poolDoc(tt.body...)))
			want := fmt.Sprintf("%s:%d: %s", cfg, tt.line, tt.want)
			if err == nil || err.Error() != want {
				t.Errorf("Parse error =\n%v\nwant\n%s", err, want)
			}
		})
	}
}
