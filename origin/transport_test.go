package origin

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cdnnode/cdnnode/config"
	"github.com/cdnnode/cdnnode/internal/testkit"
)

// transportPKI is a private CA and what it signed, in files of a test's
// temporary directory.
type transportPKI struct {
	caFile     string          // PEM of the CA certificate
	emptyFile  string          // a PEM file holding no certificate
	serverCert tls.Certificate // for "origin.test" and 127.0.0.1
	clientCert string          // PEM of a client certificate, CN "cdnnode"
	clientKey  string          // its PEM key
	roots      *x509.CertPool  // the CA, for servers verifying clients
}

// newTransportPKI generates a CA, a server and a client certificate.
func newTransportPKI(t *testing.T) *transportPKI {
	t.Helper()
	dir := t.TempDir()
	ca := testkit.NewCA(t)
	clientCert, clientKey := testkit.WriteKeyPair(t, dir, "client", ca.Client(t, "cdnnode"))
	emptyFile := filepath.Join(dir, "empty.pem")
	if err := os.WriteFile(emptyFile, []byte("no certificate here\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return &transportPKI{
		caFile:     ca.WriteFile(t, dir, "ca"),
		emptyFile:  emptyFile,
		serverCert: ca.Server(t, "origin.test", "127.0.0.1"),
		clientCert: clientCert,
		clientKey:  clientKey,
		roots:      ca.Pool(),
	}
}

// transportPool is a pool with the defaults config.Parse gives, and the
// peers' TLS verified against the system roots.
func transportPool() *config.Pool {
	return &config.Pool{
		Scheme:          "http",
		ConnectTimeout:  config.Duration(5 * time.Second),
		ResponseTimeout: config.Duration(10 * time.Second),
		ReadTimeout:     config.Duration(10 * time.Second),
		WriteTimeout:    config.Duration(10 * time.Second),
		IdleTimeout:     config.Duration(90 * time.Second),
		TCPKeepAlive:    config.Duration(15 * time.Second),
		MaxIdlePerPeer:  4,
		TLSVerify:       true,
		VerifyHostname:  true,
		ALPN:            "h2h1",
	}
}

// newTransport is peerTransport(pc, peer) without its probe connection,
// its idle connections closed when the test ends.
func newTransport(t *testing.T, pc *config.Pool, peer config.Peer) http.RoundTripper {
	t.Helper()
	rt, _, err := peerTransport(pc, peer)
	if err != nil {
		t.Fatalf("peerTransport(%s): %v", peer, err)
	}
	t.Cleanup(func() { closeIdle(rt) })
	return rt
}

// transportGet sends GET url through rt and returns the response, whose
// body it has read into body, or the error.
func transportGet(t *testing.T, rt http.RoundTripper, url string) (resp *http.Response, body string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err = rt.RoundTrip(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}

// protoHandler answers with the request's protocol and the common name of
// the client certificate, if any.
func protoHandler(w http.ResponseWriter, r *http.Request) {
	cn := ""
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		cn = r.TLS.PeerCertificates[0].Subject.CommonName
	}
	io.WriteString(w, r.Proto+" "+cn)
}

// newTLSOrigin starts an https origin serving protoHandler with the PKI's
// server certificate, offering protos by ALPN (nil: no ALPN at all), and
// requiring a client certificate signed by the CA if mTLS.
func newTLSOrigin(t *testing.T, pki *transportPKI, protos []string, mTLS bool) *httptest.Server {
	t.Helper()
	s := httptest.NewUnstartedServer(http.HandlerFunc(protoHandler))
	s.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshakes tests make fail
	s.TLS = &tls.Config{Certificates: []tls.Certificate{pki.serverCert}, NextProtos: protos}
	if protos == nil {
		s.TLS.NextProtos = []string{} // httptest fills in a nil list
	}
	if mTLS {
		s.TLS.ClientAuth = tls.RequireAndVerifyClientCert
		s.TLS.ClientCAs = pki.roots
	}
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

// ptr returns a pointer to v.
func ptr[T any](v T) *T { return &v }

// hostPort is the address an httptest server listens on.
func hostPort(s *httptest.Server) string { return s.Listener.Addr().String() }

func TestPeerTransportHTTP(t *testing.T) {
	s := httptest.NewServer(http.HandlerFunc(protoHandler))
	defer s.Close()
	rt := newTransport(t, transportPool(), config.Peer{Scheme: "http", Addr: hostPort(s), Weight: 1})
	resp, body, err := transportGet(t, rt, s.URL+"/a")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || body != "HTTP/1.1 " {
		t.Errorf("GET = %d %q, want 200 %q", resp.StatusCode, body, "HTTP/1.1 ")
	}
}

// newUnixOrigin starts an origin serving protoHandler on a unix socket in
// the test's temporary directory, with HTTP/2 cleartext too if h2c.
func newUnixOrigin(t *testing.T, h2c bool) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "origin.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	s := httptest.NewUnstartedServer(http.HandlerFunc(protoHandler))
	s.Listener.Close()
	s.Listener = ln
	if h2c {
		s.Config.Protocols = h2cProtocols()
	}
	s.Start()
	t.Cleanup(s.Close)
	return path
}

// h2cProtocols are HTTP/1.1 and HTTP/2 with prior knowledge.
func h2cProtocols() *http.Protocols {
	p := new(http.Protocols)
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	return p
}

func TestPeerTransportCleartext(t *testing.T) {
	h2cOrigin := httptest.NewUnstartedServer(http.HandlerFunc(protoHandler))
	h2cOrigin.Config.Protocols = h2cProtocols()
	h2cOrigin.Start()
	defer h2cOrigin.Close()
	unixH1, unixH2C := newUnixOrigin(t, false), newUnixOrigin(t, true)
	tests := []struct {
		name string
		peer config.Peer
		url  string // the peer's is used whatever its host
		h2c  bool
		want string
	}{
		{name: "unix", peer: config.Peer{Scheme: "unix", Addr: unixH1}, url: "http://localhost/", want: "HTTP/1.1 "},
		{name: "unix h2c", peer: config.Peer{Scheme: "unix", Addr: unixH2C}, url: "http://localhost/", h2c: true, want: "HTTP/2.0 "},
		{name: "h2c", peer: config.Peer{Scheme: "http", Addr: hostPort(h2cOrigin)}, url: h2cOrigin.URL, h2c: true, want: "HTTP/2.0 "},
		{name: "h1 to an h2c origin", peer: config.Peer{Scheme: "http", Addr: hostPort(h2cOrigin)}, url: h2cOrigin.URL, want: "HTTP/1.1 "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pc := transportPool()
			pc.H2C = tt.h2c
			rt := newTransport(t, pc, tt.peer)
			for i := range 2 { // the second request reuses the connection
				if _, body, err := transportGet(t, rt, tt.url); err != nil || body != tt.want {
					t.Errorf("GET #%d = %q, %v; want %q", i+1, body, err, tt.want)
				}
			}
		})
	}
}

