package worker

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"

	"github.com/cdnnode/cdnnode/h1"
	"github.com/cdnnode/cdnnode/metrics"
)

// worker is one worker group: its HTTP/1 and HTTP/2 servers, the
// connections its accept loops own, and its counters.
type worker struct {
	id  int
	log *slog.Logger
	m   *metrics.Worker

	// h1 serves the HTTP/1 connections handed to it through h1conns. It
	// is also the HTTP/2 connections' base configuration (timeouts,
	// MaxHeaderBytes, ConnState), wired to h2 by http2.ConfigureServer
	// so that its Shutdown sends GOAWAY on them.
	h1      *http.Server
	h1conns *connListener
	h2      *http2.Server
	handler http.Handler // the worker's handler, which serveHTTP1 and serveHTTP2 call
	fast    h1.Responder // the HTTP/1 fast path's; nil with the stdlib engine
	loop    *h1.Loop     // where the fast path's plain connections wait for requests; nil with stdlib
	running *running     // handlers in flight

	// closing is set, under mu, when the worker drains; read without mu
	// by connState.
	closing atomic.Bool

	mu sync.Mutex // guards conns
	// conns are the accepted connections a goroutine of the Group owns,
	// keyed by the accepted net.Conn: false until HTTP/2 serves it (PROXY
	// header, TLS handshake, h2c sniffing), true while it does. HTTP/1
	// connections leave when they are handed to h1, which tracks them.
	conns map[net.Conn]bool
}

// newWorker builds worker i's servers from the Group's configuration.
func (g *Group) newWorker(i int) (*worker, error) {
	c := g.cfg
	w := &worker{
		id:      i,
		log:     g.log.With("worker", i),
		m:       g.metrics.Worker(i),
		handler: g.handler(i),
		fast:    g.responder(i),
		h1conns: &connListener{conns: make(chan net.Conn), done: make(chan struct{})},
		conns:   make(map[net.Conn]bool),
		running: newRunning(),
	}
	var protos http.Protocols
	protos.SetHTTP1(true) // HTTP/2 never reaches net/http: see serveH2
	w.h1 = &http.Server{
		Handler:           http.HandlerFunc(w.serveHTTP1),
		Protocols:         &protos,
		ReadHeaderTimeout: c.ReadHeaderTimeout.D(),
		ReadTimeout:       c.ReadTimeout.D(),
		WriteTimeout:      c.WriteTimeout.D(),
		IdleTimeout:       c.IdleTimeout.D(),
		// MaxHeaderBytes is for the fields; a head may hold a target of
		// MaxURLBytes besides, in its request line (HTTP/1, where the
		// h1 guard's same limit binds first, as net/http adds 4 KiB) or
		// in :path (HTTP/2, whose header list limit this is too).
		MaxHeaderBytes: int(c.MaxHeaderBytes + c.MaxURLBytes),
		ConnContext:    connContext,
		ConnState:      w.connState,
		ErrorLog:       slog.NewLogLogger(w.log.Handler(), slog.LevelDebug),
	}
	// x/net's flood mitigations are always on; these are their knobs. A
	// connection runs at most MaxConcurrentStreams handlers at once and
	// queues at most 4x that many streams opened (and maybe reset) while
	// they run; past that it sends GOAWAY ENHANCE_YOUR_CALM and closes
	// (rapid reset, CVE-2023-39325). The header list is bounded by h1's
	// MaxHeaderBytes (SETTINGS_MAX_HEADER_LIST_SIZE, plus 320 bytes of
	// per-field overhead); a block going past it is no longer decoded,
	// and its next CONTINUATION frame closes the connection
	// (CONTINUATION flood, CVE-2023-45288). x/net marks http2.Server
	// deprecated in favour of http.Server.Protocols, but ServeConn is the
	// only API that serves HTTP/2 on a connection dispatched here.
	w.h2 = &http2.Server{MaxConcurrentStreams: uint32(c.MaxConcurrentStreams)}
	if err := http2.ConfigureServer(w.h1, w.h2); err != nil {
		return nil, fmt.Errorf("worker %d: http2: %w", i, err)
	}
	if w.fast != nil {
		loop, err := h1.NewLoop(loopTick(c.IdleTimeout.D(), c.ReadHeaderTimeout.D(), c.ReadTimeout.D()))
		if err != nil {
			return nil, fmt.Errorf("worker %d: %w", i, err)
		}
		w.loop = loop
	}
	return w, nil
}

