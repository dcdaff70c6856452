package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cdnnode/cdnnode/coding"
)

// minimal is the smallest valid file: one pool, one site.
const minimal = `[pools.demo]
peers = ["127.0.0.1:8081"]

[[sites]]
name = "default"
hosts = ["*"]
pool = "demo"
`

// lines joins its arguments as lines of a document, so a case's line
// numbers can be read off its source.
func lines(ls ...string) string { return strings.Join(ls, "\n") + "\n" }

func TestParseDefaults(t *testing.T) {
	t.Setenv("CDNNODE_PURGE_TOKEN", "")
	got, err := Parse("min.toml", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Path: "min.toml",
		Server: Server{
			Listen:            []string{"127.0.0.1:8080"},
			H2C:               true,
			HTTP1:             HTTP1Fast,
			GracePeriod:       Duration(10 * time.Second),
			ReadHeaderTimeout: Duration(10 * time.Second),
			ReadTimeout:       Duration(60 * time.Second),
			WriteTimeout:      0,
			IdleTimeout:       Duration(60 * time.Second),
			MaxHeaderBytes:    64 << 10,
			Workers:           min(runtime.GOMAXPROCS(0), maxWorkers),
			Pin:               true,

			MaxURLBytes:          8 << 10,
			MaxHeaderCount:       100,
			MaxBody:              100 << 20,
			MaxConcurrentStreams: 100,
			ProxyProtocol:        "off",
		},
		Admin: Admin{Listen: "127.0.0.1:9090"},
		Purge: Purge{
			Allow:       []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")},
			TokenEnv:    "CDNNODE_PURGE_TOKEN",
			PeerTimeout: Duration(5 * time.Second),
			PeerRetries: 2,
		},
		Log: Log{Format: "text", Level: "info", Access: true},
		Cache: Cache{
			Memory:          256 << 20,
			MaxMemoryObject: 1 << 20,
			MaxObject:       1 << 30,
			TargetedField:   "Cdnnode-Cache-Control",
			HeuristicMax:    Duration(24 * time.Hour),
			LockTimeout:     Duration(5 * time.Second),
			LockAgeTimeout:  Duration(10 * time.Second),
			HitForPass:      Duration(120 * time.Second),
			Revalidations:   16,
			Disk:            Disk{Size: 10 << 30, RetryInterval: Duration(30 * time.Second)},
		},
		Compression: Compression{Types: coding.DefaultTypes(), MinSize: 512, ZstdLevel: 3, GzipLevel: 6, GzipVariantAfter: 3},
		Pools: map[string]Pool{"demo": {
			Peers:       []string{"127.0.0.1:8081"},
			PeerList:    []Peer{{Addr: "127.0.0.1:8081", Scheme: "http", Weight: 1}},
			Scheme:      "http",
			Selection:   "round_robin",
			Retries:     1,
			RetryBudget: 0.2,
			Limits:      Limits{Burst: 1, PeerBurst: 1, MaxWait: Duration(100 * time.Millisecond), MaxQueue: 64},

			ConnectTimeout:  Duration(5 * time.Second),
			ResponseTimeout: Duration(30 * time.Second),
			ReadTimeout:     Duration(30 * time.Second),
			WriteTimeout:    Duration(30 * time.Second),
			IdleTimeout:     Duration(90 * time.Second),
			TCPKeepAlive:    Duration(15 * time.Second),
			MaxIdlePerPeer:  64,
			TLSVerify:       true,
			VerifyHostname:  true,
			ALPN:            "h2h1",

			HeaderPolicy:    HeaderPolicy{Mode: "strip", StripConnectionNominated: true, H1Upgrade: "websocket"},
			ResolveInterval: Duration(30 * time.Second),
			Passive:         Passive{MaxFails: 5, Window: 20, MinRequests: 10, Cooldown: Duration(10 * time.Second)},
		}},
		Sites: []Site{{Name: "default", Hosts: []string{"*"}, Pool: "demo", Cache: true, Compress: true, MaxBody: 100 << 20, Errors: "text"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Parse(minimal) =\n%+v\nwant\n%+v", got, want)
	}
}

func TestParseExplicit(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"cert.pem", "key.pem"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("pem"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	doc := lines(
		`[server]`,
		`listen = []`,
		`h2c = false`,
		`http1 = "stdlib"`,
		`write_timeout = "1m30s"`,
		`max_header_bytes = 8192`,
		`workers = 3`,
		`pin = false`,
		`max_url_bytes = "2KiB"`,
		`max_header_count = 50`,
		`max_body = 0`,
		`max_concurrent_streams = 250`,
		`max_in_flight = 10000`,
		`max_in_flight_per_client = 64`,
		`trusted_proxies = ["10.0.0.0/8", "fd00::1"]`,
		`[[server.tls]]`,
		`listen = "127.0.0.1:0"`,
		`cert = "cert.pem"`,
		`key = "`+filepath.Join(dir, "key.pem")+`"`,
		`proxy_protocol = "v2"`,
		`[purge]`,
		`allow = ["10.0.0.0/8", "192.0.2.7", "fd00::/8"]`,
		`token = "s3cr3t-t0ken.v1~+/=="`,
		`token_env = ""`,
		`peers = ["http://10.0.0.2:9090", "HTTPS://node-3.example:9443/admin/", "http://[fd00::4]:9090/"]`,
		`peer_timeout = "750ms"`,
		`peer_retries = 0`,
		`[log]`,
		`format = "JSON"`,
		`level = "warn"`,
		`access = false`,
		`[cache]`,
		`memory = "1GiB"`,
		`max_memory_object = "64KiB"`,
		`max_object = 1_048_576`,
		`lock_timeout = "250ms"`,
		`lock_age_timeout = "1m"`,
		`hit_for_pass = "0s"`,
		`revalidations = 1`,
		`[cache.disk]`,
		`path = "cache-data"`,
		`size = "16MiB"`,
		`retry_interval = "1m"`,
		`[compression]`,
		`types = ["text/html", "Application/*+JSON"]`,
		`min_size = 0`,
		`zstd_level = 19`,
		`gzip_level = 1`,
		`gzip_variant_after = 0`,
		`[pools.tls]`,
		`peers = ["origin.example:443", "[::1]:8443"]`,
		`scheme = "https"`,
		`tls_verify = false`,
		`sni = "origin.example"`,
		`max_idle_per_peer = 0`,
		`connect_timeout = "0s"`,
		`read_timeout = "2m"`,
		`[[sites]]`,
		`name = "static"`,
		`hosts = ["Static.Example.COM", "*.cdn.example.com."]`,
		`pool = "tls"`,
		`cache = false`,
		`default_ttl = "5m"`,
		`stale_while_revalidate = "30s"`,
		`stale_if_error = "1h"`,
		`allow_set_cookie = true`,
		`query_sort = true`,
		`query_drop = ["utm_source", "fbclid"]`,
		`compress = false`,
		`[[sites]]`,
		`name = "rest"`,
		`hosts = ["*"]`,
		`pool = "tls"`,
	)
	c, err := Parse(filepath.Join(dir, "explicit.toml"), []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Server.Listen) != 0 {
		t.Errorf("Server.Listen = %q, want none (explicitly empty, with a TLS listener)", c.Server.Listen)
	}
	if c.Server.H2C || c.Server.HTTP1 != HTTP1Stdlib || c.Server.WriteTimeout.D() != 90*time.Second || c.Server.MaxHeaderBytes != 8192 || c.Server.Workers != 3 || c.Server.Pin {
		t.Errorf("Server = %+v, want h2c off, http1 stdlib, write_timeout 1m30s, max_header_bytes 8192, workers 3, pin off", c.Server)
	}
	if sv := c.Server; sv.MaxURLBytes != 2<<10 || sv.MaxHeaderCount != 50 || sv.MaxBody != 0 || sv.MaxConcurrentStreams != 250 ||
		sv.MaxInFlight != 10000 || sv.MaxInFlightPerClient != 64 || sv.ProxyProtocol != "off" ||
		!reflect.DeepEqual(sv.TrustedProxies, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::1/128")}) {
		t.Errorf("Server = %+v, want max_url_bytes 2KiB, max_header_count 50, max_body 0, max_concurrent_streams 250, "+
			"max_in_flight 10000, max_in_flight_per_client 64, trusted_proxies 10.0.0.0/8 and fd00::1/128, proxy_protocol off", c.Server)
	}
	wantTLS := []TLSListener{{Listen: "127.0.0.1:0", Cert: filepath.Join(dir, "cert.pem"), Key: filepath.Join(dir, "key.pem"), ProxyProtocol: "v2"}}
	if !reflect.DeepEqual(c.Server.TLS, wantTLS) {
		t.Errorf("Server.TLS = %+v, want %+v (relative cert resolved against the file's directory)", c.Server.TLS, wantTLS)
	}
	wantPurge := Purge{
		Allow:       []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32"), netip.MustParsePrefix("fd00::/8")},
		Token:       "s3cr3t-t0ken.v1~+/==",
		Peers:       []string{"http://10.0.0.2:9090", "https://node-3.example:9443/admin", "http://[fd00::4]:9090"},
		PeerTimeout: Duration(750 * time.Millisecond),
		PeerRetries: 0,
	}
	if !reflect.DeepEqual(c.Purge, wantPurge) {
		t.Errorf("Purge = %+v, want %+v (bare address as /32, peers normalised)", c.Purge, wantPurge)
	}
	if got, want := c.Log, (Log{Format: "json", Level: "warn", Access: false}); got != want {
		t.Errorf("Log = %+v, want %+v", got, want)
	}
	if c.Cache.Memory != 1<<30 || c.Cache.MaxMemoryObject != 64<<10 || c.Cache.MaxObject != 1<<20 {
		t.Errorf("Cache = %+v, want memory 1GiB, max_memory_object 64KiB, max_object 1MiB", c.Cache)
	}
	if c.Cache.LockTimeout.D() != 250*time.Millisecond || c.Cache.LockAgeTimeout.D() != time.Minute || c.Cache.HitForPass != 0 || c.Cache.Revalidations != 1 {
		t.Errorf("Cache = %+v, want lock_timeout 250ms, lock_age_timeout 1m, hit_for_pass off, revalidations 1", c.Cache)
	}
	wantDisk := Disk{Path: filepath.Join(dir, "cache-data"), Size: 16 << 20, RetryInterval: Duration(time.Minute)}
	if c.Cache.Disk != wantDisk {
		t.Errorf("Cache.Disk = %+v, want %+v (relative path resolved against the file's directory)", c.Cache.Disk, wantDisk)
	}
	wantCompression := Compression{Types: []string{"text/html", "Application/*+JSON"}, MinSize: 0, ZstdLevel: 19, GzipLevel: 1, GzipVariantAfter: 0}
	if !reflect.DeepEqual(c.Compression, wantCompression) {
		t.Errorf("Compression = %+v, want %+v", c.Compression, wantCompression)
	}
	wantPool := Pool{
		Peers:       []string{"origin.example:443", "[::1]:8443"},
		PeerList:    []Peer{{Addr: "origin.example:443", Scheme: "https", Weight: 1}, {Addr: "[::1]:8443", Scheme: "https", Weight: 1}},
		Scheme:      "https",
		Selection:   "round_robin",
		Retries:     1,
		RetryBudget: 0.2,
		Limits:      Limits{Burst: 1, PeerBurst: 1, MaxWait: Duration(100 * time.Millisecond), MaxQueue: 64},

		ConnectTimeout:  0,
		ResponseTimeout: Duration(30 * time.Second),
		ReadTimeout:     Duration(2 * time.Minute),
		WriteTimeout:    Duration(30 * time.Second),
		IdleTimeout:     Duration(90 * time.Second),
		TCPKeepAlive:    Duration(15 * time.Second),
		MaxIdlePerPeer:  0,
		TLSVerify:       false,
		VerifyHostname:  true,
		SNI:             "origin.example",
		ALPN:            "h2h1",

		HeaderPolicy:    HeaderPolicy{Mode: "strip", StripConnectionNominated: true, H1Upgrade: "websocket"},
		ResolveInterval: Duration(30 * time.Second),
		Passive:         Passive{MaxFails: 5, Window: 20, MinRequests: 10, Cooldown: Duration(10 * time.Second)},
	}
	if got := c.Pools["tls"]; !reflect.DeepEqual(got, wantPool) {
		t.Errorf("Pools[tls] = %+v, want %+v", got, wantPool)
	}
	wantSite := Site{
		Name:           "static",
		Hosts:          []string{"static.example.com", "*.cdn.example.com"},
		Pool:           "tls",
		Cache:          false,
		DefaultTTL:     Duration(5 * time.Minute),
		AllowSetCookie: true,
		QuerySort:      true,
		QueryDrop:      []string{"utm_source", "fbclid"},

		StaleWhileRevalidate: Duration(30 * time.Second),
		StaleIfError:         Duration(time.Hour),
		Errors:               "text",
	}
	if len(c.Sites) != 2 || !reflect.DeepEqual(c.Sites[0], wantSite) || c.Sites[1].Name != "rest" || !c.Sites[1].Cache || !c.Sites[1].Compress {
		t.Errorf("Sites = %+v, want [%+v, rest with cache and compress on]", c.Sites, wantSite)
	}
}

// TestParseWorkers checks that workers = 0, written or by default,
// becomes GOMAXPROCS at parse time.
func TestParseWorkers(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(3))
	tests := []struct {
		name string
		doc  string
		want int
	}{
		{"default", minimal, 3},
		{"zero", lines(`[server]`, `workers = 0`) + minimal, 3},
		{"explicit", lines(`[server]`, `workers = 1024`) + minimal, 1024},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("w.toml", []byte(tt.doc))
			if err != nil {
				t.Fatal(err)
			}
			if c.Server.Workers != tt.want {
				t.Errorf("Server.Workers = %d, want %d", c.Server.Workers, tt.want)
			}
		})
	}
}

