package node_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/websocket"

	"github.com/cdnnode/cdnnode/internal/testkit"
	"github.com/cdnnode/cdnnode/internal/testnode"
	"github.com/cdnnode/cdnnode/origin"
)

// The acceptance tests of origin pools (issue 6) through a real node: real
// origins on loopback, the pool written in the node's config, and
// assertions on what the client and each origin see.

// poolClients is how many clients the tests below run at once.
const poolClients = 8

// healthChecks is a [pools.demo.health] table checking GET /health every
// 200ms: quick enough to follow a peer going down and back within a
// test, slow enough that one slow probe on a loaded machine takes no
// healthy peer down (two in a row must fail). expect_body is appended.
const healthChecks = "[pools.demo.health]\nkind = \"http\"\npath = \"/health\"\ninterval = \"200ms\"\ntimeout = \"200ms\"\nrise = 1\nfall = 2\n"

// poolHarness starts a node whose pool "demo", made of the lines pool
// ([pools.demo]'s keys, then any subtables), serves every host, and an
// HTTP/1.1 client for it that keeps a connection per concurrent client.
// Only the harness's node, base and client are set: use do, adminGet and
// putPeers, not the methods that need its demo origin.
func poolHarness(t *testing.T, pool string) *harness {
	t.Helper()
	n := testnode.Start(t, "[pools.demo]\n"+pool+"\n[[sites]]\nname = \"default\"\nhosts = [\"*\"]\npool = \"demo\"\n")
	h := &harness{t: t, node: n, base: "http://" + n.Addrs()[0].String(),
		client: &http.Client{Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: poolClients}}}
	t.Cleanup(h.client.CloseIdleConnections)
	return h
}

// peerOrigin is an origin peer on loopback. It answers GET /health with
// the body its health holds (503 while that is empty) and every other
// request with its name, uncacheable, counting them.
type peerOrigin struct {
	name   string
	addr   string // host:port; set once, kept by a revive
	health atomic.Pointer[string]
	served atomic.Int64 // requests answered, health checks aside
	srv    *http.Server // nil while killed; used by the test's goroutine only
}

// newPeerOrigin starts a peer called name whose health checks pass with
// "status: ok"; it stops when the test ends.
func newPeerOrigin(t *testing.T, name string) *peerOrigin {
	t.Helper()
	o := &peerOrigin{name: name}
	o.setHealth("status: ok")
	o.addr = o.listen(t, "127.0.0.1:0")
	t.Cleanup(o.kill)
	return o
}

// newPeerOrigins starts n peers named peer-0 to peer-(n-1).
func newPeerOrigins(t *testing.T, n int) []*peerOrigin {
	t.Helper()
	out := make([]*peerOrigin, n)
	for i := range out {
		out[i] = newPeerOrigin(t, fmt.Sprint("peer-", i))
	}
	return out
}

func (o *peerOrigin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if r.URL.Path == "/health" {
		body := *o.health.Load()
		if body == "" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		io.WriteString(w, body)
		return
	}
	o.served.Add(1)
	io.WriteString(w, o.name)
}

// setHealth sets the body of the peer's health answers; "" makes them 503.
func (o *peerOrigin) setHealth(body string) { o.health.Store(&body) }

// listen serves the peer on addr and returns the address it listens on.
func (o *peerOrigin) listen(t *testing.T, addr string) string {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("origin %s: %v", o.name, err)
	}
	srv := &http.Server{Handler: o}
	go srv.Serve(l)
	o.srv = srv
	return l.Addr().String()
}

// kill closes the peer's listener and connections: connecting to it is
// refused until revive. Killing a dead peer does nothing.
func (o *peerOrigin) kill() {
	if o.srv != nil {
		o.srv.Close()
		o.srv = nil
	}
}

// revive serves a killed peer again on its address.
func (o *peerOrigin) revive(t *testing.T) {
	t.Helper()
	o.listen(t, o.addr)
}

// peer is the peer as the pool names it.
func (o *peerOrigin) peer() string { return "http://" + o.addr }

