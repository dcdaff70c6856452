package node_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/cdnnode/cdnnode/config"
	"github.com/cdnnode/cdnnode/demoorigin"
	"github.com/cdnnode/cdnnode/internal/testkit"
	"github.com/cdnnode/cdnnode/internal/testnode"
	"github.com/cdnnode/cdnnode/node"
)

// harness is a real node on loopback in front of a real demo origin.
type harness struct {
	t      testing.TB
	origin *httptest.Server
	demo   *demoorigin.Server // counts requests when the origin is the demo origin
	node   *node.Node
	base   string // scheme://host:port of the traffic listener under test
	client *http.Client
	proto  string // "HTTP/1.1" or "HTTP/2.0", as the client must see it
	config string // the node's config file
}

// protocols are the client-side transports every end-to-end case runs over.
var protocols = []string{"h1", "h2c", "h2"}

// serverKey marks an extra config line for the [server] table.
const serverKey = "server:"

// newHarness starts an origin serving handler (the demo origin when nil),
// a node in front of it, and a client speaking proto. extra is appended to
// the node's config (tables the base config lacks, such as [cache]),
// except lines starting with serverKey ("server: max_body = 10"), which go
// into [server].
func newHarness(t testing.TB, proto string, handler http.Handler, extra ...string) *harness {
	t.Helper()
	var serverLines []string
	engine := testnode.HTTP1Line() // unless the test picks its own
	extra = slices.DeleteFunc(slices.Clone(extra), func(line string) bool {
		if rest, ok := strings.CutPrefix(line, serverKey); ok {
			serverLines = append(serverLines, strings.TrimSpace(rest))
			if strings.HasPrefix(strings.TrimSpace(rest), "http1 ") {
				engine = ""
			}
			return true
		}
		return false
	})
	demo := demoorigin.New(nil)
	if handler == nil {
		handler = demo
	}
	originSrv := httptest.NewServer(handler)
	t.Cleanup(originSrv.Close)
	dir := t.TempDir()
	ca := testkit.NewCA(t)
	certFile, keyFile := testkit.WriteKeyPair(t, dir, "server", ca.Server(t, "localhost", "127.0.0.1"))
	text := fmt.Sprintf(`
[server]
listen = ["127.0.0.1:0"]
grace_period = "5s"
workers = 2
%s
%s

[[server.tls]]
listen = "127.0.0.1:0"
cert = %q
key = %q

[admin]
listen = "127.0.0.1:0"

[log]
level = "warn"
access = false

[pools.demo]
peers = [%q]
response_timeout = "2s"
connect_timeout = "1s"

[[sites]]
name = "default"
hosts = ["*"]
pool = "demo"
`, engine, strings.Join(serverLines, "\n"), certFile, keyFile, originSrv.Listener.Addr().String()) + strings.Join(extra, "\n")
	path := filepath.Join(dir, "cdnnode.toml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, origin: originSrv, demo: demo, config: path}
	h.startNode()
	t.Cleanup(h.stop)
	plain, secure := h.node.Addrs()[0].String(), h.node.Addrs()[1].String()
	switch proto {
	case "h1":
		h.base, h.proto = "http://"+plain, "HTTP/1.1"
		h.client = &http.Client{Transport: &http.Transport{DisableCompression: true}}
	case "h2c":
		h.base, h.proto = "http://"+plain, "HTTP/2.0"
		h.client = &http.Client{Transport: &http2.Transport{
			AllowHTTP:          true,
			DisableCompression: true,
			DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, addr)
			},
		}}
	case "h2":
		h.base, h.proto = "https://"+secure, "HTTP/2.0"
		h.client = &http.Client{Transport: &http.Transport{
			TLSClientConfig:    &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"},
			ForceAttemptHTTP2:  true,
			DisableCompression: true,
		}}
	default:
		t.Fatalf("unknown protocol %q", proto)
	}
	t.Cleanup(h.client.CloseIdleConnections)
	return h
}

