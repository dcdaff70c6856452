// Package origin owns the upstream side: pools of peers, peer selection
// (origin/balance), health (origin/health), per-origin limits (limits),
// the connection pools with each peer's options, retries, and the header
// policy applied to requests sent upstream.
package origin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cdnnode/cdnnode/config"
	"github.com/cdnnode/cdnnode/limits"
	"github.com/cdnnode/cdnnode/metrics"
	"github.com/cdnnode/cdnnode/origin/balance"
	"github.com/cdnnode/cdnnode/origin/health"
)

// Sentinel errors a caller maps to HTTP statuses with errors.Is.
var (
	// ErrConnect means no connection to a peer could be made (502), so
	// the request was not sent. A connect that timed out also wraps
	// ErrTimeout (504).
	ErrConnect = errors.New("origin: connect failed")
	// ErrTimeout means the peer did not connect or answer in time (504).
	ErrTimeout = errors.New("origin: timed out")
	// ErrUnavailable means no peer could be asked: every one is down, or
	// the pool's or the peers' limits refused the request (503).
	ErrUnavailable = errors.New("origin: no peer available")
)

// Pool is a named set of peers: it picks one per request by the pool's
// selection, skipping those health checks took down, within the pool's
// and the peer's limits, and retries a request that could not reach a
// peer on another one. Safe for concurrent use.
type Pool struct {
	name    string
	cfg     *config.Pool
	log     *slog.Logger
	m       *metrics.Metrics
	algo    balance.Algorithm
	check   *health.Checker // nil without active checks
	limit   *limits.Limiter // the pool's own; nil = none
	budget  retryBudget
	retries int

	set    atomic.Pointer[peerSet] // the current members
	mu     sync.Mutex              // serialises membership changes and Run
	run    context.Context         // Run's; nil until Run starts
	checks sync.WaitGroup          // the health monitors running
}

// peerSet is one generation of the pool's members: their selection and
// health state, swapped whole when membership changes.
type peerSet struct {
	bal   *balance.Balancer
	mon   *health.Monitor
	peers []*peer
	stop  context.CancelFunc // ends mon's checks; nil until they run
}

// peer is one member of a pool with its connection pool and counters.
type peer struct {
	name        string // "http://host:port", "https://host:port" or "unix:/path"
	scheme      string // the request URL's
	host        string // the request URL's: the address, or "localhost" for a socket
	rt          http.RoundTripper
	probe       health.Conn     // how health probes reach the peer: as rt does
	limit       *limits.Limiter // nil = none
	readTimeout time.Duration

	requests, newConns, reusedConns prometheus.Counter
	duration                        prometheus.Observer
}

// NewPool builds the pool called name from its configuration, counting
// into m and logging health changes to log. Call Run to start its health
// checks and Close to release it.
func NewPool(name string, c *config.Pool, m *metrics.Metrics, log *slog.Logger) (*Pool, error) {
	p := &Pool{name: name, cfg: c, log: log.With("pool", name), m: m, retries: c.Retries}
	p.budget.init(c.RetryBudget)
	var err error
	if p.algo, err = balance.ParseAlgorithm(c.Selection); err != nil {
		return nil, fmt.Errorf("origin: pool %s: %w", name, err)
	}
	if c.Health.Kind != "" {
		if p.check, err = health.NewChecker(checkOptions(c)); err != nil {
			return nil, fmt.Errorf("origin: pool %s: health check: %w", name, err)
		}
	}
	if p.limit, err = newLimiter("pool "+name, c.Limits.MaxInFlight, c.Limits.Rate, c.Limits.Burst, c.Limits); err != nil {
		return nil, fmt.Errorf("origin: pool %s: %w", name, err)
	}
	set, err := p.newSet(slices.Concat(c.PeerList, c.FilePeers), nil)
	if err != nil {
		return nil, err
	}
	p.set.Store(set)
	return p, nil
}