// peerStates is the pool's peers as the admin API shows them, by name.
func peerStates(t *testing.T, h *harness) map[string]origin.PeerState {
	t.Helper()
	var list []origin.PeerState
	if err := json.Unmarshal([]byte(h.adminGet("/pools/demo/peers")), &list); err != nil {
		t.Fatal(err)
	}
	out := make(map[string]origin.PeerState, len(list))
	for _, s := range list {
		out[s.Peer] = s
	}
	return out
}

// waitUp waits until the pool holds o up (or down, for up false).
func waitUp(t *testing.T, h *harness, o *peerOrigin, up bool) {
	t.Helper()
	testkit.WaitFor(t, fmt.Sprintf("%s to be up=%v", o.name, up), func() bool { return peerStates(t, h)[o.peer()].Up == up })
}

// getFrom sends n GETs of distinct paths under prefix and fails the test
// unless each is answered 200 by the origin want.
func getFrom(t *testing.T, h *harness, prefix string, n int, want *peerOrigin) {
	t.Helper()
	for i := range n {
		resp, body, err := h.do(http.MethodGet, fmt.Sprintf("%s/%d", prefix, i), nil)
		if err != nil || resp.StatusCode != http.StatusOK || string(body) != want.name {
			t.Fatalf("GET %s/%d: %d %q, %v; want 200 from %s", prefix, i, statusOf(resp), body, err, want.name)
		}
	}
}

// keyOwners GETs /key/0 to /key/(n-1), poolClients at a time, and returns
// the name of the origin that answered each.
func keyOwners(t *testing.T, h *harness, n int) []string {
	t.Helper()
	out := make([]string, n)
	var next atomic.Int64
	errs := make(chan error, poolClients)
	var wg sync.WaitGroup
	for range poolClients {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				resp, body, err := h.do(http.MethodGet, fmt.Sprint("/key/", i), nil)
				if err == nil && resp.StatusCode != http.StatusOK {
					err = fmt.Errorf("status %d %q", resp.StatusCode, body)
				}
				if err != nil {
					errs <- fmt.Errorf("GET /key/%d: %w", i, err)
					return
				}
				out[i] = string(body)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return out
}

// TestNodePoolKetama proves ketama with weights through the node: 10k
// distinct URLs (each a key of its own, uncacheable, so each request
// reaches an origin) spread over 5 peers by their weights, the same key
// always to the same peer; and once the admin API removes one peer, only
// that peer's keys move, at most a quarter of them, and it gets no more.
func TestNodePoolKetama(t *testing.T) {
	t.Parallel()
	const keys = 10_000
	peers := newPeerOrigins(t, 5)
	weights := []int{1, 1, 1, 1, 2}
	var pool, put strings.Builder
	pool.WriteString("selection = \"ketama\"\n")
	for i, o := range peers {
		fmt.Fprintf(&pool, "[[pools.demo.peer]]\naddr = %q\nweight = %d\n", o.addr, weights[i])
		if i != 1 {
			fmt.Fprintf(&put, `,{"addr":%q,"weight":%d}`, o.addr, weights[i])
		}
	}
	h := poolHarness(t, pool.String())

	before := keyOwners(t, h, keys)
	share := map[string]int{}
	for _, o := range before {
		share[o]++
	}
	for i, o := range peers {
		want := float64(weights[i]) / 6
		if got := float64(share[o.name]) / keys; got < want-0.07 || got > want+0.07 {
			t.Errorf("%s (weight %d) answered %.1f%% of the keys, want about %.0f%% (all: %v)", o.name, weights[i], 100*got, 100*want, share)
		}
		if got := o.served.Load(); got != int64(share[o.name]) {
			t.Errorf("%s served %d requests, and the client got %d answers from it", o.name, got, share[o.name])
		}
	}
	if again := keyOwners(t, h, keys/10); fmt.Sprint(again) != fmt.Sprint(before[:keys/10]) {
		t.Fatal("the same keys went to other peers the second time")
	}

	if code, body := putPeers(t, h, `{"peers":[`+put.String()[1:]+`]}`, nil); code != http.StatusOK {
		t.Fatalf("PUT peers without %s: %d %s", peers[1].name, code, body)
	}
	if states := peerStates(t, h); len(states) != 4 {
		t.Fatalf("GET peers after the PUT: %v, want 4 peers", states)
	}
	removed := peers[1].served.Load()
	after := keyOwners(t, h, keys)
	moved := 0
	for i := range keys {
		switch {
		case before[i] == peers[1].name:
			moved++
		case after[i] != before[i]:
			t.Fatalf("/key/%d moved from %s to %s: only the removed peer's keys may move", i, before[i], after[i])
		}
	}
	if moved == 0 || moved > keys/4 {
		t.Errorf("%d of %d keys moved, want some and at most a quarter", moved, keys)
	}
	if got := peers[1].served.Load(); got != removed {
		t.Errorf("the removed peer served %d more requests", got-removed)
	}
}

// TestNodePoolFailover proves that a backup peer takes the requests while
// the primary is out, killed or failing its health checks, and gives them
// back when the primary is healthy again; the client gets 200 throughout.
func TestNodePoolFailover(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		down, back func(t *testing.T, o *peerOrigin)
		// The pool finds a killed primary out by the first request to it,
		// which is refused and retried on the backup; one failing its
		// checks must be seen down before requests are sent.
		waitDown bool
	}{
		{"killed", func(t *testing.T, o *peerOrigin) { o.kill() }, func(t *testing.T, o *peerOrigin) { o.revive(t) }, false},
		{"health check failing", func(t *testing.T, o *peerOrigin) { o.setHealth("") }, func(t *testing.T, o *peerOrigin) { o.setHealth("status: ok") }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			primary, backup := newPeerOrigin(t, "primary"), newPeerOrigin(t, "backup")
			h := poolHarness(t, fmt.Sprintf("selection = \"failover\"\npeers = [%q]\n[[pools.demo.peer]]\naddr = %q\nbackup = true\n"+
				"[pools.demo.passive]\nmax_fails = 1\ncooldown = \"300ms\"\n%s", primary.addr, backup.addr, healthChecks))
			getFrom(t, h, "/before", 5, primary)

			tt.down(t, primary)
			if tt.waitDown {
				waitUp(t, h, primary, false)
			}
			served := primary.served.Load()
			getFrom(t, h, "/down", 10, backup)
			if got := primary.served.Load(); got != served {
				t.Errorf("the primary served %d requests while out", got-served)
			}

			tt.back(t, primary)
			waitUp(t, h, primary, true)
			served = backup.served.Load()
			getFrom(t, h, "/back", 10, primary)
			if got := backup.served.Load(); got != served {
				t.Errorf("the backup served %d requests with the primary back", got-served)
			}
		})
	}
}