// startNode starts a node from the harness's config file.
func (h *harness) startNode() {
	h.t.Helper()
	cfg, err := config.Load(h.config)
	if err != nil {
		h.t.Fatalf("config: %v", err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	n, err := node.New(cfg, log)
	if err != nil {
		h.t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		h.t.Fatal(err)
	}
	h.node = n
}

// stop shuts the node down gracefully; again is a no-op.
func (h *harness) stop() {
	if h.node == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = h.node.Shutdown(ctx)
	h.node = nil
}

// restart stops the node and starts a new one from the same config (and
// disk tier), HTTP/1.1 clients now going to its new plain listener.
func (h *harness) restart() {
	h.t.Helper()
	h.stop()
	h.client.CloseIdleConnections()
	h.startNode()
	h.base = "http://" + h.node.Addrs()[0].String()
}

// do sends one request and returns the response with its body read.
func (h *harness) do(method, path string, hdr map[string]string) (*http.Response, []byte, error) {
	h.t.Helper()
	req, err := http.NewRequest(method, h.base+path, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

// originCount is how many requests the origin received for path.
func (h *harness) originCount(path string) int64 {
	return h.demo.Stats().ByPath[path]
}

// originBody is the body the origin sends for path, computed by a second
// demo origin (bodies are deterministic) so the node's origin counts no
// extra request.
func (h *harness) originBody(path string) []byte {
	h.t.Helper()
	return h.originBodyFor(path, nil)
}

// originBodyFor is originBody for a request carrying the fields hdr, for
// objects whose body depends on a request field (vary=F, ce=).
func (h *harness) originBodyFor(path string, hdr map[string]string) []byte {
	h.t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	demoorigin.New(nil).ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		h.t.Fatalf("reference body for %s: status %d", path, rec.Code)
	}
	return rec.Body.Bytes()
}

// adminGet fetches a path from the node's admin listener.
func (h *harness) adminGet(path string) string {
	h.t.Helper()
	resp, err := http.Get("http://" + h.node.AdminAddr().String() + path)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		h.t.Fatalf("admin %s: status %d", path, resp.StatusCode)
	}
	return string(b)
}

// statsJSON decodes the origin's /__origin/stats document.
func statsJSON(t testing.TB, body []byte) demoorigin.Stats {
	t.Helper()
	var s demoorigin.Stats
	if err := json.Unmarshal(body, &s); err != nil {
		t.Fatalf("stats %q: %v", body, err)
	}
	return s
}

// hasAll reports whether s contains every one of subs.
func hasAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// recorder is an origin that records every request it receives, body read
// to the end, and answers 200 "ok" with Cache-Control: no-store. A request
// for a path under /hold/ then sends its path on entered and waits for
// release to be closed (or its client to leave, or 10s) before answering.
type recorder struct {
	entered chan string
	release chan struct{}

	mu   sync.Mutex // guards reqs
	reqs []recorded
}

// recorded is what a recorder saw of one request.
type recorded struct {
	method, uri, host string
	header            http.Header
	body              int64 // body bytes read
	bodyErr           error // nil when the body arrived whole
}

func newRecorder() *recorder {
	return &recorder{entered: make(chan string, 64), release: make(chan struct{})}
}

func (o *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n, err := io.Copy(io.Discard, r.Body)
	o.mu.Lock()
	o.reqs = append(o.reqs, recorded{r.Method, r.RequestURI, r.Host, r.Header.Clone(), n, err})
	o.mu.Unlock()
	if strings.HasPrefix(r.URL.Path, "/hold/") {
		o.entered <- r.URL.Path
		select {
		case <-o.release:
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	_, _ = io.WriteString(w, "ok\n")
}

// seen returns a copy of the requests received so far, in order.
func (o *recorder) seen() []recorded {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.reqs)
}

// last returns the request received last; the test fails if there is none.
func (o *recorder) last(t testing.TB) recorded {
	t.Helper()
	reqs := o.seen()
	if len(reqs) == 0 {
		t.Fatal("the origin received no request")
	}
	return reqs[len(reqs)-1]
}

// from returns a copy of h whose client connects from the local address
// ip, such as "127.0.0.2" (on Linux all of 127.0.0.0/8 is this machine),
// so that the node sees another client. Only the copy's do may be used.
func (h *harness) from(ip string) *harness {
	h.t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	c := *h
	switch tr := h.client.Transport.(type) {
	case *http.Transport:
		tr = tr.Clone()
		tr.DialContext = d.DialContext
		c.client = &http.Client{Transport: tr}
	case *http2.Transport:
		c.client = &http.Client{Transport: &http2.Transport{
			AllowHTTP:          true,
			DisableCompression: true,
			DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
				return d.DialContext(ctx, network, addr)
			},
		}}
	default:
		h.t.Fatalf("no local address for a %T", tr)
	}
	h.t.Cleanup(c.client.CloseIdleConnections)
	return &c
}

// restartLogged is restart, the new node writing every log line, access
// lines and debug messages included, to w.
func (h *harness) restartLogged(w io.Writer) {
	h.t.Helper()
	h.stop()
	h.client.CloseIdleConnections()
	cfg, err := config.Load(h.config)
	if err != nil {
		h.t.Fatalf("config: %v", err)
	}
	cfg.Log.Access = true
	n, err := node.New(cfg, slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		h.t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		h.t.Fatal(err)
	}
	h.node = n
	h.base = "http://" + n.Addrs()[0].String()
}

// rejections is cdnnode_rejections_total for reason, as the node's
// metrics say now.
func (h *harness) rejections(reason string) float64 {
	h.t.Helper()
	return sumMetric(h.adminGet("/metrics"), `cdnnode_rejections_total{reason="`+reason+`"}`)
}