// TestParseLocksAndStale checks the request-coalescing keys of [cache] and
// the stale windows of [[sites]]: their defaults, and values at the edges
// of what each accepts.
func TestParseLocksAndStale(t *testing.T) {
	type locks struct {
		lockTimeout, lockAgeTimeout, hitForPass time.Duration
		revalidations                           int
	}
	type stale struct{ whileRevalidate, ifError time.Duration }
	defaults := locks{5 * time.Second, 10 * time.Second, 120 * time.Second, 16}
	tests := []struct {
		name      string
		doc       string
		wantLocks locks
		wantStale stale
	}{
		{"defaults", minimal, defaults, stale{}},
		{"defaults with an empty [cache]", lines(`[cache]`) + minimal, defaults, stale{}},
		{"short lock timeouts", lines(`[cache]`, `lock_timeout = "1ms"`, `lock_age_timeout = "1ns"`) + minimal, locks{time.Millisecond, time.Nanosecond, 120 * time.Second, 16}, stale{}},
		{"lock_timeout above lock_age_timeout", lines(`[cache]`, `lock_timeout = "1m"`, `lock_age_timeout = "30s"`) + minimal, locks{time.Minute, 30 * time.Second, 120 * time.Second, 16}, stale{}},
		{"hit_for_pass off", lines(`[cache]`, `hit_for_pass = "0s"`) + minimal, locks{5 * time.Second, 10 * time.Second, 0, 16}, stale{}},
		{"hit_for_pass in minutes", lines(`[cache]`, `hit_for_pass = "5m"`) + minimal, locks{5 * time.Second, 10 * time.Second, 5 * time.Minute, 16}, stale{}},
		{"one revalidation", lines(`[cache]`, `revalidations = 1`) + minimal, locks{5 * time.Second, 10 * time.Second, 120 * time.Second, 1}, stale{}},
		{"many revalidations", lines(`[cache]`, `revalidations = 1_000`) + minimal, locks{5 * time.Second, 10 * time.Second, 120 * time.Second, 1000}, stale{}},
		{"stale windows", minimal + lines(`stale_while_revalidate = "30s"`, `stale_if_error = "24h"`), defaults, stale{30 * time.Second, 24 * time.Hour}},
		{"stale windows written as zero", minimal + lines(`stale_while_revalidate = "0s"`, `stale_if_error = "0"`), defaults, stale{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("s.toml", []byte(tt.doc))
			if err != nil {
				t.Fatal(err)
			}
			cc := c.Cache
			if got := (locks{cc.LockTimeout.D(), cc.LockAgeTimeout.D(), cc.HitForPass.D(), cc.Revalidations}); got != tt.wantLocks {
				t.Errorf("Cache lock_timeout, lock_age_timeout, hit_for_pass, revalidations = %+v, want %+v", got, tt.wantLocks)
			}
			s := c.Sites[0]
			if got := (stale{s.StaleWhileRevalidate.D(), s.StaleIfError.D()}); got != tt.wantStale {
				t.Errorf("Sites[0] stale_while_revalidate, stale_if_error = %+v, want %+v", got, tt.wantStale)
			}
		})
	}
}