// TestNodePoolHealthCheckBody proves that an HTTP health check with a body
// match takes out a peer that answers its checks 200 with the wrong body:
// no client request reaches it, and it is back once its body matches.
func TestNodePoolHealthCheckBody(t *testing.T) {
	t.Parallel()
	bad, good := newPeerOrigin(t, "bad"), newPeerOrigin(t, "good")
	bad.setHealth("status: degraded")
	h := poolHarness(t, fmt.Sprintf("peers = [%q, %q]\n%sexpect_body = \"status: ok\"\n", bad.addr, good.addr, healthChecks))
	waitUp(t, h, bad, false)
	getFrom(t, h, "/checked", 20, good)
	if got := bad.served.Load(); got != 0 {
		t.Errorf("the peer failing its health checks served %d requests", got)
	}
	if !peerStates(t, h)[good.peer()].Up {
		t.Error("the peer passing its health checks is down")
	}

	bad.setHealth("status: ok")
	waitUp(t, h, bad, true)
	for i := range 10 {
		mustGet(t, h, fmt.Sprint("/recovered/", i), nil)
	}
	if bad.served.Load() == 0 {
		t.Error("the recovered peer got none of 10 round-robin requests")
	}
}

// TestNodePoolRetryOnRefused proves that a GET whose peer refuses the
// connection is answered 200 by another peer, the retry counted, while a
// POST, which is never sent twice, gets 502.
func TestNodePoolRetryOnRefused(t *testing.T) {
	t.Parallel()
	live := newPeerOrigin(t, "live")
	dead := testkit.FreeAddr(t)
	// Passive ejection is off so that every request tries the dead peer.
	h := poolHarness(t, fmt.Sprintf("selection = \"failover\"\npeers = [%q, %q]\n[pools.demo.passive]\nmax_fails = 0\n", dead, live.addr))

	req, err := http.NewRequest(http.MethodPost, h.base+"/form", strings.NewReader("a=1"))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway || live.served.Load() != 0 {
		t.Errorf("POST to a refusing peer: %d, the other peer served %d; want 502 and none", resp.StatusCode, live.served.Load())
	}

	getFrom(t, h, "/retried", 5, live)
	metrics := h.adminGet("/metrics")
	if got := sumMetric(metrics, `cdnnode_origin_retries_total{pool="demo"}`); got != 5 {
		t.Errorf("cdnnode_origin_retries_total = %v, want 5 (one per GET)", got)
	}
	if got := sumMetric(metrics, fmt.Sprintf(`cdnnode_origin_errors_total{kind="connect",peer="http://%s",pool="demo"}`, dead)); got != 6 {
		t.Errorf("connect errors of the refusing peer = %v, want 6", got)
	}
}

