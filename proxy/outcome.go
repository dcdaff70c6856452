package proxy

import (
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/cdnnode/cdnnode/cachestore"
	"github.com/cdnnode/cdnnode/keys"
	"github.com/cdnnode/cdnnode/metrics"
)

// statusClientClosed is logged, never sent, when the client went away
// before its response was ready (nginx's 499).
const statusClientClosed = 499

// exchange is the state of one request as it moves through the pipeline.
type exchange struct {
	start    time.Time
	stats    *metrics.Worker // the serving worker's counters
	rw       responseRecorder
	site     *site
	key      keys.Key
	stale    *cachestore.Object // the stored response being revalidated, if any
	staleKey keys.Key           // the key stale is stored under (a variant's own)
	out      outcome
	vals     [2]string // backing for Age and Cache-Status when served from cache

	background bool // the node's own request (a background revalidation): no client sees it

	client    netip.Addr // the client (see Proxy.clientAddr)
	flightKey string     // the key its in-flight slot is held under
	inFlight  bool       // it holds an in-flight slot
	bodyErr   error      // why reading the request's body failed, if it did
}

// outcome is what the cache did with a request; it feeds Cache-Status
// (RFC 9211), the access log and the metrics alike.
type outcome struct {
	// cache is Hit, or why the request went forward (Miss, VaryMiss, Stale,
	// Request, Bypass), or a local answer (OnlyIfCached, Error).
	cache     metrics.Outcome
	ttl       time.Duration // on hits: remaining freshness, negative when stale
	stored    bool
	collapsed bool   // answered from another request's fetch (RFC 9211 "collapsed")
	passing   bool   // the key is hit-for-pass: fetched without the lock
	fwdStatus int    // status the origin answered with, when it differs in meaning
	detail    string // why not stored, why bypassed, or what failed
}

// String renders the Cache-Status field value, e.g. "cdnnode; hit; ttl=113"
// or "cdnnode; fwd=miss; stored".
func (o *outcome) String() string {
	return string(o.appendTo(make([]byte, 0, 64)))
}

// appendTo appends the Cache-Status field value (String) to b.
func (o *outcome) appendTo(b []byte) []byte {
	b = append(b, "cdnnode"...)
	switch o.cache {
	case metrics.Hit:
		b = append(b, "; hit; ttl="...)
		b = strconv.AppendInt(b, int64(o.ttl/time.Second), 10)
	case metrics.Miss, metrics.VaryMiss, metrics.Stale, metrics.Request, metrics.Bypass:
		b = append(b, "; fwd="...)
		b = append(b, o.cache.String()...)
		if o.fwdStatus != 0 {
			b = append(b, "; fwd-status="...)
			b = strconv.AppendInt(b, int64(o.fwdStatus), 10)
		}
		if o.stored {
			b = append(b, "; stored"...)
		}
		if o.collapsed {
			b = append(b, "; collapsed"...)
		}
		if o.passing {
			b = append(b, "; hit-for-pass"...)
		}
	}
	if o.detail != "" {
		b = append(b, "; detail="...)
		b = append(b, o.detail...)
	}
	return b
}

// responseRecorder notes what was sent, for the access log and metrics.
type responseRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (rw *responseRecorder) WriteHeader(code int) {
	if rw.status == 0 {
		rw.status = code
	}
	rw.ResponseWriter.WriteHeader(code)
}

func (rw *responseRecorder) Write(p []byte) (int, error) {
	if rw.status == 0 {
		rw.status = http.StatusOK
	}
	n, err := rw.ResponseWriter.Write(p)
	rw.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach Flush and deadlines.
func (rw *responseRecorder) Unwrap() http.ResponseWriter { return rw.ResponseWriter }

// finish logs the request and records its metrics. It runs deferred, so an
// aborted transfer is recorded too.
func (p *Proxy) finish(rw *responseRecorder, r *http.Request, x *exchange) {
	status := rw.status
	if status == 0 {
		status = statusClientClosed
	}
	dur := p.now().Sub(x.start)
	x.stats.Request(x.out.cache, status, dur)
	if p.access {
		p.logAccess(access{
			remote: r.RemoteAddr, proto: r.Proto, method: r.Method, host: r.Host, uri: r.RequestURI,
			status: status, bytes: rw.bytes, dur: dur,
		}, &x.out)
	}
}

// access is what an access log line says of a request besides its
// outcome.
type access struct {
	remote, proto, method, host, uri string
	status                           int
	bytes                            int64 // body bytes sent
	dur                              time.Duration
}

// logAccess writes the access log line of a finished request, a with
// outcome out.
func (p *Proxy) logAccess(a access, out *outcome) {
	p.log.Info("access",
		"remote", a.remote, "proto", a.proto, "method", a.method, "host", a.host,
		"uri", a.uri, "status", a.status, "bytes", a.bytes, "dur_ms", float64(a.dur.Microseconds())/1000,
		"cache", out.cache.String(), "stored", out.stored, "detail", out.detail,
	)
}
