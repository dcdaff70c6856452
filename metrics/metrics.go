// Package metrics owns cdnnode's Prometheus collectors. Every collector hangs
// off a Metrics value built by the binary, with its own registry, so two
// nodes in one test do not share counters.
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the node's collectors. Safe for concurrent use.
type Metrics struct {
	reg     *prometheus.Registry
	workers []*Worker

	// OriginRequests counts requests sent to each peer of each pool,
	// retries included.
	OriginRequests *prometheus.CounterVec
	// OriginErrors counts failed exchanges with a peer by kind ("connect",
	// "timeout", "body", "other").
	OriginErrors *prometheus.CounterVec
	// OriginDuration is the time from sending a request to a peer to its
	// response header.
	OriginDuration *prometheus.HistogramVec
	// OriginConnections counts the connections requests to a peer went
	// over, by whether they were new or reused ("false", "true").
	OriginConnections *prometheus.CounterVec
	// OriginPeerUp is 1 for a peer that may be sent requests, 0 for one a
	// health check took down or ejected.
	OriginPeerUp *prometheus.GaugeVec
	// OriginLimited counts requests a pool's or a peer's limits refused, by
	// reason ("in_flight", "rate", "queue_full"); peer is "" for the
	// pool's own limits.
	OriginLimited *prometheus.CounterVec
	// OriginRetries counts requests retried on another peer, and
	// OriginRetriesDenied those the retry budget did not let retry.
	OriginRetries, OriginRetriesDenied *prometheus.CounterVec

	// LockWaits counts requests that found a fill in flight for their key
	// (coalesced readers), by how the wait ended: "served", "refreshed",
	// "timeout", "passed", "failed", "vary", "client-gone", "aborted".
	LockWaits *prometheus.CounterVec
	// LockWait is how long readers waited for a fill's response head.
	LockWait prometheus.Histogram

	// StaleServed counts stale responses served, by the rule that allowed
	// it: "while-revalidate", "if-error", "max-stale".
	StaleServed *prometheus.CounterVec
	// Revalidations counts background revalidations by outcome:
	// "not-modified" (refreshed by a 304), "replaced" (a new response
	// stored), "not-stored" (the new response could not be stored),
	// "error" (the origin failed or answered 5xx) and "busy" (not started:
	// the shard ran its limit of them).
	Revalidations *prometheus.CounterVec

	// Purges counts purge requests by kind ("exact", "prefix", "all",
	// "tag") and outcome ("purged", "not-found", "refused", "invalid",
	// "error").
	Purges *prometheus.CounterVec
	// PurgedObjects counts deletions of purged objects: "purge" at purge
	// time, "lookup" when a lookup found one a ban names, "sweep" when the
	// purge sweeper did (a disk record whose delete is still queued when it
	// passes again counts again), "fill" when a fill stored one a purge
	// since named.
	PurgedObjects *prometheus.CounterVec
	// PurgeDuration is how long applying a purge took on this node.
	PurgeDuration prometheus.Histogram
	// PurgeFanoutFailures counts peers a forwarded purge failed to reach.
	PurgeFanoutFailures prometheus.Counter

	// Rejections counts requests and connections the node refused itself,
	// by reason: the HTTP/1 guard's (malformed or ambiguous requests:
	// "cl-and-te", "obs-fold", ...), the request limits' ("url-too-long",
	// "too-many-fields", "body-too-large", "in-flight", ...), access
	// control ("access-denied", "connection-denied" at accept),
	// authentication ("auth-missing", "auth-wrong") and rate limits
	// ("rate-limited").
	Rejections *prometheus.CounterVec
}

// CacheStats is what one cache shard reports at scrape time.
type CacheStats struct {
	Objects, Bytes              uint64 // memory tier, now
	Misses, Rejected, Evictions uint64 // memory tier, since start (hits are counted per worker)

	DiskObjects, DiskBytes, DiskDegraded uint64 // disk tier, now (degraded: 0 or 1)
	DiskHits, DiskMisses, DiskEvictions  uint64 // disk tier, since start
	DiskCorrupt, DiskWriteErrors         uint64
	DiskDropped                          uint64 // write-throughs dropped for a full queue
}

