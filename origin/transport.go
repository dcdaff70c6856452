package origin

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"time"

	"github.com/cdnnode/cdnnode/config"
	"github.com/cdnnode/cdnnode/origin/health"
)

// HTTP/2 liveness: a connection that has received no frame for
// h2ReadIdleTimeout is sent a PING, and closed if no answer comes within
// h2PingTimeout. Requests are multiplexed on one connection, so a peer that
// vanished without a reset must not keep attracting new requests until
// every one of them times out.
const (
	h2ReadIdleTimeout = 15 * time.Second
	h2PingTimeout     = 5 * time.Second
)

// expectContinueTimeout is how long a request with "Expect: 100-continue"
// waits for the peer's interim response before sending its body anyway.
const expectContinueTimeout = time.Second

// peerTransport builds the connection pool to one peer of pc, with the
// peer's options (pc.PeerOptions(peer): its overrides over the pool's
// settings) and the pool's response timeout: it is what RoundTrip sends
// that peer's requests through. Safe for concurrent use. It also returns
// how health probes reach the peer: the same dialer (bind address,
// keep-alive, connect and write timeouts), TLS configuration and h2c
// setting, so a probe passes only where a request could.
//
// Every connection goes to peer, whatever host the request URL names: the
// URL's scheme must be "https" for https peers and "http" otherwise, and
// its host only keys the idle pool, so a caller uses one host per
// transport (the peer's address, or a placeholder such as "localhost" for
// unix peers). https peers speak HTTP/1.1 or HTTP/2 as ALPN says; http and
// unix peers speak HTTP/1.1, or HTTP/2 with prior knowledge when the
// peer's H2C is set. A request with an Upgrade field goes over HTTP/1.1 to
// peers with ALPN "h1" or "h2h1" and fails on HTTP/2-only ones ("h2",
// h2c), as net/http's HTTP/2 client refuses it. ReadTimeout is not applied
// here: RoundTrip bounds body reads.
// The CA and client certificate files are read now; an error means one of
// them no longer loads. Close idle connections with closeIdle.
func peerTransport(pc *config.Pool, peer config.Peer) (http.RoundTripper, health.Conn, error) {
	o := pc.PeerOptions(peer)
	d := newPeerDialer(peer, o)
	protocols := new(http.Protocols)
	t := &http.Transport{
		// No Proxy: peers are reached directly, whatever HTTP_PROXY says.
		DialContext:           d.dialContext,
		MaxIdleConnsPerHost:   o.MaxIdlePerPeer,
		DisableKeepAlives:     o.MaxIdlePerPeer == 0, // 0 would mean http.DefaultMaxIdleConnsPerHost
		IdleConnTimeout:       o.IdleTimeout.D(),
		ResponseHeaderTimeout: pc.ResponseTimeout.D(),
		ExpectContinueTimeout: expectContinueTimeout,
		// The proxy decides encodings; never let the transport add or undo gzip.
		DisableCompression: true,
		HTTP2:              &http.HTTP2Config{SendPingTimeout: h2ReadIdleTimeout, PingTimeout: h2PingTimeout},
		Protocols:          protocols,
	}
	probe := health.Conn{Dial: d.dialContext, H2C: o.H2C}
	switch {
	case peer.Scheme == "https":
		cfg, err := tlsConfig(peer, o)
		if err != nil {
			return nil, health.Conn{}, fmt.Errorf("peer %s: %w", peer, err)
		}
		d.tls = cfg
		d.h2Only = o.ALPN == "h2"
		probe.TLS = cfg
		t.DialTLSContext = d.dialTLSContext
		protocols.SetHTTP1(o.ALPN != "h2")
		protocols.SetHTTP2(o.ALPN != "h1")
		if o.ALPN == "h2h1" {
			return newH1Upgrades(t, d), probe, nil
		}
	case o.H2C:
		// Without HTTP1, http:// requests use HTTP/2 with prior knowledge
		// (RFC 9113 §3.3).
		protocols.SetUnencryptedHTTP2(true)
	default:
		protocols.SetHTTP1(true)
	}
	return t, probe, nil
}

