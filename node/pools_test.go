package node_test

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cdnnode/cdnnode/demoorigin"
	"github.com/cdnnode/cdnnode/internal/testkit"
	"github.com/cdnnode/cdnnode/internal/testnode"
	"github.com/cdnnode/cdnnode/origin"
)

// putPeers sends PUT /pools/demo/peers with body and returns the status
// and answer.
func putPeers(t *testing.T, h *harness, body string, hdr map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, "http://"+h.node.AdminAddr().String()+"/pools/demo/peers", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestPoolPeersHotSwap proves the admin API's replacement of a pool's
// peers while requests run: none fails, the new peer takes the traffic
// and the old one gets no more; GET shows the peers; bad lists are
// refused and change nothing.
func TestPoolPeersHotSwap(t *testing.T) {
	t.Parallel()
	var newHits atomic.Int64
	next := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		newHits.Add(1)
		w.Header().Set("Cache-Control", "no-store")
		io.WriteString(w, "next")
	}))
	t.Cleanup(next.Close)
	h := newHarness(t, "h1", nil)
	const path = "/obj/swap?cc=no-store"

	stop := testkit.Load(4, func() error {
		resp, _, err := h.do(http.MethodGet, path, nil)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		return err
	})
	testkit.WaitFor(t, "the load to reach the first origin", func() bool { return h.originCount("/obj/swap") > 20 })
	code, body := putPeers(t, h, fmt.Sprintf(`{"peers":[{"addr":%q}]}`, next.Listener.Addr().String()), nil)
	if code != http.StatusOK {
		t.Fatalf("PUT peers: %d %s", code, body)
	}
	testkit.WaitFor(t, "the load to reach the new origin", func() bool { return newHits.Load() > 20 })
	if sent, failed := stop(); failed != 0 {
		t.Errorf("%d of %d requests failed while the peers were replaced", failed, sent)
	}
	old := h.originCount("/obj/swap")
	for range 20 {
		mustGet(t, h, path, nil)
	}
	if h.originCount("/obj/swap") != old {
		t.Error("the replaced origin still gets requests")
	}

	var peers []origin.PeerState
	if err := json.Unmarshal([]byte(h.adminGet("/pools/demo/peers")), &peers); err != nil {
		t.Fatal(err)
	}
	if len(peers) != 1 || peers[0].Peer != "http://"+next.Listener.Addr().String() || !peers[0].Up {
		t.Errorf("GET peers = %+v, want the new origin, up", peers)
	}
	for _, bad := range []string{`{"peers":[]}`, `{"peers":[{"addr":"no-port"}]}`, `{"peers":[{"addr":"a:1","weight":5000}]}`,
		`{"peers":[{"addr":"a:1","backup":true}]}`, `{"peers":[{"addr":"a:1"},{"addr":"a:1"}]}`, `{"nodes":[]}`, `[`} {
		if code, body := putPeers(t, h, bad, nil); code != http.StatusBadRequest || !strings.Contains(body, "error") {
			t.Errorf("PUT %s: %d %s, want 400 with an error", bad, code, body)
		}
	}
	if _, body := mustGet(t, h, path, nil); body != "next" {
		t.Errorf("after refused lists: %q, want the peers unchanged", body)
	}
}

// TestPoolPeersRefused proves that a stranger may read a pool's peers
// but not replace them.
func TestPoolPeersRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "h1", nil, "[purge]", "allow = []", `token = "s3cret-token"`)
	if code, body := putPeers(t, h, `{"peers":[{"addr":"127.0.0.1:1"}]}`, nil); code != http.StatusUnauthorized {
		t.Errorf("PUT peers without the token: %d %s, want 401", code, body)
	}
	if code, body := putPeers(t, h, `{"peers":[{"addr":"127.0.0.1:1"}]}`, map[string]string{"Authorization": "Bearer wrong"}); code != http.StatusForbidden {
		t.Errorf("PUT peers with a wrong token: %d %s, want 403", code, body)
	}
	if resp, _ := mustGet(t, h, "/obj/still?cc=no-store", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("after refused changes: %d, want the origin still served", resp.StatusCode)
	}
	code, body := putPeers(t, h, fmt.Sprintf(`{"peers":[{"addr":%q}]}`, h.origin.Listener.Addr().String()), map[string]string{"Authorization": "Bearer s3cret-token"})
	if code != http.StatusOK {
		t.Errorf("PUT peers with the token: %d %s", code, body)
	}
}

// TestAllPeersDown proves what a client gets once every peer of a pool is
// out (here ejected by passive checks): a stored object if stale-if-error
// allows, else 503 with a body that says why.
func TestAllPeersDown(t *testing.T) {
	t.Parallel()
	demo := demoorigin.New(nil)
	o := httptest.NewServer(demo)
	t.Cleanup(o.Close)
	n := testnode.Start(t, fmt.Sprintf(`
[pools.down]
peers = [%q]
retries = 0
[pools.down.passive]
max_fails = 1
cooldown = "1h"
[[sites]]
name = "down"
hosts = ["*"]
pool = "down"
`, o.Listener.Addr().String()))
	base := "http://" + n.Addrs()[0].String()
	get := func(p string) (int, string, string) {
		t.Helper()
		resp, err := http.Get(base + p)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Cache-Status"), string(b)
	}
	const stale = "/obj/kept?cc=max-age%3D0%2C%20stale-if-error%3D600"
	if code, _, _ := get(stale); code != http.StatusOK {
		t.Fatalf("filling the cache: %d", code)
	}
	o.Close() // the only peer is gone
	if code, _, _ := get("/obj/first?cc=no-store"); code != http.StatusBadGateway {
		t.Fatalf("the first request to the dead peer: %d, want 502", code)
	}
	code, cs, body := get("/obj/other?cc=no-store")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "no origin server can take this request") || !strings.Contains(cs, "origin-unavailable") {
		t.Errorf("with every peer ejected: %d %q %q, want 503 saying why", code, cs, body)
	}
	if code, cs, _ := get(stale); code != http.StatusOK || !strings.Contains(cs, "stale-if-error") {
		t.Errorf("a stored object with every peer ejected: %d %q, want it served stale", code, cs)
	}
}

