package config

import (
	"bytes"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cdnnode/cdnnode/coding"
)

// richPool sets every key of a pool and its tables.
const richPool = `[pools.rich]
peers = ["10.0.0.1:80", "HTTPS://Origin.Example:443", "unix:/run/origin.sock", "[::1]:8080"]
scheme = "http"
selection = "ketama"
retries = 2
retry_budget = 0.1
max_in_flight = 1000
rate = 250.5
burst = 300
peer_max_in_flight = 100
peer_rate = 50
peer_burst = 60
max_wait = "50ms"
max_queue = 128
connect_timeout = "1s"
total_connect_timeout = "3s"
response_timeout = "10s"
read_timeout = "20s"
write_timeout = "20s"
idle_timeout = "1m"
tcp_keepalive = "30s"
bind_to = "127.0.0.1"
max_idle_per_peer = 16
verify_cert = true
verify_hostname = true
sni = "origin.example"
alternative_cn = "origin.internal"
alpn = "h2"
h2c = true
header_policy = "strip"
strip_connection_nominated = false
h1_upgrade = "preserve"
resolve_interval = "0s"

[[pools.rich.peer]]
addr = "https://10.0.0.2:443"
weight = 10
connect_timeout = "500ms"
total_connect_timeout = "2s"
read_timeout = "5s"
write_timeout = "5s"
sni = "peer.example"
verify_cert = false
verify_hostname = false
alpn = "h2h1"
alternative_cn = "peer.internal"
idle_timeout = "30s"
tcp_keepalive = "15s"
bind_to = "127.0.0.2"
max_idle_per_peer = 4

[[pools.rich.peer]]
addr = "10.0.0.3:80"
backup = true
alpn = "h1"
h2c = false

[pools.rich.health]
kind = "http"
path = "/healthz?deep=1"
host = "origin.example:8443"
expect_status = [200, "204", "300-399"]
expect_body_regexp = "^ok"
interval = "2s"
timeout = "1s"
rise = 1
fall = 2

[pools.rich.passive]
max_fails = 3
error_rate = 0.5
window = 50
min_requests = 20
cooldown = "30s"

[[sites]]
name = "rich"
hosts = ["*"]
pool = "rich"
`

// errLine matches one line of a Parse error: "fuzz.toml:LINE: reason".
var errLine = regexp.MustCompile(`^fuzz\.toml:([0-9]+): \S`)