// h1Upgrades is the transport of a peer that negotiates h2 or http/1.1:
// requests with an Upgrade field, which HTTP/2 cannot carry (RFC 9113
// §8.2.2), go through h1, which offers only http/1.1, and the rest through
// the embedded transport. net/http makes this split only when it does the
// TLS handshake itself; here dialTLSContext does it.
type h1Upgrades struct {
	*http.Transport
	h1 *http.Transport
}

// newH1Upgrades returns t, dialing with d, and its HTTP/1.1-only twin.
func newH1Upgrades(t *http.Transport, d *peerDialer) *h1Upgrades {
	d1 := *d
	d1.tls = d.tls.Clone()
	d1.tls.NextProtos = []string{"http/1.1"}
	h1 := t.Clone()
	h1.DialTLSContext = d1.dialTLSContext
	h1.Protocols = new(http.Protocols)
	h1.Protocols.SetHTTP1(true)
	return &h1Upgrades{Transport: t, h1: h1}
}

// RoundTrip sends req over HTTP/1.1 if it asks for an upgrade, else over
// whatever protocol the peer negotiates.
func (t *h1Upgrades) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Header.Get("Upgrade") != "" {
		return t.h1.RoundTrip(req)
	}
	return t.Transport.RoundTrip(req)
}

// CloseIdleConnections closes the idle connections of both transports.
func (t *h1Upgrades) CloseIdleConnections() {
	t.Transport.CloseIdleConnections()
	t.h1.CloseIdleConnections()
}

// closeIdle closes the idle connections of rt, a transport peerTransport
// built; connections in use are left to finish their requests.
func closeIdle(rt http.RoundTripper) {
	if c, ok := rt.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// peerDialer makes the connections to one peer: TCP or unix socket, then
// TLS for https peers, within the peer's connect timeouts, every write
// bounded by its write timeout. Not modified after peerTransport returns.
type peerDialer struct {
	net.Dialer    // Timeout bounds the connect alone
	network, addr string
	// total bounds the connect and the TLS handshake together; 0 = none.
	total time.Duration
	// handshake bounds the TLS handshake alone when total is 0; 0 = none.
	handshake time.Duration
	// write bounds each Write on a connection; 0 = none.
	write time.Duration
	// tls is the configuration of https peers; nil for cleartext ones.
	tls *tls.Config
	// h2Only refuses TLS connections that did not negotiate h2.
	h2Only bool
}

// newPeerDialer returns the dialer of peer, whose options are o: its tls
// is left for the caller to set.
func newPeerDialer(peer config.Peer, o config.PeerOptions) *peerDialer {
	d := &peerDialer{
		Dialer:    net.Dialer{Timeout: o.ConnectTimeout.D(), KeepAlive: o.TCPKeepAlive.D()},
		network:   "tcp",
		addr:      peer.Addr,
		total:     o.TotalConnectTimeout.D(),
		handshake: o.ConnectTimeout.D(),
		write:     o.WriteTimeout.D(),
	}
	if o.TCPKeepAlive == 0 {
		d.KeepAlive = -1 // net.Dialer's 0 means its default interval, not off
	}
	if peer.Scheme == "unix" {
		d.network = "unix"
	}
	if o.BindTo.IsValid() { // never for unix peers
		d.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(o.BindTo, 0))
	}
	return d
}

// dialContext connects to the peer, whatever network and address the
// transport asks for, within the total connect timeout.
func (d *peerDialer) dialContext(ctx context.Context, _, _ string) (net.Conn, error) {
	if d.total > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.total)
		defer cancel()
	}
	return d.dial(ctx)
}

// dialTLSContext connects to the peer and completes the TLS handshake,
// both within the total connect timeout, or else the handshake within the
// connect timeout. The write timeout applies to the connection under TLS,
// so the transport still sees a *tls.Conn and its ALPN result.
func (d *peerDialer) dialTLSContext(ctx context.Context, _, _ string) (net.Conn, error) {
	if d.total > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.total)
		defer cancel()
	}
	raw, err := d.dial(ctx)
	if err != nil {
		return nil, err
	}
	if d.total == 0 && d.handshake > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.handshake)
		defer cancel()
	}
	tc := tls.Client(raw, d.tls)
	if err := tc.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, fmt.Errorf("%w with %s: %w", errHandshake, d.addr, err)
	}
	if p := tc.ConnectionState().NegotiatedProtocol; d.h2Only && p != "h2" {
		tc.Close()
		return nil, fmt.Errorf("%w with %s: negotiated %q, and alpn is \"h2\": the peer does not offer HTTP/2", errHandshake, d.addr, p)
	}
	return tc, nil
}

