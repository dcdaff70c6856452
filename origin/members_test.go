package origin

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/cdnnode/cdnnode/internal/testkit"
)

// namedPeers starts n origins that answer with their own name and counts
// the requests each gets.
func namedPeers(t *testing.T, n int) (addrs []string, hits []*atomic.Int64) {
	t.Helper()
	for i := range n {
		var c atomic.Int64
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c.Add(1)
			fmt.Fprintf(w, "peer-%d", i)
		}))
		t.Cleanup(s.Close)
		addrs = append(addrs, peerAddr(s))
		hits = append(hits, &c)
	}
	return addrs, hits
}

// runPool runs p's background work until the test ends.
func runPool(t *testing.T, p *Pool) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// bodyOf sends a GET for key through p and returns the body, or the error.
func bodyOf(p *Pool, key uint64) (string, error) {
	req, _ := http.NewRequest(http.MethodGet, "http://example.com/x", nil)
	resp, err := p.RoundTrip(req, key)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// owners sends a GET for each of keys through p and returns the peer
// that answered each.
func owners(t *testing.T, p *Pool, keys []uint64) []string {
	t.Helper()
	out := make([]string, len(keys))
	for i, k := range keys {
		body, err := bodyOf(p, k)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = body
	}
	return out
}

// TestPoolKetamaStability proves ketama through real origins: each key
// goes to one peer; removing one of 5 moves only that peer's keys (at most
// a quarter of them) and no others; and weights 1:1:2 share the keys
// about so.
func TestPoolKetamaStability(t *testing.T) {
	t.Parallel()
	addrs, _ := namedPeers(t, 5)
	keys := make([]uint64, 10_000)
	for i := range keys {
		keys[i] = xxhash.Sum64String(fmt.Sprint("/obj/key-", i))
	}
	p := newPool(t, "k", poolConfig(t, addrs, `selection = "ketama"`))
	before := owners(t, p, keys)
	if again := owners(t, p, keys[:500]); fmt.Sprint(again) != fmt.Sprint(before[:500]) {
		t.Fatal("the same keys went to other peers the second time")
	}
	next := poolConfig(t, slices.Delete(slices.Clone(addrs), 2, 3))
	if err := p.SetPeers(next.PeerList); err != nil {
		t.Fatal(err)
	}
	after := owners(t, p, keys)
	moved := 0
	for i := range keys {
		switch {
		case before[i] == "peer-2":
			moved++
		case after[i] != before[i]:
			t.Fatalf("key %d moved from %s to %s: only the removed peer's keys may move", i, before[i], after[i])
		}
	}
	if moved == 0 || moved > len(keys)/4 {
		t.Errorf("%d of %d keys moved, want some and at most a quarter", moved, len(keys))
	}

	weighted := newPool(t, "w", poolConfig(t, nil, `selection = "ketama"`,
		fmt.Sprintf("[[pools.p.peer]]\naddr = %q\n[[pools.p.peer]]\naddr = %q\n[[pools.p.peer]]\naddr = %q\nweight = 2", addrs[0], addrs[1], addrs[2])))
	share := map[string]int{}
	for _, o := range owners(t, weighted, keys) {
		share[o]++
	}
	for peer, want := range map[string]float64{"peer-0": 0.25, "peer-1": 0.25, "peer-2": 0.5} {
		if got := float64(share[peer]) / float64(len(keys)); got < want-0.07 || got > want+0.07 {
			t.Errorf("%s got %.1f%% of the keys, want about %.0f%% (all: %v)", peer, 100*got, 100*want, share)
		}
	}
}

// TestPoolRetryOnRefused proves that a GET whose peer refuses the
// connection is sent to another peer, and counted as a retry.
func TestPoolRetryOnRefused(t *testing.T) {
	addrs, _ := namedPeers(t, 1)
	p := newPool(t, "r", poolConfig(t, []string{testkit.FreeAddr(t), addrs[0]}, `selection = "failover"`))
	body, err := bodyOf(p, 0)
	if err != nil || body != "peer-0" {
		t.Fatalf("GET with the first peer dead = %q, %v; want peer-0 by a retry", body, err)
	}
	if n := value(t, p.m.OriginRetries.WithLabelValues("r")); n != 1 {
		t.Errorf("retries counted = %v, want 1", n)
	}
	// A POST is never sent twice.
	req, _ := http.NewRequest(http.MethodPost, "http://example.com/x", strings.NewReader("form"))
	if _, err := p.RoundTrip(req, 0); !errors.Is(err, ErrConnect) {
		t.Errorf("POST to a dead peer = %v, want ErrConnect without a retry", err)
	}
}

// TestPoolFailover proves that backups take requests only while every
// primary is down (ejected by a failed request here), and give them back
// when it recovers (seen by the active check).
func TestPoolFailover(t *testing.T) {
	addrs, hits := namedPeers(t, 2)
	dead := testkit.FreeAddr(t)
	p := newPool(t, "f", poolConfig(t, []string{dead},
		`retries = 0`,
		fmt.Sprintf("[[pools.p.peer]]\naddr = %q\nbackup = true", addrs[1]),
		"[pools.p.passive]\nmax_fails = 1\ncooldown = \"500ms\"",
		"[pools.p.health]\nkind = \"tcp\"\ninterval = \"20ms\"\ntimeout = \"20ms\"\nrise = 1\nfall = 1"))
	runPool(t, p)
	if _, err := bodyOf(p, 0); !errors.Is(err, ErrConnect) {
		t.Fatalf("first GET to the dead primary = %v, want ErrConnect", err)
	}
	body, err := bodyOf(p, 0)
	if err != nil || body != "peer-1" {
		t.Fatalf("with the primary ejected: %q, %v; want the backup", body, err)
	}
	if up := value(t, p.m.OriginPeerUp.WithLabelValues("f", "http://"+dead)); up != 0 {
		t.Errorf("cdnnode_origin_peer_up of the ejected primary = %v, want 0", up)
	}
	// The primary comes back on its address: once the active check sees it
	// up again it takes the requests back, and the backup goes idle.
	l, err := net.Listen("tcp", dead)
	if err != nil {
		t.Skipf("cannot listen on %s again: %v", dead, err)
	}
	back := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "peer-0") })}
	go back.Serve(l)
	t.Cleanup(func() { back.Close() })
	testkit.WaitFor(t, "the primary to be up again", func() bool {
		return value(t, p.m.OriginPeerUp.WithLabelValues("f", "http://"+dead)) == 1
	})
	before := hits[1].Load()
	for range 5 {
		if body, err := bodyOf(p, 0); err != nil || body != "peer-0" {
			t.Fatalf("with the primary back: %q, %v", body, err)
		}
	}
	if hits[1].Load() != before {
		t.Error("the backup got requests while the primary was up")
	}
}

