package loadtest

import (
	"strconv"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// Result is what a run measured, warm-up excluded. Durations are
// time.Duration (nanoseconds in JSON, named *_ns); rates are per second
// of Elapsed. WriteJSON writes it for machines, Report for people.
type Result struct {
	// The run as it was made (Options after defaults).
	Target         string        `json:"target"`
	Protocol       string        `json:"protocol"` // HTTP/1.1, h2 or h2c
	Mode           string        `json:"mode"`     // closed or open
	Connections    int           `json:"connections"`
	Streams        int           `json:"streams"`
	Rate           float64       `json:"rate,omitempty"` // intended, open loop
	Keys           KeyDist       `json:"keys"`
	ZipfS          float64       `json:"zipf_s,omitempty"`
	Objects        int64         `json:"objects"`
	Size           string        `json:"size"`
	Query          string        `json:"query,omitempty"`
	PurgePct       float64       `json:"purge_pct,omitempty"`
	ConditionalPct float64       `json:"conditional_pct,omitempty"`
	Seed           uint64        `json:"seed"`
	Start          time.Time     `json:"start"`
	Warmup         time.Duration `json:"warmup_ns"`
	Duration       time.Duration `json:"duration_ns,omitempty"` // asked for
	// Elapsed is the measured part of the run, from the end of the
	// warm-up until the last response.
	Elapsed time.Duration `json:"elapsed_ns"`
	// Interrupted: the run was stopped before its end.
	Interrupted bool `json:"interrupted,omitempty"`

	// Requests counts measured requests: Responses plus those that got
	// none (transport errors).
	Requests  int64 `json:"requests"`
	Responses int64 `json:"responses"`
	// Errors counts transport errors and responses with status >= 500;
	// ErrorsByKind splits them, ErrorSamples has the first message of each
	// transport error kind.
	Errors       int64             `json:"errors"`
	ErrorsByKind map[string]int64  `json:"errors_by_kind,omitempty"`
	ErrorSamples map[string]string `json:"error_samples,omitempty"`
	// Late counts open-loop requests sent more than 1ms after they were
	// due because every connection was busy; their latency includes the
	// wait.
	Late         int64 `json:"late"`
	Purges       int64 `json:"purges,omitempty"`
	Conditionals int64 `json:"conditionals,omitempty"`
	// NotModified counts 304 responses (to conditionals, normally).
	NotModified    int64            `json:"not_modified,omitempty"`
	Bytes          int64            `json:"bytes"` // response body bytes
	RequestsPerSec float64          `json:"requests_per_sec"`
	BytesPerSec    float64          `json:"bytes_per_sec"`
	Status         map[string]int64 `json:"status"` // by status code

	// Latency summarises every response's latency (errors without a
	// response have none); Histogram holds them all, in microseconds.
	Latency   Latency        `json:"latency"`
	Histogram *hdr.Histogram `json:"-"`
	// HistogramV2 is Histogram in the standard compressed HdrHistogram
	// V2 encoding (base64), values in microseconds, for other tools.
	HistogramV2 string `json:"histogram_v2"`

	Cache  Cache   `json:"cache"`
	Origin *Origin `json:"origin,omitempty"`

	// Seconds are the measured run second by second, by when responses
	// arrived; the last may be shorter.
	Seconds []Second `json:"seconds"`
}

// Latency summarises a latency histogram.
type Latency struct {
	Min  time.Duration `json:"min_ns"`
	Mean time.Duration `json:"mean_ns"`
	P50  time.Duration `json:"p50_ns"`
	P90  time.Duration `json:"p90_ns"`
	P99  time.Duration `json:"p99_ns"`
	P999 time.Duration `json:"p999_ns"`
	Max  time.Duration `json:"max_ns"`
}

func latencyOf(h *hdr.Histogram) Latency {
	if h.TotalCount() == 0 {
		return Latency{}
	}
	us := func(v int64) time.Duration { return time.Duration(v) * time.Microsecond }
	return Latency{
		Min:  us(h.Min()),
		Mean: time.Duration(h.Mean() * float64(time.Microsecond)),
		P50:  us(h.ValueAtQuantile(50)),
		P90:  us(h.ValueAtQuantile(90)),
		P99:  us(h.ValueAtQuantile(99)),
		P999: us(h.ValueAtQuantile(99.9)),
		Max:  us(h.Max()),
	}
}

// Second is one second of the measured run.
type Second struct {
	Start    time.Duration `json:"start_ns"` // since the end of the warm-up
	Length   time.Duration `json:"length_ns"`
	Requests int64         `json:"requests"`
	Errors   int64         `json:"errors"`
	Bytes    int64         `json:"bytes"`
	Hits     int64         `json:"hits"` // Hit and Stale GETs
	Latency  Latency       `json:"latency"`
	// Hist holds the second's latencies in microseconds, sparse.
	Hist *hdr.PackedHistogram `json:"-"`
}

// Cache is the GET responses by the Cache-Status class of the cache the
// client talked to, by requests and by body bytes. PURGE responses are
// not counted.
type Cache struct {
	Hit        int64 `json:"hit"`
	Stale      int64 `json:"stale"`
	Miss       int64 `json:"miss"`
	Other      int64 `json:"other"`
	HitBytes   int64 `json:"hit_bytes"`
	StaleBytes int64 `json:"stale_bytes"`
	MissBytes  int64 `json:"miss_bytes"`
	OtherBytes int64 `json:"other_bytes"`
	// HitRatio is (Hit + Stale) / all four: the share served from cache.
	HitRatio float64 `json:"hit_ratio"`
	// ByteHitRatio is the same share of body bytes.
	ByteHitRatio float64 `json:"byte_hit_ratio"`
}

// Origin is what the demo origin counted during the measured run.
type Origin struct {
	StatsURL string `json:"stats_url"`
	// Requests is the requests the origin received from when measuring
	// started until the run ended.
	Requests int64 `json:"requests"`
	// Offload is 1 - Requests / Result.Requests: the share of the load
	// the origin was spared.
	Offload float64 `json:"offload"`
	// Error says why the counts could not be read; the others are then
	// zero.
	Error string `json:"error,omitempty"`
}

// result assembles the Result from the collector's counts.
func (r *runner) result(c *collector, after originCount, interrupted bool) *Result {
	o, t := r.o, c.total
	res := &Result{
		Target:         o.Target,
		Protocol:       o.protocol(),
		Mode:           "closed",
		Connections:    o.Connections,
		Streams:        o.Streams,
		Rate:           o.Rate,
		Keys:           o.Keys,
		Objects:        o.Objects,
		Size:           o.Size.String(),
		Query:          o.Query,
		PurgePct:       o.PurgePct,
		ConditionalPct: o.ConditionalPct,
		Seed:           o.Seed,
		Start:          r.t0,
		Warmup:         o.Warmup,
		Duration:       o.Duration,
		Elapsed:        max(r.finished.Sub(r.t0.Add(o.Warmup)), 0),
		Interrupted:    interrupted,
		Requests:       t.requests,
		Responses:      t.responses,
		Errors:         t.errorCount(),
		Late:           t.late,
		Purges:         t.purges,
		Conditionals:   t.conditionals,
		NotModified:    t.status[304],
		Bytes:          t.bytes,
		Status:         map[string]int64{},
		Histogram:      t.lat,
		Seconds:        c.seconds,
	}
	if r.open {
		res.Mode = "open"
	}
	if o.Keys == Zipf {
		res.ZipfS = o.ZipfS
	}
	for code, n := range t.status {
		if n > 0 {
			res.Status[strconv.Itoa(code)] = n
		}
	}
	for k := ErrConnect; k < numErrorKinds; k++ {
		if t.errors[k] == 0 {
			continue
		}
		if res.ErrorsByKind == nil {
			res.ErrorsByKind = map[string]int64{}
		}
		res.ErrorsByKind[k.String()] = t.errors[k]
		if t.samples[k] != "" {
			if res.ErrorSamples == nil {
				res.ErrorSamples = map[string]string{}
			}
			res.ErrorSamples[k.String()] = t.samples[k]
		}
	}
	res.Cache = Cache{
		Hit: t.cache[Hit], Stale: t.cache[Stale], Miss: t.cache[Miss], Other: t.cache[Other],
		HitBytes: t.cacheBytes[Hit], StaleBytes: t.cacheBytes[Stale], MissBytes: t.cacheBytes[Miss], OtherBytes: t.cacheBytes[Other],
	}
	if o.OriginStats != "" {
		res.Origin = originResult(o.OriginStats, c.before, after)
	}
	res.derive()
	return res
}

// derive computes the figures of res that follow from its counts: rates,
// the latency summary and encoded histogram, hit ratios and offload.
func (res *Result) derive() {
	res.RequestsPerSec, res.BytesPerSec = 0, 0
	if s := res.Elapsed.Seconds(); s > 0 {
		res.RequestsPerSec = float64(res.Requests) / s
		res.BytesPerSec = float64(res.Bytes) / s
	}
	res.Latency = latencyOf(res.Histogram)
	if enc, err := res.Histogram.Encode(hdr.V2CompressedEncodingCookieBase); err == nil {
		res.HistogramV2 = string(enc)
	}
	c := &res.Cache
	c.HitRatio, c.ByteHitRatio = 0, 0
	if n := c.Hit + c.Stale + c.Miss + c.Other; n > 0 {
		c.HitRatio = float64(c.Hit+c.Stale) / float64(n)
	}
	if b := c.HitBytes + c.StaleBytes + c.MissBytes + c.OtherBytes; b > 0 {
		c.ByteHitRatio = float64(c.HitBytes+c.StaleBytes) / float64(b)
	}
	if o := res.Origin; o != nil && o.Error == "" {
		o.Offload = 0
		if res.Requests > 0 {
			o.Offload = 1 - float64(o.Requests)/float64(res.Requests)
		}
	}
}
