package worker

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/pires/go-proxyproto"
	"golang.org/x/net/http2"

	"github.com/cdnnode/cdnnode/h1"
)

// listener is one worker's socket on one configured address.
type listener struct {
	net.Listener
	w     *worker
	tls   *tls.Config // nil: plain
	proxy string      // the PROXY protocol header expected: "off" (or ""), "v1", "v2" or "any"
}

// Accept errors other than a closed listener (out of file descriptors,
// say) are retried after a pause, doubled each time, as net/http does.
const (
	minAcceptBackoff = 5 * time.Millisecond
	maxAcceptBackoff = time.Second
)

// accept runs l's accept loop until the Group stops. Only checks that
// cannot block run here; each admitted connection gets its own goroutine.
func (g *Group) accept(l *listener) {
	var backoff time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			backoff = min(max(2*backoff, minAcceptBackoff), maxAcceptBackoff)
			g.log.Warn("accept failed", "addr", l.Addr().String(), "err", err, "retry_in", backoff)
			t := time.NewTimer(backoff)
			select {
			case <-g.stop:
				t.Stop()
				return
			case <-t.C:
			}
			continue
		}
		backoff = 0
		l.w.m.Accepted()
		if !g.admitPeer(l, c) {
			g.refuse(c)
			continue
		}
		g.wg.Go(func() { g.serveConn(l, c) })
	}
}

// admitPeer checks c's peer at accept: a trusted proxy when l expects a
// PROXY header (the client behind it is checked once the header is
// read), else a client admit lets in.
func (g *Group) admitPeer(l *listener, c net.Conn) bool {
	peer := h1.ClientOf(c.RemoteAddr())
	if proxied(l.proxy) {
		return g.trustedProxy(peer)
	}
	return g.admit(peer)
}

// refuse closes c at once, and counts it.
func (g *Group) refuse(c net.Conn) {
	_ = c.Close()
	g.denied.Inc()
}

// trustedProxy reports whether a PROXY header from peer is believed: any
// peer's when no proxy is listed.
func (g *Group) trustedProxy(peer netip.Addr) bool {
	if len(g.cfg.TrustedProxies) == 0 {
		return true
	}
	return slices.ContainsFunc(g.cfg.TrustedProxies, func(p netip.Prefix) bool { return p.Contains(peer) })
}

// proxied reports whether a listener set to mode expects a PROXY header.
func proxied(mode string) bool { return mode != "" && mode != "off" }

// serveConn takes c from accept to the server that speaks its protocol:
// PROXY header, admission of the client it names, TLS handshake, h2c
// sniffing, all within the handshake timeout; then HTTP/2 or HTTP/1.1.
// c is closed on every failure, each logged at debug level.
func (g *Group) serveConn(l *listener, c net.Conn) {
	w := l.w
	if !w.track(c) {
		_ = c.Close()
		return
	}
	defer w.untrack(c)
	if d := g.handshakeTimeout(); d > 0 {
		_ = c.SetDeadline(time.Now().Add(d))
	}
	var conn net.Conn = c
	var br *bufio.Reader // what was read past the PROXY header, if any
	if proxied(l.proxy) {
		br = bufio.NewReaderSize(c, peekBufSize)
		client, err := readProxyHeader(br, l.proxy, c.RemoteAddr())
		if err != nil {
			g.drop(c, "proxy header", err)
			return
		}
		if !g.admit(h1.ClientOf(client)) {
			g.refuse(c)
			return
		}
		conn = &clientConn{Conn: c, br: br, remote: client}
	}
	if l.tls != nil {
		tc := tls.Server(conn, l.tls)
		if err := tc.Handshake(); err != nil {
			g.drop(c, "tls handshake", err)
			return
		}
		_ = c.SetDeadline(time.Time{})
		st := tc.ConnectionState()
		if st.NegotiatedProtocol == http2.NextProtoTLS {
			w.serveH2(c, tc)
			return
		}
		gd := g.guard(w, tc, true)
		w.serveH1(c, gd, &h1TLSConn{Conn: gd, state: &st})
		return
	}
	if g.cfg.H2C {
		if br == nil {
			br = bufio.NewReaderSize(c, peekBufSize)
			conn = &clientConn{Conn: c, br: br, remote: c.RemoteAddr()}
		}
		h2, err := sniffPreface(br)
		if err != nil {
			g.drop(c, "h2c preface", err)
			return
		}
		_ = c.SetDeadline(time.Time{})
		if h2 {
			w.serveH2(c, conn)
			return
		}
	}
	_ = c.SetDeadline(time.Time{})
	gd := g.guard(w, conn, false)
	w.serveH1(c, gd, gd)
}

