package loadtest

import (
	"context"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// collector turns the recorders' counts into seconds and a total. Its
// fields belong to the goroutine running run until run returns.
type collector struct {
	r       *runner
	sec     *tally // the second being closed
	total   *tally
	seconds []Second
	before  originCount // the origin's count when measuring started
}

func newCollector(r *runner) *collector {
	return &collector{r: r, sec: newTally(), total: newTally()}
}

// maxSeconds bounds the seconds a run can have (MaxRun, and then some).
const maxSeconds = int(MaxRun/time.Second) + 2

// run waits for the warm-up to end, reads the origin's count (unless Run
// did, for a run without warm-up), then closes one second at a time
// until done, when it closes the last, partial, second.
func (c *collector) run(ctx context.Context, done <-chan struct{}) {
	warm := c.r.t0.Add(c.r.o.Warmup)
	timer := time.NewTimer(time.Until(warm))
	defer timer.Stop()
	select {
	case <-done:
		c.closeSecond(c.r.finished.Sub(warm))
		return
	case <-timer.C:
	}
	if c.r.o.Warmup > 0 && c.r.o.OriginStats != "" {
		// Read on the side, so that a slow origin does not delay the
		// seconds; the reading is in before run returns.
		before := make(chan originCount, 1)
		go func() { before <- c.r.originCount(context.WithoutCancel(ctx)) }()
		defer func() { c.before = <-before }()
	}
	for k := 1; k <= maxSeconds; k++ {
		timer.Reset(time.Until(warm.Add(time.Duration(k) * time.Second)))
		select {
		case <-done:
			rest := c.r.finished.Sub(warm) - time.Duration(k-1)*time.Second
			if rest >= time.Second { // the tick and the end came together
				c.closeSecond(time.Second)
				rest -= time.Second
			}
			c.closeSecond(rest)
			return
		case <-timer.C:
			c.closeSecond(time.Second)
		}
	}
	<-done
	c.closeSecond(0)
}

// closeSecond drains the recorders into the next Second, length long (the
// last one is shorter), and reports a whole one to Options.Progress. A
// last second without requests is dropped.
func (c *collector) closeSecond(length time.Duration) {
	for _, rec := range c.r.recs {
		rec.drainInto(c.sec)
	}
	defer c.sec.reset()
	if length < time.Second && c.sec.requests == 0 {
		return
	}
	length = max(length, time.Millisecond)
	c.total.merge(c.sec)
	start := time.Duration(len(c.seconds)) * time.Second
	s := Second{
		Start:    start,
		Length:   length,
		Requests: c.sec.requests,
		Errors:   c.sec.errorCount(),
		Bytes:    c.sec.bytes,
		Hits:     c.sec.cache[Hit] + c.sec.cache[Stale],
		Latency:  latencyOf(c.sec.lat),
		Hist:     hdr.NewPacked(histLowest, histHighest, histDigits),
	}
	s.Hist.MergeFrom(c.sec.lat)
	c.seconds = append(c.seconds, s)
	if c.r.o.Progress != nil && length == time.Second {
		var left int64
		if c.r.o.Requests > 0 {
			left = max(c.r.o.Requests-c.total.requests, 0)
		}
		c.r.o.Progress(Progress{
			Elapsed:  start + length,
			Total:    c.r.o.Duration,
			Requests: c.total.requests,
			Left:     left,
			Errors:   c.total.errorCount(),
			Rate:     float64(s.Requests) / length.Seconds(),
			P99:      s.Latency.P99,
		})
	}
}
