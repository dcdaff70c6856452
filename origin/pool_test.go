package origin

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cdnnode/cdnnode/config"
	"github.com/cdnnode/cdnnode/internal/testkit"
	"github.com/cdnnode/cdnnode/metrics"
)

// poolConfig is the pool [pools.p] over peers with short, test-friendly
// timeouts, and extra keys of its table, as config.Parse builds it.
func poolConfig(t *testing.T, peers []string, extra ...string) *config.Pool {
	t.Helper()
	quoted := make([]string, len(peers))
	for i, p := range peers {
		quoted[i] = strconv.Quote(p)
	}
	keys := []string{`connect_timeout = "1s"`, `response_timeout = "5s"`, `idle_timeout = "1s"`, "max_idle_per_peer = 4"}
	for _, e := range extra { // an extra key replaces a default one
		name, _, _ := strings.Cut(e, " =")
		keys = slices.DeleteFunc(keys, func(k string) bool { return strings.HasPrefix(k, name+" =") })
	}
	text := "[pools.p]\npeers = [" + strings.Join(quoted, ", ") + "]\n" + strings.Join(slices.Concat(keys, extra), "\n") +
		"\n[[sites]]\nname = \"s\"\nhosts = [\"*\"]\npool = \"p\"\n"
	cfg, err := config.Parse("pool.toml", []byte(text))
	if err != nil {
		t.Fatalf("config: %v\n%s", err, text)
	}
	c := cfg.Pools["p"]
	return &c
}

// newPool builds the pool name from c, counting into metrics of its own.
func newPool(t *testing.T, name string, c *config.Pool) *Pool {
	t.Helper()
	p, err := NewPool(name, c, metrics.New(1, func() []metrics.CacheStats { return nil }), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// peerAddr is the host:port of an httptest server.
func peerAddr(s *httptest.Server) string { return strings.TrimPrefix(s.URL, "http://") }

// get sends one GET for target through p and returns the response body.
func get(t *testing.T, p *Pool, target string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := p.RoundTrip(req, 0)
	if err != nil {
		t.Fatalf("RoundTrip(%s): %v", target, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading body of %s: %v", target, err)
	}
	return resp, string(b)
}

func TestPoolName(t *testing.T) {
	p := newPool(t, "static-assets", poolConfig(t, []string{"127.0.0.1:1"}))
	if got := p.Name(); got != "static-assets" {
		t.Errorf("Name() = %q, want %q", got, "static-assets")
	}
}

func TestPoolRoundRobin(t *testing.T) {
	const peers, rounds = 3, 10
	seen := make(chan int, peers*rounds)
	var addrs []string
	for i := range peers {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			seen <- i
			io.WriteString(w, "ok")
		}))
		t.Cleanup(s.Close)
		addrs = append(addrs, peerAddr(s))
	}
	p := newPool(t, "rr", poolConfig(t, addrs))

	for range peers * rounds {
		if resp, body := get(t, p, "http://example.com/x"); resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("response = %d %q, want 200 %q", resp.StatusCode, body, "ok")
		}
	}
	counts := make([]int, peers)
	var order []int
	for range peers * rounds {
		i := <-seen
		counts[i]++
		order = append(order, i)
	}
	for i, n := range counts {
		if n != rounds {
			t.Errorf("peer %d got %d requests, want %d (all: %v)", i, n, rounds, counts)
		}
	}
	// Consecutive requests go to different peers.
	for j := 1; j < len(order); j++ {
		if order[j] == order[j-1] {
			t.Errorf("requests %d and %d both went to peer %d; order %v", j-1, j, order[j], order)
			break
		}
	}
}

func TestPoolRoundTripRewritesURL(t *testing.T) {
	type seenReq struct {
		host, uri, header string
	}
	seen := make(chan seenReq, 1)
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- seenReq{r.Host, r.URL.RequestURI(), r.Header.Get("X-Test")}
		w.Header().Set("X-Origin", "yes")
		io.WriteString(w, "body")
	}))
	t.Cleanup(s.Close)
	p := newPool(t, "site", poolConfig(t, []string{peerAddr(s)}))

	req, err := http.NewRequest(http.MethodGet, "https://www.example.com/a/b%2Fc?q=1&r=two", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Test", "kept")
	resp, err := p.RoundTrip(req, 0)
	if err != nil {
		t.Fatalf("RoundTrip: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()

	if string(b) != "body" || resp.Header.Get("X-Origin") != "yes" {
		t.Errorf("response = %q, X-Origin %q; want the origin's", b, resp.Header.Get("X-Origin"))
	}
	if req.URL.Scheme != "https" || req.URL.Host != "www.example.com" {
		t.Errorf("req.URL after RoundTrip = %s://%s: the caller's request was changed", req.URL.Scheme, req.URL.Host)
	}
	got := <-seen
	if want := "www.example.com"; got.host != want {
		t.Errorf("origin saw Host %q, want %q", got.host, want)
	}
	if want := "/a/b%2Fc?q=1&r=two"; got.uri != want {
		t.Errorf("origin saw request-target %q, want %q", got.uri, want)
	}
	if got.header != "kept" {
		t.Errorf("origin saw X-Test %q, want %q", got.header, "kept")
	}
}

func TestPoolConnectFailure(t *testing.T) {
	addr := testkit.FreeAddr(t) // nothing listens there

	p := newPool(t, "dead", poolConfig(t, []string{addr}))
	req, _ := http.NewRequest(http.MethodGet, "http://example.com/", nil)
	resp, err := p.RoundTrip(req, 0)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("RoundTrip to closed port %s succeeded", addr)
	}
	if !errors.Is(err, ErrConnect) {
		t.Errorf("RoundTrip error = %v, want ErrConnect", err)
	}
	if errors.Is(err, ErrTimeout) {
		t.Errorf("RoundTrip error = %v, want not ErrTimeout", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "dead") || !strings.Contains(msg, addr) {
		t.Errorf("RoundTrip error %q, want it to name the pool %q and peer %q", msg, "dead", addr)
	}
}

// slowHandler answers after d, or stops as soon as the request ends.
func slowHandler(d time.Duration, stopped chan<- struct{}) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		timer := time.NewTimer(d)
		defer timer.Stop()
		select {
		case <-r.Context().Done():
			stopped <- struct{}{}
		case <-timer.C:
			io.WriteString(w, "late")
		}
	}
}