func TestPeerTransportTLSVerification(t *testing.T) {
	pki := newTransportPKI(t)
	s := newTLSOrigin(t, pki, []string{"h2", "http/1.1"}, false)
	tests := []struct {
		name    string
		pool    func(*config.Pool)
		peer    config.Peer // Scheme and Addr are set
		wantErr func(error) bool
	}{
		{name: "CA, name from the address", pool: func(p *config.Pool) { p.CAFile = pki.caFile }},
		{name: "CA, SNI", pool: func(p *config.Pool) { p.CAFile = pki.caFile; p.SNI = "origin.test" }},
		{name: "CA, peer SNI over the pool's", pool: func(p *config.Pool) { p.CAFile = pki.caFile; p.SNI = "wrong.test" },
			peer: config.Peer{SNI: "origin.test"}},
		{name: "wrong hostname", pool: func(p *config.Pool) { p.CAFile = pki.caFile; p.SNI = "wrong.test" },
			wantErr: isHostnameError},
		{name: "wrong hostname, verify_hostname false", pool: func(p *config.Pool) {
			p.CAFile, p.SNI, p.VerifyHostname = pki.caFile, "wrong.test", false
		}},
		{name: "wrong hostname, peer verify_hostname false", pool: func(p *config.Pool) { p.CAFile, p.SNI = pki.caFile, "wrong.test" },
			peer: config.Peer{VerifyHostname: ptr(false)}},
		{name: "alternative_cn matches", pool: func(p *config.Pool) {
			p.CAFile, p.SNI, p.AlternativeCN = pki.caFile, "other.test", "origin.test"
		}},
		{name: "alternative_cn does not match", pool: func(p *config.Pool) {
			p.CAFile, p.SNI, p.AlternativeCN = pki.caFile, "other.test", "third.test"
		}, wantErr: isHostnameError},
		{name: "alternative_cn, untrusted chain", pool: func(p *config.Pool) { p.SNI, p.AlternativeCN = "other.test", "origin.test" },
			wantErr: isUnknownAuthority},
		{name: "verify_cert false, no CA", pool: func(p *config.Pool) { p.TLSVerify = false; p.SNI = "wrong.test" }},
		{name: "peer verify_cert false, no CA", pool: func(p *config.Pool) {}, peer: config.Peer{VerifyCert: ptr(false)}},
		{name: "no CA", pool: func(p *config.Pool) {}, wantErr: isUnknownAuthority},
		{name: "no CA, verify_hostname false", pool: func(p *config.Pool) { p.VerifyHostname = false }, wantErr: isUnknownAuthority},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pc := transportPool()
			tt.pool(pc)
			peer := tt.peer
			peer.Scheme, peer.Addr = "https", hostPort(s)
			rt := newTransport(t, pc, peer)
			_, body, err := transportGet(t, rt, s.URL)
			switch {
			case tt.wantErr == nil && err != nil:
				t.Errorf("GET: %v, want success", err)
			case tt.wantErr == nil && body != "HTTP/2.0 ":
				t.Errorf("GET = %q, want %q", body, "HTTP/2.0 ")
			case tt.wantErr != nil && (err == nil || !tt.wantErr(err)):
				t.Errorf("GET: error %v, want a verification error", err)
			}
		})
	}
}