// TestPoolPeerInFlightCap proves that a peer's in-flight cap holds: the
// requests beyond it wait, then are refused with ErrUnavailable.
func TestPoolPeerInFlightCap(t *testing.T) {
	release := make(chan struct{})
	var inside, most atomic.Int64
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inside.Add(1)
		defer inside.Add(-1)
		for cur := most.Load(); n > cur && !most.CompareAndSwap(cur, n); cur = most.Load() {
		}
		<-release
	}))
	t.Cleanup(s.Close)
	t.Cleanup(func() { close(release) })
	p := newPool(t, "c", poolConfig(t, []string{peerAddr(s)}, "peer_max_in_flight = 2", `max_wait = "50ms"`, "max_queue = 8"))
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for range 6 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://example.com/x", nil)
			resp, err := p.RoundTrip(req, 0)
			if err == nil {
				resp.Body.Close()
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	limited := 0
	for err := range errs {
		if errors.Is(err, ErrUnavailable) {
			limited++
		}
	}
	if limited != 4 || most.Load() > 2 {
		t.Errorf("%d of 6 requests refused by the cap, %d in flight at most; want 4 and 2", limited, most.Load())
	}
	if n := value(t, p.m.OriginLimited.WithLabelValues("c", "http://"+peerAddr(s), "in_flight")); n != 4 {
		t.Errorf("cdnnode_origin_limited_total = %v, want 4", n)
	}
}

// TestPoolHealthCheckBody proves that an active HTTP check whose expected
// body is missing takes a peer out of rotation, and brings it back.
func TestPoolHealthCheckBody(t *testing.T) {
	var good atomic.Bool
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			if good.Load() {
				io.WriteString(w, "status: ok")
			} else {
				io.WriteString(w, "status: degraded")
			}
			return
		}
		io.WriteString(w, "bad")
	}))
	t.Cleanup(bad.Close)
	okPeer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "status: ok") }))
	t.Cleanup(okPeer.Close)
	p := newPool(t, "h", poolConfig(t, []string{peerAddr(bad), peerAddr(okPeer)},
		"[pools.p.health]\nkind = \"http\"\npath = \"/health\"\nexpect_body = \"ok\"\ninterval = \"250ms\"\ntimeout = \"250ms\"\nrise = 1\nfall = 1"))
	runPool(t, p)

	testkit.WaitFor(t, "the peer with the wrong body to go down", func() bool {
		return value(t, p.m.OriginPeerUp.WithLabelValues("h", "http://"+peerAddr(bad))) == 0
	})
	for range 10 {
		if body, err := bodyOf(p, 0); err != nil || body != "status: ok" {
			t.Fatalf("with the bad peer down: %q, %v", body, err)
		}
	}
	good.Store(true)
	testkit.WaitFor(t, "the peer to come back", func() bool {
		return value(t, p.m.OriginPeerUp.WithLabelValues("h", "http://"+peerAddr(bad))) == 1
	})
}