// holdingOrigin is a recorder that also answers /kept with an object the
// cache stores, stale at once and servable stale on error for 10 minutes.
func holdingOrigin(rec *recorder) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", rec)
	mux.HandleFunc("/kept", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=0, stale-if-error=600")
		io.WriteString(w, "kept")
	})
	return mux
}

// hold sends GET /hold/0 to /hold/(n-1) through h, waits until the origin
// holds them all, and returns release, which lets them finish and waits
// for their answers (each must be 200). release runs at the test's end if
// the test has not called it.
func hold(t *testing.T, h *harness, rec *recorder, n int) (release func()) {
	t.Helper()
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if err := wantOK(h, fmt.Sprint("/hold/", i)); err != nil {
				t.Errorf("held request %d: %v", i, err)
			}
		})
	}
	var once sync.Once
	release = func() {
		once.Do(func() { close(rec.release) })
		wg.Wait()
	}
	t.Cleanup(release)
	for range n {
		select {
		case <-rec.entered:
		case <-time.After(10 * time.Second):
			t.Fatal("the held requests did not reach the origin within 10s")
		}
	}
	return release
}

// wantRefused fails the test unless resp is the 503 a pool at its limits
// answers, saying so.
func wantRefused(t *testing.T, what string, resp *http.Response, body []byte, err error) {
	t.Helper()
	if err != nil || resp.StatusCode != http.StatusServiceUnavailable ||
		!strings.Contains(string(body), "no origin server can take this request") || !strings.Contains(resp.Header.Get("Cache-Status"), "origin-unavailable") {
		t.Errorf("%s: %d %q, %v; want 503 saying no origin server can take it", what, statusOf(resp), body, err)
	}
}