// isHostnameError reports whether err is a certificate's wrong name.
func isHostnameError(err error) bool {
	var h x509.HostnameError
	return errors.As(err, &h)
}

// isUnknownAuthority reports whether err is an untrusted certificate.
func isUnknownAuthority(err error) bool {
	var u x509.UnknownAuthorityError
	return errors.As(err, &u)
}

func TestPeerTransportFileErrors(t *testing.T) {
	pki := newTransportPKI(t)
	tests := []struct {
		name string
		pool func(*config.Pool)
		want string // in the error
	}{
		{name: "CA file without certificate", pool: func(p *config.Pool) { p.CAFile = pki.emptyFile }, want: "no PEM certificate"},
		{name: "CA file gone", pool: func(p *config.Pool) { p.CAFile = filepath.Join(t.TempDir(), "gone.pem") }, want: "ca_file"},
		{name: "client key mismatch", pool: func(p *config.Pool) { p.ClientCert, p.ClientKey = pki.clientCert, pki.caFile }, want: "client certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pc := transportPool()
			tt.pool(pc)
			peer := config.Peer{Scheme: "https", Addr: "127.0.0.1:443", Weight: 1}
			if _, _, err := peerTransport(pc, peer); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("peerTransport: %v, want an error with %q", err, tt.want)
			}
		})
	}
}

func TestPeerTransportMTLS(t *testing.T) {
	pki := newTransportPKI(t)
	s := newTLSOrigin(t, pki, []string{"h2", "http/1.1"}, true)
	for _, alpn := range []string{"h1", "h2"} {
		t.Run(alpn, func(t *testing.T) {
			pc := transportPool()
			pc.CAFile, pc.ALPN = pki.caFile, alpn
			peer := config.Peer{Scheme: "https", Addr: hostPort(s)}
			if _, _, err := transportGet(t, newTransport(t, pc, peer), s.URL); err == nil {
				t.Error("GET without a client certificate succeeded")
			}
			pc.ClientCert, pc.ClientKey = pki.clientCert, pki.clientKey
			_, body, err := transportGet(t, newTransport(t, pc, peer), s.URL)
			if err != nil {
				t.Fatalf("GET with a client certificate: %v", err)
			}
			if !strings.HasSuffix(body, " cdnnode") {
				t.Errorf("GET = %q, want the origin to see client certificate cdnnode", body)
			}
		})
	}
}

func TestPeerTransportALPN(t *testing.T) {
	pki := newTransportPKI(t)
	origins := map[string]*httptest.Server{
		"h2":       newTLSOrigin(t, pki, []string{"h2", "http/1.1"}, false),
		"http/1.1": newTLSOrigin(t, pki, []string{"http/1.1"}, false),
		"none":     newTLSOrigin(t, pki, nil, false),
	}
	tests := []struct {
		alpn, origin string // origin is what it offers
		want         int    // ProtoMajor; 0: the request fails
	}{
		{"h2h1", "h2", 2},
		{"h2h1", "http/1.1", 1},
		{"h2h1", "none", 1},
		{"h1", "h2", 1},
		{"h1", "http/1.1", 1},
		{"h2", "h2", 2},
		{"h2", "http/1.1", 0},
		{"h2", "none", 0},
	}
	for _, tt := range tests {
		t.Run(tt.alpn+" to "+tt.origin, func(t *testing.T) {
			s := origins[tt.origin]
			pc := transportPool()
			pc.CAFile = pki.caFile
			rt := newTransport(t, pc, config.Peer{Scheme: "https", Addr: hostPort(s), ALPN: tt.alpn})
			resp, _, err := transportGet(t, rt, s.URL)
			switch {
			case tt.want == 0 && err == nil:
				t.Errorf("GET succeeded over HTTP/%d, want an error", resp.ProtoMajor)
			case tt.want != 0 && err != nil:
				t.Errorf("GET: %v, want HTTP/%d", err, tt.want)
			case tt.want != 0 && resp.ProtoMajor != tt.want:
				t.Errorf("GET over HTTP/%d, want HTTP/%d", resp.ProtoMajor, tt.want)
			}
		})
	}
}

