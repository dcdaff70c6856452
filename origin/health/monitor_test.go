package health

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// change is one call of OnChange.
type change struct {
	peer   string
	up     bool
	reason string
}

// recorder collects OnChange calls, and sends each to c if c is set.
type recorder struct {
	mu  sync.Mutex
	got []change
	c   chan change
}

// onChange is the recorder's OnChange.
func (r *recorder) onChange(peer string, up bool, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, change{peer, up, reason})
	if r.c != nil {
		r.c <- change{peer, up, reason}
	}
}

// expect fails t unless the calls so far are, in order, the peers and
// verdicts of want with reasons containing want's reasons.
func (r *recorder) expect(t *testing.T, want ...change) {
	t.Helper()
	r.mu.Lock()
	got := slices.Clone(r.got)
	r.mu.Unlock()
	ok := len(got) == len(want)
	for i := 0; ok && i < len(got); i++ {
		ok = got[i].peer == want[i].peer && got[i].up == want[i].up && strings.Contains(got[i].reason, want[i].reason)
	}
	if !ok {
		t.Fatalf("OnChange calls:\n got %+v\nwant %+v (reasons as substrings)", got, want)
	}
}

// next returns the next change sent to r.c, or fails t after a bound far
// above any interval the tests use.
func (r *recorder) next(t *testing.T) change {
	t.Helper()
	select {
	case c := <-r.c:
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("no OnChange call within 5s")
		return change{}
	}
}

// clock is a fake Options.Now that moves only when told.
type clock struct{ now atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Unix(0, c.now.Load()) }
func (c *clock) advance(d time.Duration) { c.now.Add(int64(d)) }
func newClock() *clock {
	c := &clock{}
	c.now.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}

// targets returns the Targets of names, each reached by c.
func targets(c Conn, names ...string) []Target {
	ts := make([]Target, len(names))
	for i, n := range names {
		ts[i] = Target{Name: n, Conn: c}
	}
	return ts
}

// mustMonitor returns NewMonitor(peers, o) or ends the test.
func mustMonitor(t testing.TB, peers []Target, o Options) *Monitor {
	t.Helper()
	m, err := NewMonitor(peers, o)
	if err != nil {
		t.Fatalf("NewMonitor: %v", err)
	}
	return m
}

// listen returns a loopback listener on addr that accepts and closes
// connections until it is closed.
func listen(t *testing.T, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return // closed
			}
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return ln, nil
}

// TestMonitorTCPRiseFall drives probes one round at a time, so Rise and
// Fall are counted exactly.
func TestMonitorTCPRiseFall(t *testing.T) {
	ln, err := listen(t, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	c := mustChecker(t, CheckOptions{Kind: TCP, Rise: 2, Fall: 3, Timeout: 5 * time.Second})
	rec := &recorder{}
	m := mustMonitor(t, targets(Conn{}, addr), Options{Check: c, OnChange: rec.onChange})
	ctx := t.Context()
	if !m.Healthy(0) {
		t.Fatal("Healthy before any probe = false, want true (peers start up)")
	}
	m.probe(ctx, 0)
	ln.Close()
	for i := range 3 {
		if !m.Healthy(0) {
			t.Fatalf("Healthy after %d failing probes of Fall 3 = false, want true", i)
		}
		m.probe(ctx, 0)
	}
	if m.Healthy(0) {
		t.Fatal("Healthy after 3 failing probes of Fall 3 = true, want false")
	}
	want := []change{{addr, false, "active: 3 consecutive failing checks, last: tcp check " + addr}}
	rec.expect(t, want...)

	// Reopen on the same port; if another test took it, prove Rise on a
	// new listener with a Monitor whose peers start down.
	if _, err := listen(t, addr); err != nil {
		t.Logf("port %s taken (%v); a new listener and monitor prove Rise", addr, err)
		ln2, err := listen(t, "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr = ln2.Addr().String()
		rec = &recorder{}
		m = mustMonitor(t, targets(Conn{}, addr), Options{Check: c, OnChange: rec.onChange, InitialDown: true})
		want = nil
	}
	m.probe(ctx, 0)
	if m.Healthy(0) {
		t.Fatal("Healthy after 1 passing probe of Rise 2 = true, want false")
	}
	m.probe(ctx, 0)
	if !m.Healthy(0) {
		t.Fatal("Healthy after 2 passing probes of Rise 2 = false, want true")
	}
	rec.expect(t, append(want, change{addr, true, "active: 2 consecutive passing checks"})...)
}

// TestMonitorRunHTTPBody runs the Monitor on its timers against an origin
// that answers 200 with the wrong body, then the right one.
func TestMonitorRunHTTPBody(t *testing.T) {
	var body atomic.Value
	body.Store("db: down")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(body.Load().(string)))
	}))
	defer srv.Close()
	good := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("db: ok")) // a second peer that never changes
	}))
	defer good.Close()
	peer := peerOf(srv)
	c := mustChecker(t, CheckOptions{Kind: HTTP, Path: "/healthz", BodyRegexp: `db: (up|ok)`,
		Interval: 20 * time.Millisecond, Timeout: 5 * time.Second, Rise: 2, Fall: 2})
	rec := &recorder{c: make(chan change, 8)}
	m := mustMonitor(t, targets(Conn{}, peer, peerOf(good)), Options{Check: c, OnChange: rec.onChange})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		m.Run(ctx)
		close(done)
	}()

	if got := rec.next(t); got.peer != peer || got.up || !strings.Contains(got.reason, "body does not match") {
		t.Fatalf("first change = %+v, want %s down for its body", got, peer)
	}
	if m.Healthy(0) {
		t.Error("Healthy(wrong body) = true after its change, want false")
	}
	body.Store("db: up")
	if got := rec.next(t); got.peer != peer || !got.up {
		t.Fatalf("second change = %+v, want %s up", got, peer)
	}
	if !m.Healthy(0) || !m.Healthy(1) {
		t.Errorf("Healthy = %v, %v after recovery, want true, true", m.Healthy(0), m.Healthy(1))
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return within 5s of its context ending")
	}
	if len(rec.c) != 0 {
		t.Errorf("extra changes: %d, want exactly one per transition", len(rec.c))
	}
}

