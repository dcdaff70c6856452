package proxy

import (
	"errors"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cdnnode/cdnnode/cachepolicy"
	"github.com/cdnnode/cdnnode/cachestore"
	"github.com/cdnnode/cdnnode/keys"
	"github.com/cdnnode/cdnnode/metrics"
	"github.com/cdnnode/cdnnode/origin"
)

// via is this node's entry in Via (RFC 9110 §7.6.3).
const via = "1.1 cdnnode"

// copyBufSize is the chunk in which bodies stream from origin to client.
const copyBufSize = 32 << 10

var copyBufs = sync.Pool{New: func() any { b := make([]byte, copyBufSize); return &b }}

// conditionalFields are the client's validators, replaced by the stored
// response's own when the cache revalidates.
var conditionalFields = [...]string{"If-None-Match", "If-Modified-Since", "If-Match", "If-Unmodified-Since", "If-Range", "Range"}

// surrogateFields carry surrogate keys from the origin; the cache indexes
// them and never passes them on to clients.
var surrogateFields = [...]string{"Surrogate-Key", "Cache-Tag"}

// forward sends r to the site's pool and streams the answer to the client,
// storing it on the way when the request is cacheable and policy allows.
func (p *Proxy) forward(w http.ResponseWriter, r *http.Request, x *exchange) {
	cacheable := x.out.cache != metrics.Bypass
	revalidate := cacheable && x.stale != nil && cachepolicy.HasValidators(x.stale.Header)
	out := p.upstreamRequest(r, x, cacheable, revalidate)
	p.metrics.OriginRequests.WithLabelValues(x.site.pool.Name()).Inc()
	start := p.now()
	resp, err := x.site.pool.RoundTrip(out)
	if err != nil {
		p.upstreamError(w, r, x, err)
		return
	}
	defer resp.Body.Close()
	now := p.now()

	if revalidate && resp.StatusCode == http.StatusNotModified {
		p.refreshed(w, r, x, resp, start, now)
		return
	}
	hdr := p.clientHeader(resp.Header, x)
	if x.stale != nil {
		x.out.fwdStatus = resp.StatusCode
	}
	if !cacheable {
		p.invalidate(r, x, resp)
		p.stream(w, r, x, resp, hdr, nil)
		return
	}

	d := cachepolicy.Decide(r.Method, r.Header, resp.StatusCode, resp.Header, now, x.site.policy)
	if d.Reason != cachepolicy.Stored {
		x.out.detail = d.Reason.String()
		if x.stale != nil {
			p.store.Delete(x.staleKey)
		}
		p.stream(w, r, x, resp, hdr, nil)
		return
	}
	if resp.ContentLength > p.store.MaxObjectBytes() {
		x.out.detail = "too-large"
		p.stream(w, r, x, resp, hdr, nil)
		return
	}
	key := x.key
	fields, _ := keys.VaryFields(resp.Header)
	if len(fields) > 0 {
		key = x.key.Variant(fields, r.Header)
	}
	obj := &cachestore.Object{
		Status:   resp.StatusCode,
		Header:   hdr,
		Policy:   entry(d, resp.Header, start, now),
		Tags:     surrogateKeys(resp.Header),
		Targeted: targeted(resp.Header, x.site.policy.TargetedFields),
	}
	wr := p.store.NewWriter(key, obj, resp.ContentLength)
	defer wr.Abort()
	// The header announces the store before the body is complete (unless
	// the writer already knows it can't); the log and metrics record what
	// really happened.
	x.out.stored = wr.Err() == nil
	if !x.out.stored {
		x.out.detail = storeFailure(wr.Err())
	}
	if !p.stream(w, r, x, resp, hdr, wr) {
		x.out.stored = false
		return
	}
	if !wr.Commit() {
		x.out.stored = false
		x.out.detail = "not-admitted"
		return
	}
	if len(fields) > 0 {
		p.indexVariants(x.key, fields)
	}
}

// upstreamRequest builds the request for the origin from the client's.
// With revalidate, the stored response's validators replace the client's
// conditional and Range fields.
func (p *Proxy) upstreamRequest(r *http.Request, x *exchange, cacheable, revalidate bool) *http.Request {
	out := r.Clone(r.Context())
	out.RequestURI = ""
	out.Close = false
	if r.ContentLength == 0 {
		out.Body = nil
	}
	h := out.Header
	origin.StripHopByHop(h)
	if prior := h.Values("X-Forwarded-For"); len(prior) > 0 {
		h.Set("X-Forwarded-For", strings.Join(prior, ", ")+", "+clientIP(r))
	} else {
		h.Set("X-Forwarded-For", clientIP(r))
	}
	h.Set("X-Forwarded-Proto", scheme(r))
	h.Set("X-Forwarded-Host", r.Host)
	h.Add("Via", via)
	if !cacheable {
		return out
	}
	// A HEAD miss fetches the whole object so later GETs hit (as nginx's
	// proxy_cache_convert_head); the client still gets only headers.
	if r.Method == http.MethodHead {
		out.Method = http.MethodGet
	}
	if revalidate {
		for _, f := range conditionalFields {
			h.Del(f)
		}
		for k, vs := range cachepolicy.Conditionals(x.stale.Header) {
			h[k] = vs
		}
	}
	return out
}