// loopTick is how often an h1 Loop checks its waits against their
// deadlines: an eighth of the shortest of the timeouts, between 5ms and
// 250ms, so that a wait ends at most an eighth late.
func loopTick(timeouts ...time.Duration) time.Duration {
	tick := 250 * time.Millisecond
	for _, d := range timeouts {
		if d > 0 {
			tick = min(tick, max(d/8, 5*time.Millisecond))
		}
	}
	return tick
}

// track records that a goroutine of the Group owns c, until untrack,
// unless the worker drains: then it returns false.
func (w *worker) track(c net.Conn) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closing.Load() {
		return false
	}
	w.conns[c] = false
	return true
}

// untrack forgets c.
func (w *worker) untrack(c net.Conn) {
	w.mu.Lock()
	delete(w.conns, c)
	w.mu.Unlock()
}

// servingH2 marks c served by HTTP/2, unless the worker drains: then it
// returns false.
func (w *worker) servingH2(c net.Conn) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closing.Load() {
		return false
	}
	w.conns[c] = true
	return true
}

// drain starts the worker's drain: no connection is tracked any more, and
// those not yet serving HTTP are closed.
func (w *worker) drain() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closing.Store(true)
	for c, h2 := range w.conns {
		if !h2 {
			_ = c.Close()
		}
	}
}

// closeAll closes every connection the worker's goroutines own.
func (w *worker) closeAll() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closing.Store(true)
	for c := range w.conns {
		_ = c.Close()
	}
}

// connState is h1's ConnState hook, which x/net calls too. While the
// worker drains it closes an HTTP/2 connection at its first StateActive,
// which x/net reports when the preface has been read, before any stream:
// one that began serving just before the drain may have missed the
// GOAWAY from h1.Shutdown, as x/net registers a connection for that
// within ServeConn. Later events may come with streams open, and are let
// be.
func (w *worker) connState(c net.Conn, s http.ConnState) {
	if s != http.StateActive {
		return
	}
	h, ok := c.(starter)
	if ok && h.start() && w.closing.Load() {
		_ = c.Close()
	}
}

// serveH2 serves c with HTTP/2 until it closes; c is the accepted
// connection raw, conn what HTTP/2 reads and writes (TLS, or the bytes
// peeked to find the h2c preface replayed).
func (w *worker) serveH2(c net.Conn, conn net.Conn) {
	if !w.servingH2(c) {
		_ = c.Close()
		return
	}
	var hc net.Conn
	var h *h2Conn
	if tc, ok := conn.(*tls.Conn); ok {
		t := &h2TLSConn{h2Conn: h2Conn{Conn: tc}, tls: tc}
		hc, h = t, &t.h2Conn
	} else {
		h = &h2Conn{Conn: conn}
		hc = h
	}
	w.h2.ServeConn(hc, &http2.ServeConnOpts{
		Context:    context.WithValue(context.Background(), h2ConnKey{}, h),
		BaseConfig: w.h1,
		Handler:    http.HandlerFunc(w.serveHTTP2),
	})
}

// resetCheckStreams is how many streams a client opens on an HTTP/2
// connection before its resets are weighed: from then on, a connection
// whose client has reset (RST_STREAM) at least half of its streams before
// their handler was done is closed. That is rapid reset against handlers
// that stop as soon as their stream is reset, which x/net's limit, on the
// handlers still running, never sees; Envoy closes such connections alike
// ("premature resets").
const resetCheckStreams = 100

// h2ConnKey is the context key of the *h2Conn an HTTP/2 request came on.
type h2ConnKey struct{}

// serveHTTP2 is the worker's HTTP/2 handler: the worker's own, counted
// in running, then the client reset count.
func (w *worker) serveHTTP2(rw http.ResponseWriter, r *http.Request) {
	if !w.running.begin() {
		panic(http.ErrAbortHandler) // the worker is closed
	}
	defer w.running.end()
	w.handler.ServeHTTP(rw, r)
	c, ok := r.Context().Value(h2ConnKey{}).(*h2Conn)
	// x/net cancels the request's context when the stream is reset, or
	// the connection lost, before the handler is done; after, otherwise.
	if ok && c.handled(r.Context().Err() != nil) {
		w.log.Debug("http2 connection closed: its client resets too many streams", "peer", c.RemoteAddr().String(), "streams", c.streams.Load(), "resets", c.resets.Load())
		_ = c.Close()
	}
}

