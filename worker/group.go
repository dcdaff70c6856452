// Package worker owns the node's worker groups: per-worker SO_REUSEPORT
// listeners on every configured address (the kernel spreads connections
// across them), the servers behind them (HTTP/1.1 with keep-alive and h2c
// with prior knowledge on plain listeners, h2 and HTTP/1.1 by ALPN on TLS
// listeners), pinning shard owners to CPUs, and the drain on shutdown.
package worker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/cdnnode/cdnnode/config"
	"github.com/cdnnode/cdnnode/metrics"
)

// Group is the node's worker groups and their listeners.
type Group struct {
	cfg     config.Server
	handler func(worker int) http.Handler
	metrics *metrics.Metrics
	log     *slog.Logger

	servers   []*http.Server // one per worker per listener address
	listeners []net.Listener // servers[i] serves listeners[i]
	addrs     []net.Addr     // one per configured address, plain first
	wg        sync.WaitGroup
}

// New prepares cfg.Workers worker groups; worker i serves handler(i) and
// counts into m.Worker(i). Listen binds their sockets.
func New(cfg config.Server, handler func(worker int) http.Handler, m *metrics.Metrics, log *slog.Logger) *Group {
	return &Group{cfg: cfg, handler: handler, metrics: m, log: log}
}

// Listen binds every plain and TLS address once per worker, or nothing: on
// error the sockets already bound are closed.
func (g *Group) Listen() error {
	for _, addr := range g.cfg.Listen {
		if err := g.bindAll(addr, nil); err != nil {
			g.closeListeners()
			return err
		}
	}
	for _, t := range g.cfg.TLS {
		cert, err := tls.LoadX509KeyPair(t.Cert, t.Key)
		if err != nil {
			g.closeListeners()
			return fmt.Errorf("worker: tls listener %s: %w", t.Listen, err)
		}
		tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}}
		if err := g.bindAll(t.Listen, tc); err != nil {
			g.closeListeners()
			return err
		}
	}
	return nil
}

// bindAll opens addr once per worker with SO_REUSEPORT. Port 0 is resolved
// by the first worker's socket and shared by the others.
func (g *Group) bindAll(addr string, tc *tls.Config) error {
	lc := net.ListenConfig{Control: reusePort}
	for i := range g.cfg.Workers {
		l, err := lc.Listen(context.Background(), "tcp", addr)
		if err != nil {
			return fmt.Errorf("worker %d: listen %s: %w", i, addr, err)
		}
		if i == 0 {
			addr = l.Addr().String()
			g.addrs = append(g.addrs, l.Addr())
		}
		g.serve(i, &countingListener{Listener: l, w: g.metrics.Worker(i)}, tc)
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

// serve prepares worker i's server on l; tc is nil for cleartext.
func (g *Group) serve(i int, l net.Listener, tc *tls.Config) {
	var protos http.Protocols
	protos.SetHTTP1(true)
	if tc != nil {
		tc = tc.Clone()       // net/http adjusts its server's config: one each
		protos.SetHTTP2(true) // ALPN offers h2 and http/1.1
		l = tls.NewListener(l, tc)
	} else if g.cfg.H2C {
		protos.SetUnencryptedHTTP2(true) // h2c with prior knowledge only: no Upgrade
	}
	log := g.log.With("worker", i)
	g.servers = append(g.servers, &http.Server{
		Handler:           g.handler(i),
		Protocols:         &protos,
		TLSConfig:         tc,
		ReadHeaderTimeout: g.cfg.ReadHeaderTimeout.D(),
		ReadTimeout:       g.cfg.ReadTimeout.D(),
		WriteTimeout:      g.cfg.WriteTimeout.D(),
		IdleTimeout:       g.cfg.IdleTimeout.D(),
		MaxHeaderBytes:    int(g.cfg.MaxHeaderBytes),
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	})
	g.listeners = append(g.listeners, l)
}

// countingListener counts the connections one worker accepts.
type countingListener struct {
	net.Listener
	w *metrics.Worker
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.w.Accepted()
	}
	return c, err
}

// Addrs are the bound addresses, one per configured address (shared by all
// workers), plain ones first, in configuration order.
func (g *Group) Addrs() []net.Addr { return g.addrs }

// Serve starts every worker's servers and returns at once.
func (g *Group) Serve() {
	for i, srv := range g.servers {
		l := g.listeners[i]
		g.wg.Go(func() {
			if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
				g.log.Error("listener stopped", "addr", l.Addr().String(), "err", err)
			}
		})
	}
}

// Shutdown stops accepting, waits for in-flight requests until ctx ends,
// then closes what is left. It returns ctx's error if it had to cut
// requests short.
func (g *Group) Shutdown(ctx context.Context) error {
	var errs []error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, srv := range g.servers {
		wg.Go(func() {
			if err := srv.Shutdown(ctx); err != nil {
				_ = srv.Close()
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	g.wg.Wait()
	return errors.Join(errs...)
}

// Close stops every server at once, cutting in-flight requests.
func (g *Group) Close() {
	for _, srv := range g.servers {
		_ = srv.Close()
	}
	g.closeListeners()
	g.wg.Wait()
}

func (g *Group) closeListeners() {
	for _, l := range g.listeners {
		_ = l.Close()
	}
}