// TestNodePoolLimits proves the pool's and each peer's limits through the
// node: a request beyond them waits up to max_wait in a queue of at most
// max_queue, then gets 503 with a clear body, never reaching the origin;
// one that waited in the queue is served when a slot frees; each refusal
// is counted by limit and reason.
func TestNodePoolLimits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		limits  string
		held    int    // requests held in flight first
		extra   int    // requests sent at once next
		refused int    // of extra, answered 503 at once; the others wait for a slot and get 200
		peer    bool   // a peer's limit, not the pool's
		reason  string // cdnnode_origin_limited_total's
	}{
		{"pool in flight", "max_in_flight = 2\nmax_wait = \"50ms\"", 2, 1, 1, false, "in_flight"},
		{"pool queue full", "max_in_flight = 1\nmax_wait = \"10s\"\nmax_queue = 1", 1, 2, 1, false, "queue_full"},
		{"pool rate", "rate = 0.1\nmax_wait = \"50ms\"", 1, 1, 1, false, "rate"},
		{"peer in flight", "peer_max_in_flight = 2\nmax_wait = \"50ms\"", 2, 1, 1, true, "in_flight"},
		{"peer queue full", "peer_max_in_flight = 1\nmax_wait = \"10s\"\nmax_queue = 1", 1, 2, 1, true, "queue_full"},
		{"peer rate", "peer_rate = 0.1\nmax_wait = \"50ms\"", 1, 1, 1, true, "rate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := newRecorder()
			o := newOrigin(t, holdingOrigin(rec))
			h := poolHarness(t, fmt.Sprintf("peers = [%q]\n%s\n", o, tt.limits))
			release := hold(t, h, rec, tt.held)

			type answer struct {
				path string
				resp *http.Response
				body []byte
				err  error
			}
			answers := make(chan answer, tt.extra)
			for i := range tt.extra {
				go func() {
					path := fmt.Sprint("/extra/", i)
					resp, body, err := h.do(http.MethodGet, path, nil)
					answers <- answer{path, resp, body, err}
				}()
			}
			refused := map[string]bool{}
			for range tt.refused {
				a := <-answers
				wantRefused(t, a.path, a.resp, a.body, a.err)
				refused[a.path] = true
			}
			release()
			for range tt.extra - tt.refused {
				if a := <-answers; a.err != nil || a.resp.StatusCode != http.StatusOK {
					t.Errorf("%s, queued: %d %q, %v; want 200 once a slot freed", a.path, statusOf(a.resp), a.body, a.err)
				}
			}
			for _, r := range rec.seen() {
				if refused[r.uri] {
					t.Errorf("the origin saw the refused %s", r.uri)
				}
			}
			peer := ""
			if tt.peer {
				peer = "http://" + o
			}
			name := fmt.Sprintf(`cdnnode_origin_limited_total{peer=%q,pool="demo",reason=%q}`, peer, tt.reason)
			if got := sumMetric(h.adminGet("/metrics"), name); got != float64(tt.refused) {
				t.Errorf("%s = %v, want %d", name, got, tt.refused)
			}
		})
	}
}

// TestNodePoolPeerCapServesStale proves that a request refused by a peer's
// in-flight cap is answered from a stored stale copy where stale-if-error
// allows, and with 503 where there is none.
func TestNodePoolPeerCapServesStale(t *testing.T) {
	t.Parallel()
	rec := newRecorder()
	o := newOrigin(t, holdingOrigin(rec))
	h := poolHarness(t, fmt.Sprintf("peers = [%q]\npeer_max_in_flight = 2\nmax_wait = \"50ms\"\n", o))
	if resp, body := mustGet(t, h, "/kept", nil); resp.StatusCode != http.StatusOK || body != "kept" {
		t.Fatalf("filling the cache: %d %q", resp.StatusCode, body)
	}
	hold(t, h, rec, 2)

	resp, body, err := h.do(http.MethodGet, "/fresh", nil)
	wantRefused(t, "a new object beyond the cap", resp, body, err)
	resp, body, err = h.do(http.MethodGet, "/kept", nil)
	if err != nil || resp.StatusCode != http.StatusOK || string(body) != "kept" || !strings.Contains(resp.Header.Get("Cache-Status"), "stale-if-error") {
		t.Errorf("a stored object beyond the cap: %d %q %q, %v; want it served stale", statusOf(resp), body, resp.Header.Get("Cache-Status"), err)
	}
	for _, r := range rec.seen() {
		if r.uri == "/fresh" {
			t.Error("the origin saw the refused /fresh")
		}
	}
}

// TestNodePoolPeersFileUnderLoad proves that a change of the pool's peers
// file is taken while 8 clients send requests, with none failing: the
// file's new peer takes requests and the one it dropped gets no more.
func TestNodePoolPeersFileUnderLoad(t *testing.T) {
	t.Parallel()
	peers := newPeerOrigins(t, 3)
	file := filepath.Join(t.TempDir(), "peers.txt")
	writePeers := func(text string) {
		t.Helper()
		if err := os.WriteFile(file+".new", []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(file+".new", file); err != nil {
			t.Fatal(err)
		}
	}
	writePeers("# the file's first peer\n" + peers[1].addr + "\n")
	h := poolHarness(t, fmt.Sprintf("peers = [%q]\npeers_file = %q\n", peers[0].addr, file))

	var seq atomic.Int64
	stop := testkit.Load(poolClients, func() error {
		path := fmt.Sprint("/load/", seq.Add(1))
		resp, body, err := h.do(http.MethodGet, path, nil)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("GET %s: %d %q", path, resp.StatusCode, body)
		}
		return err
	})
	testkit.WaitFor(t, "the file's first peer to get requests", func() bool { return peers[1].served.Load() > 20 })
	writePeers(peers[2].addr + "\n")
	testkit.WaitFor(t, "the file's new peer to get requests", func() bool { return peers[2].served.Load() > 20 })
	if sent, failed := stop(); failed != 0 {
		t.Errorf("%d of %d requests failed while the peers file changed", failed, sent)
	}
	dropped := peers[1].served.Load()
	for i := range 20 {
		mustGet(t, h, fmt.Sprint("/after/", i), nil)
	}
	if got := peers[1].served.Load(); got != dropped {
		t.Errorf("the peer dropped from the file served %d more requests", got-dropped)
	}
	if peers[0].served.Load() == 0 || peers[2].served.Load() == 0 {
		t.Error("the pool's peers did not share the requests")
	}
}