// serveH1 serves an HTTP/1 connection: c is the accepted connection raw,
// gd its guard, and conn what the HTTP/1 server reads (gd, or gd with its
// TLS state). With the fast engine, the guard answers the connection's
// requests on this goroutine for as long as the responder takes them;
// the first it leaves, and all after it, go to the HTTP/1 server (whose
// reads of gd take the fast path again between its requests). The
// connection is closed if it ends first or the server is closed.
func (w *worker) serveH1(c net.Conn, gd *h1.Guard, conn net.Conn) {
	w.untrack(c)
	if w.fast != nil {
		// Tracked as the guard, which a drain closes once the response
		// being written is out.
		if !w.track(gd) {
			_ = c.Close()
			return
		}
		err := gd.ServeFast()
		w.untrack(gd)
		if err != nil {
			_ = gd.Close()
			return
		}
	}
	if !w.h1conns.hand(conn) { // h1 tracks it from here
		_ = c.Close()
	}
}

// starter is a connection HTTP/2 serves: start reports whether it is the
// first call.
type starter interface{ start() bool }

// h2Conn is a connection served by HTTP/2.
type h2Conn struct {
	net.Conn
	started atomic.Bool
	streams atomic.Int64 // handled, each counted when its handler is done
	resets  atomic.Int64 // of those, reset before their handler was done
}

func (c *h2Conn) start() bool { return !c.started.Load() && c.started.CompareAndSwap(false, true) }

// handled counts a stream whose handler is done, reset before or not, and
// reports whether the connection has had too many reset.
func (c *h2Conn) handled(reset bool) bool {
	n := c.streams.Add(1)
	var r int64
	if reset {
		r = c.resets.Add(1)
	} else {
		r = c.resets.Load()
	}
	return n >= resetCheckStreams && 2*r >= n
}

// h2TLSConn is a TLS connection served by HTTP/2: x/net reads its
// ConnectionState to check the TLS version and cipher suite and to set
// Request.TLS.
type h2TLSConn struct {
	h2Conn
	tls *tls.Conn
}

func (c *h2TLSConn) ConnectionState() tls.ConnectionState { return c.tls.ConnectionState() }

// tlsKey is the context key of an HTTP/1 connection's TLS state.
type tlsKey struct{}

// h1TLSConn is an HTTP/1 connection over TLS as the server sees it, the
// h1 guard in between: connContext carries its TLS state to the requests.
type h1TLSConn struct {
	net.Conn
	state *tls.ConnectionState
}

// connContext is the HTTP/1 server's ConnContext.
func connContext(ctx context.Context, c net.Conn) context.Context {
	if tc, ok := c.(*h1TLSConn); ok {
		return context.WithValue(ctx, tlsKey{}, tc.state)
	}
	return ctx
}

// serveHTTP1 is the worker's HTTP/1 handler: the worker's own, counted in
// running, with r.TLS set on requests that came over TLS, as net/http
// does when it sees the *tls.Conn itself, so that the handler can tell
// https from http.
func (w *worker) serveHTTP1(rw http.ResponseWriter, r *http.Request) {
	if !w.running.begin() {
		panic(http.ErrAbortHandler) // the worker is closed
	}
	defer w.running.end()
	if st, ok := r.Context().Value(tlsKey{}).(*tls.ConnectionState); ok {
		r.TLS = st
	}
	w.handler.ServeHTTP(rw, r)
}

// connListener is a worker's HTTP/1 server's listener: the accept loops
// hand it the connections they dispatched to HTTP/1.
type connListener struct {
	conns chan net.Conn // unbuffered: a connection is handed or closed
	done  chan struct{}
	once  sync.Once
	addr  net.Addr // the worker's first bound address
}

// hand gives c to the server, blocking until it takes it; false when the
// listener is closed and c was not taken.
func (l *connListener) hand(c net.Conn) bool {
	select {
	case l.conns <- c:
		return true
	case <-l.done:
		return false
	}
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *connListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *connListener) Addr() net.Addr { return l.addr }
