// Package limits caps requests: how many are in flight (to an origin pool
// or peer, or from an edge client) and the rate at which they start, and
// refuses what cannot go with an error wrapping ErrLimited.
//
// Origin side: a Limiter guards one pool or one peer with an in-flight cap
// and a token bucket (golang.org/x/time/rate), letting the excess wait
// briefly in a bounded queue; a Chain takes a pool's and a peer's permits
// together. Client side: a Window counts each client's requests in fixed
// or sliding windows, and InFlight caps the requests served at once per
// client and in total; both keep their tables within a memory bound
// whatever the number of clients. Counters are plain numbers for the
// metrics package to export.
package limits

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Options configure a Limiter. The zero value limits nothing.
type Options struct {
	// MaxInFlight caps the permits held at once; 0 = unlimited.
	MaxInFlight int
	// Rate is the sustained number of permits granted per second; 0 =
	// unlimited.
	Rate float64
	// Burst is the token bucket's size: how many permits may start
	// back-to-back after a quiet spell. 0 means 1 (no bursts); unused
	// without Rate.
	Burst int
	// MaxWait bounds how long one Acquire may wait for a slot and then a
	// token; 0 = fail at once when a limit is reached.
	MaxWait time.Duration
	// MaxQueue bounds the callers waiting at once; beyond it Acquire fails
	// at once. It must be positive when MaxWait is.
	MaxQueue int
}

// Limiter caps in-flight requests and their start rate for one pool or
// peer. Safe for concurrent use. A nil *Limiter limits nothing, so a pool
// or peer without limits needs no special case.
type Limiter struct {
	name string
	opts Options

	// free holds the indices of unheld in-flight slots; nil when
	// MaxInFlight is 0. Its FIFO receive queue is the wait queue, and a
	// slot released while callers wait goes straight to the longest waiter.
	free chan int32
	// gens[i] is odd while slot i is held; each acquire and release adds
	// one, so a Permit knows the exact holding it may end.
	gens []atomic.Uint64

	tokens *rate.Limiter // nil when Rate is 0

	errs [numReasons]error // the errors returned for each reason, built once

	inFlight    atomic.Int64
	waiting     atomic.Int64
	acquired    atomic.Uint64
	rejected    [numReasons]atomic.Uint64
	canceled    atomic.Uint64
	badReleases atomic.Uint64
}

// New builds the limiter called name (used in its errors, e.g. "pool a" or
// "peer 10.0.0.1:80") from o. It refuses negative or non-finite values and
// a MaxWait without a MaxQueue, which would never let anyone wait.
func New(name string, o Options) (*Limiter, error) {
	switch {
	case o.MaxInFlight < 0, o.Burst < 0, o.MaxQueue < 0, o.MaxWait < 0:
		return nil, fmt.Errorf("limit %s: negative option in %+v", name, o)
	case o.Rate < 0 || math.IsNaN(o.Rate) || math.IsInf(o.Rate, 0):
		return nil, fmt.Errorf("limit %s: rate %v is not a finite, non-negative number", name, o.Rate)
	case o.MaxWait > 0 && o.MaxQueue == 0:
		return nil, fmt.Errorf("limit %s: max wait %v needs a max queue above 0", name, o.MaxWait)
	}
	if o.Burst == 0 {
		o.Burst = 1
	}
	l := &Limiter{name: name, opts: o}
	if o.MaxInFlight > 0 {
		if o.MaxInFlight > math.MaxInt32 {
			return nil, fmt.Errorf("limit %s: max in flight %d is above %d", name, o.MaxInFlight, math.MaxInt32)
		}
		l.free = make(chan int32, o.MaxInFlight)
		for i := range int32(o.MaxInFlight) {
			l.free <- i
		}
		l.gens = make([]atomic.Uint64, o.MaxInFlight)
	}
	if o.Rate > 0 {
		l.tokens = rate.NewLimiter(rate.Limit(o.Rate), o.Burst)
	}
	for r := range Reason(numReasons) {
		l.errs[r] = &LimitError{Limiter: name, Reason: r}
	}
	return l, nil
}

// Permit is one granted request. Release it exactly once when the upstream
// request ends; a Permit's zero value holds nothing and releases nothing.
type Permit struct {
	l    *Limiter
	gen  uint64 // the slot's generation while this permit holds it
	slot int32  // index into l.gens; -1 without an in-flight cap
}

// Release gives the permit back and clears it, so calling Release again on
// the same variable does nothing. Releasing a copy of a permit already
// released does not free a slot someone else now holds: it is ignored and
// counted by BadReleases (only with MaxInFlight set; without it, the
// in-flight count is all there is to skew).
func (p *Permit) Release() {
	l := p.l
	if l == nil {
		return
	}
	slot, gen := p.slot, p.gen
	*p = Permit{}
	if slot < 0 {
		l.inFlight.Add(-1)
		return
	}
	if !l.gens[slot].CompareAndSwap(gen, gen+1) {
		l.badReleases.Add(1)
		return
	}
	l.inFlight.Add(-1)
	l.free <- slot // never blocks: the slot was out, so the buffer has room
}