// TestParsePurge checks [purge] values at the edges of what each key
// accepts, and where the token comes from.
func TestParsePurge(t *testing.T) {
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	tests := []struct {
		name      string
		env       map[string]string
		doc       string
		wantAllow []netip.Prefix
		wantToken Secret
		wantPeers []string
		retries   int
	}{
		{"defaults", nil, minimal, loopback, "", nil, 2},
		{"empty [purge]", nil, lines(`[purge]`) + minimal, loopback, "", nil, 2},
		{"nobody may purge", nil, lines(`[purge]`, `allow = []`) + minimal, nil, "", nil, 2},
		{"whole address spaces", nil, lines(`[purge]`, `allow = ["0.0.0.0/0", "::/0"]`) + minimal, []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}, "", nil, 2},
		{"token from the default variable", map[string]string{"CDNNODE_PURGE_TOKEN": "from-env"}, minimal, loopback, "from-env", nil, 2},
		{"token from the variable, whitespace trimmed", map[string]string{"CDNNODE_PURGE_TOKEN": " from-env\n"}, minimal, loopback, "from-env", nil, 2},
		{"token from a named variable", map[string]string{"CDNNODE_PURGE_TOKEN": "", "MY_PURGE_TOKEN": "mine"}, lines(`[purge]`, `token_env = "MY_PURGE_TOKEN"`) + minimal, loopback, "mine", nil, 2},
		{"file token wins over the variable", map[string]string{"CDNNODE_PURGE_TOKEN": "from-env"}, lines(`[purge]`, `token = "from-file"`) + minimal, loopback, "from-file", nil, 2},
		{"empty file token falls back to the variable", map[string]string{"CDNNODE_PURGE_TOKEN": "from-env"}, lines(`[purge]`, `token = ""`) + minimal, loopback, "from-env", nil, 2},
		{"token_env off", map[string]string{"CDNNODE_PURGE_TOKEN": "from-env"}, lines(`[purge]`, `token_env = ""`) + minimal, loopback, "", nil, 2},
		{"peers normalised", nil, lines(`[purge]`, `peers = ["http://node2:9090/", "https://node3.example/cdn/admin//"]`) + minimal, loopback, "", []string{"http://node2:9090", "https://node3.example/cdn/admin"}, 2},
		{"most retries", nil, lines(`[purge]`, `peer_retries = 10`) + minimal, loopback, "", nil, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("CDNNODE_PURGE_TOKEN", "")
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			c, err := Parse("p.toml", []byte(tt.doc))
			if err != nil {
				t.Fatal(err)
			}
			p := c.Purge
			if !reflect.DeepEqual(p.Allow, tt.wantAllow) {
				t.Errorf("Purge.Allow = %v, want %v", p.Allow, tt.wantAllow)
			}
			if p.Token != tt.wantToken {
				t.Errorf("Purge.Token = %q, want %q", string(p.Token), string(tt.wantToken))
			}
			if !reflect.DeepEqual(p.Peers, tt.wantPeers) {
				t.Errorf("Purge.Peers = %q, want %q", p.Peers, tt.wantPeers)
			}
			if p.PeerRetries != tt.retries {
				t.Errorf("Purge.PeerRetries = %d, want %d", p.PeerRetries, tt.retries)
			}
		})
	}
}

