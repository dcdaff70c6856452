package worker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pires/go-proxyproto"
	"golang.org/x/net/http2"

	"github.com/cdnnode/cdnnode/config"
	"github.com/cdnnode/cdnnode/h1"
	"github.com/cdnnode/cdnnode/internal/testkit"
	"github.com/cdnnode/cdnnode/metrics"
)

// fixture is a Group serving on one plain and one TLS listener of
// 127.0.0.1. Its handler answers "/" with what it saw of the request,
// "PROTO REMOTEADDR tls=BOOL", answers the requests the HTTP/1 guard
// rejected with the status the guard chose, holds "/slow" until release
// is closed, and "/wait" until then or until the request is cancelled.
type fixture struct {
	g       *Group
	m       *metrics.Metrics
	plain   string // host:port
	tls     string
	ca      *testkit.CA
	release chan struct{}
	entered chan struct{} // a value per /slow request, while there is room
}

// newFixture starts a Group of two workers; edit, if not nil, changes its
// configuration first, and admit, if not nil, replaces "admit everyone".
// The group is closed, /slow released first, when the test ends.
func newFixture(t *testing.T, edit func(*config.Server), admit func(netip.Addr) bool) *fixture {
	t.Helper()
	ca := testkit.NewCA(t)
	certFile, keyFile := testkit.WriteKeyPair(t, t.TempDir(), "server", ca.Server(t, "127.0.0.1"))
	cfg := config.Server{
		Listen:               []string{"127.0.0.1:0"},
		TLS:                  []config.TLSListener{{Listen: "127.0.0.1:0", Cert: certFile, Key: keyFile}},
		H2C:                  true,
		ReadHeaderTimeout:    config.Duration(5 * time.Second),
		IdleTimeout:          config.Duration(30 * time.Second),
		MaxHeaderBytes:       8 << 10,
		MaxURLBytes:          1 << 10,
		MaxHeaderCount:       100,
		MaxConcurrentStreams: 100,
		Workers:              2,
	}
	if edit != nil {
		edit(&cfg)
	}
	if admit == nil {
		admit = func(netip.Addr) bool { return true }
	}
	f := &fixture{ca: ca, release: make(chan struct{}), entered: make(chan struct{}, 64)}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if v := r.Header.Get(h1.RejectField); v != "" {
			if status, reason, ok := h1.ParseReject(v, f.g.RejectToken()); ok {
				http.Error(w, "rejected: "+reason, status)
				return
			}
		}
		fmt.Fprintf(w, "%s %s tls=%t", r.Proto, r.RemoteAddr, r.TLS != nil)
	})
	mux.HandleFunc("/wait", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-f.release:
			io.WriteString(w, "done")
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case f.entered <- struct{}{}:
		default:
		}
		<-f.release // ignores r.Context(): work that takes its time, as an origin fetch does
		io.WriteString(w, "done")
	})
	f.m = metrics.New(cfg.Workers, func() []metrics.CacheStats { return nil })
	f.g = New(cfg, func(int) http.Handler { return mux }, nil, admit, f.m, slog.New(slog.DiscardHandler))
	if err := f.g.Listen(); err != nil {
		t.Fatal(err)
	}
	f.g.Serve()
	t.Cleanup(f.g.Close)
	t.Cleanup(func() {
		select {
		case <-f.release:
		default:
			close(f.release)
		}
	})
	addrs := f.g.Addrs()
	f.plain, f.tls = addrs[0].String(), addrs[1].String()
	return f
}

// client returns a client speaking proto ("h1", "h2c", "h1-tls" or
// "h2-tls") to the fixture, and the base URL to use with it.
func (f *fixture) client(t *testing.T, proto string) (*http.Client, string) {
	t.Helper()
	tc := &tls.Config{RootCAs: f.ca.Pool()}
	var rt http.RoundTripper
	base := "http://" + f.plain
	switch proto {
	case "h1":
		rt = &http.Transport{}
	case "h2c":
		rt = &http2.Transport{AllowHTTP: true, DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			return new(net.Dialer).DialContext(ctx, network, addr)
		}}
	case "h1-tls":
		rt, base = &http.Transport{TLSClientConfig: tc}, "https://"+f.tls
	case "h2-tls":
		rt, base = &http2.Transport{TLSClientConfig: tc}, "https://"+f.tls
	default:
		t.Fatalf("unknown protocol %q", proto)
	}
	t.Cleanup(func() { rt.(interface{ CloseIdleConnections() }).CloseIdleConnections() })
	return &http.Client{Transport: rt, Timeout: 10 * time.Second}, base
}