// newSet builds the members for peers, taking over prev's health and
// selection state for the peers both have.
func (p *Pool) newSet(list []config.Peer, prev *peerSet) (*peerSet, error) {
	if len(list) == 0 {
		return nil, fmt.Errorf("origin: pool %s: no peers", p.name)
	}
	s := &peerSet{peers: make([]*peer, len(list))}
	targets := make([]health.Target, len(list))
	bp := make([]balance.Peer, len(list))
	for i, cp := range list {
		pr, err := p.newPeer(cp)
		if err != nil {
			return nil, err
		}
		s.peers[i], targets[i] = pr, health.Target{Name: pr.name, Conn: pr.probe}
		bp[i] = balance.Peer{Addr: pr.name, Weight: cp.Weight, Backup: cp.Backup}
	}
	var err error
	if prev == nil {
		s.bal, err = balance.New(p.algo, bp)
	} else {
		s.bal, err = prev.bal.Rebuild(bp)
	}
	if err != nil {
		return nil, fmt.Errorf("origin: pool %s: %w", p.name, err)
	}
	if prev == nil {
		s.mon, err = health.NewMonitor(targets, health.Options{Check: p.check, Passive: passive(p.cfg.Passive), OnChange: p.healthChanged})
		if err != nil {
			return nil, fmt.Errorf("origin: pool %s: %w", p.name, err)
		}
	} else {
		s.mon = prev.mon.Successor(targets)
	}
	for i, pr := range s.peers {
		p.m.OriginPeerUp.WithLabelValues(p.name, pr.name).Set(boolGauge(s.mon.Healthy(i)))
	}
	return s, nil
}

// newPeer builds the member for one configured peer.
func (p *Pool) newPeer(cp config.Peer) (*peer, error) {
	rt, probe, err := peerTransport(p.cfg, cp)
	if err != nil {
		return nil, fmt.Errorf("origin: pool %s: peer %s: %w", p.name, cp, err)
	}
	pr := &peer{name: cp.String(), scheme: cp.Scheme, host: cp.Addr, rt: rt, probe: probe, readTimeout: p.cfg.PeerOptions(cp).ReadTimeout.D()}
	if cp.Scheme == "unix" {
		pr.scheme, pr.host = "http", "localhost"
	}
	l := p.cfg.Limits
	if pr.limit, err = newLimiter("peer "+pr.name, l.PeerMaxInFlight, l.PeerRate, l.PeerBurst, l); err != nil {
		return nil, fmt.Errorf("origin: pool %s: %w", p.name, err)
	}
	pr.requests = p.m.OriginRequests.WithLabelValues(p.name, pr.name)
	pr.newConns = p.m.OriginConnections.WithLabelValues(p.name, pr.name, "false")
	pr.reusedConns = p.m.OriginConnections.WithLabelValues(p.name, pr.name, "true")
	pr.duration = p.m.OriginDuration.WithLabelValues(p.name, pr.name)
	return pr, nil
}

// newLimiter builds a limiter of maxInFlight and rate with the pool's
// waiting rules; nil when it limits nothing.
func newLimiter(name string, maxInFlight int, rate float64, burst int, l config.Limits) (*limits.Limiter, error) {
	if maxInFlight == 0 && rate == 0 {
		return nil, nil
	}
	return limits.New(name, limits.Options{MaxInFlight: maxInFlight, Rate: rate, Burst: burst, MaxWait: l.MaxWait.D(), MaxQueue: l.MaxQueue})
}