// FuzzParse feeds Parse arbitrary bytes: it must never panic, every error
// line must name the file and a line of the document, and a success must
// satisfy the rules validation promises.
func FuzzParse(f *testing.F) {
	if shipped, err := os.ReadFile(shipped); err == nil {
		f.Add(shipped) // the full example
	}
	f.Add([]byte(minimal))                                                       // smallest valid file
	f.Add([]byte("[server]\nlistn = 1\n"))                                       // unknown key
	f.Add([]byte("[cache]\nmemory = true\nmax_object = \"9EiB\"\n"))             // wrong type, bad unit
	f.Add([]byte("[cache.disk]\npath = \"d\"\nsize = 1\n"))                      // disk tier too small
	f.Add([]byte("[cache]\nlock_timeout = \"0s\"\nrevalidations = 0\n"))         // zero where positive is required
	f.Add([]byte("sites = [{name = \"a\", hosts = [\"*.x\"], pool = \"p\"}]\n")) // inline array of tables
	f.Add([]byte("[[server.tls]]\n[[server.tls]]\nlisten = 1\n[sites]\n"))       // nested arrays, table for array
	f.Add([]byte("[pools.\"a\\nb\"]\npeers = [\"[::1]:0\"]\n"))                  // quoted name with a newline
	f.Add([]byte("a = [[[[[[[[[[1]]]]]]]]]]\n\"\" = 1\n[x.y.z]\n"))              // nesting, empty key
	f.Add([]byte("[server\n"))                                                   // syntax error
	f.Add([]byte(richPool))                                                      // every pool key
	// A peer twice (case-insensitive scheme), a pool of backups, alpn h2 on a mixed pool.
	f.Add([]byte("[pools.p]\npeers = [\"unix:/s\", \"https://[::1]:1\"]\nalpn = \"h2\"\n[[pools.p.peer]]\naddr = \"UNIX:/s\"\nbackup = true\n"))
	// Status types, a reversed range, the default timeout above the interval.
	f.Add([]byte("[pools.p]\npeers = [\"a:1\"]\n[pools.p.health]\nkind = \"http\"\nexpect_status = [200, \"399-300\", [1], true]\ninterval = \"1s\"\n"))
	// A NaN rate with a burst, no queue but a wait, a window below min_requests.
	f.Add([]byte("[pools.p]\nrate = nan\nburst = 0\nmax_queue = 0\n[pools.p.passive]\nwindow = 5\n"))
	// Bad and odd media-type patterns, levels out of range, a minimum size too large.
	f.Add([]byte("[compression]\ntypes = [\"text/*\", \"*/*\", \"A/*+B\", 1]\nmin_size = \"2MiB\"\nzstd_level = 23\ngzip_level = 0\n"))
	// Request limits out of range, a bad trusted proxy, PROXY protocol with no trusted proxy.
	f.Add([]byte("[server]\nmax_url_bytes = 255\nmax_header_count = 0\nmax_body = -1\nproxy_protocol = \"v1\"\ntrusted_proxies = [\"10.0.0.0/33\", \"::1\"]\n"))
	// A protected site: access lists, json errors, a keyed rate limit, basic users with a name twice.
	f.Add([]byte(minimal + "allow = [\"10.0.0.0/8\"]\ndeny = [\"10.1.0.0/16\"]\nerrors = \"json\"\n[[sites.rate_limit]]\nkey = \"header:X-Api-Key\"\nlimit = 10\nwindow = \"1m\"\n" +
		"[[sites.auth]]\nprefix = \"/a\"\ntype = \"basic\"\nusers = [\"a:b\", \"a:c\"]\nrealm = \"x\\\"\"\n"))
	// A rate limit as a single table, inline auth with both token keys, an error page without html errors.
	f.Add([]byte(minimal + "error_page = \"e.html\"\nauth = [{prefix = \"/\", type = \"bearer\", token = \"t\", token_env = \"T\"}]\n[sites.rate_limit]\nwindow = \"0s\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.toml", data)
		if err != nil {
			n := bytes.Count(data, []byte("\n")) + 1
			for l := range strings.SplitSeq(err.Error(), "\n") {
				m := errLine.FindStringSubmatch(l)
				if m == nil {
					t.Fatalf("error line %q does not start \"fuzz.toml:LINE: \"; whole error:\n%v", l, err)
				}
				if line, _ := strconv.Atoi(m[1]); line < 1 || line > n {
					t.Fatalf("error line %q: line outside the document's %d lines", l, n)
				}
			}
			return
		}
		if cc := c.Cache; cc.Memory < minMemory || cc.MaxMemoryObject <= 0 || cc.MaxMemoryObject > cc.Memory || cc.MaxObject < cc.MaxMemoryObject ||
			cc.Disk.Path != "" && cc.Disk.Size < minDiskSize || cc.Disk.RetryInterval <= 0 {
			t.Fatalf("accepted cache sizes %+v", cc)
		}
		if cc := c.Cache; cc.LockTimeout <= 0 || cc.LockAgeTimeout <= 0 || cc.HitForPass < 0 || cc.Revalidations < 1 {
			t.Fatalf("accepted cache locks %+v", cc)
		}
		if cc := c.Compression; cc.MinSize < 0 || cc.MinSize > maxMinCompressSize || cc.ZstdLevel < 1 || cc.ZstdLevel > maxZstdLevel ||
			cc.GzipLevel < 1 || cc.GzipLevel > maxGzipLevel || cc.GzipVariantAfter < 0 || cc.GzipVariantAfter > maxGzipVariantAfter {
			t.Fatalf("accepted compression %+v", cc)
		}
		if _, err := coding.ParseTypes(c.Compression.Types); err != nil {
			t.Fatalf("accepted compression types that do not compile: %v", err)
		}
		if w := c.Server.Workers; w < 1 || w > maxWorkers {
			t.Fatalf("accepted or resolved %d workers", w)
		}
		if len(c.Server.Listen)+len(c.Server.TLS) == 0 {
			t.Fatal("accepted a config with no listeners")
		}
		for name, p := range c.Pools {
			checkAcceptedPool(t, name, p)
		}
		checkAcceptedProtection(t, c)
		for _, s := range c.Sites {
			if s.DefaultTTL < 0 || s.StaleWhileRevalidate < 0 || s.StaleIfError < 0 {
				t.Fatalf("site %q: accepted a negative duration", s.Name)
			}
			if _, ok := c.Pools[s.Pool]; !ok {
				t.Fatalf("site %q names missing pool %q", s.Name, s.Pool)
			}
			for _, h := range s.Hosts {
				c.Match(h)
			}
		}
	})
}

