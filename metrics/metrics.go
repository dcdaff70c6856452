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
	reg *prometheus.Registry

	// Requests counts client requests by cache outcome ("hit", "miss",
	// "stale", "bypass", ...) and status code.
	Requests *prometheus.CounterVec
	// Duration observes request durations in seconds by cache outcome.
	Duration *prometheus.HistogramVec
	// OriginRequests counts requests sent upstream by pool.
	OriginRequests *prometheus.CounterVec
	// OriginErrors counts failed upstream exchanges by pool and kind
	// ("connect", "timeout", "body", "other").
	OriginErrors *prometheus.CounterVec
}

// CacheStats is what the cache reports at scrape time.
type CacheStats struct {
	Objects, Bytes, Evictions uint64
}

// New registers the node's collectors, plus the Go runtime and process
// collectors. cache is called at every scrape.
func New(cache func() CacheStats) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		reg: reg,
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cdnnode_requests_total",
			Help: "Client requests by cache outcome and status code.",
		}, []string{"cache", "code"}),
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "cdnnode_request_duration_seconds",
			Help:    "Time from request start to the end of the response, by cache outcome.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"cache"}),
		OriginRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cdnnode_origin_requests_total",
			Help: "Requests sent to origin pools.",
		}, []string{"pool"}),
		OriginErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cdnnode_origin_errors_total",
			Help: "Failed origin exchanges by pool and kind.",
		}, []string{"pool", "kind"}),
	}
	reg.MustRegister(m.Requests, m.Duration, m.OriginRequests, m.OriginErrors,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "cdnnode_cache_objects",
			Help: "Objects in the memory tier.",
		}, func() float64 { return float64(cache().Objects) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "cdnnode_cache_bytes",
			Help: "Bytes in the memory tier.",
		}, func() float64 { return float64(cache().Bytes) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "cdnnode_cache_evictions_total",
			Help: "Objects evicted from the memory tier for capacity.",
		}, func() float64 { return float64(cache().Evictions) }),
	)
	return m
}

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}
