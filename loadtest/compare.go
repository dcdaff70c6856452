package loadtest

import (
	"context"
	"fmt"
	"time"
)

// Limits of a comparison's slices.
const (
	DefaultSlices = 10
	MaxSlices     = 10_000
)

// Comparison is what Compare measured: each side merged over its slices,
// the slices in the order they ran, and the figures side by side.
type Comparison struct {
	A       *Result  `json:"a"`
	B       *Result  `json:"b"`
	Slices  []Slice  `json:"slices"`
	Figures []Figure `json:"figures"`
}

// Slice is one stretch of load against one side of a comparison.
type Slice struct {
	Side  string `json:"side"`  // "A" or "B"
	Index int    `json:"index"` // 0 for each side's first
	// FirstRequest is the slice's first request number: both sides' k-th
	// slices start at the same one, so they send the same requests.
	FirstRequest int64     `json:"first_request"`
	Start        time.Time `json:"start"` // the warm-up's start, in a first slice
	End          time.Time `json:"end"`   // when its last response came
	Requests     int64     `json:"requests"`
}

// Figure is one figure of both sides, and B's relative to A's.
type Figure struct {
	Name string  `json:"name"` // as in Result's JSON: "requests_per_sec", "latency.p99_ns", ...
	A    float64 `json:"a"`
	B    float64 `json:"b"`
	// Ratio is B / A; nil (null) when A is 0.
	Ratio *float64 `json:"ratio"`
}

// Compare runs the workload o describes against two targets, o.Target
// (A) and b (B), interleaved: slices runs of Duration/slices (and
// Requests/slices) each, A B A B ..., so that whatever else the machine
// does in the meantime falls on both alike. Each side keeps its
// connections from slice to slice, warms up (o.Warmup) only before its
// first slice, and sends in its k-th slice the same request numbers as
// the other side: the same keys in the same order. slices 0 means
// DefaultSlices; with Requests, at most Requests slices are made.
//
// Options.Progress, when set, is called once per second of each slice,
// with Side set (see Progress), or, for slices shorter than a second, at
// the end of a slice when a second has passed since the last call.
// Cancelling ctx stops the comparison early, as it does Run. It fails as
// Run does, for invalid options or a side that cannot be connected to.
func Compare(ctx context.Context, o Options, b string, slices int) (*Comparison, error) {
	if slices == 0 {
		slices = DefaultSlices
	}
	if slices < 1 || slices > MaxSlices {
		return nil, fmt.Errorf("slices %d: want 1 to %d", slices, MaxSlices)
	}
	if err := o.normalize(); err != nil {
		return nil, err
	}
	if o.Requests > 0 {
		slices = int(min(int64(slices), o.Requests))
	}
	ob := o
	ob.Target = b
	if err := ob.normalize(); err != nil {
		return nil, fmt.Errorf("B: %w", err)
	}
	cmp := &comparer{o: o, slices: slices}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for i, opts := range []Options{o, ob} {
		s := &side{name: string("AB"[i]), o: opts}
		var err error
		if s.r, err = newRunner(&s.o); err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
		s.cs = s.r.clients()
		defer s.cs.close()
		if err := s.r.connect(ctx, s.cs); err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
		if o.Progress != nil {
			s.o.Progress = cmp.progress(s)
		}
		cmp.sides[i] = s
	}
	return cmp.run(ctx), nil
}

// comparer is one Compare: its fields belong to the goroutine running it,
// and to the progress callbacks, which run while it waits for a slice.
type comparer struct {
	o      Options // as asked, normalized
	slices int
	sides  [2]*side
	order  []Slice
	// measured is both sides' measured time in the slices done so far.
	measured time.Duration
	// shown is when Options.Progress was last called.
	shown time.Time
}

// side is one target of a comparison and what its slices measured so
// far.
type side struct {
	name string
	o    Options // r.o: each slice's warm-up, duration and requests
	r    *runner
	cs   *clients
	res  *Result // merged; nil before the first slice
}

