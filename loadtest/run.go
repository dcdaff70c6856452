package loadtest

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// client sends one request at a time for one worker.
type client interface {
	do(ctx context.Context, rq request, deadline time.Time) outcome
}

// runner is one run: its fixed parts, set before the workers start and
// only read by them, and the two counters they share. Compare reuses a
// runner, and its connections, for each of its slices (see reset).
type runner struct {
	o     *Options
	tgts  []*target
	plan  plan
	open  bool
	end   time.Duration // no request starts at or after t0 + end
	first int64         // the run's first request number
	warmN int64         // open loop: request numbers below first + warmN are warm-up
	recs  []*recorder

	t0       time.Time // the run's start; set before the workers start
	finished time.Time // when the last worker returned; set before done closes

	next     atomic.Int64 // the next request number
	measured atomic.Int64 // closed loop: measured requests started
}

func newRunner(o *Options) (*runner, error) {
	tgts, err := newTargets(o.Target, o)
	if err != nil {
		return nil, err
	}
	r := &runner{
		o:    o,
		tgts: tgts,
		plan: plan{
			seed:    o.Seed,
			keys:    newKeys(o.Keys, o.Objects, o.ZipfS),
			size:    o.Size,
			purge:   o.PurgePct / 100,
			cond:    o.ConditionalPct / 100,
			targets: uint64(len(tgts)),
		},
		open: o.openLoop(),
	}
	r.reset(0)
	// A few workers share a recorder: enough recorders that workers
	// seldom wait for one, few enough that their histograms stay small.
	workers := o.Connections * o.Streams
	r.recs = make([]*recorder, min(workers, 4*runtime.GOMAXPROCS(0)))
	for i := range r.recs {
		r.recs[i] = &recorder{t: tally{lat: newHist()}}
	}
	return r, nil
}

// reset prepares the runner for a run whose request numbers start at
// first, with the warm-up, duration and request count now in r.o. Only
// between runs: no worker may be running.
func (r *runner) reset(first int64) {
	r.end = r.o.endOffset()
	r.first = first
	r.warmN = 0
	if r.open {
		r.warmN = r.o.warmRequests()
	}
	r.next.Store(first)
	r.measured.Store(0)
}

// run starts the workers on cs and the collector, waits for them and
// returns the Result. The caller made cs, and connected them.
func (r *runner) run(ctx context.Context, cs *clients) *Result {
	col := newCollector(r)
	if r.o.Warmup == 0 {
		col.before = r.originCount(ctx)
	}

	r.t0 = time.Now()
	var wg sync.WaitGroup
	for w, c := range cs.workers {
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
	return r.result(col, after, ctx.Err() != nil)
}

// clients are a run's connections: a client per worker, which holds, with
// several targets, one connection (or h2 stream) to each and sends each
// request on the one to its target.
type clients struct {
	workers []client
	h1s     [][]*h1     // by target, then connection
	h2s     [][]*h2conn // by target, then connection
}

// roundRobin is a worker's client for several targets: one per target.
type roundRobin []client

func (rr roundRobin) do(ctx context.Context, rq request, deadline time.Time) outcome {
	return rr[rq.target].do(ctx, rq, deadline)
}

// clients makes the connections of a run (not connected yet): per
// target, Connections of them.
func (r *runner) clients() *clients {
	o := r.o
	cs := &clients{workers: make([]client, o.Connections*o.Streams)}
	perTarget := make([][]client, len(r.tgts)) // by target, the workers' clients
	for ti, t := range r.tgts {
		perTarget[ti] = make([]client, 0, len(cs.workers))
		if !o.H2 {
			h1s := make([]*h1, o.Connections)
			for i := range h1s {
				h1s[i] = newH1(t, o.TLS, o.Timeout)
				perTarget[ti] = append(perTarget[ti], h1s[i])
			}
			cs.h1s = append(cs.h1s, h1s)
			continue
		}
		h2s := make([]*h2conn, o.Connections)
		for i := range h2s {
			h2s[i] = newH2(t, o.TLS, o.Timeout)
			for range o.Streams {
				perTarget[ti] = append(perTarget[ti], h2stream{h2s[i]})
			}
		}
		cs.h2s = append(cs.h2s, h2s)
	}
	for w := range cs.workers {
		if len(r.tgts) == 1 {
			cs.workers[w] = perTarget[0][w]
			continue
		}
		rr := make(roundRobin, len(r.tgts))
		for ti := range rr {
			rr[ti] = perTarget[ti][w]
		}
		cs.workers[w] = rr
	}
	return cs
}

// close closes every connection.
func (cs *clients) close() {
	for _, h1s := range cs.h1s {
		for _, c := range h1s {
			c.close()
		}
	}
	for _, h2s := range cs.h2s {
		for _, c := range h2s {
			c.tr.CloseIdleConnections()
		}
	}
}

// maxDialers bounds the connections being made at once before a run.
const maxDialers = 64

// connect opens the HTTP/1.1 connections before the clock starts, so that
// the first requests do not pay for them, and fails when none to a
// target could be made: that target is down or wrong. Connections that
// fail are tried again, and counted, by their workers. HTTP/2 connects on
// first use. The connections stop when ctx is done.
func (r *runner) connect(ctx context.Context, cs *clients) error {
	var wg sync.WaitGroup
	sem := make(chan struct{}, maxDialers)
	errs := make([][]error, len(cs.h1s))
	for ti, h1s := range cs.h1s {
		errs[ti] = make([]error, len(h1s))
		for i, h := range h1s {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				errs[ti][i] = h.dial(ctx, time.Now().Add(r.o.Timeout))
			})
		}
	}
	wg.Wait()
	for ti, te := range errs {
		if !slices.ContainsFunc(te, func(err error) bool { return err == nil }) {
			return fmt.Errorf("connect to %s: %w", r.tgts[ti].addr, te[0])
		}
	}
	return nil
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
		n := i - r.first // the request's place in this run
		var sent, start time.Time
		var late, measured bool
		if r.open {
			due := r.o.due(n)
			if due >= r.end || (r.o.Requests > 0 && n >= r.warmN+r.o.Requests) {
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
