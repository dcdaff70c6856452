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

[[pools.rich.peer]]
addr = "10.0.0.3:80"
backup = true
alpn = "h1"

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