// checkOptions maps a pool's [health] to the active checker's options:
// what a probe sends and how it is judged. How it connects is each peer's
// (peer.probe, from peerTransport): its dialer, with the bind address and
// connect timeouts, its TLS configuration (CA, client certificate,
// verification, its SNI, or else its host, whatever host names) and h2c,
// so a probe passes only where the peer's requests could. No Scheme: the
// pool's peers name theirs ("http://", "https://"), and unix peers speak
// cleartext HTTP.
func checkOptions(c *config.Pool) health.CheckOptions {
	h := c.Health
	o := health.CheckOptions{
		Kind: health.Kind(h.Kind), Path: h.Path, Host: h.Host, Body: h.ExpectBody,
		Interval: h.Interval.D(), Timeout: h.Timeout.D(), Rise: h.Rise, Fall: h.Fall,
	}
	if h.ExpectBodyRegexp != nil {
		o.BodyRegexp = h.ExpectBodyRegexp.String()
	}
	for i, r := range h.ExpectStatus {
		if i > 0 {
			o.Status += ","
		}
		o.Status += strconv.Itoa(r.Lo)
		if r.Hi != r.Lo {
			o.Status += "-" + strconv.Itoa(r.Hi)
		}
	}
	return o
}

// passive maps a pool's [passive] to the monitor's ejection rules.
func passive(c config.Passive) health.Passive {
	p := health.Passive{MaxFails: c.MaxFails, CoolDown: c.Cooldown.D()}
	if c.ErrorRate > 0 && c.ErrorRate < 1 {
		p.Window, p.MinRequests, p.MaxErrorRate = c.Window, c.MinRequests, c.ErrorRate
	}
	return p
}

// healthChanged logs a peer's health change and exports it.
func (p *Pool) healthChanged(peer string, up bool, reason string) {
	p.m.OriginPeerUp.WithLabelValues(p.name, peer).Set(boolGauge(up))
	if up {
		p.log.Info("origin peer up", "peer", peer, "reason", reason)
	} else {
		p.log.Warn("origin peer down", "peer", peer, "reason", reason)
	}
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// peersFilePoll is how often Run looks at the pool's peers file.
const peersFilePoll = time.Second

// Run runs the pool's background work until ctx ends: its health checks;
// every resolve_interval, a round of resolve; and, with a peers file,
// taking its new peers whenever it changes (a file that does not parse is
// logged and the peers stay as they were).
func (p *Pool) Run(ctx context.Context) {
	p.mu.Lock()
	p.run = ctx
	p.startChecks(p.set.Load())
	p.mu.Unlock()
	resolve := make(<-chan time.Time) // never, without an interval
	if d := p.cfg.ResolveInterval.D(); d > 0 {
		t := time.NewTicker(d)
		defer t.Stop()
		resolve = t.C
	}
	poll := make(<-chan time.Time)
	var seen fileStamp
	if p.cfg.PeersFile != "" {
		seen = stampOf(p.cfg.PeersFile)
		t := time.NewTicker(peersFilePoll)
		defer t.Stop()
		poll = t.C
	}
	for {
		select {
		case <-ctx.Done():
			p.mu.Lock()
			p.run = nil // no more checks start
			p.mu.Unlock()
			p.checks.Wait() // their contexts derive from ctx
			return
		case <-resolve:
			p.resolve()
		case <-poll:
			if now := stampOf(p.cfg.PeersFile); now != seen {
				seen = now
				p.reloadPeersFile()
			}
		}
	}
}

// resolve closes the idle connections of the peers given by DNS name, so
// that their next connections resolve the name again; connections in use
// finish their requests and stay for the next ones. Peers given as IP
// addresses or unix sockets keep their connections: they have no name to
// resolve.
func (p *Pool) resolve() {
	for _, pr := range p.set.Load().peers {
		if byName(pr) {
			closeIdle(pr.rt)
		}
	}
}

// byName reports whether pr's address is a DNS name rather than an IP
// address or a unix socket.
func byName(pr *peer) bool {
	if strings.HasPrefix(pr.name, "unix:") {
		return false
	}
	host, _, _ := net.SplitHostPort(pr.host) // a config.Peer's Addr is always host:port
	_, err := netip.ParseAddr(host)
	return err != nil
}

// fileStamp tells a file's versions apart.
type fileStamp struct {
	mod  time.Time
	size int64
}

// stampOf is path's stamp; zero if it cannot be read.
func stampOf(path string) fileStamp {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}
	}
	return fileStamp{fi.ModTime(), fi.Size()}
}