// TestParseCompression checks [compression] and the sites' compress key:
// their defaults, and values at the edges of what each accepts.
func TestParseCompression(t *testing.T) {
	defaults := Compression{Types: coding.DefaultTypes(), MinSize: 512, ZstdLevel: 3, GzipLevel: 6, GzipVariantAfter: 3}
	with := func(f func(*Compression)) Compression {
		c := defaults
		c.Types = coding.DefaultTypes()
		f(&c)
		return c
	}
	tests := []struct {
		name         string
		doc          string
		want         Compression
		wantCompress bool
	}{
		{"defaults", minimal, defaults, true},
		{"defaults with an empty [compression]", lines(`[compression]`) + minimal, defaults, true},
		{"site compress off", minimal + lines(`compress = false`), defaults, false},
		{"site compress written as the default", minimal + lines(`compress = true`), defaults, true},
		{"types replace the defaults", lines(`[compression]`, `types = ["text/html", "application/*+json", "model/*"]`) + minimal,
			with(func(c *Compression) { c.Types = []string{"text/html", "application/*+json", "model/*"} }), true},
		{"types kept as written", lines(`[compression]`, `types = ["TEXT/*", "Application/JSON"]`) + minimal,
			with(func(c *Compression) { c.Types = []string{"TEXT/*", "Application/JSON"} }), true},
		{"no types", lines(`[compression]`, `types = []`) + minimal, with(func(c *Compression) { c.Types = []string{} }), true},
		{"min_size 0", lines(`[compression]`, `min_size = 0`) + minimal, with(func(c *Compression) { c.MinSize = 0 }), true},
		{"min_size at most", lines(`[compression]`, `min_size = "1MiB"`) + minimal, with(func(c *Compression) { c.MinSize = 1 << 20 }), true},
		{"min_size in bytes", lines(`[compression]`, `min_size = 1400`) + minimal, with(func(c *Compression) { c.MinSize = 1400 }), true},
		{"fastest levels", lines(`[compression]`, `zstd_level = 1`, `gzip_level = 1`) + minimal, with(func(c *Compression) { c.ZstdLevel, c.GzipLevel = 1, 1 }), true},
		{"smallest levels", lines(`[compression]`, `zstd_level = 22`, `gzip_level = 9`) + minimal, with(func(c *Compression) { c.ZstdLevel, c.GzipLevel = 22, 9 }), true},
		{"never store a gzip variant", lines(`[compression]`, `gzip_variant_after = 0`) + minimal, with(func(c *Compression) { c.GzipVariantAfter = 0 }), true},
		{"most requests before a gzip variant", lines(`[compression]`, `gzip_variant_after = 1000`) + minimal, with(func(c *Compression) { c.GzipVariantAfter = 1000 }), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("c.toml", []byte(tt.doc))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c.Compression, tt.want) {
				t.Errorf("Compression = %+v, want %+v", c.Compression, tt.want)
			}
			if got := c.Sites[0].Compress; got != tt.wantCompress {
				t.Errorf("Sites[0].Compress = %v, want %v", got, tt.wantCompress)
			}
		})
	}
}