// get fetches url and returns the status and body.
func get(c *http.Client, url string) (int, string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// TestProtocols: each listener speaks what it offers, the handler sees
// the client's address and, over TLS, r.TLS, whichever server answered.
func TestProtocols(t *testing.T) {
	f := newFixture(t, nil, nil)
	tests := []struct {
		proto string
		want  string // the body's protocol and tls=
	}{
		{"h1", "HTTP/1.1 tls=false"},
		{"h2c", "HTTP/2.0 tls=false"},
		{"h1-tls", "HTTP/1.1 tls=true"},
		{"h2-tls", "HTTP/2.0 tls=true"},
	}
	for _, tt := range tests {
		t.Run(tt.proto, func(t *testing.T) {
			c, base := f.client(t, tt.proto)
			for range 3 { // a reused connection too
				code, body, err := get(c, base+"/")
				if err != nil || code != http.StatusOK {
					t.Fatalf("GET: %d, %v", code, err)
				}
				proto, rest, _ := strings.Cut(body, " ")
				remote, tlsSeen, _ := strings.Cut(rest, " ")
				if got := proto + " " + tlsSeen; got != tt.want {
					t.Errorf("handler saw %q, want %q", got, tt.want)
				}
				if ap, err := netip.ParseAddrPort(remote); err != nil || ap.Addr() != netip.MustParseAddr("127.0.0.1") {
					t.Errorf("RemoteAddr %q, want 127.0.0.1:port", remote)
				}
			}
		})
	}
	if got := f.metric(t, "cdnnode_worker_connections_accepted_total", ""); got < int64(len(tests)) {
		t.Errorf("accepted connections counted: %d, want at least %d", got, len(tests))
	}
}

// metric scrapes the fixture's metrics and returns the sum of the samples
// of name whose labels include label (`reason="..."`, or "" for any).
// denied is how many connections the group closed at accept, by its
// metric.
func (f *fixture) denied(t *testing.T) int64 {
	t.Helper()
	return f.metric(t, "cdnnode_rejections_total", `reason="connection-denied"`)
}

func (f *fixture) metric(t *testing.T, name, label string) int64 {
	t.Helper()
	rec := httptest.NewRecorder()
	f.m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	var n int64
	for line := range strings.Lines(rec.Body.String()) {
		labels, ok := strings.CutPrefix(line, name+"{")
		if !ok || !strings.Contains(labels, label) {
			continue
		}
		_, count, _ := strings.Cut(labels, "} ")
		c, err := strconv.ParseInt(strings.TrimSpace(count), 10, 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		n += c
	}
	return n
}

// TestAdmitAtAccept: a client admit refuses is closed before TLS, on
// either listener, with not one byte written to it, and counted; admitted
// clients are served as ever.
func TestAdmitAtAccept(t *testing.T) {
	denied := netip.MustParseAddr("127.0.0.1")
	f := newFixture(t, nil, func(a netip.Addr) bool { return a != denied })
	for _, addr := range []string{f.plain, f.tls} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("%s: read %d bytes, %v; want the connection closed with nothing written", addr, n, err)
		}
		c.Close()
	}
	if _, err := tls.Dial("tcp", f.tls, &tls.Config{RootCAs: f.ca.Pool()}); err == nil {
		t.Error("TLS handshake of a refused client succeeded")
	}
	if got := f.denied(t); got < 3 {
		t.Errorf(`cdnnode_rejections_total{reason="connection-denied"} = %d, want at least 3`, got)
	}

	open := newFixture(t, nil, func(a netip.Addr) bool { return a != netip.MustParseAddr("192.0.2.1") })
	c, base := open.client(t, "h2-tls")
	if code, _, err := get(c, base+"/"); err != nil || code != http.StatusOK {
		t.Errorf("admitted client: %d, %v", code, err)
	}
	if got := open.denied(t); got != 0 {
		t.Errorf("%d connections denied with every client admitted, want 0", got)
	}
}

// TestStalledHandshakeDoesNotBlockAccept: a client that connects to the
// TLS listener and says nothing holds up no one else on its worker.
func TestStalledHandshakeDoesNotBlockAccept(t *testing.T) {
	f := newFixture(t, func(c *config.Server) { c.Workers = 1 }, nil)
	for range 3 {
		c, err := net.Dial("tcp", f.tls)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	c, base := f.client(t, "h2-tls")
	if code, _, err := get(c, base+"/"); err != nil || code != http.StatusOK {
		t.Errorf("GET behind stalled handshakes: %d, %v", code, err)
	}
}

// TestHandshakeTimeout: a connection that never finishes its TLS
// handshake is closed after the handshake timeout.
func TestHandshakeTimeout(t *testing.T) {
	f := newFixture(t, func(c *config.Server) { c.ReadHeaderTimeout = config.Duration(200 * time.Millisecond) }, nil)
	for _, addr := range []string{f.tls, f.plain} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.ReadAll(c); err != nil {
			t.Errorf("%s: silent connection not closed by the server: %v", addr, err)
		}
		c.Close()
	}
}

