// Package origin owns the upstream side: pools of peers, peer selection,
// connection pools and the header policy applied to requests sent upstream.
//
// This version selects peers round-robin from a static list; health checks,
// consistent hashing and per-origin limits arrive with the origin-pools work.
package origin

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/cdnnode/cdnnode/config"
)

// Sentinel errors a caller maps to HTTP statuses with errors.Is.
var (
	// ErrConnect means no connection to the peer could be made (502).
	ErrConnect = errors.New("origin: connect failed")
	// ErrTimeout means the peer did not answer in time (504).
	ErrTimeout = errors.New("origin: timed out")
)

// Pool is a named set of peers sharing one connection pool. Safe for
// concurrent use.
type Pool struct {
	name        string
	scheme      string
	peers       []string
	next        atomic.Uint64
	transport   *http.Transport
	readTimeout time.Duration // longest wait for body bytes; 0 = none
}

// NewPool builds the pool called name from its configuration.
func NewPool(name string, c config.Pool) *Pool {
	dialer := &net.Dialer{Timeout: c.ConnectTimeout.D(), KeepAlive: 30 * time.Second}
	t := &http.Transport{
		DialContext:           dialer.DialContext,
		MaxIdleConnsPerHost:   c.MaxIdlePerPeer,
		IdleConnTimeout:       c.IdleTimeout.D(),
		ResponseHeaderTimeout: c.ResponseTimeout.D(),
		TLSHandshakeTimeout:   c.ConnectTimeout.D(),
		ExpectContinueTimeout: time.Second,
		// The proxy decides encodings; never let the transport add or undo gzip.
		DisableCompression: true,
		ForceAttemptHTTP2:  c.Scheme == "https",
	}
	if c.Scheme == "https" {
		t.TLSClientConfig = &tls.Config{
			ServerName:         c.SNI,
			InsecureSkipVerify: !c.TLSVerify, //nolint:gosec // operator's explicit per-pool choice
			MinVersion:         tls.VersionTLS12,
		}
	}
	scheme := c.Scheme
	if scheme == "" {
		scheme = "http"
	}
	return &Pool{name: name, scheme: scheme, peers: c.Peers, transport: t, readTimeout: c.ReadTimeout.D()}
}

// Name is the pool's configured name.
func (p *Pool) Name() string { return p.name }

// ReadTimeout is the longest a fetch waits for body bytes from a peer; 0
// means no limit. A WebSocket tunnel idle that long, both ways, is closed.
func (p *Pool) ReadTimeout() time.Duration { return p.readTimeout }

// pick returns the next peer round-robin.
func (p *Pool) pick() string {
	n := p.next.Add(1) - 1
	return p.peers[n%uint64(len(p.peers))]
}

// RoundTrip sends req, whose header the caller has already prepared with
// PrepareRequest, to one peer of the pool. req.URL's path and query are
// kept; its scheme and host become the peer's. Errors wrap ErrConnect or
// ErrTimeout where that is the cause. A body Read that waits longer than
// the pool's read timeout for bytes fails with an error wrapping
// ErrTimeout, so a stalled origin cannot hold a fetch forever; the body of
// a 101 (Switching Protocols) is the upgraded connection, an
// io.ReadWriteCloser, left to the caller.
func (p *Pool) RoundTrip(req *http.Request) (*http.Response, error) {
	peer := p.pick()
	req.URL.Scheme = p.scheme
	req.URL.Host = peer
	var cancel context.CancelCauseFunc
	if p.readTimeout > 0 {
		var ctx context.Context
		ctx, cancel = context.WithCancelCause(req.Context())
		req = req.WithContext(ctx)
	}
	resp, err := p.transport.RoundTrip(req)
	if err != nil {
		if cancel != nil {
			cancel(nil)
		}
		return nil, fmt.Errorf("origin %s: peer %s: %w", p.name, peer, classify(err))
	}
	// A 101's body is the upgraded connection, written too: its idle
	// limit is the tunnel's.
	if cancel != nil && resp.StatusCode != http.StatusSwitchingProtocols {
		resp.Body = newTimedBody(resp.Body, p.readTimeout, cancel)
	}
	return resp, nil
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

// CloseIdle closes idle upstream connections; used at shutdown.
func (p *Pool) CloseIdle() { p.transport.CloseIdleConnections() }

// classify wraps err with the sentinel that says what kind of failure it is.
func classify(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return fmt.Errorf("%w: %w", ErrConnect, err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %w", ErrTimeout, err)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("%w: %w", ErrTimeout, err)
	}
	return err
}