// handshakeTimeout bounds everything before the first request: the PROXY
// header, the TLS handshake and the h2c preface. It is ReadHeaderTimeout,
// or ReadTimeout when that is 0, as net/http does; 0 is no limit.
func (g *Group) handshakeTimeout() time.Duration {
	if d := g.cfg.ReadHeaderTimeout.D(); d > 0 {
		return d
	}
	return g.cfg.ReadTimeout.D()
}

// drop closes c after a failure before its first request.
func (g *Group) drop(c net.Conn, what string, err error) {
	_ = c.Close()
	g.log.Debug("connection dropped", "peer", c.RemoteAddr().String(), "during", what, "err", err)
}

// peekBufSize is the buffer that reads a PROXY header and the h2c preface:
// a v1 header is at most 107 bytes, a v2 header is read through it, and
// what it holds past them is read from it before the connection.
const peekBufSize = 512

// readProxyHeader reads a PROXY protocol header from br for a listener
// set to mode, and returns the client it names: its source address, or
// peer for a LOCAL header (a proxy's own health check). br holds what
// came after the header.
func readProxyHeader(br *bufio.Reader, mode string, peer net.Addr) (net.Addr, error) {
	h, err := proxyproto.Read(br)
	if err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	switch {
	case mode == "v1" && h.Version != 1, mode == "v2" && h.Version != 2:
		return nil, fmt.Errorf("version %d, want %s", h.Version, mode)
	case h.Command.IsLocal():
		return peer, nil
	}
	src, _, ok := h.TCPAddrs()
	if !ok {
		return nil, fmt.Errorf("not a TCP connection: %#x", h.TransportProtocol)
	}
	return src, nil
}

// sniffPreface reads until the connection's first bytes either are the
// HTTP/2 client preface (RFC 9113 §3.4) or cannot be, without consuming
// them. An HTTP/1 request is told apart by its first byte, so a short one
// does not wait for 24 bytes.
func sniffPreface(br *bufio.Reader) (bool, error) {
	preface := []byte(http2.ClientPreface)
	for n := 1; n <= len(preface); n++ {
		b, err := br.Peek(n)
		if err != nil {
			return false, err
		}
		b, _ = br.Peek(min(br.Buffered(), len(preface)))
		if !bytes.HasPrefix(preface, b) {
			return false, nil
		}
		if len(b) == len(preface) {
			return true, nil
		}
		n = len(b)
	}
	return true, nil
}

// clientConn is an accepted connection after the bytes peeked at its
// start: they are read again first, and RemoteAddr is the client (the
// PROXY header's source, when there was one).
type clientConn struct {
	net.Conn
	br     *bufio.Reader // nil once drained
	remote net.Addr
}

func (c *clientConn) Read(p []byte) (int, error) {
	if c.br != nil {
		if c.br.Buffered() > 0 {
			return c.br.Read(p)
		}
		c.br = nil // free the buffer: reads go to the connection from here
	}
	return c.Conn.Read(p)
}

func (c *clientConn) RemoteAddr() net.Addr { return c.remote }

// WriteConn is the connection c writes to (h1.WriteConn).
func (c *clientConn) WriteConn() net.Conn { return c.Conn }

// Buffered is how many peeked bytes c still holds (h1.Buffered): once
// none, the fast path reads the connection directly.
func (c *clientConn) Buffered() int {
	if c.br == nil {
		return 0
	}
	return c.br.Buffered()
}