// proxyHeader is a PROXY header of version v from src to dst.
func proxyHeader(t *testing.T, v byte, src, dst string) []byte {
	t.Helper()
	h := proxyproto.HeaderProxyFromAddrs(v, net.TCPAddrFromAddrPort(netip.MustParseAddrPort(src)), net.TCPAddrFromAddrPort(netip.MustParseAddrPort(dst)))
	b, err := h.Format()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestProxyProtocol: with proxy_protocol on, the handler sees the client
// the header names, over HTTP/1 and HTTP/2, plain or TLS; a connection
// without a valid header, or with the other version than the one
// expected, is closed unanswered.
func TestProxyProtocol(t *testing.T) {
	const client = "203.0.113.7:4242"
	local := proxyproto.Header{Version: 2, Command: proxyproto.LOCAL}
	localV2, err := local.Format()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		mode   string
		header []byte // nil: none
		want   string // the address the handler sees; "" = closed unanswered
	}{
		{"v1", "v1", proxyHeader(t, 1, client, "127.0.0.1:80"), client},
		{"v2", "v2", proxyHeader(t, 2, client, "127.0.0.1:80"), client},
		{"v2 IPv6", "v2", proxyHeader(t, 2, "[2001:db8::1]:443", "[::1]:80"), "[2001:db8::1]:443"},
		{"any takes v1", "any", proxyHeader(t, 1, client, "127.0.0.1:80"), client},
		{"any takes v2", "any", proxyHeader(t, 2, client, "127.0.0.1:80"), client},
		{"LOCAL is the proxy itself", "v2", localV2, "127.0.0.1"},
		{"missing", "any", nil, ""},
		{"v2 where v1 is expected", "v1", proxyHeader(t, 2, client, "127.0.0.1:80"), ""},
		{"v1 where v2 is expected", "v2", proxyHeader(t, 1, client, "127.0.0.1:80"), ""},
		{"garbage", "any", []byte("PROXY TCP4 nonsense\r\n"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, func(c *config.Server) {
				c.ProxyProtocol = tt.mode
				c.TLS[0].ProxyProtocol = tt.mode
				c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
				c.ReadHeaderTimeout = config.Duration(time.Second)
			}, nil)
			for _, proto := range []string{"h1", "h2c", "h1-tls", "h2-tls"} {
				got := f.viaProxy(t, proto, tt.header)
				if tt.want == "" {
					if got != "" {
						t.Errorf("%s: answered %q, want the connection closed", proto, got)
					}
					continue
				}
				_, rest, _ := strings.Cut(got, " ")
				remote, _, _ := strings.Cut(rest, " ")
				if remote != tt.want && !(tt.want == "127.0.0.1" && strings.HasPrefix(remote, "127.0.0.1:")) {
					t.Errorf("%s: handler saw RemoteAddr %q (body %q), want %s", proto, remote, got, tt.want)
				}
			}
		})
	}
}

// viaProxy sends header on a new connection to the fixture, then one GET
// in proto, and returns the body, or "" when the connection is closed
// without an answer.
func (f *fixture) viaProxy(t *testing.T, proto string, header []byte) string {
	t.Helper()
	addr := f.plain
	if strings.HasSuffix(proto, "-tls") {
		addr = f.tls
	}
	dial := func(ctx context.Context, network, _ string) (net.Conn, error) {
		c, err := new(net.Dialer).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		if _, err := c.Write(header); err != nil {
			c.Close()
			return nil, err
		}
		return c, nil
	}
	tc := &tls.Config{RootCAs: f.ca.Pool(), ServerName: "127.0.0.1"}
	var rt http.RoundTripper
	switch proto {
	case "h1":
		rt = &http.Transport{DialContext: dial, DisableKeepAlives: true}
	case "h1-tls":
		rt = &http.Transport{DialContext: dial, TLSClientConfig: tc, DisableKeepAlives: true}
	case "h2c":
		rt = &http2.Transport{AllowHTTP: true, DialTLSContext: func(ctx context.Context, network, a string, _ *tls.Config) (net.Conn, error) {
			return dial(ctx, network, a)
		}}
	case "h2-tls":
		rt = &http2.Transport{DialTLSContext: func(ctx context.Context, network, a string, _ *tls.Config) (net.Conn, error) {
			c, err := dial(ctx, network, a)
			if err != nil {
				return nil, err
			}
			tc := tls.Client(c, &tls.Config{RootCAs: f.ca.Pool(), ServerName: "127.0.0.1", NextProtos: []string{"h2"}})
			if err := tc.HandshakeContext(ctx); err != nil {
				c.Close()
				return nil, err
			}
			return tc, nil
		}}
	}
	defer rt.(interface{ CloseIdleConnections() }).CloseIdleConnections()
	scheme := "http"
	if strings.HasSuffix(proto, "-tls") {
		scheme = "https"
	}
	c := &http.Client{Transport: rt, Timeout: 10 * time.Second}
	code, body, err := get(c, scheme+"://"+addr+"/")
	if err != nil {
		return ""
	}
	if code != http.StatusOK {
		t.Errorf("%s: status %d, body %q", proto, code, body)
	}
	return body
}