// checkAcceptedPool fails t unless p keeps the rules validation promises.
func checkAcceptedPool(t *testing.T, name string, p Pool) {
	all := slices.Concat(p.PeerList, p.FilePeers)
	if len(all) == 0 || len(p.Peers) != len(p.PeerList) {
		t.Fatalf("pool %q: accepted peers %q, list %+v, file %+v", name, p.Peers, p.PeerList, p.FilePeers)
	}
	primary, total, seen := false, 0, map[string]bool{}
	for _, pe := range all {
		if pe.Addr == "" || pe.Weight < 1 || pe.Weight > maxWeight || seen[pe.String()] || !slices.Contains([]string{"http", "https", "unix"}, pe.Scheme) {
			t.Fatalf("pool %q: accepted peer %+v", name, pe)
		}
		seen[pe.String()] = true
		primary = primary || !pe.Backup
		total += pe.Weight
		o := p.PeerOptions(pe)
		if checkALPN(o.ALPN) != nil || pe.Scheme != "https" && o.ALPN != "h1" ||
			o.TotalConnectTimeout > 0 && o.ConnectTimeout > 0 && o.TotalConnectTimeout < o.ConnectTimeout {
			t.Fatalf("pool %q: peer %s has options %+v", name, pe, o)
		}
	}
	if !primary || total > maxTotalWeight {
		t.Fatalf("pool %q: accepted peers with no primary or weights adding up to %d", name, total)
	}
	if l := p.Limits; l.Burst < 1 || l.PeerBurst < 1 || l.MaxWait > 0 && l.MaxQueue == 0 || l.MaxInFlight < 0 || l.PeerMaxInFlight < 0 ||
		!(l.Rate >= 0 && l.Rate <= maxRate) || !(l.PeerRate >= 0 && l.PeerRate <= maxRate) {
		t.Fatalf("pool %q: accepted limits %+v", name, l)
	}
	if p.Retries < 0 || p.Retries > maxRetries || !(p.RetryBudget >= 0 && p.RetryBudget <= 1) {
		t.Fatalf("pool %q: accepted retries %d, budget %v", name, p.Retries, p.RetryBudget)
	}
	if h := p.Health; h.Kind != "" {
		if h.Interval <= 0 || h.Timeout <= 0 || h.Timeout > h.Interval || h.Rise < 1 || h.Fall < 1 ||
			h.Kind == "http" && (!strings.HasPrefix(h.Path, "/") || len(h.ExpectStatus) == 0) {
			t.Fatalf("pool %q: accepted health %+v", name, h)
		}
		for _, sr := range h.ExpectStatus {
			if sr.Lo < 100 || sr.Lo > sr.Hi || sr.Hi > 599 {
				t.Fatalf("pool %q: accepted status range %+v", name, sr)
			}
		}
	}
	if ps := p.Passive; ps.MinRequests < 1 || ps.MinRequests > ps.Window || ps.Cooldown <= 0 || ps.MaxFails < 0 || !(ps.ErrorRate >= 0 && ps.ErrorRate <= 1) {
		t.Fatalf("pool %q: accepted passive %+v", name, ps)
	}
}

