package proxy

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/cdnnode/cdnnode/cachelock"
	"github.com/cdnnode/cdnnode/cachepolicy"
	"github.com/cdnnode/cdnnode/metrics"
)

// Why a stale response was served, the label of cdnnode_stale_served_total.
const (
	staleWhileRevalidate = "while-revalidate"
	staleIfError         = "if-error"
	staleMaxStale        = "max-stale"
)

// Background revalidation outcomes, the label of
// cdnnode_background_revalidations_total.
const (
	revalNotModified = "not-modified"
	revalReplaced    = "replaced"
	revalNotStored   = "not-stored"
	revalError       = "error"
	revalBusy        = "busy"
)

// revalidateLater starts the background revalidation of x's stale object,
// which r is being answered with (stale-while-revalidate). It runs as the
// writer of a fill of the key's lock, so requests that can't take the stale
// answer read along it; and it starts nothing when a fill of the key is
// already under way or the shard runs its limit of background
// revalidations: a later stale hit tries again.
func (p *Proxy) revalidateLater(r *http.Request, x *exchange) {
	f, err := p.locks.AcquireBackground(x.key)
	if errors.Is(err, cachelock.ErrBusy) {
		p.metrics.Revalidations.WithLabelValues(revalBusy).Inc()
	}
	if err != nil {
		return
	}
	bg := backgroundRequest(r)
	bx := &exchange{
		start: p.now(), stats: x.stats, site: x.site, key: x.key,
		stale: x.stale, staleKey: x.staleKey,
		out:        outcome{cache: metrics.Stale},
		background: true,
	}
	x.stale.Retain() // the caller releases its own use when r is answered
	go func() {
		defer bx.stale.Release()
		p.forward(discard{}, bg, bx, f)
		result := revalidation(&bx.out)
		p.metrics.Revalidations.WithLabelValues(result).Inc()
		p.log.Debug("background revalidation", "key", bx.key.Full, "result", result,
			"fwd_status", bx.out.fwdStatus, "detail", bx.out.detail, "dur_ms", float64(p.now().Sub(bx.start).Microseconds())/1000)
	}()
}

// backgroundRequest is the node's own request for r's object: a HEAD (the
// pipeline fetches the whole object for the cache and sends nothing back),
// with r's fields (they select the variant) but none of its conditional,
// Range or cache directives, and a context that outlives r.
func backgroundRequest(r *http.Request) *http.Request {
	bg := r.Clone(context.WithoutCancel(r.Context()))
	bg.Method = http.MethodHead
	bg.Body, bg.ContentLength = nil, 0
	for _, f := range conditionalFields {
		bg.Header.Del(f)
	}
	bg.Header.Del("Cache-Control")
	bg.Header.Del("Pragma")
	return bg
}

// revalidation names how a background revalidation ended, from its outcome.
func revalidation(o *outcome) string {
	switch {
	case o.fwdStatus == 0 || o.fwdStatus >= 500:
		return revalError
	case !o.stored:
		return revalNotStored
	case o.fwdStatus == http.StatusNotModified:
		return revalNotModified
	}
	return revalReplaced
}

// mayServeStale reports whether x's stale object may answer r, at now, in
// place of an origin error (stale-if-error).
func (p *Proxy) mayServeStale(r *http.Request, x *exchange, now time.Time) bool {
	return x.stale != nil && x.stale.Policy.ServeIfError(cachepolicy.RequestDirectives(r.Header), now)
}

// serveStale answers r with x's stale object after the origin failed; the
// caller checked mayServeStale.
func (p *Proxy) serveStale(w http.ResponseWriter, r *http.Request, x *exchange, now time.Time) {
	x.out.detail = "stale-if-error"
	if !x.background {
		p.metrics.StaleServed.WithLabelValues(staleIfError).Inc()
	}
	p.serve(w, r, x, x.stale, now)
}

// discard is the response writer of a background request: nobody reads
// the answer, the cache keeps it.
type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) Write(b []byte) (int, error) { return len(b), nil }
func (discard) WriteHeader(int)             {}
