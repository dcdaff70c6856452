// Package proxy is the request pipeline: it routes a request to its site,
// looks it up in the cache, serves hits, forwards misses to the site's
// origin pool and stores what cachepolicy allows while streaming it to the
// client. It glues the lower packages together and holds no storage or
// policy logic of its own.
package proxy

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/cdnnode/cdnnode/cachelock"
	"github.com/cdnnode/cdnnode/cachepolicy"
	"github.com/cdnnode/cdnnode/cachestore"
	"github.com/cdnnode/cdnnode/coding"
	"github.com/cdnnode/cdnnode/config"
	"github.com/cdnnode/cdnnode/keys"
	"github.com/cdnnode/cdnnode/limits"
	"github.com/cdnnode/cdnnode/metrics"
	"github.com/cdnnode/cdnnode/origin"
	"github.com/cdnnode/cdnnode/purge"
)

// site is a configured site with its pool and options resolved once.
type site struct {
	name     string
	cache    bool
	compress bool // store compressible unencoded responses in zstd
	pool     *origin.Pool
	keys     keys.Options
	policy   cachepolicy.Options
	shield   *shield   // access lists, authentication, rate and body limits
	errors   errorPage // how the node's own error answers look
}

// Proxy serves client requests. Safe for concurrent use.
type Proxy struct {
	cfg     *config.Config
	sites   map[*config.Site]*site
	store   *cachestore.Store
	locks   *cachelock.Locks
	bans    *purge.Bans
	metrics *metrics.Metrics

	purgeAuth  *purge.Authorizer
	fanout     *purge.Fanout // to the fleet's other nodes
	sweepNow   chan struct{} // a ban was added: the sweeper should pass
	background background    // background revalidations
	log        *slog.Logger
	access     bool
	now        func() time.Time

	lockTimeout time.Duration // how long a reader waits for a fill's head

	// Edge protection ([server] limits and each site's own).
	rejectToken string           // marks the HTTP/1 guard's stand-in requests (TrustRejects)
	maxURL      int              // longest request target; 0 = unlimited
	maxFields   int              // most header field lines; 0 = unlimited
	inFlight    *limits.InFlight // nil without in-flight caps
	perClient   bool             // inFlight caps each client
	trusted     []netip.Prefix   // proxies whose X-Forwarded-For is believed

	// Compression ([compression]).
	types                *coding.Types // media types worth compressing
	minSize              int64         // shorter known lengths are stored as sent
	zstdLevel, gzipLevel int
	gzipAfter            int // gzip requests of one object before its gzip variant is stored; 0 never
}

// New builds the pipeline for cfg over store, collapsing misses through
// locks, dropping what bans name, sending misses to pools (by pool name),
// recording into m and logging to log.
func New(cfg *config.Config, store *cachestore.Store, locks *cachelock.Locks, bans *purge.Bans, pools map[string]*origin.Pool, m *metrics.Metrics, log *slog.Logger) (*Proxy, error) {
	p := &Proxy{
		cfg:         cfg,
		sites:       make(map[*config.Site]*site, len(cfg.Sites)),
		store:       store,
		locks:       locks,
		bans:        bans,
		metrics:     m,
		log:         log,
		access:      cfg.Log.Access,
		now:         time.Now,
		lockTimeout: cfg.Cache.LockTimeout.D(),
		purgeAuth:   purge.NewAuthorizer(cfg.Purge),
		fanout:      purge.NewFanout(cfg.Purge),
		sweepNow:    make(chan struct{}, 1),
		background:  background{stop: make(chan struct{})},
	}
	types, err := coding.ParseTypes(cfg.Compression.Types)
	if err != nil {
		return nil, fmt.Errorf("proxy: compression: %w", err)
	}
	p.types, p.minSize = types, int64(cfg.Compression.MinSize)
	p.zstdLevel, p.gzipLevel = cfg.Compression.ZstdLevel, cfg.Compression.GzipLevel
	p.gzipAfter = cfg.Compression.GzipVariantAfter
	p.maxURL, p.maxFields, p.trusted = int(cfg.Server.MaxURLBytes), cfg.Server.MaxHeaderCount, cfg.Server.TrustedProxies
	if cfg.Server.MaxInFlight > 0 || cfg.Server.MaxInFlightPerClient > 0 {
		p.inFlight = limits.NewInFlight(cfg.Server.MaxInFlightPerClient, cfg.Server.MaxInFlight)
		p.perClient = cfg.Server.MaxInFlightPerClient > 0
	}
	targeted := []string{cfg.Cache.TargetedField, "CDN-Cache-Control", "Surrogate-Control"}
	for i := range cfg.Sites {
		cs := &cfg.Sites[i]
		pool, ok := pools[cs.Pool]
		if !ok {
			return nil, fmt.Errorf("proxy: site %q: no pool %q", cs.Name, cs.Pool)
		}
		sh, err := newShield(cs)
		if err != nil {
			return nil, fmt.Errorf("proxy: %w", err)
		}
		pages, err := newErrorPage(cs)
		if err != nil {
			return nil, fmt.Errorf("proxy: %w", err)
		}
		p.sites[cs] = &site{
			shield:   sh,
			errors:   pages,
			name:     cs.Name,
			cache:    cs.Cache,
			compress: cs.Compress,
			pool:     pool,
			keys:     keys.Options{SortQuery: cs.QuerySort, DropParams: cs.QueryDrop},
			policy: cachepolicy.Options{
				DefaultTTL:     cs.DefaultTTL.D(),
				HeuristicMax:   cfg.Cache.HeuristicMax.D(),
				AllowSetCookie: cs.AllowSetCookie,
				TargetedFields: targeted,

				StaleWhileRevalidate: cs.StaleWhileRevalidate.D(),
				StaleIfError:         cs.StaleIfError.D(),
			},
		}
	}
	return p, nil
}

