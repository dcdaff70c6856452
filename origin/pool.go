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
	name      string
	scheme    string
	peers     []string
	next      atomic.Uint64
	transport *http.Transport
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
	return &Pool{name: name, scheme: scheme, peers: c.Peers, transport: t}
}

// Name is the pool's configured name.
func (p *Pool) Name() string { return p.name }

// pick returns the next peer round-robin.
func (p *Pool) pick() string {
	n := p.next.Add(1) - 1
	return p.peers[n%uint64(len(p.peers))]
}

// RoundTrip sends req, whose header the caller has already prepared with
// PrepareRequest, to one peer of the pool. req.URL's path and query are
// kept; its scheme and host become the peer's. Errors wrap ErrConnect or
// ErrTimeout where that is the cause.
func (p *Pool) RoundTrip(req *http.Request) (*http.Response, error) {
	peer := p.pick()
	req.URL.Scheme = p.scheme
	req.URL.Host = peer
	resp, err := p.transport.RoundTrip(req)
	if err != nil {
		return nil, fmt.Errorf("origin %s: peer %s: %w", p.name, peer, classify(err))
	}
	return resp, nil
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