// TestUnixSocketOrigin proves a pool whose peer is a unix socket, through
// the node: a miss is fetched over the socket, then served from cache.
func TestUnixSocketOrigin(t *testing.T) {
	t.Parallel()
	sock := filepath.Join(t.TempDir(), "origin.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	o := &httptest.Server{Listener: l, Config: &http.Server{Handler: demoorigin.New(nil)}}
	o.Start()
	t.Cleanup(o.Close)
	n := testnode.Start(t, fmt.Sprintf("[pools.sock]\npeers = [%q]\n[[sites]]\nname = \"s\"\nhosts = [\"*\"]\npool = \"sock\"\n", "unix:"+sock))
	for i, want := range []string{"fwd=miss", "hit"} {
		resp, err := http.Get("http://" + n.Addrs()[0].String() + "/obj/over-a-socket")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if cs := resp.Header.Get("Cache-Status"); resp.StatusCode != http.StatusOK || len(body) != 1024 || !strings.Contains(cs, want) {
			t.Errorf("request %d: %d, %d bytes, %q; want 200, 1024 bytes, %s", i, resp.StatusCode, len(body), cs, want)
		}
	}
}

// TestOriginTransports proves the peer options end to end, through the
// node: an https origin signed by a private CA (ca_file), the same one
// under a name its certificate lacks, one that demands a client
// certificate (mTLS), HTTP/2 chosen by ALPN, and cleartext HTTP/2 (h2c).
func TestOriginTransports(t *testing.T) {
	t.Parallel()
	ca := testkit.NewCA(t)
	dir := t.TempDir()
	caFile := ca.WriteFile(t, dir, "ca")
	cert, key := testkit.WriteKeyPair(t, dir, "client", ca.Client(t, "cdnnode"))
	proto := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		io.WriteString(w, r.Proto)
	})
	tlsOrigin := func(mTLS bool) string {
		s := httptest.NewUnstartedServer(proto)
		s.EnableHTTP2 = true
		s.TLS = &tls.Config{Certificates: []tls.Certificate{ca.Server(t, "origin.test", "127.0.0.1")}}
		if mTLS {
			s.TLS.ClientAuth, s.TLS.ClientCAs = tls.RequireAndVerifyClientCert, ca.Pool()
		}
		s.StartTLS()
		t.Cleanup(s.Close)
		return s.Listener.Addr().String()
	}
	var h2c http.Protocols
	h2c.SetUnencryptedHTTP2(true)
	clear := httptest.NewUnstartedServer(proto)
	clear.Config.Protocols = &h2c
	clear.Start()
	t.Cleanup(clear.Close)
	tests := []struct {
		name, pool string
		status     int
		body       string
	}{
		{"private CA, h2 by ALPN", fmt.Sprintf("peers = [\"https://%s\"]\nca_file = %q\nsni = \"origin.test\"", tlsOrigin(false), caFile), 200, "HTTP/2.0"},
		{"private CA, HTTP/1.1 only", fmt.Sprintf("peers = [\"https://%s\"]\nca_file = %q\nsni = \"origin.test\"\nalpn = \"h1\"", tlsOrigin(false), caFile), 200, "HTTP/1.1"},
		{"wrong hostname", fmt.Sprintf("peers = [\"https://%s\"]\nca_file = %q\nsni = \"wrong.test\"", tlsOrigin(false), caFile), 502, ""},
		{"mTLS without a client certificate", fmt.Sprintf("peers = [\"https://%s\"]\nca_file = %q\nsni = \"origin.test\"", tlsOrigin(true), caFile), 502, ""},
		{"mTLS", fmt.Sprintf("peers = [\"https://%s\"]\nca_file = %q\nsni = \"origin.test\"\nclient_cert = %q\nclient_key = %q", tlsOrigin(true), caFile, cert, key), 200, "HTTP/2.0"},
		{"h2c", fmt.Sprintf("peers = [%q]\nh2c = true", clear.Listener.Addr().String()), 200, "HTTP/2.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := testnode.Start(t, "[pools.o]\n"+tt.pool+"\nretries = 0\n[[sites]]\nname = \"s\"\nhosts = [\"*\"]\npool = \"o\"\n")
			resp, err := http.Get("http://" + n.Addrs()[0].String() + "/x")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status || (tt.body != "" && string(body) != tt.body) {
				t.Errorf("%d %q, want %d %q", resp.StatusCode, body, tt.status, tt.body)
			}
		})
	}
}
