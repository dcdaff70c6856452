package proxy

import (
	"context"
	"errors"
	"net/http"
	"sync"
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
	bx := &exchange{
		start: p.now(), stats: x.stats, site: x.site, key: x.key,
		stale: x.stale, staleKey: x.staleKey,
		out:        outcome{cache: metrics.Stale},
		background: true,
	}
	x.stale.Retain() // the caller releases its own use when r is answered
	started := p.background.run(r.Context(), func(ctx context.Context) {
		defer bx.stale.Release()
		p.forward(discard{}, backgroundRequest(r, ctx), bx, f)
		result := revalidation(&bx.out)
		p.metrics.Revalidations.WithLabelValues(result).Inc()
		p.log.Debug("background revalidation", "key", bx.key.Full, "result", result,
			"fwd_status", bx.out.fwdStatus, "detail", bx.out.detail, "dur_ms", float64(p.now().Sub(bx.start).Microseconds())/1000)
	})
	if !started { // the proxy is stopping
		bx.stale.Release()
		f.Fail()
	}
}

// background runs the proxy's own requests, which outlive the client
// requests that start them, until Stop.
type background struct {
	mu      sync.Mutex
	stopped bool
	stop    chan struct{} // closed by Stop
	wg      sync.WaitGroup
}

// run runs fn in a goroutine of its own with a context that keeps parent's
// values, is not cancelled with it, and is cancelled by Stop; false when
// Stop has come, and fn does not run.
func (b *background) run(parent context.Context, fn func(context.Context)) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopped {
		return false
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(parent))
	b.wg.Go(func() {
		defer cancel()
		go func() {
			select {
			case <-b.stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		fn(ctx)
	})
	return true
}

// StopBackground cancels the proxy's own requests in flight (background
// revalidations) and waits for them to end; none starts afterwards. The
// node calls it once its listeners have drained, before it closes the
// cache they write to.
func (p *Proxy) StopBackground() {
	b := &p.background
	b.mu.Lock()
	if !b.stopped {
		b.stopped = true
		close(b.stop)
	}
	b.mu.Unlock()
	b.wg.Wait()
}

// backgroundRequest is the node's own request for r's object, in context
// ctx: a HEAD (the pipeline fetches the whole object for the cache and
// sends nothing back), with r's fields (they select the variant) but none
// of its conditional, Range or cache directives.
func backgroundRequest(r *http.Request, ctx context.Context) *http.Request {
	bg := r.Clone(ctx)
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