// reloadPeersFile replaces the peers the pool took from its peers file
// with the file's current ones.
func (p *Pool) reloadPeersFile() {
	peers, err := config.ParsePeersFile(p.cfg.PeersFile)
	if err == nil {
		err = p.SetPeers(slices.Concat(p.cfg.PeerList, peers))
	}
	if err != nil {
		p.log.Error("origin peers file not applied: the peers stay as they were", "file", p.cfg.PeersFile, "err", err)
	}
}

// startChecks runs s's monitor under Run's context; p.mu must be held.
func (p *Pool) startChecks(s *peerSet) {
	if p.run == nil {
		return
	}
	ctx, cancel := context.WithCancel(p.run)
	s.stop = cancel
	p.checks.Go(func() { s.mon.Run(ctx) })
}

// SetPeers replaces the pool's peers: requests in flight finish on the
// peers they went to, new ones see the new list, and peers in both keep
// their health and in-flight state.
func (p *Pool) SetPeers(list []config.Peer) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	old := p.set.Load()
	s, err := p.newSet(list, old)
	if err != nil {
		return err
	}
	p.startChecks(s)
	p.set.Store(s)
	if old.stop != nil {
		old.stop()
	}
	for _, pr := range old.peers {
		if !slices.ContainsFunc(s.peers, func(n *peer) bool { return n.name == pr.name }) {
			p.m.OriginPeerUp.DeleteLabelValues(p.name, pr.name)
		}
		closeIdle(pr.rt)
	}
	p.log.Info("origin peers replaced", "peers", len(s.peers))
	return nil
}

// Name is the pool's configured name.
func (p *Pool) Name() string { return p.name }

// ReadTimeout is the pool's longest wait for body bytes from a peer; 0
// means no limit. A WebSocket tunnel idle that long, both ways, is closed.
func (p *Pool) ReadTimeout() time.Duration { return p.cfg.ReadTimeout.D() }

// Close closes idle upstream connections; used at shutdown.
func (p *Pool) Close() {
	for _, pr := range p.set.Load().peers {
		closeIdle(pr.rt)
	}
}

// RoundTrip sends req, whose header the caller has already prepared, to a
// peer of the pool chosen for key (the cache key's hash, for ketama).
// req.URL's path and query are kept; its scheme and host become the
// peer's. A request that could not reach its peer (no connection, or one
// reset before any response) is sent again to another peer, up to the
// pool's retries and within its retry budget, if it is idempotent and
// has no body. Errors wrap ErrConnect, ErrTimeout or ErrUnavailable where
// that is the cause. A body Read that waits longer than the peer's read
// timeout for bytes fails with an error wrapping ErrTimeout, so a stalled
// origin cannot hold a fetch forever; the body of a 101 (Switching
// Protocols) is the upgraded connection, an io.ReadWriteCloser, left to
// the caller.
func (p *Pool) RoundTrip(req *http.Request, key uint64) (*http.Response, error) {
	s := p.set.Load()
	var tried []int
	var last error
	skip := func(i int) bool { return !s.mon.Healthy(i) || slices.Contains(tried, i) }
	for attempt := 0; ; attempt++ { // bounded: ends by p.retries, or when no peer is left
		i, ok := s.bal.Select(key, skip)
		switch {
		case !ok && last != nil:
			return nil, last
		case !ok:
			return nil, fmt.Errorf("origin %s: %w: no healthy peer", p.name, ErrUnavailable)
		case attempt > 0 && !p.budget.withdraw():
			p.m.OriginRetriesDenied.WithLabelValues(p.name).Inc()
			return nil, last
		case attempt > 0:
			p.m.OriginRetries.WithLabelValues(p.name).Inc()
		}
		resp, err := p.send(req, s, i)
		if err == nil || attempt >= p.retries || !retryable(req, err) {
			return resp, err
		}
		last = err
		tried = append(tried, i)
	}
}

