package proxy

import (
	"context"
	"errors"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cdnnode/cdnnode/cachelock"
	"github.com/cdnnode/cdnnode/cachepolicy"
	"github.com/cdnnode/cdnnode/cachestore"
	"github.com/cdnnode/cdnnode/coding"
	"github.com/cdnnode/cdnnode/keys"
	"github.com/cdnnode/cdnnode/metrics"
	"github.com/cdnnode/cdnnode/origin"
	"github.com/cdnnode/cdnnode/purge"
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

// forwardingFields describe the client or the URL it used, as proxies in
// front of this node say it; the node drops them from clients it does not
// trust (server.trusted_proxies) and sets X-Forwarded-For, -Proto and
// -Host itself.
var forwardingFields = [...]string{"Forwarded", "X-Forwarded-Port", "X-Forwarded-Server", "X-Forwarded-Prefix",
	"X-Real-Ip", "X-Client-Ip", "True-Client-Ip", "X-Original-Url", "X-Rewrite-Url", "X-Host", "X-Forwarded-Scheme"}

// nodeFields mean something only from this node or an origin (cache
// status, surrogate keys, the purge fan-out's hop mark): a client's are
// never forwarded.
var nodeFields = [...]string{"Cache-Status", "Surrogate-Key", "Cache-Tag", purge.HopField}

// forward sends r to the site's pool and streams the answer to the client,
// storing it on the way when the request is cacheable and policy allows.
// With a fill (this request holds the key's lock) it also feeds the
// fill's readers, and the fetch goes on if the client leaves: the fill
// belongs to the node.
func (p *Proxy) forward(w http.ResponseWriter, r *http.Request, x *exchange, f *cachelock.Fill) {
	fl := &fillRef{f: f}
	defer fl.abandon()
	cacheable := x.out.cache != metrics.Bypass
	var start time.Time
	if cacheable {
		start = fl.begin(p.bans, x.key, p.now)
		// After a hard purge since the lookup there is nothing to
		// revalidate, and a 304 must not bring the body back.
		if x.stale != nil && p.bans.Check(x.stale.Key, x.stale.Tags, x.stale.Stamp).Purged {
			x.stale = nil
		}
	}
	revalidate := cacheable && x.stale != nil && cachepolicy.HasValidators(x.stale.Header)
	out := p.upstreamRequest(r, x, cacheable, revalidate)
	if f != nil {
		out = out.WithContext(context.WithoutCancel(r.Context()))
	}
	if !cacheable {
		start = p.now()
	}
	resp, err := x.site.pool.RoundTrip(out, x.key.Hash)
	if err != nil {
		fl.fail()
		p.upstreamError(w, r, x, err)
		return
	}
	defer resp.Body.Close()
	now := p.now()

	if revalidate && resp.StatusCode == http.StatusNotModified {
		p.refreshed(w, r, x, resp, start, now, fl)
		return
	}
	if x.stale != nil {
		x.out.fwdStatus = resp.StatusCode
		if resp.StatusCode >= http.StatusInternalServerError && cacheable && p.mayServeStale(r, x, now) {
			fl.fail() // readers decide for themselves whether stale serves them
			p.serveStale(w, r, x, now)
			return
		}
	}
	hdr := p.clientHeader(resp.Header, x)
	if !cacheable {
		p.invalidate(r, x, resp)
		p.relay(w, r, x, resp, hdr, fl)
		return
	}

	d := cachepolicy.Decide(r.Method, r.Header, resp.StatusCode, resp.Header, now, x.site.policy)
	if d.Reason != cachepolicy.Stored {
		if x.out.detail == "" { // "lock-timeout" says more
			x.out.detail = d.Reason.String()
		}
		// The origin's new answer forbids what is stored, unless it is an
		// error: that says nothing about the object.
		if x.stale != nil && resp.StatusCode < http.StatusInternalServerError {
			p.store.Delete(x.staleKey)
		}
		fl.pass(p.locks, x.key, responseVerdict(d.Reason, r, resp.StatusCode))
		p.relay(w, r, x, resp, hdr, fl)
		return
	}
	if resp.ContentLength > p.store.MaxObjectBytes() {
		x.out.detail = "too-large"
		fl.pass(p.locks, x.key, true)
		p.relay(w, r, x, resp, hdr, fl)
		return
	}
	key := x.key
	fields, _ := keys.VaryFields(resp.Header)
	if len(fields) > 0 {
		key = x.key.Variant(fields, r.Header)
	}
	obj := &cachestore.Object{
		Status:       resp.StatusCode,
		Header:       hdr,
		Policy:       entry(d, resp.Header, start, now),
		Tags:         p.tagsOf(x, resp.Header),
		Targeted:     targeted(resp.Header, x.site.policy.TargetedFields),
		Stamp:        start,
		IdentitySize: -1,
	}
	sizeHint := resp.ContentLength
	if p.compresses(x, resp) {
		// The stored length is unknown until the encoder is done.
		obj.Coding, obj.IdentitySize, sizeHint = coding.Zstd, resp.ContentLength, -1
	}
	wr := p.store.NewWriter(key, obj, sizeHint)
	defer wr.Abort()
	if f == nil {
		defer wr.Close()
	}
	// The header announces the store before the body is complete (unless
	// the writer already knows it can't); the log and metrics record what
	// really happened.
	x.out.stored = wr.Err() == nil
	if !x.out.stored {
		x.out.detail = storeFailure(wr.Err())
		fl.pass(p.locks, x.key, errors.Is(wr.Err(), cachestore.ErrTooLarge))
		p.relay(w, r, x, resp, hdr, fl)
		return
	}
	b := body{header: hdr, coded: obj.Coding, identitySize: obj.IdentitySize, size: sizeHint}
	head := &fillHead{status: resp.StatusCode, body: b, key: key.Full, tags: obj.Tags, stamp: start}
	head.body.header = hdr.Clone() // Commit sets the object's Content-Length
	sink := p.newFillSink(x, wr, obj, head, fl)
	rp := choose(r, b)
	rp.from = rp.origin // this client's copy comes from the origin's stream, not the store
	if !p.stream(w, r, x, resp, hdr, rp, sink, fl) {
		x.out.stored = false
		return
	}
	if obj.Coding != coding.Identity {
		obj.IdentitySize = sink.n
		x.stats.Saved(metrics.SavedStore, sink.n-wr.Written())
	}
	// Commit before the lock goes: a request arriving in between would
	// miss and fetch again.
	if !wr.Commit() {
		x.out.stored = false
		x.out.detail = "not-admitted"
	} else {
		p.settleFill(key, obj.Tags, start)
		if len(fields) > 0 {
			p.indexVariants(x.key, fields, start)
		}
	}
	fl.finish(nil)
}

// compresses reports whether the node stores resp's body compressed in
// zstd: the site compresses, and the origin sent a 200 unencoded, of a
// compressible media type, not marked no-transform (RFC 9111 §5.2.2.6),
// not known to be shorter than compression.min_size.
func (p *Proxy) compresses(x *exchange, resp *http.Response) bool {
	if !x.site.compress || resp.StatusCode != http.StatusOK || resp.ContentLength >= 0 && resp.ContentLength < p.minSize {
		return false
	}
	if c, ok := coding.Of(resp.Header["Content-Encoding"]); !ok || c != coding.Identity {
		return false
	}
	return p.types.Match(resp.Header.Get("Content-Type")) && !cachepolicy.NoTransform(resp.Header)
}

// fillRef settles the fill a request writes, if any, exactly once, and
// ends the request's flight (purge.Flight) exactly once: itself, once
// nothing more is stored, or through the fill, which it hands the flight
// to when readers may still check the bans against the fill's stamp.
type fillRef struct {
	f         *cachelock.Fill
	flight    purge.Flight
	flying    bool // flight is this request's to end
	streaming bool
	settled   bool
}

func (fr *fillRef) active() bool { return fr.f != nil && !fr.settled }

// begin starts the flight of a request that may store what it fetches
// and returns its stamp: no ban that could name what it stores expires
// until the flight ends.
func (fr *fillRef) begin(bans *purge.Bans, k keys.Key, now func() time.Time) time.Time {
	fr.flight, fr.flying = bans.Begin(k.Hash, now), true
	return fr.flight.Stamp
}

// land ends the flight, unless the fill has taken it or there is none.
func (fr *fillRef) land() {
	if fr.flying {
		fr.flying = false
		fr.flight.End()
	}
}

// fail: the origin failed before a head.
func (fr *fillRef) fail() {
	fr.land()
	if fr.active() {
		fr.settled = true
		fr.f.Fail()
	}
}

// pass: the response is not to be shared. With mark (the response, not
// this request, made it so) the key becomes hit-for-pass.
func (fr *fillRef) pass(l *cachelock.Locks, k keys.Key, mark bool) {
	fr.land() // nothing is stored, however long the relay
	if fr.active() {
		fr.settled = true
		fr.f.Pass()
		if mark {
			l.MarkPass(k)
		}
	}
}

// responseVerdict reports whether a response with status was not stored
// for reasons of its own, rather than because of the request that fetched
// it (its no-store, Authorization or Range) or a passing origin error (a
// 5xx): only those make a key hit-for-pass, so that no client can turn
// coalescing off for others and an origin outage does not either.
func responseVerdict(reason cachepolicy.Reason, r *http.Request, status int) bool {
	switch reason {
	case cachepolicy.ReasonRequestNoStore, cachepolicy.ReasonAuthorization:
		return false
	}
	return len(r.Header["Range"]) == 0 && status < http.StatusInternalServerError
}

// refresh: readers serve obj, the revalidated object, which the fill
// holds (its disk body open) until the last of them is done, and so the
// flight, as each of them checks obj against the bans. The caller has
// stored obj and settled it (settleFill).
func (fr *fillRef) refresh(obj *cachestore.Object) {
	if fr.active() {
		fr.settled = true
		obj.Retain()
		release := obj.Release
		if fr.flying {
			fr.flying = false
			flight := fr.flight
			release = func() {
				obj.Release()
				flight.End()
			}
		}
		fr.f.Refresh(obj, release)
	}
	fr.land()
}

// stream publishes the head and the body readers read along. The fill
// takes the flight: it ends when the last of the writer and the readers
// closes the body, as each reader checks the head against the bans
// whenever it gets to it.
func (fr *fillRef) stream(h *fillHead, wr *cachestore.Writer) {
	if fr.active() {
		fr.streaming = true
		var body cachelock.Body = wr
		if fr.flying {
			fr.flying = false
			body = flightBody{Writer: wr, flight: fr.flight}
		}
		fr.f.Stream(h, body)
	}
}

// flightBody is a fill's body that ends the fill's flight when closed.
type flightBody struct {
	*cachestore.Writer
	flight purge.Flight
}

func (b flightBody) Close() {
	b.Writer.Close()
	b.flight.End()
}

// wrote reports body progress to readers.
func (fr *fillRef) wrote(n int64) {
	if fr.active() && fr.streaming {
		fr.f.Wrote(n)
	}
}

// feeding reports whether the fill's body is still going to readers.
func (fr *fillRef) feeding() bool { return fr.active() && fr.streaming }

// finish ends a streaming fill; err nil means its body is complete.
// After an error nothing more is stored: the flight ends, unless the
// fill has it.
func (fr *fillRef) finish(err error) {
	if err != nil {
		fr.land()
	}
	if fr.active() {
		fr.settled = true
		if fr.streaming {
			fr.f.Finish(err)
		} else {
			fr.f.Fail()
		}
	}
}

// abandon settles a fill the request leaves unsettled (an early return or
// an aborted transfer): readers abort or fetch for themselves. It ends the
// flight if the request still has it.
func (fr *fillRef) abandon() { fr.finish(cachestore.ErrAborted) }

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
	x.site.pool.StripRequest(h)
	// Fields that say who the client is, or that only this node may set,
	// come from trusted proxies or from nobody: a client could otherwise
	// poison what the origin (and so the cache) makes of its request.
	trusted := p.trustedPeer(r)
	if prior := h.Values("X-Forwarded-For"); len(prior) > 0 && trusted {
		h.Set("X-Forwarded-For", strings.Join(prior, ", ")+", "+clientIP(r))
	} else {
		h.Set("X-Forwarded-For", clientIP(r))
	}
	if !trusted {
		for _, f := range forwardingFields {
			delete(h, f)
		}
	}
	for _, f := range nodeFields {
		delete(h, f)
	}
	h.Set("X-Forwarded-Proto", scheme(r))
	h.Set("X-Forwarded-Host", r.Host)
	h.Add("Via", via)
	if !cacheable {
		return out
	}
	// The origin sees the one coding the client's variant is keyed by
	// (keys.Key.Variant), so a response that varies on Accept-Encoding is
	// right for every client that shares the variant.
	h["Accept-Encoding"] = []string{coding.ParseAccept(h["Accept-Encoding"]).Best().String()}
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
func (p *Proxy) refreshed(w http.ResponseWriter, r *http.Request, x *exchange, resp *http.Response, start, now time.Time, fl *fillRef) {
	x.out.fwdStatus = http.StatusNotModified
	stored := x.stale.Header
	if x.stale.Targeted != nil {
		stored = stored.Clone()
		maps.Copy(stored, x.stale.Targeted)
	}
	merged := cachepolicy.Freshen(stored, resp.Header)
	d := cachepolicy.Decide(r.Method, r.Header, x.stale.Status, merged, now, x.site.policy)
	obj := x.stale.Refreshed(p.clientHeader(merged, x), targeted(merged, x.site.policy.TargetedFields), entry(d, resp.Header, start, now))
	obj.Stamp = start
	defer obj.Release()
	if d.Reason == cachepolicy.Stored {
		x.out.stored = p.store.Refresh(x.staleKey, obj)
		p.settleFill(x.staleKey, obj.Tags, start)
		fl.refresh(obj)
	} else {
		x.out.detail = d.Reason.String()
		p.store.Delete(x.staleKey)
		fl.pass(p.locks, x.key, responseVerdict(d.Reason, r, x.stale.Status))
	}
	p.serve(w, r, x, obj, now)
}

// stream writes resp to the client in representation rp, whose stored
// header is hdr, and, with a sink, its body into the cache, reporting
// progress to the fill's readers. It reports whether the whole body
// arrived and went into the sink. A body that fails mid-way aborts the
// client's transfer (never a short 200) and nothing is stored. While the
// fill feeds readers, a client that goes away does not stop it.
func (p *Proxy) stream(w http.ResponseWriter, r *http.Request, x *exchange, resp *http.Response, hdr http.Header, rp rep, sink *fillSink, fl *fillRef) bool {
	h := w.Header()
	for k, vs := range rp.header(hdr) {
		h[k] = vs
	}
	h.Set("Cache-Status", x.out.String())
	w.WriteHeader(resp.StatusCode)

	toClient := r.Method != http.MethodHead
	if !toClient && sink == nil {
		return true
	}
	in := &originBody{r: resp.Body, sink: sink}
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	if toClient {
		client := &coding.CountWriter{W: w}
		var flush func()
		if resp.ContentLength < 0 {
			rc := http.NewResponseController(w)
			flush = func() { _ = rc.Flush() }
		}
		err := p.sendBody(client, in, rp, flush, *bp)
		switch {
		case err == nil && sink != nil:
			served(x.stats, rp, rp.conversion(), client.N)
		case err == nil:
		case in.err != nil: // the origin failed: below
		case client.Err != nil:
			x.out.detail = "client-gone"
			if !fl.feeding() {
				return false
			}
			toClient = false
		default:
			// The origin's encoded body does not decode: nobody gets it.
			in.err = err
		}
	}
	if in.err == nil && sink != nil {
		_, _ = io.CopyBuffer(onlyWriter{io.Discard}, in, *bp)
	}
	if in.err != nil {
		p.log.Warn("origin body failed", "site", x.site.name, "key", x.key.Full, "err", in.err)
		x.out.detail = "origin-body"
		if sink != nil {
			sink.abort()
		}
		fl.finish(in.err)
		if toClient {
			// The status line is gone; only aborting the stream tells
			// the client the body is incomplete.
			panic(http.ErrAbortHandler)
		}
		return false
	}
	return sink == nil || sink.close()
}

// relay streams resp to the client as the origin sent it, storing nothing.
func (p *Proxy) relay(w http.ResponseWriter, r *http.Request, x *exchange, resp *http.Response, hdr http.Header, fl *fillRef) {
	p.stream(w, r, x, resp, hdr, rep{size: resp.ContentLength}, nil, fl)
}

// sendBody copies the origin's body from in to the client in rp's coding,
// calling flush, if set, after each chunk (a body of unknown length may be
// a live stream).
func (p *Proxy) sendBody(w io.Writer, in io.Reader, rp rep, flush func(), buf []byte) error {
	src, dst := in, w
	var enc *coding.Encoder
	switch {
	case !rp.transformed():
	case rp.from == coding.Identity:
		enc = coding.NewEncoder(w, rp.to, p.level(rp.to))
		dst = enc
	default:
		dec, err := coding.NewDecoder(in, rp.from)
		if err != nil {
			return err
		}
		defer dec.Close()
		src = dec
	}
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				if enc != nil {
					enc.Abandon()
				}
				return werr
			}
			if flush != nil {
				if enc != nil {
					_ = enc.Flush()
				}
				flush()
			}
		}
		if errors.Is(err, io.EOF) {
			if enc != nil {
				return enc.Close()
			}
			return nil
		}
		if err != nil {
			if enc != nil {
				enc.Abandon()
			}
			return err
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
// variant, unless an identical index is already there; stamp is when the
// fetch that found them began.
func (p *Proxy) indexVariants(k keys.Key, fields []string, stamp time.Time) {
	if cur, ok := p.store.Get(k); ok {
		if cur, ok = p.unbanned(k, cur); ok {
			defer cur.Release()
			if slices.Equal(cur.Vary, fields) {
				return
			}
		}
	}
	p.store.Put(k, &cachestore.Object{Vary: fields, Stamp: stamp})
	p.settleFill(k, nil, stamp)
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

// tagsOf is the surrogate keys of an origin's response header h
// (surrogateKeys), logging at debug level those it drops.
func (p *Proxy) tagsOf(x *exchange, h http.Header) []string {
	tags, dropped := surrogateKeys(h)
	if len(dropped) > 0 {
		p.log.Debug("surrogate keys dropped: no purge could name them (visible ASCII only, no spaces or commas)",
			"site", x.site.name, "key", x.key.Full, "dropped", dropped)
	}
	return tags
}

// surrogateKeys reads the origin's Surrogate-Key (space-separated) and
// Cache-Tag (comma-separated) fields: each tag once, in no set order. A
// tag purge.ValidTag rejects (a Cache-Tag with a space in it, a
// Surrogate-Key with a comma, a control or non-ASCII byte) could never be
// purged, so it goes to dropped instead, as the origin sent it.
func surrogateKeys(h http.Header) (tags, dropped []string) {
	keep := func(t string) {
		if purge.ValidTag(t) {
			tags = append(tags, t)
		} else {
			dropped = append(dropped, t)
		}
	}
	for _, v := range h.Values("Surrogate-Key") {
		for t := range strings.FieldsSeq(v) {
			keep(t)
		}
	}
	for _, v := range h.Values("Cache-Tag") {
		for t := range strings.SplitSeq(v, ",") {
			if t = strings.TrimSpace(t); t != "" {
				keep(t)
			}
		}
	}
	slices.Sort(tags)
	return slices.Compact(tags), dropped
}
