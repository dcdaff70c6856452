// Package worker owns the node's worker groups: per-worker SO_REUSEPORT
// listeners on every configured address (the kernel spreads connections
// across them), each worker's own accept loops and the connection dispatch
// behind them (PROXY protocol header, access control at accept, TLS and
// ALPN, h2c sniffing), the servers connections end up in (HTTP/1.1 behind
// the h1 guard, HTTP/2 on golang.org/x/net/http2), pinning shard owners to
// CPUs, and the drain on shutdown.
package worker

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"github.com/cdnnode/cdnnode/config"
	"github.com/cdnnode/cdnnode/h1"
	"github.com/cdnnode/cdnnode/metrics"
)

// Group is the node's worker groups and their listeners.
type Group struct {
	cfg     config.Server
	handler func(worker int) http.Handler
	fast    func(worker int) h1.Responder // nil: every HTTP/1 request goes to net/http
	admit   func(netip.Addr) bool
	metrics *metrics.Metrics
	log     *slog.Logger
	token   string             // marks the requests the HTTP/1 guard put in place of rejected ones
	denied  prometheus.Counter // connections closed at accept (rejectConnection)

	workers   []*worker
	listeners []*listener // every worker's, address by address
	addrs     []net.Addr  // one per configured address, plain first
	stop      chan struct{}
	stopOnce  sync.Once
	wg        sync.WaitGroup // accept loops, HTTP/1 servers and connection goroutines
	loops     sync.WaitGroup // the workers' h1 Loops, which stop after the rest
}

// New prepares cfg.Workers worker groups; worker i serves handler(i) and
// counts into m.Worker(i). With cfg.HTTP1 "fast" and fast not nil,
// worker i's HTTP/1 connections offer each request to fast(i) first (see
// h1.Responder), and only what it leaves reaches handler(i). admit is asked about every client as soon as
// its connection is accepted (after its PROXY header, before TLS): false
// closes the connection at once, with nothing written. It must be safe
// for concurrent use. Listen binds their sockets.
func New(cfg config.Server, handler func(worker int) http.Handler, fast func(worker int) h1.Responder, admit func(netip.Addr) bool, m *metrics.Metrics, log *slog.Logger) *Group {
	if cfg.HTTP1 == config.HTTP1Stdlib {
		fast = nil
	}
	return &Group{
		cfg: cfg, handler: handler, fast: fast, admit: admit, metrics: m, log: log,
		token:  rand.Text(),
		denied: m.Rejections.WithLabelValues(rejectConnection),
		stop:   make(chan struct{}),
	}
}

// responder is worker i's fast-path responder, nil without one.
func (g *Group) responder(i int) h1.Responder {
	if g.fast == nil {
		return nil
	}
	return g.fast(i)
}

// RejectToken is the token the HTTP/1 guard puts in the requests it
// stands in for rejected ones (h1.GuardOptions.Token): random per Group,
// so a client cannot forge one. The handler must trust those requests
// only with this token (h1.ParseReject).
func (g *Group) RejectToken() string { return g.token }

// rejectConnection is the reason label, in cdnnode_rejections_total, of
// the connections closed at accept: clients admit refused, and PROXY
// protocol peers outside the trusted proxies.
const rejectConnection = "connection-denied"

// Listen builds the workers' servers and binds every plain and TLS
// address once per worker, or nothing: on error the sockets already bound
// and the workers' h1 Loops are closed.
func (g *Group) Listen() (err error) {
	defer func() {
		if err != nil {
			g.closeListeners()
			g.stopLoops()
		}
	}()
	for i := range g.cfg.Workers {
		w, err := g.newWorker(i)
		if err != nil {
			return err
		}
		g.workers = append(g.workers, w)
	}
	for _, addr := range g.cfg.Listen {
		if err := g.bindAll(addr, nil, g.cfg.ProxyProtocol); err != nil {
			return err
		}
	}
	for _, t := range g.cfg.TLS {
		cert, err := tls.LoadX509KeyPair(t.Cert, t.Key)
		if err != nil {
			return fmt.Errorf("worker: tls listener %s: %w", t.Listen, err)
		}
		tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}}
		if err := g.bindAll(t.Listen, tc, t.ProxyProtocol); err != nil {
			return err
		}
	}
	return nil
}