func TestPeerTransportUpgrade(t *testing.T) {
	pki := newTransportPKI(t)
	// The origin answers an upgrade with 101 and echoes the tunnel, and
	// anything else with its protocol.
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") == "" {
			protoHandler(w, r)
			return
		}
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("%s upgrade: %v", r.Proto, err)
			return
		}
		defer c.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: " + r.Header.Get("Upgrade") + "\r\n\r\n")
		if brw.Flush() == nil {
			io.Copy(c, brw) // until the client closes the tunnel
		}
	}))
	s.TLS = &tls.Config{Certificates: []tls.Certificate{pki.serverCert}, NextProtos: []string{"h2", "http/1.1"}}
	s.StartTLS()
	defer s.Close()
	for _, alpn := range []string{"h2h1", "h1"} {
		t.Run(alpn, func(t *testing.T) {
			pc := transportPool()
			pc.CAFile, pc.ALPN = pki.caFile, alpn
			rt := newTransport(t, pc, config.Peer{Scheme: "https", Addr: hostPort(s)})
			for _, upgrade := range []string{"", "websocket", "x-custom", ""} {
				req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, s.URL, nil)
				if err != nil {
					t.Fatal(err)
				}
				if upgrade != "" {
					req.Header.Set("Connection", "Upgrade")
					req.Header.Set("Upgrade", upgrade)
				}
				resp, err := rt.RoundTrip(req)
				if err != nil {
					t.Fatalf("GET with Upgrade %q: %v", upgrade, err)
				}
				if upgrade == "" {
					resp.Body.Close()
					if want := map[string]int{"h2h1": 2, "h1": 1}[alpn]; resp.ProtoMajor != want {
						t.Errorf("GET over HTTP/%d, want HTTP/%d", resp.ProtoMajor, want)
					}
					continue
				}
				tunnel, ok := resp.Body.(io.ReadWriteCloser)
				if resp.StatusCode != http.StatusSwitchingProtocols || !ok {
					resp.Body.Close()
					t.Fatalf("GET with Upgrade %q = %s over %s, want a 101 tunnel", upgrade, resp.Status, resp.Proto)
				}
				got := make([]byte, 4)
				if _, err := tunnel.Write([]byte("ping")); err != nil {
					t.Fatal(err)
				}
				if _, err := io.ReadFull(tunnel, got); err != nil || string(got) != "ping" {
					t.Errorf("tunnel echoed %q, %v; want \"ping\"", got, err)
				}
				tunnel.Close()
			}
		})
	}
}

func TestPeerTransportBindTo(t *testing.T) {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.RemoteAddr)
	}))
	defer s.Close()
	pc := transportPool()
	pc.BindTo = netip.MustParseAddr("127.0.0.1")
	_, body, err := transportGet(t, newTransport(t, pc, config.Peer{Scheme: "http", Addr: hostPort(s)}), s.URL)
	if err != nil {
		t.Fatal(err)
	}
	if host, _, _ := net.SplitHostPort(body); host != "127.0.0.1" {
		t.Errorf("origin saw the request from %q, want 127.0.0.1", body)
	}
	// An IPv6 local address cannot reach an IPv4 peer: proof that it is used.
	pc.BindTo = netip.MustParseAddr("::1")
	if _, _, err := transportGet(t, newTransport(t, pc, config.Peer{Scheme: "http", Addr: hostPort(s)}), s.URL); err == nil {
		t.Error("GET bound to ::1 reached 127.0.0.1")
	}
	// unix peers ignore it.
	path := newUnixOrigin(t, false)
	if _, _, err := transportGet(t, newTransport(t, pc, config.Peer{Scheme: "unix", Addr: path}), "http://localhost/"); err != nil {
		t.Errorf("GET to a unix peer with bind_to set: %v", err)
	}
}

// newH2COnlyOrigin starts an origin that speaks HTTP/2 with prior
// knowledge and nothing else, serving h.
func newH2COnlyOrigin(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	s := httptest.NewUnstartedServer(h)
	s.Config.ErrorLog = log.New(io.Discard, "", 0) // HTTP/1.1 clients are refused
	s.Config.Protocols = new(http.Protocols)
	s.Config.Protocols.SetUnencryptedHTTP2(true)
	s.Start()
	t.Cleanup(s.Close)
	return s
}

// remoteHost answers with the host the request came from.
func remoteHost(w http.ResponseWriter, r *http.Request) {
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	io.WriteString(w, host)
}