func TestPoolResponseTimeout(t *testing.T) {
	stopped := make(chan struct{}, 1)
	s := httptest.NewServer(slowHandler(10*time.Second, stopped))
	t.Cleanup(s.Close)
	c := poolConfig(t, []string{peerAddr(s)})
	c.ResponseTimeout = config.Duration(100 * time.Millisecond)
	p := newPool(t, "slow", c)

	req, _ := http.NewRequest(http.MethodGet, "http://example.com/slow", nil)
	start := time.Now()
	resp, err := p.RoundTrip(req, 0)
	if err == nil {
		resp.Body.Close()
		t.Fatal("RoundTrip to a slow peer succeeded")
	}
	if !errors.Is(err, ErrTimeout) {
		t.Errorf("RoundTrip error = %v, want ErrTimeout", err)
	}
	if errors.Is(err, ErrConnect) {
		t.Errorf("RoundTrip error = %v, want not ErrConnect", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("RoundTrip took %v with a 100ms response timeout", el)
	}
	<-stopped // the peer saw the request end
}

func TestPoolRequestDeadline(t *testing.T) {
	stopped := make(chan struct{}, 1)
	s := httptest.NewServer(slowHandler(10*time.Second, stopped))
	t.Cleanup(s.Close)
	c := poolConfig(t, []string{peerAddr(s)})
	c.ResponseTimeout = 0 // none: only the request's own deadline applies
	p := newPool(t, "slow", c)

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://example.com/slow", nil)
	resp, err := p.RoundTrip(req, 0)
	if err == nil {
		resp.Body.Close()
		t.Fatal("RoundTrip past the request deadline succeeded")
	}
	if !errors.Is(err, ErrTimeout) {
		t.Errorf("RoundTrip error = %v, want ErrTimeout", err)
	}
	<-stopped
}

func TestPoolClientCancelIsNotTimeout(t *testing.T) {
	stopped := make(chan struct{}, 1)
	arrived := make(chan struct{})
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		slowHandler(10*time.Second, stopped)(w, r)
	}))
	t.Cleanup(s.Close)
	p := newPool(t, "slow", poolConfig(t, []string{peerAddr(s)}))

	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://example.com/slow", nil)
	go func() {
		<-arrived
		cancel()
	}()
	resp, err := p.RoundTrip(req, 0)
	if err == nil {
		resp.Body.Close()
		t.Fatal("RoundTrip of a cancelled request succeeded")
	}
	if errors.Is(err, ErrTimeout) || errors.Is(err, ErrConnect) {
		t.Errorf("RoundTrip error = %v, want neither ErrTimeout nor ErrConnect", err)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("RoundTrip error = %v, want context.Canceled", err)
	}
	<-stopped
}

func TestPoolReadTimeout(t *testing.T) {
	stall := make(chan struct{})
	t.Cleanup(func() { close(stall) })
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "first part ")
		w.(http.Flusher).Flush()
		if r.URL.Path == "/stall" {
			select {
			case <-stall:
			case <-r.Context().Done():
			}
			return
		}
		_, _ = io.WriteString(w, "second part")
	}))
	t.Cleanup(s.Close)
	c := poolConfig(t, []string{peerAddr(s)})
	c.ReadTimeout = config.Duration(100 * time.Millisecond)
	p := newPool(t, "stall", c)

	req, _ := http.NewRequest(http.MethodGet, "http://example.com/stall", nil)
	resp, err := p.RoundTrip(req, 0)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !errors.Is(err, ErrTimeout) || string(body) != "first part " {
		t.Fatalf("stalled body: %q, %v; want the first part and ErrTimeout", body, err)
	}

	req, _ = http.NewRequest(http.MethodGet, "http://example.com/slow-reader", nil)
	resp, err = p.RoundTrip(req, 0)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the consumer is busy: not the origin's fault
	body, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || string(body) != "first part second part" {
		t.Fatalf("slowly read body: %q, %v; want it whole", body, err)
	}
}