// run runs the slices, A's then B's, until all have run or ctx is done.
func (c *comparer) run(ctx context.Context) *Comparison {
	var first int64
	for k := range c.slices {
		for _, s := range c.sides {
			c.plan(s, k)
			s.r.reset(first)
			res := s.r.run(ctx, s.cs)
			c.order = append(c.order, Slice{
				Side: s.name, Index: k, FirstRequest: first,
				Start: res.Start, End: s.r.finished, Requests: res.Requests,
			})
			c.measured += res.Elapsed
			s.add(res)
			c.sliceProgress(s, res)
			if ctx.Err() != nil {
				return c.comparison()
			}
		}
		first = max(c.sides[0].r.next.Load(), c.sides[1].r.next.Load())
	}
	return c.comparison()
}

// plan sets s's options for its k-th slice: the warm-up before the first,
// and an even share of the duration and requests (the last slice takes
// what division leaves).
func (c *comparer) plan(s *side, k int) {
	n := int64(c.slices)
	share := func(total int64) int64 {
		if k == c.slices-1 {
			return total - (n-1)*(total/n)
		}
		return total / n
	}
	s.o.Warmup = 0
	if k == 0 {
		s.o.Warmup = c.o.Warmup
	}
	s.o.Duration = time.Duration(share(int64(c.o.Duration)))
	if c.o.Duration > 0 {
		s.o.Duration = max(s.o.Duration, 1) // 0 would be no limit at all
	}
	s.o.Requests = share(c.o.Requests)
}

// progress returns s's Options.Progress: the slice's second, with the
// comparison's time and the side's counts so far.
func (c *comparer) progress(s *side) func(Progress) {
	return func(p Progress) {
		c.shown = time.Now()
		p.Side = s.name
		p.Elapsed += c.measured
		p.Total = 2 * c.o.Duration
		if c.o.Requests > 0 {
			// Left of the whole comparison: both sides' requests.
			p.Left = max(2*c.o.Requests-p.Requests-c.sides[0].requests()-c.sides[1].requests(), 0)
		}
		if s.res != nil {
			p.Requests += s.res.Requests
			p.Errors += s.res.Errors
		}
		c.o.Progress(p)
	}
}

// sliceProgress reports a slice that just ended when no progress was
// reported for a second: slices shorter than a second have no whole
// second of their own to report.
func (c *comparer) sliceProgress(s *side, res *Result) {
	if c.o.Progress == nil || time.Since(c.shown) < time.Second || res.Requests == 0 {
		return
	}
	c.shown = time.Now()
	p := Progress{
		Side:     s.name,
		Elapsed:  c.measured,
		Total:    2 * c.o.Duration,
		Requests: s.res.Requests,
		Errors:   s.res.Errors,
		Rate:     res.RequestsPerSec,
		P99:      res.Latency.P99,
	}
	if c.o.Requests > 0 {
		p.Left = max(2*c.o.Requests-c.sides[0].requests()-c.sides[1].requests(), 0)
	}
	c.o.Progress(p)
}

// requests is how many requests s's slices sent so far.
func (s *side) requests() int64 {
	if s.res == nil {
		return 0
	}
	return s.res.Requests
}

// comparison assembles the Comparison from the sides' merged results.
func (c *comparer) comparison() *Comparison {
	a, b := c.sides[0].res, c.sides[1].res
	if b == nil { // stopped during A's first slice
		b = &Result{Target: c.sides[1].o.Target, Interrupted: true, Histogram: newHist(), Status: map[string]int64{}}
		b.derive()
	}
	for _, res := range []*Result{a, b} {
		res.Duration = c.o.Duration
	}
	return &Comparison{A: a, B: b, Slices: c.order, Figures: Figures(a, b)}
}