// TestUntrustedProxyRefused: with proxy_protocol on, a peer outside the
// trusted proxies is closed at accept, header or not, and counted.
func TestUntrustedProxyRefused(t *testing.T) {
	f := newFixture(t, func(c *config.Server) {
		c.ProxyProtocol = "any"
		c.TLS[0].ProxyProtocol = "any"
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	}, nil)
	for _, proto := range []string{"h1", "h2-tls"} {
		if got := f.viaProxy(t, proto, proxyHeader(t, 2, "203.0.113.7:4242", "127.0.0.1:80")); got != "" {
			t.Errorf("%s: untrusted peer answered %q", proto, got)
		}
	}
	if got := f.denied(t); got < 2 {
		t.Errorf("%d connections denied, want at least 2", got)
	}
}

// TestShutdownCutShort: a drain whose deadline passes with requests in
// flight cuts them and says so, once their handlers have ended.
func TestShutdownCutShort(t *testing.T) {
	f := newFixture(t, nil, nil)
	var waiting sync.WaitGroup
	for _, proto := range []string{"h1", "h2-tls"} {
		c, base := f.client(t, proto)
		waiting.Go(func() {
			if code, body, err := get(c, base+"/wait"); err == nil {
				t.Errorf("%s: request cut short by Shutdown answered: %d %q", proto, code, body)
			}
		})
	}
	testkit.WaitFor(t, "both requests in their handler", func() bool { return f.g.workers[0].running.n.Load()+f.g.workers[1].running.n.Load() == 2 })
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := f.g.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %v, want context.DeadlineExceeded", err)
	}
	for _, w := range f.g.workers {
		if n := w.running.n.Load() &^ closedBit; n != 0 {
			t.Errorf("worker %d: %d handlers still running after Shutdown", w.id, n)
		}
	}
	waiting.Wait()
}

// TestShutdownDrains: Shutdown lets a request in flight finish, HTTP/2
// (after GOAWAY) or HTTP/1, plain or TLS, and returns nil once it has.
func TestShutdownDrains(t *testing.T) {
	for _, proto := range []string{"h2-tls", "h2c", "h1", "h1-tls"} {
		t.Run(proto, func(t *testing.T) {
			f := newFixture(t, nil, nil)
			c, base := f.client(t, proto)
			type result struct {
				code int
				body string
				err  error
			}
			res := make(chan result, 1)
			go func() {
				code, body, err := get(c, base+"/slow")
				res <- result{code, body, err}
			}()
			<-f.entered
			shut := make(chan error, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				shut <- f.g.Shutdown(ctx)
			}()
			testkit.WaitFor(t, "the listeners to close", func() bool {
				c, err := net.Dial("tcp", f.plain)
				if err == nil {
					c.Close()
				}
				return err != nil
			})
			close(f.release)
			if r := <-res; r.err != nil || r.code != http.StatusOK || r.body != "done" {
				t.Errorf("request in flight during Shutdown: %d %q, %v; want 200 \"done\"", r.code, r.body, r.err)
			}
			if err := <-shut; err != nil {
				t.Errorf("Shutdown = %v, want nil", err)
			}
		})
	}
}

// declineAll is a fast-path Responder that leaves every request to
// net/http.
type declineAll struct{}

func (declineAll) Respond(*h1.Request, *h1.Response) bool { return false }

// TestListenFailureLeavesNothingOpen: a Listen that fails (here, its
// address is taken) closes what it opened, the fast engine's h1 Loops
// included: the process holds as many descriptors as before.
func TestListenFailureLeavesNothingOpen(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cfg := config.Server{Listen: []string{taken.Addr().String()}, Workers: 2, HTTP1: config.HTTP1Fast}
	openFDs := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Fatal(err)
		}
		return len(ents)
	}
	before := openFDs()
	g := New(cfg, func(int) http.Handler { return http.NotFoundHandler() }, func(int) h1.Responder { return declineAll{} },
		func(netip.Addr) bool { return true }, metrics.New(2, func() []metrics.CacheStats { return nil }), slog.New(slog.DiscardHandler))
	if err := g.Listen(); err == nil {
		g.Close()
		t.Fatal("Listen on a taken address succeeded")
	}
	if after := openFDs(); after != before {
		t.Errorf("%d descriptors open after the failed Listen, %d before", after, before)
	}
}