// TestPeerTransportPeerOverrides builds, from one pool's configuration,
// the transports of peers that override the pool's options, beside peers
// that take them: a peer with its own CA and client certificate (mTLS)
// beside a plain one, an h2c peer beside an HTTP/1.1 one, a peer with its
// own bind address and one without keep-alive.
func TestPeerTransportPeerOverrides(t *testing.T) {
	pki := newTransportPKI(t)
	mtls := newTLSOrigin(t, pki, []string{"h2", "http/1.1"}, true)
	newOrigin := func(h http.HandlerFunc, conns *connCounter) *httptest.Server {
		s := httptest.NewUnstartedServer(h)
		s.Config.Protocols = h2cProtocols()
		if conns != nil {
			s.Config.ConnState = conns.track
		}
		s.Start()
		t.Cleanup(s.Close)
		return s
	}
	var keptConns, oneShotConns connCounter
	plain, h2cPeer, h1Peer := newOrigin(protoHandler, nil), newOrigin(protoHandler, nil), newOrigin(protoHandler, nil)
	boundByPool, boundByPeer := newOrigin(remoteHost, nil), newOrigin(remoteHost, nil)
	kept, oneShot := newOrigin(protoHandler, &keptConns), newOrigin(protoHandler, &oneShotConns)
	peer := func(s *httptest.Server, scheme string, keys ...string) string {
		return "[[pools.p.peer]]\naddr = \"" + scheme + "://" + hostPort(s) + "\"\n" + strings.Join(keys, "\n")
	}
	pc := poolConfig(t, []string{hostPort(plain), hostPort(h1Peer), hostPort(boundByPool), hostPort(kept)},
		`bind_to = "127.0.0.1"`,
		peer(mtls, "https", fmt.Sprintf("ca_file = %q", pki.caFile), fmt.Sprintf("client_cert = %q", pki.clientCert), fmt.Sprintf("client_key = %q", pki.clientKey)),
		peer(h2cPeer, "http", "h2c = true"),
		peer(boundByPeer, "http", `bind_to = "127.0.0.2"`),
		peer(oneShot, "http", "max_idle_per_peer = 0"),
	)
	want := map[string]string{ // by peer: the body of each GET
		hostPort(plain):       "HTTP/1.1 ",
		hostPort(h1Peer):      "HTTP/1.1 ",
		hostPort(boundByPool): "127.0.0.1",
		hostPort(kept):        "HTTP/1.1 ",
		hostPort(mtls):        "HTTP/2.0 cdnnode",
		hostPort(h2cPeer):     "HTTP/2.0 ",
		hostPort(boundByPeer): "127.0.0.2",
		hostPort(oneShot):     "HTTP/1.1 ",
	}
	if len(pc.PeerList) != len(want) {
		t.Fatalf("the pool has %d peers, want %d", len(pc.PeerList), len(want))
	}
	for _, cp := range pc.PeerList {
		t.Run(cp.String(), func(t *testing.T) {
			rt := newTransport(t, pc, cp)
			for i := range 3 { // connections are kept, or not, across requests
				if _, body, err := transportGet(t, rt, cp.String()+"/"); err != nil || body != want[cp.Addr] {
					t.Fatalf("GET #%d = %q, %v; want %q", i+1, body, err, want[cp.Addr])
				}
			}
		})
	}
	if got := [2]int64{keptConns.opened.Load(), oneShotConns.opened.Load()}; got != [2]int64{1, 3} {
		t.Errorf("connections for 3 requests: %d with the pool's keep-alive, %d with max_idle_per_peer = 0; want 1 and 3", got[0], got[1])
	}
	// The mTLS peer without its overrides: the pool trusts the system
	// roots and has no client certificate.
	bare := pc.PeerList[slices.IndexFunc(pc.PeerList, func(cp config.Peer) bool { return cp.Scheme == "https" })]
	bare.CAFile, bare.ClientCert, bare.ClientKey = "", "", ""
	if _, _, err := transportGet(t, newTransport(t, pc, bare), bare.String()+"/"); !isUnknownAuthority(err) {
		t.Errorf("GET to %s without its ca_file: %v, want an unknown authority", bare, err)
	}
}

// TestPoolHealthProbesPeerOptions proves that health probes reach each
// peer as its requests do: an h2c-only peer, and an mTLS peer that only
// its own ca_file vouches for, probed from its own bind address, stay up.
func TestPoolHealthProbesPeerOptions(t *testing.T) {
	pki := newTransportPKI(t)
	var h2cProbes, tlsProbes atomic.Int64
	probeFrom := make(chan string, 64)
	h2cOrigin := newH2COnlyOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			h2cProbes.Add(1)
		}
		io.WriteString(w, "ok "+r.Proto)
	}))
	tlsOrigin := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			tlsProbes.Add(1)
			host, _, _ := net.SplitHostPort(r.RemoteAddr)
			select {
			case probeFrom <- host:
			default: // the test reads the first few
			}
		}
		io.WriteString(w, "ok "+r.Proto)
	}))
	tlsOrigin.Config.ErrorLog = log.New(io.Discard, "", 0)
	tlsOrigin.TLS = &tls.Config{
		Certificates: []tls.Certificate{pki.serverCert}, NextProtos: []string{"h2", "http/1.1"},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pki.roots,
	}
	tlsOrigin.StartTLS()
	t.Cleanup(tlsOrigin.Close)
	pc := poolConfig(t, nil,
		"[[pools.p.peer]]\naddr = \"http://"+hostPort(h2cOrigin)+"\"\nh2c = true",
		"[[pools.p.peer]]\naddr = \"https://"+hostPort(tlsOrigin)+"\"\nbind_to = \"127.0.0.2\"\n"+
			fmt.Sprintf("ca_file = %q\nclient_cert = %q\nclient_key = %q", pki.caFile, pki.clientCert, pki.clientKey),
		"[pools.p.health]\nkind = \"http\"\npath = \"/health\"\nexpect_body = \"ok\"\ninterval = \"50ms\"\ntimeout = \"50ms\"\nrise = 1\nfall = 2")
	p := newPool(t, "probes", pc)
	runPool(t, p)
	testkit.WaitFor(t, "three probes of each peer", func() bool { return h2cProbes.Load() >= 3 && tlsProbes.Load() >= 3 })
	for _, peer := range []string{"http://" + hostPort(h2cOrigin), "https://" + hostPort(tlsOrigin)} {
		if up := value(t, p.m.OriginPeerUp.WithLabelValues("probes", peer)); up != 1 {
			t.Errorf("cdnnode_origin_peer_up of %s = %v, want 1", peer, up)
		}
	}
	if from := <-probeFrom; from != "127.0.0.2" {
		t.Errorf("the mTLS peer was probed from %s, want its bind_to, 127.0.0.2", from)
	}
	seen := map[string]bool{}
	for range 4 { // round robin: both peers, over HTTP/2
		body, err := bodyOf(p, 0)
		if err != nil {
			t.Fatal(err)
		}
		seen[body] = true
	}
	if !seen["ok HTTP/2.0"] || len(seen) != 1 {
		t.Errorf("GETs through the pool answered %v, want only \"ok HTTP/2.0\"", seen)
	}
}

