package proxy

import (
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/cdnnode/cdnnode/cachelock"
	"github.com/cdnnode/cdnnode/cachestore"
	"github.com/cdnnode/cdnnode/coding"
	"github.com/cdnnode/cdnnode/keys"
)

// fillHead is what a fill's writer publishes to its readers when the
// response streams: the status, the body as it is stored (its header a
// copy the writer no longer touches; each reader serves its own
// representation of it), the key the object is stored under, and what
// the purge bans judge it by: its surrogate keys and its stamp, when the
// fetch began (cachestore.Object.Tags and Stamp).
type fillHead struct {
	status int
	body   body
	key    string
	tags   []string
	stamp  time.Time
}

// Lock-wait results, the label of cdnnode_cache_lock_waits_total.
const (
	waitServed    = "served"    // read the body along
	waitRefreshed = "refreshed" // served the object another request revalidated
	waitTimeout   = "timeout"   // no head within lock_timeout
	waitPassed    = "passed"    // uncacheable response: fetched on its own
	waitFailed    = "failed"    // the origin failed before a head
	waitVary      = "vary"      // the fill is another variant
	waitGone      = "client-gone"
	waitAborted   = "aborted" // the body stopped short: the reader's transfer aborted
	waitPurged    = "purged"  // a purge accepted since the fetch began names it: fetched on its own
)

// fetch forwards a miss or a revalidation through the key's lock: the
// first request fetches for everyone, later ones read its answer along.
// A key recently found uncacheable (hit-for-pass) skips the lock.
func (p *Proxy) fetch(w http.ResponseWriter, r *http.Request, x *exchange) {
	if x.stale != nil {
		// No ban made since the lookup may expire before forward has
		// asked the bans about the stale object again, however long the
		// lock wait: one may name it.
		g := p.bans.Begin(x.key.Hash, p.now)
		defer g.End()
	}
	if p.locks.HitForPass(x.key) {
		x.out.passing = true
		p.forward(w, r, x, nil)
		if x.out.stored {
			p.locks.ClearPass(x.key) // cacheable again: collapse from now on
		}
		return
	}
	// A fill that failed before its head is retried once through the lock,
	// so one of its readers becomes the next writer; after that each
	// request fetches on its own.
	for attempt := 0; attempt < 2; attempt++ {
		f, writer := p.locks.Acquire(x.key)
		if writer {
			p.forward(w, r, x, f)
			return
		}
		result := p.readAlong(w, r, x, f)
		p.metrics.LockWaits.WithLabelValues(result).Inc()
		switch result {
		case waitServed, waitRefreshed, waitGone:
			return
		case waitTimeout:
			x.out.detail = "lock-timeout"
		case waitPurged:
			x.out.detail = "fill-purged" // forward drops the stale object too if a hard purge names it
		case waitFailed:
			if now := p.now(); p.mayServeStale(r, x, now) {
				x.out.collapsed = true
				p.serveStale(w, r, x, now)
				return
			}
		}
		if result != waitFailed {
			break
		}
	}
	p.forward(w, r, x, nil)
}