// Handler returns the pipeline for worker group i, which counts its
// requests in that worker's own metrics.
func (p *Proxy) Handler(i int) http.Handler {
	return &handler{p: p, stats: p.metrics.Worker(i)}
}

// handler is the pipeline as one worker group serves it.
type handler struct {
	p     *Proxy
	stats *metrics.Worker
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.p.serveHTTP(w, r, h.stats)
}

// serveHTTP runs one request through the pipeline, counting it in stats.
func (p *Proxy) serveHTTP(w http.ResponseWriter, r *http.Request, stats *metrics.Worker) {
	x := &exchange{start: p.now(), stats: stats, rw: responseRecorder{ResponseWriter: w}}
	defer p.finish(&x.rw, r, x)
	w = &x.rw
	closeUnswitched(w, r)
	if !p.screen(w, r, x) {
		return
	}
	defer p.release(x)

	if r.Method == "PURGE" {
		x.out = outcome{cache: metrics.Purge}
		p.purgeHTTP(w, r)
		return
	}
	cs := p.cfg.Match(r.Host)
	if cs == nil {
		p.reject(w, x, http.StatusNotFound, "no-site", "no site is configured for this host")
		return
	}
	x.site = p.sites[cs]
	if err := x.site.pool.CheckRequest(r.Header); err != nil {
		p.reject(w, x, http.StatusBadRequest, "bad-connection", err.Error())
		return
	}
	if !p.protect(w, r, x) {
		return
	}
	x.key = keys.New(scheme(r), r.Host, r.URL.EscapedPath(), r.URL.RawQuery, x.site.keys)

	switch {
	case x.site.pool.Upgrade(r):
		x.out = outcome{cache: metrics.Bypass, detail: "upgrade"}
		p.tunnel(w, r, x)
	case r.Method != http.MethodGet && r.Method != http.MethodHead:
		x.out = outcome{cache: metrics.Bypass, detail: "method"}
		p.forward(w, r, x, nil)
	case !x.site.cache:
		x.out = outcome{cache: metrics.Bypass, detail: "cache-off"}
		p.forward(w, r, x, nil)
	default:
		p.cached(w, r, x)
	}
}

// cached answers a GET or HEAD from the cache where policy allows, and
// forwards it otherwise.
func (p *Proxy) cached(w http.ResponseWriter, r *http.Request, x *exchange) {
	now := x.start // microseconds old: not worth a second clock read on a hit
	req := cachepolicy.RequestDirectives(r.Header)
	obj, objKey, varyMiss := p.lookup(x.key, r.Header, x.stats)
	defer obj.Release()
	if obj == nil {
		if req.OnlyIfCached {
			x.out = outcome{cache: metrics.OnlyIfCached, detail: "only-if-cached"}
			p.refuse(w, x, http.StatusGatewayTimeout, "not in cache and the request is only-if-cached")
			return
		}
		x.out = outcome{cache: metrics.Miss}
		if varyMiss {
			x.out.cache = metrics.VaryMiss
		}
		p.fetch(w, r, x)
		return
	}
	switch cachepolicy.Reuse(req, obj.Policy, now) {
	case cachepolicy.Fresh:
		x.out = outcome{cache: metrics.Hit}
		p.serve(w, r, x, obj, now)
		return
	case cachepolicy.StaleOK:
		x.out = outcome{cache: metrics.Hit, detail: "max-stale"}
		p.metrics.StaleServed.WithLabelValues(staleMaxStale).Inc()
		p.serve(w, r, x, obj, now)
		return
	}
	x.stale, x.staleKey = obj, objKey
	if obj.Policy.ServeWhileRevalidate(req, now) {
		x.out = outcome{cache: metrics.Hit, detail: "stale-while-revalidate"}
		p.metrics.StaleServed.WithLabelValues(staleWhileRevalidate).Inc()
		p.revalidateLater(r, x)
		p.serve(w, r, x, obj, now)
		return
	}
	if req.OnlyIfCached {
		x.out = outcome{cache: metrics.OnlyIfCached, detail: "only-if-cached"}
		p.refuse(w, x, http.StatusGatewayTimeout, "cached response is stale and the request is only-if-cached")
		return
	}
	// Stale, or the request demands a fresher answer than we hold.
	x.out = outcome{cache: metrics.Stale}
	if cachepolicy.Reuse(cachepolicy.NewDirectives(), obj.Policy, now) == cachepolicy.Fresh {
		x.out.cache = metrics.Request
	}
	p.fetch(w, r, x)
}