// value reads a counter's or gauge's current value.
func value(t *testing.T, c prometheus.Metric) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	if m.Counter != nil {
		return m.Counter.GetValue()
	}
	return m.Gauge.GetValue()
}

// TestPoolPeersFileUnderLoad proves that a change of the peers file is
// taken while requests run, without failing any of them, and that the
// peers it drops get no new requests.
func TestPoolPeersFileUnderLoad(t *testing.T) {
	addrs, hits := namedPeers(t, 3)
	file := filepath.Join(t.TempDir(), "peers.txt")
	writeFile := func(text string) {
		t.Helper()
		tmp := file + ".new"
		if err := os.WriteFile(tmp, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, file); err != nil {
			t.Fatal(err)
		}
	}
	writeFile("# the second origin\n" + addrs[1] + "\n")
	p := newPool(t, "file", poolConfig(t, []string{addrs[0]}, fmt.Sprintf("peers_file = %q", file)))
	runPool(t, p)

	stop := testkit.Load(4, func() error {
		_, err := bodyOf(p, 0)
		return err
	})
	testkit.WaitFor(t, "the file's first peer to get requests", func() bool { return hits[1].Load() > 10 })
	writeFile(addrs[2] + "\n")
	testkit.WaitFor(t, "the file's new peer to get requests", func() bool { return hits[2].Load() > 10 })
	if sent, failed := stop(); failed != 0 {
		t.Errorf("%d of %d requests failed while the peers changed", failed, sent)
	}
	dropped := hits[1].Load()
	for range 30 {
		if _, err := bodyOf(p, 0); err != nil {
			t.Fatal(err)
		}
	}
	if hits[1].Load() != dropped {
		t.Error("a peer removed from the file still gets requests")
	}
	writeFile("not a peer at all\n")
	time.Sleep(3 * peersFilePoll) // a bad file must change nothing: nothing to wait for
	if body, err := bodyOf(p, 0); err != nil || (body != "peer-0" && body != "peer-2") {
		t.Errorf("after a bad peers file: %q, %v; want the peers as they were", body, err)
	}
}

// TestPoolHealthHTTPS proves that HTTP health checks of an https peer
// trust what the pool's requests trust: a peer whose certificate only the
// pool's ca_file vouches for stays up.
func TestPoolHealthHTTPS(t *testing.T) {
	ca := testkit.NewCA(t)
	var probes atomic.Int64
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			probes.Add(1)
		}
		io.WriteString(w, "ok")
	}))
	s.TLS = &tls.Config{Certificates: []tls.Certificate{ca.Server(t, "origin.test")}}
	s.StartTLS()
	t.Cleanup(s.Close)
	p := newPool(t, "tls", poolConfig(t, []string{"https://" + s.Listener.Addr().String()},
		fmt.Sprintf("ca_file = %q", ca.WriteFile(t, t.TempDir(), "ca")), `sni = "origin.test"`,
		// fall = 3: a loaded machine may be slow to finish a handshake.
		"[pools.p.health]\nkind = \"http\"\npath = \"/health\"\ninterval = \"100ms\"\ntimeout = \"100ms\"\nrise = 1\nfall = 3"))
	runPool(t, p)
	testkit.WaitFor(t, "five probes", func() bool { return probes.Load() >= 5 })
	// A probe that could not verify the peer would never reach /health.
	// A slow one may fail; the next brings the peer back (rise = 1).
	testkit.WaitFor(t, "cdnnode_origin_peer_up of the https peer to be 1", func() bool {
		return value(t, p.m.OriginPeerUp.WithLabelValues("tls", "https://"+s.Listener.Addr().String())) == 1
	})
	if body, err := bodyOf(p, 0); err != nil || body != "ok" {
		t.Errorf("GET: %q, %v", body, err)
	}
}