// stalledListener accepts connections on 127.0.0.1 and, if handshake,
// completes a TLS handshake with cert, then neither reads nor writes until
// the test ends. It returns the listener's address.
func stalledListener(t *testing.T, handshake bool, cert tls.Certificate) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex // guards conns
		conns []net.Conn
		wg    sync.WaitGroup
	)
	wg.Go(func() {
		for { // until the listener is closed
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			if handshake {
				wg.Go(func() { tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}}).Handshake() })
			}
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

func TestPeerTransportWriteTimeout(t *testing.T) {
	pki := newTransportPKI(t)
	tests := []struct {
		name   string
		scheme string
	}{
		{name: "http", scheme: "http"},
		{name: "https", scheme: "https"}, // the timeout applies under TLS
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := stalledListener(t, tt.scheme == "https", pki.serverCert)
			pc := transportPool()
			pc.CAFile, pc.ALPN = pki.caFile, "h1"
			pc.WriteTimeout = config.Duration(100 * time.Millisecond)
			rt := newTransport(t, pc, config.Peer{Scheme: tt.scheme, Addr: addr})
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			// Far more than the socket buffers of both ends hold.
			body := io.LimitReader(zeros{}, 64<<20)
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, tt.scheme+"://"+addr+"/", body)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := rt.RoundTrip(req)
			if err == nil {
				resp.Body.Close()
				t.Fatal("POST to a peer that never reads succeeded")
			}
			if !errors.Is(err, os.ErrDeadlineExceeded) || ctx.Err() != nil {
				t.Errorf("POST: %v, want a write deadline error", err)
			}
		})
	}
}

// zeros reads as an endless run of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestPeerTransportConnectTimeouts(t *testing.T) {
	addr := stalledListener(t, false, tls.Certificate{})
	short := config.Duration(100 * time.Millisecond)
	tests := []struct {
		name           string
		connect, total config.Duration
	}{
		{name: "total_connect_timeout", connect: config.Duration(5 * time.Second), total: short},
		{name: "connect_timeout bounds the handshake", connect: short},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pc := transportPool()
			pc.ConnectTimeout, pc.TotalConnectTimeout = tt.connect, tt.total
			_, _, err := transportGet(t, newTransport(t, pc, config.Peer{Scheme: "https", Addr: addr}), "https://"+addr+"/")
			if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "tls handshake") {
				t.Errorf("GET: %v, want the TLS handshake's deadline", err)
			}
		})
	}
}

func TestPeerTransportCloseIdle(t *testing.T) {
	closed := make(chan struct{}, 1)
	s := httptest.NewUnstartedServer(http.HandlerFunc(protoHandler))
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateClosed {
			closed <- struct{}{}
		}
	}
	s.Start()
	defer s.Close()
	rt := newTransport(t, transportPool(), config.Peer{Scheme: "http", Addr: hostPort(s)})
	if _, _, err := transportGet(t, rt, s.URL); err != nil {
		t.Fatal(err)
	}
	closeIdle(rt)
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the idle connection is still open 10s after closeIdle")
	}
}

