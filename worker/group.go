// Package worker owns the node's client-facing listeners and the servers
// behind them: HTTP/1.1 with keep-alive and h2c (prior knowledge) on plain
// listeners, HTTP/2 and HTTP/1.1 negotiated by ALPN on TLS listeners, and
// the drain on shutdown.
//
// This version runs one listener per configured address; per-core worker
// groups with reuseport listeners and pinning come with the sharded cache.
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

	"github.com/cdnnode/cdnnode/config"
)

// Group serves one handler on every configured listener.
type Group struct {
	cfg     config.Server
	handler http.Handler
	log     *slog.Logger

	servers   []*http.Server
	listeners []net.Listener
	wg        sync.WaitGroup
}

// New prepares a group; Listen binds its sockets.
func New(cfg config.Server, h http.Handler, log *slog.Logger) *Group {
	return &Group{cfg: cfg, handler: h, log: log}
}

// Listen binds every plain and TLS listener, or none: on error the ones
// already bound are closed.
func (g *Group) Listen() error {
	for _, addr := range g.cfg.Listen {
		if err := g.bind(addr, nil); err != nil {
			return err
		}
	}
	for _, t := range g.cfg.TLS {
		cert, err := tls.LoadX509KeyPair(t.Cert, t.Key)
		if err != nil {
			g.closeListeners()
			return fmt.Errorf("worker: tls listener %s: %w", t.Listen, err)
		}
		if err := g.bind(t.Listen, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}); err != nil {
			return err
		}
	}
	return nil
}

// bind opens one listener and the server for it; tc is nil for cleartext.
func (g *Group) bind(addr string, tc *tls.Config) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		g.closeListeners()
		return fmt.Errorf("worker: listen %s: %w", addr, err)
	}
	var protos http.Protocols
	protos.SetHTTP1(true)
	if tc != nil {
		protos.SetHTTP2(true) // ALPN offers h2 and http/1.1
		tc.NextProtos = []string{"h2", "http/1.1"}
		l = tls.NewListener(l, tc)
	} else if g.cfg.H2C {
		protos.SetUnencryptedHTTP2(true) // h2c with prior knowledge only: no Upgrade
	}
	srv := &http.Server{
		Handler:           g.handler,
		Protocols:         &protos,
		TLSConfig:         tc,
		ReadHeaderTimeout: g.cfg.ReadHeaderTimeout.D(),
		ReadTimeout:       g.cfg.ReadTimeout.D(),
		WriteTimeout:      g.cfg.WriteTimeout.D(),
		IdleTimeout:       g.cfg.IdleTimeout.D(),
		MaxHeaderBytes:    int(g.cfg.MaxHeaderBytes),
		ErrorLog:          slog.NewLogLogger(g.log.Handler(), slog.LevelDebug),
	}
	g.servers = append(g.servers, srv)
	g.listeners = append(g.listeners, l)
	return nil
}

// Addrs are the bound addresses, plain ones first, in configuration order.
func (g *Group) Addrs() []net.Addr {
	addrs := make([]net.Addr, len(g.listeners))
	for i, l := range g.listeners {
		addrs[i] = l.Addr()
	}
	return addrs
}

// Serve starts serving on every listener and returns at once.
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