// wsFrame is a masked text frame holding payload (under 126 bytes), as a
// WebSocket client sends it (RFC 6455 §5.2).
func wsFrame(payload string) []byte {
	mask := [4]byte{0x12, 0x34, 0x56, 0x78}
	b := append([]byte{0x81, 0x80 | byte(len(payload))}, mask[:]...)
	for i := range len(payload) {
		b = append(b, payload[i]^mask[i%4])
	}
	return b
}

// TestNodeWebSocketNormalised proves that a WebSocket handshake written
// unusually but validly (Connection naming keep-alive too, Upgrade in
// mixed case) reaches the origin in normalised form, Connection: Upgrade
// and Upgrade: websocket, and that the echo then works both ways.
func TestNodeWebSocketNormalised(t *testing.T) {
	t.Parallel()
	seen := make(chan http.Header, 1)
	echo := websocket.Handler(func(ws *websocket.Conn) { _, _ = io.Copy(ws, ws) })
	o := newOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case seen <- r.Header.Clone():
		default:
		}
		echo.ServeHTTP(w, r)
	}))
	h := poolHarness(t, fmt.Sprintf("peers = [%q]\n", o))
	c, br, resp := rawRequest(t, strings.TrimPrefix(h.base, "http://"), "GET /ws HTTP/1.1\r\nHost: echo.example\r\n"+
		"Connection: keep-alive, Upgrade\r\nKeep-Alive: timeout=5\r\nUpgrade: WebSocket\r\nSec-WebSocket-Version: 13\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: http://echo.example\r\n\r\n")
	// RFC 6455 §1.3's example key and its accept value.
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-WebSocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" ||
		resp.Header.Get("Upgrade") != "websocket" || resp.Header.Get("Connection") != "Upgrade" {
		t.Fatalf("handshake through the node: %d %v, want 101 switching to websocket", resp.StatusCode, resp.Header)
	}
	select {
	case hdr := <-seen:
		if got := hdr.Values("Connection"); len(got) != 1 || got[0] != "Upgrade" {
			t.Errorf("the origin saw Connection %q, want \"Upgrade\"", got)
		}
		if got := hdr.Values("Upgrade"); len(got) != 1 || got[0] != "websocket" {
			t.Errorf("the origin saw Upgrade %q, want \"websocket\"", got)
		}
		if hdr.Get("Keep-Alive") != "" || hdr.Get("Sec-WebSocket-Key") != "dGhlIHNhbXBsZSBub25jZQ==" {
			t.Errorf("the origin saw %v, want the handshake's own fields only", hdr)
		}
	default:
		t.Fatal("the origin answered 101 without the handler seeing the request")
	}
	for i := range 3 {
		msg := fmt.Sprint("message ", i)
		if _, err := c.Write(wsFrame(msg)); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, 2+len(msg))
		if _, err := io.ReadFull(br, got); err != nil {
			t.Fatalf("echo of %q: %v", msg, err)
		}
		// The origin's frames are unmasked (§5.1).
		if want := append([]byte{0x81, byte(len(msg))}, msg...); string(got) != string(want) {
			t.Fatalf("echo of %q = %q, want the text frame %q", msg, got, want)
		}
	}
}