func TestPeerTransportSettings(t *testing.T) {
	tests := []struct {
		name      string
		pool      func(*config.Pool)
		peer      config.Peer
		h1, h2    bool // protocols offered
		h2c       bool
		keepAlive bool
	}{
		{name: "http", pool: func(*config.Pool) {}, peer: config.Peer{Scheme: "http", Addr: "10.0.0.1:80"}, h1: true, keepAlive: true},
		{name: "http, h2c", pool: func(p *config.Pool) { p.H2C = true }, peer: config.Peer{Scheme: "http", Addr: "10.0.0.1:80"}, h2c: true, keepAlive: true},
		{name: "unix, h2c", pool: func(p *config.Pool) { p.H2C = true }, peer: config.Peer{Scheme: "unix", Addr: "/run/o.sock"}, h2c: true, keepAlive: true},
		{name: "https h2h1", pool: func(*config.Pool) {}, peer: config.Peer{Scheme: "https", Addr: "10.0.0.1:443"}, h1: true, h2: true, keepAlive: true},
		{name: "https h2c ignored", pool: func(p *config.Pool) { p.H2C = true }, peer: config.Peer{Scheme: "https", Addr: "10.0.0.1:443"}, h1: true, h2: true, keepAlive: true},
		{name: "https peer h1", pool: func(*config.Pool) {}, peer: config.Peer{Scheme: "https", Addr: "10.0.0.1:443", ALPN: "h1"}, h1: true, keepAlive: true},
		{name: "https pool h2", pool: func(p *config.Pool) { p.ALPN = "h2" }, peer: config.Peer{Scheme: "https", Addr: "10.0.0.1:443"}, h2: true, keepAlive: true},
		{name: "no idle connections", pool: func(p *config.Pool) { p.MaxIdlePerPeer = 0 }, peer: config.Peer{Scheme: "http", Addr: "10.0.0.1:80"}, h1: true},
		{name: "peer h2c", pool: func(*config.Pool) {}, peer: config.Peer{Scheme: "http", Addr: "10.0.0.1:80", H2C: ptr(true)}, h2c: true, keepAlive: true},
		{name: "peer h2c off", pool: func(p *config.Pool) { p.H2C = true }, peer: config.Peer{Scheme: "unix", Addr: "/run/o.sock", H2C: ptr(false)}, h1: true, keepAlive: true},
		{name: "peer without idle connections", pool: func(*config.Pool) {}, peer: config.Peer{Scheme: "http", Addr: "10.0.0.1:80", MaxIdlePerPeer: ptr(0)}, h1: true},
		{name: "peer idle connections", pool: func(p *config.Pool) { p.MaxIdlePerPeer = 0 },
			peer: config.Peer{Scheme: "https", Addr: "10.0.0.1:443", MaxIdlePerPeer: ptr(7), IdleTimeout: ptr(config.Duration(time.Second))}, h1: true, h2: true, keepAlive: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pc := transportPool()
			tt.pool(pc)
			var tr *http.Transport
			switch rt := newTransport(t, pc, tt.peer).(type) {
			case *http.Transport:
				tr = rt
			case *h1Upgrades:
				if p := rt.h1.Protocols; !p.HTTP1() || p.HTTP2() || p.UnencryptedHTTP2() {
					t.Errorf("Protocols for upgrades = %v, want HTTP1 alone", p)
				}
				tr = rt.Transport
			default:
				t.Fatalf("peerTransport returned a %T", rt)
			}
			p := tr.Protocols
			if p.HTTP1() != tt.h1 || p.HTTP2() != tt.h2 || p.UnencryptedHTTP2() != tt.h2c {
				t.Errorf("Protocols = %v, want HTTP1 %v, HTTP2 %v, UnencryptedHTTP2 %v", p, tt.h1, tt.h2, tt.h2c)
			}
			if tr.DisableKeepAlives == tt.keepAlive {
				t.Errorf("DisableKeepAlives = %v, want %v", tr.DisableKeepAlives, !tt.keepAlive)
			}
			o := pc.PeerOptions(tt.peer)
			if tr.Proxy != nil || !tr.DisableCompression || tr.MaxIdleConnsPerHost != o.MaxIdlePerPeer ||
				tr.IdleConnTimeout != o.IdleTimeout.D() || tr.ResponseHeaderTimeout != pc.ResponseTimeout.D() {
				t.Errorf("Proxy set %v, DisableCompression %v, MaxIdleConnsPerHost %d, IdleConnTimeout %v, ResponseHeaderTimeout %v; want false, true, %d, %v, %v",
					tr.Proxy != nil, tr.DisableCompression, tr.MaxIdleConnsPerHost, tr.IdleConnTimeout, tr.ResponseHeaderTimeout,
					o.MaxIdlePerPeer, o.IdleTimeout.D(), pc.ResponseTimeout.D())
			}
		})
	}
}

func TestPeerTransportResponseTimeout(t *testing.T) {
	pki := newTransportPKI(t)
	// The handler holds the header back until the request is abandoned.
	stall := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	tlsOrigin := httptest.NewUnstartedServer(stall)
	tlsOrigin.TLS = &tls.Config{Certificates: []tls.Certificate{pki.serverCert}, NextProtos: []string{"h2", "http/1.1"}}
	tlsOrigin.StartTLS()
	defer tlsOrigin.Close()
	h2cOrigin := httptest.NewUnstartedServer(stall)
	h2cOrigin.Config.Protocols = h2cProtocols()
	h2cOrigin.Start()
	defer h2cOrigin.Close()
	tests := []struct {
		name string
		s    *httptest.Server
		peer config.Peer
		h2c  bool
	}{
		{name: "h1", s: tlsOrigin, peer: config.Peer{Scheme: "https", ALPN: "h1"}},
		{name: "h2", s: tlsOrigin, peer: config.Peer{Scheme: "https", ALPN: "h2"}},
		{name: "h2c", s: h2cOrigin, peer: config.Peer{Scheme: "http"}, h2c: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pc := transportPool()
			pc.CAFile, pc.H2C = pki.caFile, tt.h2c
			pc.ResponseTimeout = config.Duration(100 * time.Millisecond)
			peer := tt.peer
			peer.Addr = hostPort(tt.s)
			_, _, err := transportGet(t, newTransport(t, pc, peer), tt.s.URL)
			if err == nil || !strings.Contains(err.Error(), "timeout awaiting response headers") {
				t.Errorf("GET: %v, want the response header timeout", err)
			}
		})
	}
}