// send sends req to peer i of s within the limits, reporting the outcome
// to the health monitor.
func (p *Pool) send(req *http.Request, s *peerSet, i int) (*http.Response, error) {
	pr := s.peers[i]
	permits, err := limits.Chain{Pool: p.limit, Peer: pr.limit}.Acquire(req.Context())
	if err != nil {
		var le *limits.LimitError
		if errors.As(err, &le) {
			peer := pr.name
			if le.Limiter == "pool "+p.name {
				peer = ""
			}
			p.m.OriginLimited.WithLabelValues(p.name, peer, le.Reason.String()).Inc()
			return nil, fmt.Errorf("origin %s: %w: %w", p.name, ErrUnavailable, err)
		}
		return nil, fmt.Errorf("origin %s: %w", p.name, err)
	}
	p.budget.deposit()
	// A shallow copy with the peer's URL: the header is the caller's,
	// sent as it is by every attempt.
	out := req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) {
			if info.Reused {
				pr.reusedConns.Inc()
			} else {
				pr.newConns.Inc()
			}
		},
	}))
	u := *req.URL
	u.Scheme, u.Host = pr.scheme, pr.host
	out.URL = &u
	var cancel context.CancelCauseFunc
	if pr.readTimeout > 0 {
		var ctx context.Context
		ctx, cancel = context.WithCancelCause(out.Context())
		out = out.WithContext(ctx)
	}
	pr.requests.Inc()
	s.bal.Begin(i)
	start := time.Now()
	resp, err := pr.rt.RoundTrip(out)
	if err != nil {
		s.bal.Done(i)
		permits.Release()
		if cancel != nil {
			cancel(nil)
		}
		err = classify(err)
		p.m.OriginErrors.WithLabelValues(p.name, pr.name, errorKind(err)).Inc()
		// A client that went away says nothing about the peer.
		if req.Context().Err() == nil {
			s.mon.Report(i, false)
		}
		return nil, fmt.Errorf("origin %s: peer %s: %w", p.name, pr.name, err)
	}
	pr.duration.Observe(time.Since(start).Seconds())
	s.mon.Report(i, true)
	done := func() {
		s.bal.Done(i)
		permits.Release()
	}
	// A 101's body is the upgraded connection, written too: its idle
	// limit is the tunnel's.
	if cancel != nil && resp.StatusCode != http.StatusSwitchingProtocols {
		resp.Body = newTimedBody(resp.Body, pr.readTimeout, cancel)
	}
	resp.Body = &peerBody{ReadCloser: resp.Body, done: done, errs: func() {
		p.m.OriginErrors.WithLabelValues(p.name, pr.name, "body").Inc()
	}}
	return resp, nil
}

// peerBody ends a peer's use (in-flight count, limit permits) when the
// body is closed, and counts a body that fails.
type peerBody struct {
	io.ReadCloser
	once sync.Once
	done func()
	errs func()
}

func (b *peerBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		b.errs()
	}
	return n, err
}

// Write writes to an upgraded connection (a 101's body).
func (b *peerBody) Write(p []byte) (int, error) {
	w, ok := b.ReadCloser.(io.Writer)
	if !ok {
		return 0, errors.New("origin: response body is not writable")
	}
	return w.Write(p)
}

func (b *peerBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.done)
	return err
}

// retryable reports whether req, which failed with err, may go to another
// peer: it never reached one (no connection, or the connection was reset
// or closed before any response), and sending it twice is harmless.
func retryable(req *http.Request, err error) bool {
	if req.Body != nil && req.Body != http.NoBody {
		return false
	}
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
	default:
		return false
	}
	return errors.Is(err, ErrConnect) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// errorKind labels err for cdnnode_origin_errors_total.
