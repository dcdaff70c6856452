package proxy

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/cdnnode/cdnnode/cachelock"
	"github.com/cdnnode/cdnnode/cachestore"
	"github.com/cdnnode/cdnnode/config"
	"github.com/cdnnode/cdnnode/metrics"
	"github.com/cdnnode/cdnnode/origin"
	"github.com/cdnnode/cdnnode/purge"
)

// testSites is the config of newTestProxy's proxies: %s takes further
// lines of [server]; every site is in front of pool "o", whose one peer is
// an origin (%q: its address).
const testSites = `
[server]
listen = ["127.0.0.1:0"]
workers = 1
%s

[log]
access = false

[pools.o]
peers = [%q]

[[sites]]
name = "main"
hosts = ["main.test"]
pool = "o"

[[sites]]
name = "sorted"
hosts = ["sorted.test"]
pool = "o"
query_sort = true
query_drop = ["utm_source"]

[[sites]]
name = "auth"
hosts = ["auth.test"]
pool = "o"
[[sites.auth]]
prefix = "/admin/"
type = "bearer"
token = "secret"

[[sites]]
name = "allow"
hosts = ["allow.test"]
pool = "o"
allow = ["127.0.0.0/8"]

[[sites]]
name = "nocache"
hosts = ["nocache.test"]
pool = "o"
cache = false
`

// newTestProxy builds a Proxy of testSites, in front of the origin at
// originAddr and with serverLines in [server], over real parts: a 16 MiB
// memory store, pool "o", bans kept in memory only, locks as its lock
// table and logs discarded. It returns the proxy and its metrics; tb's
// cleanup closes the store and the pool, and the caller stops the proxy's
// background work.
func newTestProxy(tb testing.TB, originAddr string, locks *cachelock.Locks, serverLines ...string) (*Proxy, *metrics.Metrics) {
	tb.Helper()
	c, err := config.Parse("proxy_test.toml", fmt.Appendf(nil, testSites, strings.Join(serverLines, "\n"), originAddr))
	if err != nil {
		tb.Fatal(err)
	}
	store, err := cachestore.New(cachestore.Options{MemoryBytes: 16 << 20})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(store.Close)
	m := metrics.New(1, func() []metrics.CacheStats { return nil })
	log := slog.New(slog.DiscardHandler)
	pc := c.Pools["o"]
	pool, err := origin.NewPool("o", &pc, m, log)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(pool.Close)
	bans, err := purge.Open("")
	if err != nil {
		tb.Fatal(err)
	}
	p, err := New(c, store, locks, bans, map[string]*origin.Pool{"o": pool}, m, log)
	if err != nil {
		tb.Fatal(err)
	}
	return p, m
}