// bindAll opens addr once per worker with SO_REUSEPORT. Port 0 is resolved
// by the first worker's socket and shared by the others.
func (g *Group) bindAll(addr string, tc *tls.Config, proxy string) error {
	lc := net.ListenConfig{Control: reusePort}
	for _, w := range g.workers {
		l, err := lc.Listen(context.Background(), "tcp", addr)
		if err != nil {
			return fmt.Errorf("worker %d: listen %s: %w", w.id, addr, err)
		}
		if w.id == 0 {
			addr = l.Addr().String()
			g.addrs = append(g.addrs, l.Addr())
		}
		if w.h1conns.addr == nil {
			w.h1conns.addr = l.Addr()
		}
		g.listeners = append(g.listeners, &listener{Listener: l, w: w, tls: tc, proxy: proxy})
	}
	return nil
}

// reusePort sets SO_REUSEPORT so every worker can bind the same address.
func reusePort(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	})
	return errors.Join(err, serr)
}

// Addrs are the bound addresses, one per configured address (shared by all
// workers), plain ones first, in configuration order.
func (g *Group) Addrs() []net.Addr { return g.addrs }

// Serve starts every worker's accept loops and HTTP/1 server and returns
// at once.
func (g *Group) Serve() {
	for _, w := range g.workers {
		g.wg.Go(func() {
			if err := w.h1.Serve(w.h1conns); err != nil && !errors.Is(err, http.ErrServerClosed) {
				g.log.Error("worker stopped", "worker", w.id, "err", err)
			}
		})
	}
	for _, l := range g.listeners {
		g.wg.Go(func() { g.accept(l) })
	}
	for _, w := range g.workers {
		if w.loop != nil {
			g.loops.Go(w.loop.Run)
		}
	}
}

// stopLoops stops the workers' h1 Loops, once no connection waits there.
func (g *Group) stopLoops() {
	for _, w := range g.workers {
		if w.loop != nil {
			_ = w.loop.Close()
		}
	}
	g.loops.Wait()
}

// Shutdown stops accepting, closes the connections not yet serving HTTP,
// sends GOAWAY on every HTTP/2 connection and closes idle HTTP/1 ones,
// waits for in-flight requests until ctx ends, then closes what is left.
// It returns ctx's error, wrapped, if it had to cut requests short. Every
// goroutine of the Group has ended when it returns, handlers included:
// those cut short must return once their request's context is cancelled.
func (g *Group) Shutdown(ctx context.Context) error {
	g.stopAccepting()
	for _, w := range g.workers {
		w.drain()
	}
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for _, w := range g.workers {
		wg.Go(func() {
			// Runs http2.ConfigureServer's hook too: GOAWAY on w's h2 conns.
			if err := w.h1.Shutdown(ctx); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	done := make(chan struct{})
	go func() {
		g.wg.Wait()
		close(done)
	}()
	err := errors.Join(errs...)
	if err == nil {
		select {
		case <-done:
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	if err == nil {
		err = g.handlersDone(ctx)
	}
	if err == nil {
		g.stopLoops()
		return nil
	}
	g.cut()
	<-done
	g.stopLoops()
	_ = g.handlersDone(context.Background())
	return fmt.Errorf("worker: drain cut short: %w", err)
}

// Close stops every server at once, cutting in-flight requests (their
// contexts are cancelled), and returns when every goroutine of the Group
// has ended and its handlers too, or closeWait after that at most.
func (g *Group) Close() {
	g.stopAccepting()
	g.cut()
	g.wg.Wait()
	g.stopLoops()
	// Handlers whose connection is gone end soon, but one waiting on its
	// own work (a fill from a slow origin) must not hold a stop that is
	// meant to be at once.
	ctx, cancel := context.WithTimeout(context.Background(), closeWait)
	defer cancel()
	_ = g.handlersDone(ctx)
}

// closeWait bounds how long Close waits for handlers still running.
const closeWait = 2 * time.Second

// handlersDone refuses handlers from now on and waits until none runs,
// or ctx ends.
func (g *Group) handlersDone(ctx context.Context) error {
	for _, w := range g.workers {
		select {
		case <-w.running.close():
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// stopAccepting ends the accept loops.
func (g *Group) stopAccepting() {
	g.stopOnce.Do(func() { close(g.stop) })
	g.closeListeners()
}

// cut closes every connection of every worker.
func (g *Group) cut() {
	for _, w := range g.workers {
		_ = w.h1.Close()
		w.closeAll()
	}
}

func (g *Group) closeListeners() {
	for _, l := range g.listeners {
		_ = l.Close()
	}
}