// TestParseCompressionErrors checks the whole message of each broken
// [compression] rule, and of a bad site compress key.
func TestParseCompressionErrors(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want string
	}{
		{"zstd_level too high", lines(`[compression]`, `zstd_level = 30`) + minimal,
			`c.toml:2: compression.zstd_level: 30 is out of range: want 1 to 22`},
		{"zstd_level 0", lines(`[compression]`, `zstd_level = 0`) + minimal,
			`c.toml:2: compression.zstd_level: 0 is out of range: want 1 to 22`},
		{"gzip_level too high", lines(`[compression]`, `gzip_level = 10`) + minimal,
			`c.toml:2: compression.gzip_level: 10 is out of range: want 1 to 9`},
		{"negative gzip_level", lines(`[compression]`, `gzip_level = -1`) + minimal,
			`c.toml:2: compression.gzip_level: -1 is out of range: want 1 to 9`},
		{"negative gzip_variant_after", lines(`[compression]`, `gzip_variant_after = -1`) + minimal,
			`c.toml:2: compression.gzip_variant_after: -1 is out of range: want 0 to 1000`},
		{"gzip_variant_after too high", lines(`[compression]`, `gzip_variant_after = 1001`) + minimal,
			`c.toml:2: compression.gzip_variant_after: 1001 is out of range: want 0 to 1000`},
		{"min_size too large", lines(`[compression]`, `min_size = "2MiB"`) + minimal,
			`c.toml:2: compression.min_size: 2MiB is above the maximum of 1MiB`},
		{"min_size just too large", lines(`[compression]`, `min_size = 1_048_577`) + minimal,
			`c.toml:2: compression.min_size: 1048577B is above the maximum of 1MiB`},
		{"negative min_size", lines(`[compression]`, `min_size = -1`) + minimal,
			`c.toml:2: compression.min_size: invalid size -1: negative`},
		{"bad min_size", lines(`[compression]`, `min_size = "half a KiB"`) + minimal,
			`c.toml:2: compression.min_size: invalid size "half a KiB": want digits and an optional unit such as 256MiB`},
		{"type with parameters", lines(`[compression]`, `types = ["text/*", "text/html; charset=utf-8"]`) + minimal,
			`c.toml:2: compression.types[1]: media type pattern "text/html; charset=utf-8": parameters are not allowed`},
		{"type without subtype", lines(`[compression]`, `types = [`, `  "application/json",`, `  "text",`, `]`) + minimal,
			`c.toml:4: compression.types[1]: media type pattern "text": want type/subtype, type/* or type/*+suffix`},
		{"any type", lines(`[compression]`, `types = ["*/*"]`) + minimal,
			`c.toml:2: compression.types[0]: media type pattern "*/*": invalid type "*": want a letter or digit, then letters, digits and !#$&-^_.+ (RFC 6838 §4.2)`},
		{"prefix wildcard", lines(`[compression]`, `types = ["application/vnd.*"]`) + minimal,
			`c.toml:2: compression.types[0]: media type pattern "application/vnd.*": invalid subtype "vnd.*": want a name, "*" or "*+suffix"`},
		{"every bad type is reported", lines(`[compression]`, `types = [`, `  "text/",`, `  "/json",`, `]`) + minimal,
			`c.toml:3: compression.types[0]: media type pattern "text/": invalid subtype "": want a name, "*" or "*+suffix"` + "\n" +
				`c.toml:4: compression.types[1]: media type pattern "/json": invalid type "": want a letter or digit, then letters, digits and !#$&-^_.+ (RFC 6838 §4.2)`},
		{"wrong type: types given a string", lines(`[compression]`, `types = "text/*"`) + minimal,
			`c.toml:2: compression.types: wrong type: got string, want array of strings`},
		{"wrong type: zstd_level given a string", lines(`[compression]`, `zstd_level = "3"`) + minimal,
			`c.toml:2: compression.zstd_level: wrong type: got string, want integer`},
		{"unknown key in [compression]", lines(`[compression]`, `level = 3`) + minimal,
			`c.toml:2: unknown key "level" in [compression]`},
		{"wrong type: compress given a string", minimal + lines(`compress = "yes"`),
			`c.toml:8: sites.compress: wrong type: got string, want boolean`},
		{"compress in [compression]", lines(`[compression]`, `compress = true`) + minimal,
			`c.toml:2: unknown key "compress" in [compression]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("c.toml", []byte(tt.doc))
			if err == nil {
				t.Fatalf("Parse succeeded, want %q; document:\n%s", tt.want, tt.doc)
			}
			if err.Error() != tt.want {
				t.Errorf("Parse error =\n%s\nwant\n%s", err, tt.want)
			}
		})
	}
}

// TestParsePurgeTokenFromEnvInvalid checks that a bad token in the
// environment is reported at token_env's line without its value.
func TestParsePurgeTokenFromEnvInvalid(t *testing.T) {
	t.Setenv("CDNNODE_PURGE_TOKEN", "not a token")
	_, err := Parse("e.toml", []byte(minimal))
	var e *Error
	if !errors.As(err, &e) || e.Line != 1 || !strings.Contains(e.Msg, "purge.token_env: $CDNNODE_PURGE_TOKEN does not hold a valid bearer token") {
		t.Fatalf("Parse = %v, want line 1: purge.token_env: $CDNNODE_PURGE_TOKEN does not hold a valid bearer token", err)
	}
	if strings.Contains(err.Error(), "not a token") {
		t.Errorf("Parse error %q shows the token", err)
	}
	doc := lines(`[purge]`, `token_env = "CDNNODE_PURGE_TOKEN"`) + minimal
	if _, err := Parse("e.toml", []byte(doc)); !errors.As(err, &e) || e.Line != 2 {
		t.Errorf("Parse = %v, want an error at line 2, where token_env is written", err)
	}
}

// TestSecretRedacted checks that a token never shows when a Config is
// printed or logged.
func TestSecretRedacted(t *testing.T) {
	c, err := Parse("s.toml", []byte(lines(`[purge]`, `token = "hunter2"`)+minimal))
	if err != nil {
		t.Fatal(err)
	}
	var logged strings.Builder
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", "purge", c.Purge.Token, "cfg", c)
	for _, out := range []string{fmt.Sprint(c.Purge), fmt.Sprintf("%+v", *c), fmt.Sprintf("%#v", c.Purge), logged.String()} {
		if strings.Contains(out, "hunter2") {
			t.Errorf("output shows the token: %s", out)
		}
		if !strings.Contains(out, "[redacted]") {
			t.Errorf("output %s does not say [redacted]", out)
		}
	}
	if string(c.Purge.Token) != "hunter2" {
		t.Errorf("string(Token) = %q, want the value", string(c.Purge.Token))
	}
}

// TestParseDiskOff checks that without a path the disk tier's size is not
// held to its minimum, and that an absolute path is kept as written.
func TestParseDiskOff(t *testing.T) {
	c, err := Parse("d.toml", []byte(lines(`[cache.disk]`, `size = "1MiB"`)+minimal))
	if err != nil {
		t.Fatal(err)
	}
	if want := (Disk{Size: 1 << 20, RetryInterval: Duration(30 * time.Second)}); c.Cache.Disk != want {
		t.Errorf("Cache.Disk = %+v, want %+v", c.Cache.Disk, want)
	}
	abs := filepath.Join(t.TempDir(), "disk")
	c, err = Parse("sub/d.toml", []byte(lines(`[cache.disk]`, `path = "`+abs+`"`)+minimal))
	if err != nil {
		t.Fatal(err)
	}
	if c.Cache.Disk.Path != abs {
		t.Errorf("Cache.Disk.Path = %q, want %q", c.Cache.Disk.Path, abs)
	}
}

// TestParseErrors checks that each broken rule is reported at the line of
// the offending key, or of its table when the key is missing.
func TestParseErrors(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "key.pem"), []byte("pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		doc  string
		line int
		want string // substring of the message
	}{
		{"syntax error", lines(`[server`), 1, ""},
		{"unknown key", lines(`[server]`, `listn = ["127.0.0.1:1"]`) + minimal, 2, `unknown key "listn" in [server]`},
		{"unknown table", lines(`[servr]`, `listen = []`) + minimal, 1, `unknown table [servr]`},
		{"unknown top-level key", lines(`version = 2`) + minimal, 1, `unknown key "version"`},
		{"unknown key in a site", minimal + lines(`defualt_ttl = "10s"`), 8, `unknown key "defualt_ttl" in [[sites]]`},
		{"unknown key in a pool", lines(`[pools.demo]`, `peers = ["127.0.0.1:8081"]`, `sceme = "http"`, `[[sites]]`, `name = "a"`, `hosts = ["*"]`, `pool = "demo"`), 3, `unknown key "sceme" in [pools.demo]`},
		{"unknown key in a tls listener", lines(`[[server.tls]]`, `listen = "127.0.0.1:0"`, `crt = "x"`) + minimal, 3, `unknown key "crt" in [[server.tls]]`},
		{"duplicate key", lines(`[log]`, `level = "info"`, `level = "warn"`) + minimal, 3, `already defined`},
		{"wrong type: size given a boolean", lines(`[cache]`, `memory = true`) + minimal, 2, `cache.memory: wrong type: got boolean`},
		{"wrong type: size given a float", lines(`[cache]`, `memory = 1.5`) + minimal, 2, `cache.memory: wrong type: got float`},
		{"unknown http1 engine", lines(`[server]`, `http1 = "nginx"`) + minimal, 2, `server.http1: invalid http1 "nginx": want "fast" or "stdlib"`},
		{"wrong type: boolean given a string", lines(`[server]`, `h2c = "yes"`) + minimal, 2, `server.h2c: wrong type: got string, want boolean`},
		{"wrong type: list given a string", lines(`[server]`, `listen = "127.0.0.1:8080"`) + minimal, 2, `server.listen: wrong type: got string, want array of strings`},
		{"wrong type: table given a string", lines(`cache = "big"`) + minimal, 1, `cache: wrong type: got string, want table`},
		{"wrong type: duration given an integer", lines(`[server]`, `grace_period = 10`) + minimal, 2, `server.grace_period: wrong type: got integer, want a duration string`},
		{"bad duration", lines(`[server]`, `grace_period = "5 s"`) + minimal, 2, `server.grace_period: invalid duration "5 s"`},
		{"bad duration in a pool", strings.Replace(minimal, "[pools.demo]\n", "[pools.demo]\nconnect_timeout = \"5 parsecs\"\n", 1), 2, `pools.demo.connect_timeout: invalid duration "5 parsecs"`},
		{"negative duration", lines(`[cache]`, `heuristic_max = "-1h"`) + minimal, 2, `cache.heuristic_max: invalid duration "-1h": negative`},
		{"bad duration in a site", minimal + lines(`default_ttl = "forever"`), 8, `sites[0].default_ttl: invalid duration "forever"`},
		{"bad size", lines(`[cache]`, `memory = "12 parsecs"`) + minimal, 2, `cache.memory: invalid size "12 parsecs": unknown unit`},
		{"negative size string", lines(`[cache]`, `memory = "-5MiB"`) + minimal, 2, `cache.memory: invalid size "-5MiB": negative`},
		{"negative size integer", lines(`[server]`, `max_header_bytes = -5`) + minimal, 2, `server.max_header_bytes: invalid size -5: negative`},
		{"zero max_header_bytes", lines(`[server]`, `max_header_bytes = 0`) + minimal, 2, `server.max_header_bytes: must be positive`},
		{"memory below minimum", lines(`[cache]`, `memory = "512KiB"`) + minimal, 2, `cache.memory: 512KiB is below the minimum of 1MiB`},
		{"negative workers", lines(`[server]`, `workers = -1`) + minimal, 2, `server.workers: -1 is out of range: want 0 (one per CPU) to 1024`},
		{"too many workers", lines(`[server]`, `workers = 1025`) + minimal, 2, `server.workers: 1025 is out of range`},
		{"wrong type: workers given a string", lines(`[server]`, `workers = "4"`) + minimal, 2, `server.workers: wrong type: got string, want integer`},
		{"wrong type: pin given a string", lines(`[server]`, `pin = "yes"`) + minimal, 2, `server.pin: wrong type: got string, want boolean`},
		{"old key max_object_size", lines(`[cache]`, `max_object_size = "16MiB"`) + minimal, 2, `unknown key "max_object_size" in [cache]`},
		{"zero max_memory_object", lines(`[cache]`, `max_memory_object = 0`) + minimal, 2, `cache.max_memory_object: must be positive`},
		{"bad max_memory_object", lines(`[cache]`, `max_memory_object = "1 MiB!"`) + minimal, 2, `cache.max_memory_object: invalid size "1 MiB!"`},
		{"max_memory_object above memory", lines(`[cache]`, `memory = "2MiB"`, `max_memory_object = "4MiB"`, `max_object = "8MiB"`) + minimal, 3, `cache.max_memory_object: 4MiB is larger than cache.memory (2MiB)`},
		{"max_object below max_memory_object", lines(`[cache]`, `max_memory_object = "2MiB"`, `max_object = "1MiB"`) + minimal, 3, `cache.max_object: 1MiB is smaller than cache.max_memory_object (2MiB)`},
		{"zero max_object", lines(`[cache]`, `max_object = 0`) + minimal, 2, `cache.max_object: 0B is smaller than cache.max_memory_object (1MiB)`},
		{"bad max_object", lines(`[cache]`, `max_object = -1`) + minimal, 2, `cache.max_object: invalid size -1: negative`},
		{"max_memory_object above default max_object", lines(`[cache]`, `memory = "4GiB"`, `max_memory_object = "2GiB"`) + minimal, 3, `cache.max_memory_object: 2GiB is larger than cache.max_object (1GiB, the default)`},
		{"wrong type: disk given a string", lines(`[cache]`, `disk = "./d"`) + minimal, 2, `cache.disk: wrong type: got string, want table`},
		{"unknown key in cache.disk", lines(`[cache.disk]`, `pth = "d"`) + minimal, 2, `unknown key "pth" in [cache.disk]`},
		{"wrong type: disk path given an integer", lines(`[cache.disk]`, `path = 1`) + minimal, 2, `cache.disk.path: wrong type: got integer, want string`},
		{"disk size below minimum", lines(`[cache.disk]`, `path = "d"`, `size = "8MiB"`) + minimal, 3, `cache.disk.size: 8MiB is below the minimum of 16MiB`},
		{"bad disk size", lines(`[cache.disk]`, `size = "lots"`) + minimal, 2, `cache.disk.size: invalid size "lots"`},
		{"zero disk retry_interval", lines(`[cache.disk]`, `retry_interval = "0s"`) + minimal, 2, `cache.disk.retry_interval: must be positive`},
		{"negative disk retry_interval", lines(`[cache.disk]`, `retry_interval = "-1s"`) + minimal, 2, `cache.disk.retry_interval: invalid duration "-1s": negative`},
		{"wrong type: disk retry_interval given an integer", lines(`[cache.disk]`, `retry_interval = 30`) + minimal, 2, `cache.disk.retry_interval: wrong type: got integer, want a duration string`},
		{"zero lock_timeout", lines(`[cache]`, `lock_timeout = "0s"`) + minimal, 2, `cache.lock_timeout: must be positive`},
		{"negative lock_timeout", lines(`[cache]`, `lock_timeout = "-5s"`) + minimal, 2, `cache.lock_timeout: invalid duration "-5s": negative`},
		{"bad lock_timeout", lines(`[cache]`, `lock_timeout = "5"`) + minimal, 2, `cache.lock_timeout: invalid duration "5"`},
		{"wrong type: lock_timeout given an integer", lines(`[cache]`, `lock_timeout = 5`) + minimal, 2, `cache.lock_timeout: wrong type: got integer, want a duration string`},
		{"zero lock_age_timeout", lines(`[cache]`, `lock_timeout = "1s"`, `lock_age_timeout = "0ms"`) + minimal, 3, `cache.lock_age_timeout: must be positive`},
		{"negative lock_age_timeout", lines(`[cache]`, `lock_age_timeout = "-10s"`) + minimal, 2, `cache.lock_age_timeout: invalid duration "-10s": negative`},
		{"wrong type: lock_age_timeout given a boolean", lines(`[cache]`, `lock_age_timeout = true`) + minimal, 2, `cache.lock_age_timeout: wrong type: got boolean, want a duration string`},
		{"negative hit_for_pass", lines(`[cache]`, `hit_for_pass = "-2m"`) + minimal, 2, `cache.hit_for_pass: invalid duration "-2m": negative`},
		{"bad hit_for_pass", lines(`[cache]`, `hit_for_pass = "off"`) + minimal, 2, `cache.hit_for_pass: invalid duration "off"`},
		{"wrong type: hit_for_pass given an integer", lines(`[cache]`, `hit_for_pass = 120`) + minimal, 2, `cache.hit_for_pass: wrong type: got integer, want a duration string`},
		{"zero revalidations", lines(`[cache]`, `revalidations = 0`) + minimal, 2, `cache.revalidations: 0 is out of range: want at least 1`},
		{"negative revalidations", lines(`[cache]`, `revalidations = -16`) + minimal, 2, `cache.revalidations: -16 is out of range: want at least 1`},
		{"wrong type: revalidations given a string", lines(`[cache]`, `revalidations = "16"`) + minimal, 2, `cache.revalidations: wrong type: got string, want integer`},
		{"wrong type: revalidations given a float", lines(`[cache]`, `revalidations = 1.5`) + minimal, 2, `cache.revalidations: wrong type: got float, want integer`},
		{"negative stale_while_revalidate", minimal + lines(`stale_while_revalidate = "-1s"`), 8, `sites[0].stale_while_revalidate: invalid duration "-1s": negative`},
		{"bad stale_while_revalidate", minimal + lines(`stale_while_revalidate = "1 minute"`), 8, `sites[0].stale_while_revalidate: invalid duration "1 minute"`},
		{"wrong type: stale_while_revalidate given an integer", minimal + lines(`stale_while_revalidate = 30`), 8, `sites[0].stale_while_revalidate: wrong type: got integer, want a duration string`},
		{"negative stale_if_error", minimal + lines(`stale_if_error = "-1h"`), 8, `sites[0].stale_if_error: invalid duration "-1h": negative`},
		{"bad stale_if_error in a second site", minimal + lines(``, `[[sites]]`, `name = "b"`, `hosts = ["b.example"]`, `pool = "demo"`, `stale_if_error = "1d"`), 13, `sites[1].stale_if_error: invalid duration "1d"`},
		{"wrong type: stale_if_error given a boolean", minimal + lines(`stale_if_error = false`), 8, `sites[0].stale_if_error: wrong type: got boolean, want a duration string`},
		{"stale key in [cache]", lines(`[cache]`, `stale_if_error = "1m"`) + minimal, 2, `unknown key "stale_if_error" in [cache]`},
		{"bad targeted field", lines(`[cache]`, `targeted_field = "My Field"`) + minimal, 2, `cache.targeted_field: invalid field name "My Field"`},
		{"bad log format", lines(`[log]`, `format = "xml"`) + minimal, 2, `log.format: invalid format "xml"`},
		{"bad log level", lines(`[log]`, `level = "loud"`) + minimal, 2, `log.level: invalid level "loud"`},
		{"site pool names a missing pool", strings.Replace(minimal, `pool = "demo"`, `pool = "nope"`, 1), 7, `sites[0].pool: no pool "nope"`},
		{"site without pool", strings.Replace(minimal, "pool = \"demo\"\n", "", 1), 4, `sites[0].pool: a site needs a pool`},
		{"duplicate site name", minimal + lines(``, `[[sites]]`, `name = "default"`, `hosts = ["example.com"]`, `pool = "demo"`), 10, `sites[1].name: duplicate site name "default"`},
		{"site without name", strings.Replace(minimal, "name = \"default\"\n", "", 1), 4, `sites[0].name: a site needs a non-empty name`},
		{"site with empty hosts", strings.Replace(minimal, `hosts = ["*"]`, `hosts = []`, 1), 6, `sites[0].hosts: a site needs at least one host pattern`},
		{"site without hosts", strings.Replace(minimal, "hosts = [\"*\"]\n", "", 1), 4, `sites[0].hosts: a site needs at least one host pattern`},
		{"host pattern with inner star", strings.Replace(minimal, `hosts = ["*"]`, `hosts = ["a*b.com"]`, 1), 6, `sites[0].hosts[0]: invalid host pattern "a*b.com"`},
		{"host pattern with scheme", strings.Replace(minimal, `hosts = ["*"]`, "hosts = [\n  \"example.com\",\n  \"http://x\",\n]", 1), 8, `sites[0].hosts[1]: invalid host pattern "http://x"`},
		{"host pattern with port", strings.Replace(minimal, `hosts = ["*"]`, `hosts = ["example.com:8080"]`, 1), 6, `carries no port`},
		{"no sites", lines(`[pools.demo]`, `peers = ["127.0.0.1:8081"]`), 1, `at least one site is required`},
		{"pool with empty peers", strings.Replace(minimal, `peers = ["127.0.0.1:8081"]`, `peers = []`, 1), 2, `pools.demo.peers: a pool needs at least one peer`},
		{"pool without peers", strings.Replace(minimal, "peers = [\"127.0.0.1:8081\"]\n", "scheme = \"http\"\n", 1), 1, `pools.demo.peers: a pool needs at least one peer`},
		{"peer without port", strings.Replace(minimal, `"127.0.0.1:8081"`, `"127.0.0.1"`, 1), 2, `pools.demo.peers[0]: invalid peer "127.0.0.1": want host:port`},
		{"peer with port 0", strings.Replace(minimal, `"127.0.0.1:8081"`, `"127.0.0.1:0"`, 1), 2, `not a number in 1-65535`},
		{"peer with a URL path", strings.Replace(minimal, `"127.0.0.1:8081"`, `"http://a:1/"`, 1), 2, `pools.demo.peers[0]: invalid peer "http://a:1/": want host:port, with no path`},
		{"bad pool scheme", strings.Replace(minimal, "[pools.demo]\n", "[pools.demo]\nscheme = \"ftp\"\n", 1), 2, `pools.demo.scheme: invalid scheme "ftp"`},
		{"negative max_idle_per_peer", strings.Replace(minimal, "[pools.demo]\n", "[pools.demo]\nmax_idle_per_peer = -1\n", 1), 2, `pools.demo.max_idle_per_peer: must not be negative`},
		{"bad sni", strings.Replace(minimal, "[pools.demo]\n", "[pools.demo]\nsni = \"a b\"\n", 1), 2, `pools.demo.sni: invalid server name "a b"`},
		{"quoted pool name in messages", lines(`[pools."my pool"]`, `peers = []`) + strings.Replace(minimal, `pool = "demo"`, `pool = "my pool"`, 1), 2, `pools."my pool".peers: a pool needs at least one peer`},
		{"tls cert missing", lines(`[[server.tls]]`, `listen = "127.0.0.1:0"`, `cert = "missing.pem"`, `key = "key.pem"`) + minimal, 3, `server.tls[0].cert: stat ` + filepath.Join(dir, "missing.pem")},
		{"tls key is a directory", lines(`[[server.tls]]`, `listen = "127.0.0.1:0"`, `cert = "key.pem"`, `key = "."`) + minimal, 4, `server.tls[0].key: ` + dir + ` is not a regular file`},
		{"tls without key", lines(`[server]`, `[[server.tls]]`, `listen = "127.0.0.1:0"`, `cert = "key.pem"`) + minimal, 2, `server.tls[0]: missing required key key`},
		{"tls bad listen", lines(`[[server.tls]]`, `listen = "localhost"`, `cert = "key.pem"`, `key = "key.pem"`) + minimal, 2, `server.tls[0].listen: invalid address "localhost"`},
		{"no listeners", lines(`[server]`, `listen = []`) + minimal, 2, `server.listen: no listeners`},
		{"bad listen port", lines(`[server]`, `listen = ["127.0.0.1:80", "127.0.0.1:99999"]`) + minimal, 2, `server.listen[1]: invalid address "127.0.0.1:99999": port "99999"`},
		{"same address twice", lines(`[server]`, `listen = ["127.0.0.1:8080"]`, `[admin]`, `listen = "127.0.0.1:8080"`) + minimal, 4, `admin.listen: address 127.0.0.1:8080 is already used`},
		{"admin listen invalid", lines(`[admin]`, `listen = "nope"`) + minimal, 2, `admin.listen: invalid address "nope"`},
		{"admin listen empty", lines(`[admin]`, `listen = ""`) + minimal, 2, `admin.listen: invalid address ""`},
		{"unknown key in purge", lines(`[purge]`, `allowed = []`) + minimal, 2, `unknown key "allowed" in [purge]`},
		{"wrong type: allow given a string", lines(`[purge]`, `allow = "127.0.0.1/8"`) + minimal, 2, `purge.allow: wrong type: got string, want array of strings`},
		{"bad allow CIDR", lines(`[purge]`, `allow = ["127.0.0.0/8", "10.0.0.0/33"]`) + minimal, 2, `purge.allow[1]: invalid network "10.0.0.0/33": want a CIDR`},
		{"allow given a host name", lines(`[purge]`, `allow = [`, `  "::1/128",`, `  "localhost",`, `]`) + minimal, 4, `purge.allow[1]: invalid network "localhost"`},
		{"allow with host bits set", lines(`[purge]`, `allow = ["10.1.2.3/8"]`) + minimal, 2, `purge.allow[0]: invalid network "10.1.2.3/8": address bits set past /8; did you mean 10.0.0.0/8?`},
		{"allow with IPv4-mapped network", lines(`[purge]`, `allow = ["::ffff:10.0.0.0/104"]`) + minimal, 2, `write IPv4 networks in IPv4 form`},
		{"allow with zone", lines(`[purge]`, `allow = ["fe80::1%eth0"]`) + minimal, 2, `purge.allow[0]: invalid network "fe80::1%eth0"`},
		{"bad token", lines(`[purge]`, `token = "two words"`) + minimal, 2, `purge.token: not a valid bearer token`},
		{"token of padding only", lines(`[purge]`, `token = "=="`) + minimal, 2, `purge.token: not a valid bearer token`},
		{"bad token_env", lines(`[purge]`, `token_env = "MY-TOKEN"`) + minimal, 2, `purge.token_env: invalid environment variable name "MY-TOKEN"`},
		{"token_env starting with a digit", lines(`[purge]`, `token_env = "1TOKEN"`) + minimal, 2, `purge.token_env: invalid environment variable name`},
		{"wrong type: peers given a string", lines(`[purge]`, `peers = "http://10.0.0.2:9090"`) + minimal, 2, `purge.peers: wrong type: got string, want array of strings`},
		{"peer without scheme", lines(`[purge]`, `peers = ["10.0.0.2:9090"]`) + minimal, 2, `purge.peers[0]: invalid peer URL "10.0.0.2:9090"`},
		{"peer with another scheme", lines(`[purge]`, `peers = ["ftp://10.0.0.2:9090"]`) + minimal, 2, `purge.peers[0]: invalid peer URL "ftp://10.0.0.2:9090": want scheme http or https`},
		{"peer without host", lines(`[purge]`, `peers = ["http:///purge"]`) + minimal, 2, `purge.peers[0]: invalid peer URL "http:///purge": no host`},
		{"peer with a bad host", lines(`[purge]`, `peers = ["http://a b:9090"]`) + minimal, 2, `purge.peers[0]: invalid peer URL "http://a b:9090"`},
		{"peer with port 0", lines(`[purge]`, `peers = ["http://10.0.0.2:0"]`) + minimal, 2, `purge.peers[0]: invalid peer URL "http://10.0.0.2:0": port "0"`},
		{"peer with an empty port", lines(`[purge]`, `peers = ["http://10.0.0.2:"]`) + minimal, 2, `port "" is not a number`},
		{"peer with a query", lines(`[purge]`, `peers = ["http://10.0.0.2:9090/?x=1"]`) + minimal, 2, `a base URL has no query or fragment`},
		{"peer with credentials", lines(`[purge]`, `peers = ["http://u:p@10.0.0.2:9090"]`) + minimal, 2, `credentials do not belong in the URL`},
		{"peer listed twice", lines(`[purge]`, `peers = [`, `  "http://10.0.0.2:9090",`, `  "HTTP://10.0.0.2:9090/",`, `]`) + minimal, 4, `purge.peers[1]: peer http://10.0.0.2:9090 is listed twice`},
		{"zero peer_timeout", lines(`[purge]`, `peer_timeout = "0s"`) + minimal, 2, `purge.peer_timeout: must be positive`},
		{"bad peer_timeout", lines(`[purge]`, `peer_timeout = "5"`) + minimal, 2, `purge.peer_timeout: invalid duration "5"`},
		{"wrong type: peer_timeout given an integer", lines(`[purge]`, `peer_timeout = 5`) + minimal, 2, `purge.peer_timeout: wrong type: got integer, want a duration string`},
		{"negative peer_retries", lines(`[purge]`, `peer_retries = -1`) + minimal, 2, `purge.peer_retries: -1 is out of range: want 0 to 10`},
		{"too many peer_retries", lines(`[purge]`, `peer_retries = 11`) + minimal, 2, `purge.peer_retries: 11 is out of range: want 0 to 10`},
		{"wrong type: peer_retries given a string", lines(`[purge]`, `peer_retries = "2"`) + minimal, 2, `purge.peer_retries: wrong type: got string, want integer`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := filepath.Join(dir, "bad.toml")
			_, err := Parse(name, []byte(tt.doc))
			if err == nil {
				t.Fatalf("Parse succeeded, want an error at line %d containing %q; document:\n%s", tt.line, tt.want, tt.doc)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Parse error %v (%T) is not an *Error", err, err)
			}
			if e.File != name || e.Line != tt.line || !strings.Contains(e.Msg, tt.want) {
				t.Errorf("Parse error = %q, want line %d and a message containing %q", err, tt.line, tt.want)
			}
			prefix := name + ":" + strconv.Itoa(tt.line) + ": "
			if !strings.HasPrefix(err.Error(), prefix) {
				t.Errorf("Parse error = %q, want it to start %q", err, prefix)
			}
		})
	}
}