// Acquire waits, up to MaxWait and while ctx lasts, for an in-flight slot
// and then for a token, and returns the permit holding both. The caller
// must Release it. When a limit cannot be met in time Acquire returns a
// *LimitError (wrapping ErrLimited) naming the limit; it fails at once,
// without waiting, when the queue is full or the token would come too late
// (after MaxWait or ctx's deadline). If ctx ends first it returns ctx's
// error, wrapped. On error it holds nothing: a slot taken while waiting is
// returned and a token reserved is given back.
//
// Granting without waiting allocates nothing.
func (l *Limiter) Acquire(ctx context.Context) (Permit, error) {
	if l == nil {
		return Permit{}, nil
	}
	if err := ctx.Err(); err != nil {
		l.canceled.Add(1)
		return Permit{}, fmt.Errorf("limit %s: %w", l.name, err)
	}
	slot := int32(-1)
	if l.free != nil {
		select {
		case slot = <-l.free:
		default:
			return l.wait(ctx, slot)
		}
	}
	if l.tokens != nil && !l.tokens.Allow() {
		return l.wait(ctx, slot)
	}
	return l.grant(slot), nil
}

// wait is Acquire's slow path: it queues for whatever slot is still missing
// (slot < 0 with a cap) and then for a token.
func (l *Limiter) wait(ctx context.Context, slot int32) (Permit, error) {
	needSlot := l.free != nil && slot < 0
	reason := ReasonRate
	if needSlot {
		reason = ReasonInFlight
	}
	if l.opts.MaxWait == 0 {
		return l.refuse(slot, reason)
	}
	if l.waiting.Add(1) > int64(l.opts.MaxQueue) {
		l.waiting.Add(-1)
		return l.refuse(slot, ReasonQueueFull)
	}
	defer l.waiting.Add(-1)

	deadline := time.Now().Add(l.opts.MaxWait)
	var timer *time.Timer // made only for a wait that happens
	if needSlot {
		timer = time.NewTimer(l.opts.MaxWait)
		defer timer.Stop()
		select {
		case slot = <-l.free:
		case <-timer.C:
			return l.refuse(slot, ReasonInFlight)
		case <-ctx.Done():
			return l.cancel(ctx, slot, "an in-flight slot")
		}
	}
	if l.tokens == nil {
		return l.grant(slot), nil
	}
	now := time.Now()
	r := l.tokens.ReserveN(now, 1) // always OK: Burst >= 1
	delay := r.DelayFrom(now)
	if delay == 0 {
		return l.grant(slot), nil
	}
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if now.Add(delay).After(deadline) {
		r.CancelAt(now)
		return l.refuse(slot, ReasonRate)
	}
	if timer == nil {
		timer = time.NewTimer(delay)
		defer timer.Stop()
	} else {
		timer.Reset(delay) // Go 1.23+ timers: no stale tick can arrive
	}
	select {
	case <-timer.C:
		return l.grant(slot), nil
	case <-ctx.Done():
		r.Cancel()
		return l.cancel(ctx, slot, "a token")
	}
}

// grant turns a held slot (or -1 without a cap) into a Permit.
func (l *Limiter) grant(slot int32) Permit {
	l.inFlight.Add(1)
	l.acquired.Add(1)
	if slot < 0 {
		return Permit{l: l, slot: -1}
	}
	return Permit{l: l, slot: slot, gen: l.gens[slot].Add(1)}
}

// refuse returns an unused slot, if any, and fails with reason.
func (l *Limiter) refuse(slot int32, reason Reason) (Permit, error) {
	l.putBack(slot)
	l.rejected[reason].Add(1)
	return Permit{}, l.errs[reason]
}

// cancel returns an unused slot, if any, and fails with ctx's error.
func (l *Limiter) cancel(ctx context.Context, slot int32, waitingFor string) (Permit, error) {
	l.putBack(slot)
	l.canceled.Add(1)
	return Permit{}, fmt.Errorf("limit %s: waiting for %s: %w", l.name, waitingFor, ctx.Err())
}

// putBack returns a slot taken but never granted; -1 means none.
func (l *Limiter) putBack(slot int32) {
	if slot >= 0 {
		l.free <- slot
	}
}

// InFlight is the number of permits held now.
func (l *Limiter) InFlight() int64 {
	if l == nil {
		return 0
	}
	return l.inFlight.Load()
}

// Waiting is the number of callers queued in Acquire now.
func (l *Limiter) Waiting() int64 {
	if l == nil {
		return 0
	}
	return l.waiting.Load()
}

// Acquired is the number of permits granted so far.
func (l *Limiter) Acquired() uint64 {
	if l == nil {
		return 0
	}
	return l.acquired.Load()
}

// Rejected is the number of Acquire calls refused so far for reason.
func (l *Limiter) Rejected(reason Reason) uint64 {
	if l == nil || reason >= numReasons {
		return 0
	}
	return l.rejected[reason].Load()
}

// Canceled is the number of Acquire calls abandoned so far because their
// context ended, before or while waiting.
func (l *Limiter) Canceled() uint64 {
	if l == nil {
		return 0
	}
	return l.canceled.Load()
}

// BadReleases is the number of releases ignored so far because a copy of
// the permit had already been released: a caller bug worth an alert.
func (l *Limiter) BadReleases() uint64 {
	if l == nil {
		return 0
	}
	return l.badReleases.Load()
}