// lookup finds the object for k and the key it is stored under, following a
// Vary index to the variant the request selects, and counts memory hits in
// stats. varyMiss is true when the URI is known but not this variant.
func (p *Proxy) lookup(k keys.Key, h http.Header, stats *metrics.Worker) (obj *cachestore.Object, at keys.Key, varyMiss bool) {
	obj, ok := p.find(k, stats)
	if !ok {
		return nil, k, false
	}
	if !obj.IsVaryIndex() {
		return obj, k, false
	}
	obj.Release()
	at = k.Variant(obj.Vary, h)
	if obj, ok = p.find(at, stats); !ok {
		return nil, at, true
	}
	return obj, at, false
}

// find is one store lookup, counting a memory hit in the worker's stats,
// with the purge bans applied (unbanned).
func (p *Proxy) find(k keys.Key, stats *metrics.Worker) (*cachestore.Object, bool) {
	obj, tier := p.store.Lookup(k)
	if tier == cachestore.Memory {
		stats.MemoryHit()
	}
	if tier == cachestore.Missed {
		return nil, false
	}
	return p.unbanned(k, obj)
}

// unbanned applies the purge bans to obj, stored under k, for good
// (enforce): it reports false for an object a ban purged, and returns obj,
// or its copy stale since a soft purge, for the caller to release.
func (p *Proxy) unbanned(k keys.Key, obj *cachestore.Object) (*cachestore.Object, bool) {
	obj = p.enforce(k, obj, p.bans.Check(obj.Key, obj.Tags, obj.Stamp), "lookup")
	return obj, obj != nil
}

// refuse answers with an error of the proxy's own, in the site's error
// format (plain text before a site is known).
func (p *Proxy) refuse(w http.ResponseWriter, x *exchange, code int, msg string) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Cache-Status", x.out.String())
	var pages errorPage
	if x.site != nil {
		pages = x.site.errors
	}
	pages.write(w, code, msg)
}

// upstreamError answers a failed origin exchange: with the stale object
// where stale-if-error allows, else 504 for a timeout and 502 otherwise. A
// client that went away gets nothing; the log records 499.
func (p *Proxy) upstreamError(w http.ResponseWriter, r *http.Request, x *exchange, err error) {
	kind, code := "other", http.StatusBadGateway
	// The client's own body failing ends its connection too, so its
	// context is done: answer it all the same.
	if p.bodyFailure(w, r, x) {
		return
	}
	switch {
	case r.Context().Err() != nil:
		x.out.detail = "client-gone"
		x.rw.status = statusClientClosed
		return
	case errors.Is(err, origin.ErrTimeout):
		kind, code = "timeout", http.StatusGatewayTimeout
	case errors.Is(err, origin.ErrConnect):
		kind = "connect"
	case errors.Is(err, origin.ErrUnavailable):
		kind, code = "unavailable", http.StatusServiceUnavailable
	}
	p.log.Warn("origin request failed", "site", x.site.name, "key", x.key.Full, "err", err)
	x.out.detail = "origin-" + kind
	if now := p.now(); p.mayServeStale(r, x, now) {
		p.serveStale(w, r, x, now)
		return
	}
	msg := http.StatusText(code) + ": origin " + kind + " error"
	if code == http.StatusServiceUnavailable {
		msg = "Service Unavailable: no origin server can take this request (all are down or at their limits)"
	}
	p.refuse(w, x, code, msg)
}

// scheme is the request's scheme as the client used it.
func scheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

// clientIP is the address of the peer that sent r, without the port.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