// connCounter counts the connections a server accepted and those that
// closed, as its http.Server.ConnState.
type connCounter struct{ opened, closed atomic.Int64 }

func (c *connCounter) track(_ net.Conn, st http.ConnState) {
	switch st {
	case http.StateNew:
		c.opened.Add(1)
	case http.StateClosed, http.StateHijacked:
		c.closed.Add(1)
	}
}

// TestPoolResolve proves the rounds of resolve_interval: a peer given by
// DNS name has its idle connections closed, so that its next requests
// connect, and resolve the name, again, while its request in flight
// finishes on its own connection; a peer given by IP address keeps its
// connections.
func TestPoolResolve(t *testing.T) {
	t.Parallel()
	entered, release := make(chan struct{}, 1), make(chan struct{})
	var named, literal connCounter
	start := func(c *connCounter, h http.HandlerFunc) string {
		s := httptest.NewUnstartedServer(h)
		s.Config.ConnState = c.track
		s.Start()
		t.Cleanup(s.Close)
		return peerAddr(s)
	}
	namedAddr := start(&named, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			entered <- struct{}{}
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
		io.WriteString(w, "named")
	})
	literalAddr := start(&literal, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "literal") })
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) }) // before the servers close
	_, port, _ := net.SplitHostPort(namedAddr)
	p := newPool(t, "dns", poolConfig(t, []string{"localhost:" + port, literalAddr}, `selection = "ketama"`,
		`idle_timeout = "1m"`, `response_timeout = "1m"`, `resolve_interval = "20ms"`))
	// keyFor is a key that p sends to the peer answering body.
	keyFor := func(body string) uint64 {
		for i := range 1000 {
			k := xxhash.Sum64String(fmt.Sprint("/obj/key-", i)) // ketama wants keys spread over the ring
			if got, err := bodyOf(p, k); err == nil && got == body {
				return k
			}
		}
		t.Fatalf("none of 1000 keys goes to the %s peer", body)
		return 0
	}
	namedKey, literalKey := keyFor("named"), keyFor("literal")
	runPool(t, p)

	slow := make(chan string, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, "http://example.com/slow", nil)
		resp, err := p.RoundTrip(req, namedKey)
		if err != nil {
			slow <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		slow <- fmt.Sprint(string(b), err)
	}()
	select {
	case <-entered:
	case got := <-slow:
		t.Fatalf("the slow request ended before its handler ran: %s", got)
	}
	opened, closed := named.opened.Load(), named.closed.Load()
	fetch := func(key uint64, want string) {
		t.Helper()
		if body, err := bodyOf(p, key); err != nil || body != want {
			t.Fatalf("GET = %q, %v; want %q", body, err, want)
		}
	}
	fetch(literalKey, "literal")
	fetch(namedKey, "named") // on a second connection: the first is busy
	testkit.WaitFor(t, "a resolve round to close the named peer's idle connection", func() bool { return named.closed.Load() > closed })
	fetch(namedKey, "named")
	if n := named.opened.Load() - opened; n != 2 {
		t.Errorf("the named peer accepted %d connections beside the slow request's, want 2: the second closed by a resolve round", n)
	}
	// That round found the literal peer's connection idle, and left it.
	fetch(literalKey, "literal")
	if n, c := literal.opened.Load(), literal.closed.Load(); n != 1 || c != 0 {
		t.Errorf("the IP-literal peer accepted %d connections and saw %d close across resolve rounds, want 1 and 0", n, c)
	}
	once.Do(func() { close(release) })
	if got, want := <-slow, fmt.Sprint("named", nil); got != want {
		t.Errorf("the request in flight across resolve rounds ended with %q, want %q", got, want)
	}
}

// TestPoolResolveNames proves which peers resolve re-resolves: those given
// by DNS name, not IP literals or unix sockets.
func TestPoolResolveNames(t *testing.T) {
	tests := []struct {
		peer   string
		byName bool
	}{
		{"localhost:80", true},
		{"origin.example:8080", true},
		{"https://origin.example:443", true},
		{"127.0.0.1:80", false},
		{"[::1]:80", false},
		{"https://[2001:db8::1]:443", false},
		{"unix:/run/origin.sock", false},
	}
	for _, tt := range tests {
		t.Run(tt.peer, func(t *testing.T) {
			pr := newPool(t, "names", poolConfig(t, []string{tt.peer})).set.Load().peers[0]
			if got := byName(pr); got != tt.byName {
				t.Errorf("byName(%s) = %v, want %v", pr.name, got, tt.byName)
			}
		})
	}
}