// switchDial dials through to a live listener unless fail is set: a peer
// whose active check is under the test's control.
type switchDial struct{ fail atomic.Bool }

func (d *switchDial) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if d.fail.Load() {
		return nil, errors.New("switched off")
	}
	return (&net.Dialer{}).DialContext(ctx, network, addr)
}

// TestMonitorActiveAndPassive shows the verdict is active up AND not
// ejected, with one OnChange per change of that verdict.
func TestMonitorActiveAndPassive(t *testing.T) {
	ln, err := listen(t, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	sw := &switchDial{}
	clk := newClock()
	rec := &recorder{}
	m := mustMonitor(t, targets(Conn{Dial: sw.dial}, addr), Options{
		Check:    mustChecker(t, CheckOptions{Kind: TCP, Rise: 1, Fall: 1}),
		Passive:  Passive{MaxFails: 1, CoolDown: time.Minute},
		OnChange: rec.onChange,
		Now:      clk.Now,
	})
	ctx := t.Context()
	m.Report(0, false) // ejected: down
	sw.fail.Store(true)
	m.probe(ctx, 0) // active down too: no change
	clk.advance(time.Minute)
	m.sweep() // ejection over, active still down: no change
	if m.Healthy(0) {
		t.Fatal("Healthy with the active check down = true, want false")
	}
	sw.fail.Store(false)
	m.probe(ctx, 0) // active up, not ejected: up
	if !m.Healthy(0) {
		t.Fatal("Healthy with the active check up and the ejection over = false, want true")
	}
	sw.fail.Store(true)
	m.probe(ctx, 0) // active down: down
	m.Report(0, false)
	sw.fail.Store(false)
	m.probe(ctx, 0) // active up, but the failure above was on probation: still ejected
	if m.Healthy(0) {
		t.Fatal("Healthy while ejected on probation = true, want false")
	}
	rec.expect(t,
		change{addr, false, "passive: 1 consecutive failed exchanges"},
		change{addr, true, "active: 1 consecutive passing checks"},
		change{addr, false, "active: 1 consecutive failing checks, last: tcp check " + addr + ": switched off"},
	)
}

func TestNewMonitorRejects(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{name: "initial down without a check", o: Options{InitialDown: true}, want: "initial down"},
		{name: "negative max fails", o: Options{Passive: Passive{MaxFails: -1}}, want: "negative"},
		{name: "window over the maximum", o: Options{Passive: Passive{Window: MaxWindow + 1, MaxErrorRate: 0.5}}, want: "window"},
		{name: "min requests over the window", o: Options{Passive: Passive{Window: 10, MinRequests: 11, MaxErrorRate: 0.5}}, want: "min requests"},
		{name: "window without a rate", o: Options{Passive: Passive{Window: 10}}, want: "max error rate"},
		{name: "rate of 1", o: Options{Passive: Passive{Window: 10, MaxErrorRate: 1}}, want: "max error rate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewMonitor(targets(Conn{}, "127.0.0.1:1"), tt.o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NewMonitor(%+v) = %v, want an error containing %q", tt.o, err, tt.want)
			}
		})
	}
}

// TestSuccessor replaces a pool's peers: the peers that stay keep their
// state, a new one starts up, a removed one is forgotten.
func TestSuccessor(t *testing.T) {
	ln, err := listen(t, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	live := ln.Addr().String()
	sw := &switchDial{}
	clk := newClock()
	rec := &recorder{}
	ejected, down, removed, added := "ejected:1", live, "removed:1", "added:1"
	m := mustMonitor(t, targets(Conn{Dial: sw.dial}, ejected, down, removed), Options{
		Check:    mustChecker(t, CheckOptions{Kind: TCP, Rise: 2, Fall: 1}),
		Passive:  Passive{MaxFails: 1, CoolDown: time.Minute},
		OnChange: rec.onChange,
		Now:      clk.Now,
	})
	ctx := t.Context()
	m.Report(0, false)
	sw.fail.Store(true)
	m.probe(ctx, 1)
	sw.fail.Store(false)
	m.probe(ctx, 1) // one pass of Rise 2

	next := m.Successor(targets(Conn{Dial: sw.dial}, added, down, ejected))
	if got := []bool{next.Healthy(0), next.Healthy(1), next.Healthy(2)}; !slices.Equal(got, []bool{true, false, false}) {
		t.Fatalf("successor Healthy(added, down, ejected) = %v, want [true false false]", got)
	}
	next.probe(ctx, 1) // the second pass of Rise 2, counted across the swap
	clk.advance(time.Minute)
	if !next.Healthy(2) {
		t.Error("successor Healthy(ejected) after its cool-down = false, want true")
	}
	if !m.Healthy(0) {
		t.Error("predecessor Healthy(ejected) after its cool-down = false, want true")
	}
	m.Report(2, false) // the removed peer is ejected, silently
	if m.Healthy(2) {
		t.Error("predecessor Healthy(removed) after a failure = true, want false")
	}
	rec.expect(t,
		change{ejected, false, "passive"},
		change{down, false, "active"},
		change{down, true, "active: 2 consecutive passing"},
		change{ejected, true, "cool-down"}, // from the successor only: the predecessor is retired
	)
}