// add merges res, the side's latest slice, into s.res.
func (s *side) add(res *Result) {
	if s.res == nil {
		s.res = res
		return
	}
	m := s.res
	for _, sec := range res.Seconds {
		sec.Start += m.Elapsed
		m.Seconds = append(m.Seconds, sec)
	}
	m.Elapsed += res.Elapsed
	m.Interrupted = m.Interrupted || res.Interrupted
	m.Requests += res.Requests
	m.Responses += res.Responses
	m.Errors += res.Errors
	m.Late += res.Late
	m.Purges += res.Purges
	m.Conditionals += res.Conditionals
	m.NotModified += res.NotModified
	m.Bytes += res.Bytes
	m.Histogram.Merge(res.Histogram)
	addCounts(&m.Status, res.Status)
	addCounts(&m.ErrorsByKind, res.ErrorsByKind)
	for k, v := range res.ErrorSamples {
		if m.ErrorSamples == nil {
			m.ErrorSamples = map[string]string{}
		}
		if _, ok := m.ErrorSamples[k]; !ok {
			m.ErrorSamples[k] = v
		}
	}
	mc, rc := &m.Cache, res.Cache
	mc.Hit, mc.Stale, mc.Miss, mc.Other = mc.Hit+rc.Hit, mc.Stale+rc.Stale, mc.Miss+rc.Miss, mc.Other+rc.Other
	mc.HitBytes += rc.HitBytes
	mc.StaleBytes += rc.StaleBytes
	mc.MissBytes += rc.MissBytes
	mc.OtherBytes += rc.OtherBytes
	if mo, ro := m.Origin, res.Origin; mo != nil && ro != nil && mo.Error == "" {
		if ro.Error != "" {
			*mo = Origin{StatsURL: mo.StatsURL, Error: ro.Error}
		} else {
			mo.Requests += ro.Requests
		}
	}
	m.derive()
}

// addCounts adds src's counts to *dst, making it when needed.
func addCounts(dst *map[string]int64, src map[string]int64) {
	if len(src) == 0 {
		return
	}
	if *dst == nil {
		*dst = make(map[string]int64, len(src))
	}
	for k, n := range src {
		(*dst)[k] += n
	}
}

// Figures lists a's and b's main figures side by side, B / A: throughput,
// latency percentiles, errors, hit ratios and, when both read the
// origin's counts, origin requests and offload.
func Figures(a, b *Result) []Figure {
	type fig struct {
		name string
		of   func(*Result) float64
	}
	ns := func(f func(Latency) time.Duration) func(*Result) float64 {
		return func(r *Result) float64 { return float64(f(r.Latency)) }
	}
	figs := []fig{
		{"requests", func(r *Result) float64 { return float64(r.Requests) }},
		{"requests_per_sec", func(r *Result) float64 { return r.RequestsPerSec }},
		{"bytes_per_sec", func(r *Result) float64 { return r.BytesPerSec }},
		{"errors", func(r *Result) float64 { return float64(r.Errors) }},
		{"latency.p50_ns", ns(func(l Latency) time.Duration { return l.P50 })},
		{"latency.p90_ns", ns(func(l Latency) time.Duration { return l.P90 })},
		{"latency.p99_ns", ns(func(l Latency) time.Duration { return l.P99 })},
		{"latency.p999_ns", ns(func(l Latency) time.Duration { return l.P999 })},
		{"latency.max_ns", ns(func(l Latency) time.Duration { return l.Max })},
		{"latency.mean_ns", ns(func(l Latency) time.Duration { return l.Mean })},
		{"cache.hit_ratio", func(r *Result) float64 { return r.Cache.HitRatio }},
		{"cache.byte_hit_ratio", func(r *Result) float64 { return r.Cache.ByteHitRatio }},
	}
	if a.Mode == "open" || b.Mode == "open" {
		figs = append(figs, fig{"late", func(r *Result) float64 { return float64(r.Late) }})
	}
	if a.Origin != nil && b.Origin != nil && a.Origin.Error == "" && b.Origin.Error == "" {
		figs = append(figs,
			fig{"origin.requests", func(r *Result) float64 { return float64(r.Origin.Requests) }},
			fig{"origin.offload", func(r *Result) float64 { return r.Origin.Offload }})
	}
	out := make([]Figure, len(figs))
	for i, f := range figs {
		out[i] = Figure{Name: f.name, A: f.of(a), B: f.of(b)}
		if out[i].A != 0 {
			r := out[i].B / out[i].A
			out[i].Ratio = &r
		}
	}
	return out
}