// New registers the node's collectors for the given number of worker
// groups, plus the Go runtime and process collectors. cache is called at
// every scrape and returns one entry per cache shard.
func New(workers int, cache func() []CacheStats) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		reg:     reg,
		workers: make([]*Worker, workers),
		OriginRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cdnnode_origin_requests_total",
			Help: "Requests sent to each origin peer, retries included.",
		}, []string{"pool", "peer"}),
		OriginErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cdnnode_origin_errors_total",
			Help: "Failed exchanges with origin peers, by kind.",
		}, []string{"pool", "peer", "kind"}),
		OriginDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "cdnnode_origin_response_seconds",
			Help:    "Time from sending a request to an origin peer to its response header.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 9), // 0.5ms to about 33s
		}, []string{"pool", "peer"}),
		OriginConnections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cdnnode_origin_connections_total",
			Help: "Connections requests to origin peers went over, by whether they were reused.",
		}, []string{"pool", "peer", "reused"}),
		OriginPeerUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cdnnode_origin_peer_up",
			Help: "1 if an origin peer may be sent requests, 0 if health checks took it down or ejected it.",
		}, []string{"pool", "peer"}),
		OriginLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cdnnode_origin_limited_total",
			Help: "Requests refused by a pool's (peer=\"\") or a peer's limits, by reason.",
		}, []string{"pool", "peer", "reason"}),
		OriginRetries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cdnnode_origin_retries_total",
			Help: "Requests retried on another peer after a connection failure.",
		}, []string{"pool"}),
		OriginRetriesDenied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cdnnode_origin_retries_denied_total",
			Help: "Retries the pool's retry budget refused.",
		}, []string{"pool"}),
		LockWaits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cdnnode_cache_lock_waits_total",
			Help: "Requests that waited on another request's fetch of their key, by result.",
		}, []string{"result"}),
		LockWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "cdnnode_cache_lock_wait_seconds",
			Help:    "Time readers waited for a fill's response head.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 8), // 1ms to about 16s
		}),
		StaleServed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cdnnode_stale_served_total",
			Help: "Stale responses served from cache, by the rule that allowed it.",
		}, []string{"reason"}),
		Revalidations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cdnnode_background_revalidations_total",
			Help: "Background (stale-while-revalidate) revalidations, by outcome.",
		}, []string{"result"}),
		Purges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cdnnode_purges_total",
			Help: "Purge requests by kind and outcome.",
		}, []string{"kind", "outcome"}),
		PurgedObjects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cdnnode_purged_objects_total",
			Help: "Objects removed by purges: at purge time, at lookup, by the sweeper, or as a fill stored them.",
		}, []string{"when"}),
		PurgeDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "cdnnode_purge_duration_seconds",
			Help:    "Time to apply a purge on this node.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 8), // 100µs to about 1.6s
		}),
		PurgeFanoutFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cdnnode_purge_fanout_failures_total",
			Help: "Peers a forwarded purge failed to reach.",
		}),
		Rejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cdnnode_rejections_total",
			Help: "Requests and connections the node refused itself, by reason.",
		}, []string{"reason"}),
	}
	for i := range m.workers {
		m.workers[i] = newWorker(i)
	}
	reg.MustRegister(newWorkerCollector(m.workers), m.OriginRequests, m.OriginErrors, m.OriginDuration, m.OriginConnections,
		m.OriginPeerUp, m.OriginLimited, m.OriginRetries, m.OriginRetriesDenied, m.LockWaits, m.LockWait, m.StaleServed, m.Revalidations,
		m.Purges, m.PurgedObjects, m.PurgeDuration, m.PurgeFanoutFailures, m.Rejections,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newCacheCollector(cache),
	)
	return m
}

// WatchLocks exports the lock tables' state, read at every scrape: fills
// in flight, hit-for-pass entries and background revalidations running.
func (m *Metrics) WatchLocks(fills, hitForPass, background func() int) {
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "cdnnode_cache_fills_in_flight",
			Help: "Origin fetches holding a cache key's lock.",
		}, func() float64 { return float64(fills()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "cdnnode_cache_hit_for_pass_entries",
			Help: "Keys remembered as uncacheable, which skip request coalescing.",
		}, func() float64 { return float64(hitForPass()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "cdnnode_background_revalidations_in_flight",
			Help: "Background revalidations running.",
		}, func() float64 { return float64(background()) }),
	)
}

// WatchBans exports the number of active purge bans, read at every scrape.
func (m *Metrics) WatchBans(bans func() int) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "cdnnode_purge_bans",
		Help: "Active purge bans, checked at lookup against objects fetched before them.",
	}, func() float64 { return float64(bans()) }))
}

// Worker returns worker group i's counters (0 <= i < the count given to New).
func (m *Metrics) Worker(i int) *Worker { return m.workers[i] }

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}
