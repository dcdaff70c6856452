package metrics

import (
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cdnnode/cdnnode/coding"
)

// Outcome is what the cache did with a request: the "cache" label of the
// request metrics and the fwd value of Cache-Status.
type Outcome uint8

// The outcomes, in label order.
const (
	Error        Outcome = iota // refused or failed before the cache had a say
	Hit                         // served from cache
	Miss                        // not in cache
	VaryMiss                    // the URI is cached, this Vary variant is not
	Stale                       // the stored response was stale
	Request                     // the request's directives demanded a fresh answer
	Bypass                      // not cacheable by method or site
	OnlyIfCached                // 504: only-if-cached and nothing usable
	Purge                       // a PURGE request, answered by the node
	numOutcomes
)

var outcomeNames = [numOutcomes]string{"error", "hit", "miss", "vary-miss", "stale", "request", "bypass", "only-if-cached", "purge"}

func (o Outcome) String() string {
	if o >= numOutcomes {
		return "unknown"
	}
	return outcomeNames[o]
}

// Conversion is how a body served from the cache reached the coding the
// client got: the "how" label of cdnnode_encodings_served_total.
type Conversion uint8

// The conversions, in label order.
const (
	AsStored   Conversion = iota // sent as stored
	Encoded                      // an unencoded body compressed on the way (a fill's own client)
	Decoded                      // decompressed for a client that does not accept the stored coding
	Transcoded                   // decompressed and compressed again in another coding
	Variant                      // sent from the node's stored transcode (a gzip variant)
	numConversions
)

var conversionNames = [numConversions]string{"as-stored", "encoded", "decoded", "transcoded", "variant"}

func (c Conversion) String() string {
	if c >= numConversions {
		return "unknown"
	}
	return conversionNames[c]
}

// numCodings is the number of codings coding.Coding names.
const numCodings = int(coding.Br) + 1

// Saving places: where compression saved bytes, the "where" label of
// cdnnode_compression_saved_bytes_total.
const (
	SavedStore = iota // stored coded instead of as the origin sent it
	SavedWire         // sent coded instead of unencoded
	numSavings
)

var savingNames = [numSavings]string{"store", "wire"}

// durationBuckets are the upper bounds, in seconds, of the request duration
// histogram.
var durationBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// minCode and maxCode bound the status codes counted individually; others
// count as 0 ("other").
const minCode, maxCode = 100, 599

// Worker holds one worker group's request counters. Only that worker's
// goroutines add to it, so a request never writes a cache line another
// worker writes; /metrics sums every worker when it is read.
type Worker struct {
	id         int
	accepted   atomic.Uint64
	memoryHits atomic.Uint64
	requests   [numOutcomes][maxCode - minCode + 2]atomic.Uint64 // last slot: codes out of range
	buckets    [numOutcomes][]atomic.Uint64                      // cumulative at scrape, per-bucket here; last is +Inf
	sumNanos   [numOutcomes]atomic.Uint64
	served     [numCodings][numConversions]atomic.Uint64
	saved      [numSavings]atomic.Uint64
}

func newWorker(id int) *Worker {
	w := &Worker{id: id}
	for o := range w.buckets {
		w.buckets[o] = make([]atomic.Uint64, len(durationBuckets)+1)
	}
	return w
}

// Accepted counts one connection accepted by this worker's listeners.
func (w *Worker) Accepted() { w.accepted.Add(1) }

// MemoryHit counts one lookup answered by the memory tier.
func (w *Worker) MemoryHit() { w.memoryHits.Add(1) }

// Request counts one finished request with its outcome, status code and
// duration.
func (w *Worker) Request(o Outcome, code int, d time.Duration) {
	if o >= numOutcomes {
		o = Error
	}
	slot := maxCode - minCode + 1
	if code >= minCode && code <= maxCode {
		slot = code - minCode
	}
	w.requests[o][slot].Add(1)
	secs := d.Seconds()
	b := len(durationBuckets)
	for i, ub := range durationBuckets {
		if secs <= ub {
			b = i
			break
		}
	}
	w.buckets[o][b].Add(1)
	w.sumNanos[o].Add(uint64(max(d, 0)))
}

// Served counts one response body served from the cache in coding c,
// reached by how.
func (w *Worker) Served(c coding.Coding, how Conversion) {
	if int(c) < numCodings && how < numConversions {
		w.served[c][how].Add(1)
	}
}