// checkAcceptedProtection fails t unless c's edge protection keeps the
// rules validation promises.
func checkAcceptedProtection(t *testing.T, c *Config) {
	sv := c.Server
	if sv.MaxURLBytes < minMaxURLBytes || sv.MaxURLBytes > maxMaxURLBytes || sv.MaxHeaderCount < 1 || sv.MaxHeaderCount > maxMaxHeaderCount ||
		sv.MaxBody < 0 || sv.MaxConcurrentStreams < 1 || sv.MaxConcurrentStreams > maxMaxStreams || sv.MaxInFlight < 0 || sv.MaxInFlightPerClient < 0 {
		t.Fatalf("accepted server limits %+v", sv)
	}
	proxies := []string{sv.ProxyProtocol}
	for _, l := range sv.TLS {
		proxies = append(proxies, l.ProxyProtocol)
	}
	for _, p := range proxies {
		if !slices.Contains([]string{"off", "v1", "v2", "any"}, p) || p != "off" && len(sv.TrustedProxies) == 0 {
			t.Fatalf("accepted proxy_protocol %q with trusted proxies %v", p, sv.TrustedProxies)
		}
	}
	for _, s := range c.Sites {
		if s.MaxBody < 0 || !slices.Contains([]string{"text", "json", "html"}, s.Errors) || s.ErrorPage != "" && s.Errors != "html" {
			t.Fatalf("site %q: accepted max_body %v, errors %q, error_page %q", s.Name, s.MaxBody, s.Errors, s.ErrorPage)
		}
		for _, l := range s.RateLimits {
			if checkPathPrefix(l.Prefix) != nil || checkRateKey(l.Key) != nil || l.Algorithm != "sliding" && l.Algorithm != "fixed" ||
				l.Limit < 1 || l.Limit > maxRateLimit || l.Window < minRateWindow || l.Window > maxRateWindow || l.MaxKeys < minMaxKeys || l.MaxKeys > maxMaxKeys {
				t.Fatalf("site %q: accepted rate limit %+v", s.Name, l)
			}
		}
		prefixes := map[string]bool{}
		for _, a := range s.Auth {
			if checkPathPrefix(a.Prefix) != nil || prefixes[a.Prefix] {
				t.Fatalf("site %q: accepted auth prefix %q", s.Name, a.Prefix)
			}
			prefixes[a.Prefix] = true
			switch a.Type {
			case "bearer":
				if !validToken68(string(a.Token)) || a.Users != nil || a.Realm != "" {
					t.Fatalf("site %q: accepted bearer auth on %q with users or a realm, or a bad token", s.Name, a.Prefix)
				}
			case "basic":
				names := map[string]bool{}
				for _, u := range a.Users {
					if _, err := parseUser(u.Name + ":" + string(u.Password)); err != nil || strings.Contains(u.Name, ":") || names[u.Name] {
						t.Fatalf("site %q: accepted basic user %q on %q", s.Name, u.Name, a.Prefix)
					}
					names[u.Name] = true
				}
				if len(a.Users) == 0 || a.Token != "" || !validRealm(a.Realm) {
					t.Fatalf("site %q: accepted basic auth on %q with no user, a token or realm %q", s.Name, a.Prefix, a.Realm)
				}
			default:
				t.Fatalf("site %q: accepted auth type %q", s.Name, a.Type)
			}
		}
	}
}