func TestPeerDialerOptions(t *testing.T) {
	sec := func(n int) *config.Duration { d := config.Duration(time.Duration(n) * time.Second); return &d }
	tests := []struct {
		name                           string
		pool                           func(*config.Pool)
		peer                           config.Peer
		network, local                 string // local: LocalAddr, "" for none
		keepAlive, connect, total, wto time.Duration
	}{
		{name: "defaults", pool: func(*config.Pool) {}, peer: config.Peer{Scheme: "http", Addr: "10.0.0.1:80"},
			network: "tcp", keepAlive: 15 * time.Second, connect: 5 * time.Second, wto: 10 * time.Second},
		{name: "keepalive off", pool: func(p *config.Pool) { p.TCPKeepAlive = 0 }, peer: config.Peer{Scheme: "http", Addr: "10.0.0.1:80"},
			network: "tcp", keepAlive: -1, connect: 5 * time.Second, wto: 10 * time.Second},
		{name: "peer overrides", pool: func(*config.Pool) {},
			peer:    config.Peer{Scheme: "https", Addr: "10.0.0.1:443", ConnectTimeout: sec(1), TotalConnectTimeout: sec(2), WriteTimeout: sec(3)},
			network: "tcp", keepAlive: 15 * time.Second, connect: time.Second, total: 2 * time.Second, wto: 3 * time.Second},
		{name: "no timeouts", pool: func(p *config.Pool) { p.ConnectTimeout, p.WriteTimeout = 0, 0 }, peer: config.Peer{Scheme: "http", Addr: "10.0.0.1:80"},
			network: "tcp", keepAlive: 15 * time.Second},
		{name: "bind_to", pool: func(p *config.Pool) { p.BindTo = netip.MustParseAddr("10.0.0.9") }, peer: config.Peer{Scheme: "http", Addr: "10.0.0.1:80"},
			network: "tcp", local: "10.0.0.9:0", keepAlive: 15 * time.Second, connect: 5 * time.Second, wto: 10 * time.Second},
		{name: "bind_to, unix", pool: func(p *config.Pool) { p.BindTo = netip.MustParseAddr("10.0.0.9") }, peer: config.Peer{Scheme: "unix", Addr: "/run/o.sock"},
			network: "unix", keepAlive: 15 * time.Second, connect: 5 * time.Second, wto: 10 * time.Second},
		{name: "peer bind_to and keepalive", pool: func(p *config.Pool) { p.BindTo = netip.MustParseAddr("10.0.0.9") },
			peer:    config.Peer{Scheme: "http", Addr: "10.0.0.1:80", BindTo: netip.MustParseAddr("fd00::9"), TCPKeepAlive: sec(40)},
			network: "tcp", local: "[fd00::9]:0", keepAlive: 40 * time.Second, connect: 5 * time.Second, wto: 10 * time.Second},
		{name: "peer keepalive off", pool: func(*config.Pool) {}, peer: config.Peer{Scheme: "http", Addr: "10.0.0.1:80", TCPKeepAlive: sec(0)},
			network: "tcp", keepAlive: -1, connect: 5 * time.Second, wto: 10 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pc := transportPool()
			tt.pool(pc)
			d := newPeerDialer(tt.peer, pc.PeerOptions(tt.peer))
			local := ""
			if d.LocalAddr != nil {
				local = d.LocalAddr.String()
			}
			got := []any{d.network, d.addr, local, d.KeepAlive, d.Timeout, d.total, d.handshake, d.write}
			want := []any{tt.network, tt.peer.Addr, tt.local, tt.keepAlive, tt.connect, tt.total, tt.connect, tt.wto}
			for i := range got {
				if got[i] != want[i] {
					t.Errorf("newPeerDialer: network, addr, local, keep-alive, connect, total, handshake, write = %v, want %v", got, want)
					break
				}
			}
		})
	}
}

// BenchmarkWriteTimeoutConn measures the cost of the write timeout: 4 KiB
// writes to a loopback TCP connection whose other end drains it, with and
// without the deadline set before each Write.
func BenchmarkWriteTimeoutConn(b *testing.B) {
	for _, wrap := range []bool{false, true} {
		name := "plain"
		if wrap {
			name = "write_timeout"
		}
		b.Run(name, func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			done := make(chan struct{})
			go func() {
				defer close(done)
				c, err := ln.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				io.Copy(io.Discard, c)
			}()
			var c net.Conn
			if c, err = net.Dial("tcp", ln.Addr().String()); err != nil {
				b.Fatal(err)
			}
			if wrap {
				c = &writeTimeoutConn{Conn: c, timeout: 30 * time.Second}
			}
			buf := make([]byte, 4<<10)
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Write(buf); err != nil {
					b.Fatal(err)
				}
			}
			c.Close()
			<-done
		})
	}
}