func errorKind(err error) string {
	switch {
	case errors.Is(err, ErrConnect):
		return "connect"
	case errors.Is(err, ErrTimeout):
		return "timeout"
	}
	return "other"
}

// retryBudget bounds retries to a share of requests, so a failing origin
// does not get a storm of them: every request adds ratio of a retry, every
// retry takes one; it starts, and is capped, at retryReserve retries.
type retryBudget struct {
	milli atomic.Int64 // thousandths of a retry
	ratio int64        // thousandths of a retry each request adds
}

// retryReserve is how many retries a pool may make before its requests
// have paid for any: enough for a cold node to route around a dead peer.
const retryReserve = 10

// init gives the budget its ratio and its reserve.
func (b *retryBudget) init(ratio float64) {
	b.ratio = int64(ratio * 1000)
	b.milli.Store(retryReserve * 1000)
}

// deposit adds one request's share.
func (b *retryBudget) deposit() {
	if b.milli.Load() < retryReserve*1000 {
		b.milli.Add(b.ratio)
	}
}

// withdraw takes one retry, if the budget holds one.
func (b *retryBudget) withdraw() bool {
	for range 8 { // bounded: gives up under heavy contention rather than spin
		cur := b.milli.Load()
		if cur < 1000 {
			return false
		}
		if b.milli.CompareAndSwap(cur, cur-1000) {
			return true
		}
	}
	return false
}

// errReadTimeout is the cause a timed body cancels its request with.
var errReadTimeout = errors.New("no body bytes within the read timeout")

// timedBody bounds each Read of a response body: a timer armed for the
// Read's duration cancels the request, which ends the Read.
type timedBody struct {
	io.ReadCloser
	d      time.Duration
	timer  *time.Timer
	cancel context.CancelCauseFunc
	fired  atomic.Bool
}

func newTimedBody(rc io.ReadCloser, d time.Duration, cancel context.CancelCauseFunc) *timedBody {
	b := &timedBody{ReadCloser: rc, d: d, cancel: cancel}
	b.timer = time.AfterFunc(d, func() {
		b.fired.Store(true)
		cancel(errReadTimeout)
	})
	b.timer.Stop()
	return b
}

func (b *timedBody) Read(p []byte) (int, error) {
	b.timer.Reset(b.d)
	n, err := b.ReadCloser.Read(p)
	b.timer.Stop()
	if err != nil && b.fired.Load() {
		err = fmt.Errorf("%w: %w after %v", ErrTimeout, errReadTimeout, b.d)
	}
	return n, err
}

func (b *timedBody) Close() error {
	b.timer.Stop()
	err := b.ReadCloser.Close()
	b.cancel(nil)
	return err
}

// errHandshake is wrapped by the errors of peerDialer.dialTLSContext's
// handshakes: whatever their cause, no connection was made.
var errHandshake = errors.New("tls handshake")

// classify wraps err, from a round trip that failed, with the sentinels
// that say what kind of failure it is. ErrConnect: no connection was made
// (the dial failed or, for an https peer, the TLS handshake did), so no
// byte of the request was sent and retryable may send it to another peer.
// ErrTimeout: a time limit ran out (connect_timeout, total_connect_timeout
// with the handshake, response_timeout, write_timeout, or the request's
// own deadline), which the caller answers with 504. A connect that timed
// out wraps both; callers test ErrTimeout first. A cancelled request
// wraps neither.
func classify(err error) error {
	var op *net.OpError
	connect := errors.As(err, &op) && op.Op == "dial" || errors.Is(err, errHandshake)
	var ne net.Error
	timeout := errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
	switch {
	case connect && timeout:
		return fmt.Errorf("%w: %w: %w", ErrConnect, ErrTimeout, err)
	case connect:
		return fmt.Errorf("%w: %w", ErrConnect, err)
	case timeout:
		return fmt.Errorf("%w: %w", ErrTimeout, err)
	}
	return err
}
