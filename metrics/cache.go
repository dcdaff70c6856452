package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// cacheCollector exports each cache shard's counters, labelled by shard.
type cacheCollector struct {
	read  func() []CacheStats
	descs [6]*prometheus.Desc
}

func newCacheCollector(read func() []CacheStats) *cacheCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, []string{"shard"}, nil)
	}
	return &cacheCollector{read: read, descs: [6]*prometheus.Desc{
		d("cdnnode_cache_objects", "Objects in the memory tier."),
		d("cdnnode_cache_bytes", "Bytes in the memory tier."),
		d("cdnnode_cache_hits_total", "Memory tier lookups that found an object."),
		d("cdnnode_cache_misses_total", "Memory tier lookups that found none."),
		d("cdnnode_cache_rejected_total", "Objects the memory tier's admission policy turned away."),
		d("cdnnode_cache_evictions_total", "Objects evicted from the memory tier for capacity."),
	}}
}

func (c *cacheCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *cacheCollector) Collect(ch chan<- prometheus.Metric) {
	for i, s := range c.read() {
		shard := strconv.Itoa(i)
		vals := [6]uint64{s.Objects, s.Bytes, s.Hits, s.Misses, s.Rejected, s.Evictions}
		for j, v := range vals {
			kind := prometheus.CounterValue
			if j < 2 {
				kind = prometheus.GaugeValue
			}
			ch <- prometheus.MustNewConstMetric(c.descs[j], kind, float64(v), shard)
		}
	}
}