// Saved counts n bytes compression saved at where (SavedStore, SavedWire);
// n <= 0 (an incompressible body) counts nothing.
func (w *Worker) Saved(where int, n int64) {
	if n > 0 && where >= 0 && where < numSavings {
		w.saved[where].Add(uint64(n))
	}
}

// workerCollector exports the workers' counters, summed across workers,
// plus connections accepted per worker.
type workerCollector struct {
	workers    []*Worker
	requests   *prometheus.Desc
	duration   *prometheus.Desc
	accepted   *prometheus.Desc
	memoryHits *prometheus.Desc
	served     *prometheus.Desc
	saved      *prometheus.Desc
}

func newWorkerCollector(workers []*Worker) *workerCollector {
	return &workerCollector{
		workers: workers,
		requests: prometheus.NewDesc("cdnnode_requests_total",
			"Client requests by cache outcome and status code.", []string{"cache", "code"}, nil),
		duration: prometheus.NewDesc("cdnnode_request_duration_seconds",
			"Time from request start to the end of the response, by cache outcome.", []string{"cache"}, nil),
		accepted: prometheus.NewDesc("cdnnode_worker_connections_accepted_total",
			"Client connections accepted, by worker.", []string{"worker"}, nil),
		memoryHits: prometheus.NewDesc("cdnnode_cache_hits_total",
			"Memory tier lookups that found an object, by the worker that looked (disk hits: cdnnode_disk_hits_total).", []string{"worker"}, nil),
		served: prometheus.NewDesc("cdnnode_encodings_served_total",
			"Response bodies served from the cache, by the content coding the client got and how the body reached it.", []string{"encoding", "how"}, nil),
		saved: prometheus.NewDesc("cdnnode_compression_saved_bytes_total",
			"Bytes compression saved: in the cache (\"store\", objects the node compressed at fill) and on the wire (\"wire\", coded responses whose unencoded length is known).", []string{"where"}, nil),
	}
}

func (c *workerCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.requests
	ch <- c.duration
	ch <- c.accepted
	ch <- c.memoryHits
	ch <- c.served
	ch <- c.saved
}

func (c *workerCollector) Collect(ch chan<- prometheus.Metric) {
	for _, w := range c.workers {
		id := strconv.Itoa(w.id)
		ch <- prometheus.MustNewConstMetric(c.accepted, prometheus.CounterValue, float64(w.accepted.Load()), id)
		ch <- prometheus.MustNewConstMetric(c.memoryHits, prometheus.CounterValue, float64(w.memoryHits.Load()), id)
	}
	for ci := range numCodings {
		for how := range numConversions {
			var n uint64
			for _, w := range c.workers {
				n += w.served[ci][how].Load()
			}
			if n > 0 {
				ch <- prometheus.MustNewConstMetric(c.served, prometheus.CounterValue, float64(n), coding.Coding(ci).String(), how.String())
			}
		}
	}
	for where := range numSavings {
		var n uint64
		for _, w := range c.workers {
			n += w.saved[where].Load()
		}
		ch <- prometheus.MustNewConstMetric(c.saved, prometheus.CounterValue, float64(n), savingNames[where])
	}
	for o := range numOutcomes {
		for slot := range maxCode - minCode + 2 {
			var n uint64
			for _, w := range c.workers {
				n += w.requests[o][slot].Load()
			}
			if n == 0 {
				continue
			}
			code := "other"
			if slot <= maxCode-minCode {
				code = strconv.Itoa(slot + minCode)
			}
			ch <- prometheus.MustNewConstMetric(c.requests, prometheus.CounterValue, float64(n), o.String(), code)
		}
		var count, sum uint64
		cumulative := make(map[float64]uint64, len(durationBuckets))
		for i, ub := range durationBuckets {
			for _, w := range c.workers {
				count += w.buckets[o][i].Load()
			}
			cumulative[ub] = count
		}
		for _, w := range c.workers {
			count += w.buckets[o][len(durationBuckets)].Load()
			sum += w.sumNanos[o].Load()
		}
		if count == 0 {
			continue
		}
		ch <- prometheus.MustNewConstHistogram(c.duration, count, float64(sum)/1e9, cumulative, o.String())
	}
}
