package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// cacheSeries is one per-shard series: its descriptor, kind and value.
type cacheSeries struct {
	desc  *prometheus.Desc
	kind  prometheus.ValueType
	value func(CacheStats) uint64
}

// cacheCollector exports each cache shard's counters, labelled by shard.
type cacheCollector struct {
	read   func() []CacheStats
	series []cacheSeries
}

func newCacheCollector(read func() []CacheStats) *cacheCollector {
	s := func(name, help string, kind prometheus.ValueType, v func(CacheStats) uint64) cacheSeries {
		return cacheSeries{prometheus.NewDesc(name, help, []string{"shard"}, nil), kind, v}
	}
	g, c := prometheus.GaugeValue, prometheus.CounterValue
	return &cacheCollector{read: read, series: []cacheSeries{
		s("cdnnode_cache_objects", "Objects in the memory tier.", g, func(s CacheStats) uint64 { return s.Objects }),
		s("cdnnode_cache_bytes", "Bytes in the memory tier.", g, func(s CacheStats) uint64 { return s.Bytes }),
		s("cdnnode_cache_misses_total", "Memory tier lookups that found none.", c, func(s CacheStats) uint64 { return s.Misses }),
		s("cdnnode_cache_rejected_total", "Objects the memory tier's admission policy turned away.", c, func(s CacheStats) uint64 { return s.Rejected }),
		s("cdnnode_cache_evictions_total", "Objects evicted from the memory tier for capacity.", c, func(s CacheStats) uint64 { return s.Evictions }),
		s("cdnnode_disk_objects", "Records in the disk tier.", g, func(s CacheStats) uint64 { return s.DiskObjects }),
		s("cdnnode_disk_bytes", "Bytes of records in the disk tier.", g, func(s CacheStats) uint64 { return s.DiskBytes }),
		s("cdnnode_disk_degraded", "1 while the shard's disk tier is disabled after an I/O error.", g, func(s CacheStats) uint64 { return s.DiskDegraded }),
		s("cdnnode_disk_hits_total", "Memory misses the disk tier answered.", c, func(s CacheStats) uint64 { return s.DiskHits }),
		s("cdnnode_disk_misses_total", "Memory misses the disk tier could not answer.", c, func(s CacheStats) uint64 { return s.DiskMisses }),
		s("cdnnode_disk_evictions_total", "Records evicted for the disk budget.", c, func(s CacheStats) uint64 { return s.DiskEvictions }),
		s("cdnnode_disk_corrupt_total", "Records found damaged and removed, never served.", c, func(s CacheStats) uint64 { return s.DiskCorrupt }),
		s("cdnnode_disk_write_errors_total", "Disk writes that failed.", c, func(s CacheStats) uint64 { return s.DiskWriteErrors }),
		s("cdnnode_disk_dropped_total", "Write-throughs dropped because the shard's disk queue was full.", c, func(s CacheStats) uint64 { return s.DiskDropped }),
	}}
}

func (c *cacheCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, s := range c.series {
		ch <- s.desc
	}
}

func (c *cacheCollector) Collect(ch chan<- prometheus.Metric) {
	for i, st := range c.read() {
		shard := strconv.Itoa(i)
		for _, s := range c.series {
			ch <- prometheus.MustNewConstMetric(s.desc, s.kind, float64(s.value(st)), shard)
		}
	}
}