// refreshed handles a 304 to the cache's own revalidation: the stored
// response gets the new header fields and freshness and answers the client.
func (p *Proxy) refreshed(w http.ResponseWriter, r *http.Request, x *exchange, resp *http.Response, start, now time.Time) {
	x.out.fwdStatus = http.StatusNotModified
	stored := x.stale.Header
	if x.stale.Targeted != nil {
		stored = stored.Clone()
		maps.Copy(stored, x.stale.Targeted)
	}
	merged := cachepolicy.Freshen(stored, resp.Header)
	d := cachepolicy.Decide(r.Method, r.Header, x.stale.Status, merged, now, x.site.policy)
	obj := x.stale.Refreshed(p.clientHeader(merged, x), targeted(merged, x.site.policy.TargetedFields), entry(d, resp.Header, start, now))
	if d.Reason == cachepolicy.Stored {
		x.out.stored = p.store.Put(x.staleKey, obj)
	} else {
		x.out.detail = d.Reason.String()
		p.store.Delete(x.staleKey)
	}
	p.serve(w, r, x, obj, now)
}

// stream writes resp with the client header hdr to the client and, when wr
// is not nil, its body into the cache. It reports whether the whole body
// arrived. A body that fails mid-way aborts the client's transfer (never a
// short 200) and nothing is stored.
func (p *Proxy) stream(w http.ResponseWriter, r *http.Request, x *exchange, resp *http.Response, hdr http.Header, wr *cachestore.Writer) bool {
	h := w.Header()
	for k, vs := range hdr {
		h[k] = vs
	}
	h.Set("Cache-Status", x.out.String())
	w.WriteHeader(resp.StatusCode)

	toClient := r.Method != http.MethodHead
	if !toClient && wr == nil {
		return true
	}
	flush := resp.ContentLength < 0
	rc := http.NewResponseController(w)
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if toClient {
				if _, werr := w.Write(buf[:n]); werr != nil {
					x.out.detail = "client-gone"
					return false
				}
				if flush {
					_ = rc.Flush()
				}
			}
			if wr != nil && wr.Err() == nil {
				if _, werr := wr.Write(buf[:n]); werr != nil {
					x.out.detail = storeFailure(werr)
					if !toClient {
						return false
					}
				}
			}
		}
		if errors.Is(err, io.EOF) {
			return wr == nil || wr.Err() == nil
		}
		if err != nil {
			p.metrics.OriginErrors.WithLabelValues(x.site.pool.Name(), "body").Inc()
			p.log.Warn("origin body failed", "site", x.site.name, "key", x.key.Full, "err", err)
			x.out.detail = "origin-body"
			if wr != nil {
				wr.Abort()
			}
			if toClient {
				// The status line is gone; only aborting the stream tells
				// the client the body is incomplete.
				panic(http.ErrAbortHandler)
			}
			return false
		}
	}
}

// storeFailure names why a cache writer gave up, for Cache-Status detail.
func storeFailure(err error) string {
	if errors.Is(err, cachestore.ErrTooLarge) {
		return "too-large"
	}
	return "store-error"
}

// clientHeader is the origin's response header as a client of this node
// sees it: no hop-by-hop, targeted or surrogate fields, with our Via.
func (p *Proxy) clientHeader(src http.Header, x *exchange) http.Header {
	h := src.Clone()
	origin.StripHopByHop(h)
	x.site.policy.StripTargeted(h)
	for _, f := range surrogateFields {
		h.Del(f)
	}
	h.Del("Cache-Status")
	h["Via"] = append(h["Via"], via)
	return h
}

// targeted returns the fields of h named in names, or nil if there are none.
func targeted(h http.Header, names []string) http.Header {
	var t http.Header
	for _, name := range names {
		if vs := h.Values(name); len(vs) > 0 {
			if t == nil {
				t = make(http.Header, 1)
			}
			t[http.CanonicalHeaderKey(name)] = vs
		}
	}
	return t
}

// indexVariants records at the primary key which request fields select a
// variant, unless an identical index is already there.
func (p *Proxy) indexVariants(k keys.Key, fields []string) {
	if cur, ok := p.store.Get(k); ok && slices.Equal(cur.Vary, fields) {
		return
	}
	p.store.Put(k, &cachestore.Object{Vary: fields})
}

// invalidate drops the stored responses an unsafe request invalidated
// (RFC 9111 §4.4).
func (p *Proxy) invalidate(r *http.Request, x *exchange, resp *http.Response) {
	target := *r.URL
	target.Scheme, target.Host = scheme(r), r.Host
	for _, u := range cachepolicy.Invalidates(r.Method, resp.StatusCode, &target, resp.Header) {
		p.store.Delete(keys.New(u.Scheme, u.Host, u.EscapedPath(), u.RawQuery, x.site.keys))
	}
}

// entry is the reuse state of a response received at now for a request
// sent at start.
func entry(d cachepolicy.Decision, h http.Header, start, now time.Time) cachepolicy.Entry {
	return cachepolicy.Entry{
		Lifetime:             d.Lifetime,
		InitialAge:           cachepolicy.InitialAge(h, start, now),
		ResponseTime:         now,
		NoCache:              d.NoCache,
		MustRevalidate:       d.MustRevalidate,
		StaleWhileRevalidate: d.StaleWhileRevalidate,
		StaleIfError:         d.StaleIfError,
	}
}

// surrogateKeys reads the origin's Surrogate-Key (space-separated) and
// Cache-Tag (comma-separated) fields.
func surrogateKeys(h http.Header) []string {
	var tags []string
	for _, v := range h.Values("Surrogate-Key") {
		tags = append(tags, strings.Fields(v)...)
	}
	for _, v := range h.Values("Cache-Tag") {
		for t := range strings.SplitSeq(v, ",") {
			if t = strings.TrimSpace(t); t != "" {
				tags = append(tags, t)
			}
		}
	}
	return tags
}