// dial connects to the peer and applies the write timeout.
func (d *peerDialer) dial(ctx context.Context) (net.Conn, error) {
	c, err := d.DialContext(ctx, d.network, d.addr)
	if err != nil {
		return nil, err
	}
	if d.write > 0 {
		c = &writeTimeoutConn{Conn: c, timeout: d.write}
	}
	return c, nil
}

// writeTimeoutConn is a connection whose every Write must complete within
// timeout. It deliberately hides the wrapped connection's ReadFrom, which
// would write without passing through Write.
type writeTimeoutConn struct {
	net.Conn
	timeout time.Duration
}

// Write writes p, failing with an error wrapping os.ErrDeadlineExceeded if
// that takes longer than the timeout.
func (c *writeTimeoutConn) Write(p []byte) (int, error) {
	if err := c.Conn.SetWriteDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

// tlsConfig returns the TLS configuration of https peer peer, whose
// options are o.
func tlsConfig(peer config.Peer, o config.PeerOptions) (*tls.Config, error) {
	name := o.SNI
	if name == "" {
		host, _, err := net.SplitHostPort(peer.Addr)
		if err != nil {
			return nil, fmt.Errorf("server name: %w", err)
		}
		name = host
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: name}
	switch o.ALPN {
	case "h1":
		cfg.NextProtos = []string{"http/1.1"}
	case "h2":
		cfg.NextProtos = []string{"h2"}
	default:
		cfg.NextProtos = []string{"h2", "http/1.1"}
	}
	if o.ClientCert != "" {
		cert, err := tls.LoadX509KeyPair(o.ClientCert, o.ClientKey)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	if !o.VerifyCert {
		cfg.InsecureSkipVerify = true //nolint:gosec // the operator's explicit verify_cert = false
		return cfg, nil
	}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %s holds no PEM certificate", o.CAFile)
		}
	}
	// crypto/tls checks the chain and ServerName together; any other
	// check skips its verification and does the whole of it here.
	switch {
	case !o.VerifyHostname:
		cfg.InsecureSkipVerify = true //nolint:gosec // VerifyConnection verifies the chain
		cfg.VerifyConnection = verifyPeer(cfg.RootCAs, false, "", "")
	case o.AlternativeCN != "":
		cfg.InsecureSkipVerify = true //nolint:gosec // VerifyConnection verifies chain and name
		cfg.VerifyConnection = verifyPeer(cfg.RootCAs, true, name, o.AlternativeCN)
	}
	return cfg, nil
}

// verifyPeer returns a tls.Config.VerifyConnection that verifies the
// peer's certificate chain against roots (nil = the system roots) for
// server authentication and, with checkName, that the certificate is valid
// for the server name the connection sent (name when it sent none, as for
// an IP address) or for alt. Its errors are
// *tls.CertificateVerificationError, as crypto/tls's own, wrapping the
// server name's error when neither matches.
func verifyPeer(roots *x509.CertPool, checkName bool, name, alt string) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		certs := cs.PeerCertificates
		if len(certs) == 0 {
			return errors.New("tls: the peer sent no certificate")
		}
		opts := x509.VerifyOptions{Roots: roots, Intermediates: x509.NewCertPool()}
		for _, c := range certs[1:] {
			opts.Intermediates.AddCert(c)
		}
		var names []string
		if checkName {
			names = []string{cmp.Or(cs.ServerName, name), alt}
		}
		err := verifyLeaf(certs[0], opts, names)
		if err != nil {
			return &tls.CertificateVerificationError{UnverifiedCertificates: certs, Err: err}
		}
		return nil
	}
}

// verifyLeaf verifies leaf's chain with opts and, unless names is empty,
// that leaf is valid for one of names; it returns the first name's error
// when none is.
func verifyLeaf(leaf *x509.Certificate, opts x509.VerifyOptions, names []string) error {
	if _, err := leaf.Verify(opts); err != nil {
		return err
	}
	var first error
	for _, n := range names {
		err := leaf.VerifyHostname(n)
		if err == nil {
			return nil
		}
		if first == nil {
			first = err
		}
	}
	return first
}
