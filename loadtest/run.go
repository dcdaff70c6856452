package loadtest

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// client sends one request at a time for one worker.
type client interface {
	do(ctx context.Context, rq request, deadline time.Time) outcome
}

// runner is one run: its fixed parts, set before the workers start and
// only read by them, and the two counters they share.
type runner struct {
	o     *Options
	tgt   *target
	plan  plan
	open  bool
	end   time.Duration // no request starts at or after t0 + end
	warmN int64         // open loop: request numbers below it are warm-up
	recs  []*recorder

	t0       time.Time // the run's start; set before the workers start
	finished time.Time // when the last worker returned; set before done closes

	next     atomic.Int64 // the next request number
	measured atomic.Int64 // closed loop: measured requests started
}

func newRunner(o *Options) (*runner, error) {
	tgt, err := newTarget(o.Target, o)
	if err != nil {
		return nil, err
	}
	r := &runner{
		o:   o,
		tgt: tgt,
		plan: plan{
			seed:  o.Seed,
			keys:  newKeys(o.Keys, o.Objects, o.ZipfS),
			size:  o.Size,
			purge: o.PurgePct / 100,
			cond:  o.ConditionalPct / 100,
		},
		open: o.openLoop(),
		end:  o.endOffset(),
	}
	if r.open {
		r.warmN = o.warmRequests()
	}
	// A few workers share a recorder: enough recorders that workers
	// seldom wait for one, few enough that their histograms stay small.
	workers := o.Connections * o.Streams
	r.recs = make([]*recorder, min(workers, 4*runtime.GOMAXPROCS(0)))
	for i := range r.recs {
		r.recs[i] = &recorder{t: tally{lat: newHist()}}
	}
	return r, nil
}

// run starts the workers and the collector, waits for them and returns
// the Result.
func (r *runner) run(parent context.Context) (*Result, error) {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	clients, closeAll := r.clients()
	defer closeAll()
	if err := r.connect(ctx, clients); err != nil {
		return nil, err
	}
	col := newCollector(r)
	if r.o.Warmup == 0 {
		col.before = r.originCount(ctx)
	}

	r.t0 = time.Now()
	var wg sync.WaitGroup
	for w, c := range clients {
		wg.Go(func() { r.work(ctx, c, r.recs[w%len(r.recs)]) })
	}
	done := make(chan struct{})
	collected := make(chan struct{})
	go func() {
		defer close(collected)
		col.run(ctx, done)
	}()
	wg.Wait()
	r.finished = time.Now()
	close(done)
	<-collected

	var after originCount
	if col.before.err == nil && col.before.ok {
		after = r.originCount(context.WithoutCancel(ctx))
	}
	return r.result(col, after, parent.Err() != nil), nil
}

// clients makes one client per worker, and the function that closes
// them all.
func (r *runner) clients() ([]client, func()) {
	cs := make([]client, 0, r.o.Connections*r.o.Streams)
	if !r.o.H2 {
		h1s := make([]*h1, r.o.Connections)
		for i := range h1s {
			h1s[i] = newH1(r.tgt, r.o.TLS, r.o.Timeout)
			cs = append(cs, h1s[i])
		}
		return cs, func() {
			for _, c := range h1s {
				c.close()
			}
		}
	}
	h2s := make([]*h2conn, r.o.Connections)
	for i := range h2s {
		h2s[i] = newH2(r.tgt, r.o.TLS, r.o.Timeout)
		for range r.o.Streams {
			cs = append(cs, h2stream{h2s[i]})
		}
	}
	return cs, func() {
		for _, c := range h2s {
			c.tr.CloseIdleConnections()
		}
	}
}

// maxDialers bounds the connections being made at once before a run.
const maxDialers = 64

// connect opens the HTTP/1.1 connections before the clock starts, so that
// the first requests do not pay for them, and fails when none could be
// made: the target is down or wrong. Connections that fail are tried
// again, and counted, by their workers. HTTP/2 connects on first use.
func (r *runner) connect(ctx context.Context, cs []client) error {
	var wg sync.WaitGroup
	sem := make(chan struct{}, maxDialers)
	errs := make([]error, len(cs))
	for i, c := range cs {
		h, ok := c.(*h1)
		if !ok {
			return nil
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			errs[i] = h.dial(ctx, time.Now().Add(r.o.Timeout))
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err == nil {
			return nil
		}
	}
	return fmt.Errorf("connect to %s: %w", r.tgt.addr, errs[0])
}

// work is one worker: it takes the next request number, waits for its
// time in an open loop, sends it and records the outcome if it is
// measured. It returns at the end of the run (time or Requests; Run
// always has an end) or when ctx is done.
func (r *runner) work(ctx context.Context, c client, rec *recorder) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for ctx.Err() == nil {
		i := r.next.Add(1) - 1
		var sent, start time.Time
		var late, measured bool
		if r.open {
			due := r.o.due(i)
			if due >= r.end || (r.o.Requests > 0 && i >= r.warmN+r.o.Requests) {
				return
			}
			intended := r.t0.Add(due)
			sent = time.Now()
			if wait := intended.Sub(sent); wait > 0 {
				// A free connection waits for the request's time. Go's
				// timers wake up to about 1ms late when the process is
				// idle; that slack is the generator's, not the target's,
				// so latency counts from when the request is really sent.
				timer.Reset(wait)
				select {
				case <-ctx.Done():
					timer.Stop()
					return
				case <-timer.C:
				}
				sent = time.Now()
				start = sent
			} else {
				// No connection was free when the request fell due (all
				// busy with earlier requests, or the generator starved of
				// CPU): its latency counts from when it was due, the wait
				// included (coordinated-omission correction).
				start = intended
				late = -wait > lateAfter
			}
			measured = due >= r.o.Warmup
		} else {
			sent = time.Now()
			start = sent
			off := sent.Sub(r.t0)
			if off >= r.end {
				return
			}
			measured = off >= r.o.Warmup
			if measured && r.o.Requests > 0 && r.measured.Add(1) > r.o.Requests {
				return
			}
		}
		rq := r.plan.at(i)
		o := c.do(ctx, rq, sent.Add(r.o.Timeout))
		if ctx.Err() != nil {
			return // cut short by the stop, not by the target
		}
		if measured {
			rec.add(rq, &o, time.Since(start), late)
		}
	}
}