// readAlong serves r from fill f as one of its readers and reports how it
// went; for every result but waitServed, waitRefreshed and waitGone the
// caller still has to answer.
//
// The purge bans are checked when the fill's head comes, against the
// fill's stamp and surrogate keys, as a lookup checks a stored object
// (DESIGN invariant 2): a reader whose fill a purge accepted since the
// fetch began names, hard or soft, serves nothing of it (waitPurged) and
// fetches on its own, so a request that arrives after a purge has
// answered never gets the fill's body. A reader already reading the body
// along when a purge comes finishes it: its response began before the
// purge answered, like a hit being sent.
func (p *Proxy) readAlong(w http.ResponseWriter, r *http.Request, x *exchange, f *cachelock.Fill) string {
	defer f.Leave()
	start := p.now()
	state, head, err := f.Wait(r.Context().Done(), p.lockTimeout)
	p.metrics.LockWait.Observe(p.now().Sub(start).Seconds())
	switch {
	case errors.Is(err, cachelock.ErrTimeout):
		return waitTimeout
	case err != nil:
		x.out.detail = "client-gone"
		x.rw.status = statusClientClosed
		return waitGone
	case state == cachelock.Passed:
		return waitPassed
	case state == cachelock.Failed:
		return waitFailed
	case state == cachelock.Refreshed:
		return p.readRefreshed(w, r, x, head.(*cachestore.Object))
	}
	h := head.(*fillHead)
	if otherVariant(x, r, h.body.header, h.key) {
		return waitVary
	}
	if p.fillPurged(h.key, h.tags, h.stamp) {
		return waitPurged
	}
	x.out.collapsed = true
	rp := choose(r, h.body)
	dst := w.Header()
	for k, vs := range rp.header(h.body.header) {
		dst[k] = vs
	}
	dst.Set("Cache-Status", x.out.String())
	w.WriteHeader(h.status)
	if r.Method == http.MethodHead {
		return waitServed
	}
	client := &coding.CountWriter{W: w}
	src := f.NewReader(r.Context().Done())
	if rp.transformed() {
		_, err = coding.Transcode(client, src, rp.from, rp.to, p.level(rp.to))
	} else {
		bp := copyBufs.Get().(*[]byte)
		defer copyBufs.Put(bp)
		_, err = io.CopyBuffer(onlyWriter{client}, src, *bp)
	}
	if err == nil {
		served(x.stats, rp, rp.conversion(), client.N)
		return waitServed
	}
	if errors.Is(err, cachelock.ErrAborted) || client.Err == nil && r.Context().Err() == nil {
		p.metrics.LockWaits.WithLabelValues(waitAborted).Inc()
		p.log.Warn("fill aborted under a reader", "key", x.key.Full, "err", err)
		x.out.detail = "fill-aborted"
		// The status line is gone; only aborting tells the client the body
		// is incomplete.
		panic(http.ErrAbortHandler)
	}
	return waitServed
}

// readRefreshed serves r obj, the object the fill's writer revalidated
// (the fill holds it until its last reader leaves), unless it is another
// variant or a purge accepted since the revalidation began names it.
func (p *Proxy) readRefreshed(w http.ResponseWriter, r *http.Request, x *exchange, obj *cachestore.Object) string {
	if otherVariant(x, r, obj.Header, obj.Key) {
		return waitVary
	}
	if p.fillPurged(obj.Key, obj.Tags, obj.Stamp) {
		return waitPurged
	}
	x.out.collapsed = true
	p.serve(w, r, x, obj, p.now())
	return waitRefreshed
}

// fillPurged reports whether a purge, hard or soft, accepted since a fill
// began at stamp names what it stores under key with tags. It asks the
// bans as lookups do (unbanned): none that could name the fill has
// expired, as the fill's flight holds them until its last reader leaves
// (fillRef.stream, fillRef.refresh). The store needs nothing from the
// reader: the writer's settleFill drops what the fill stored, and lookups
// and the sweeper apply a purge that comes later.
func (p *Proxy) fillPurged(key string, tags []string, stamp time.Time) bool {
	v := p.bans.Check(key, tags, stamp)
	return v.Purged || !v.Stale.IsZero()
}

// otherVariant reports whether a response with header hdr, stored under
// key, varies on request fields that select another variant for r.
func otherVariant(x *exchange, r *http.Request, hdr http.Header, key string) bool {
	fields, _ := keys.VaryFields(hdr)
	return len(fields) > 0 && x.key.Variant(fields, r.Header).Full != key
}

// onlyWriter hides a writer's ReadFrom, so io.CopyBuffer uses the given
// buffer and reads in buffer-sized steps.
type onlyWriter struct{ io.Writer }
