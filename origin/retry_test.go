package origin

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cdnnode/cdnnode/config"
	"github.com/cdnnode/cdnnode/internal/testkit"
)

// fullBacklogAddr returns the address of a 127.0.0.1 listener that never
// accepts and whose accept queue is full: Linux drops the SYNs of such a
// listener, so a connect to it hangs until the client gives up.
func fullBacklogAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	rc, err := l.(*net.TCPListener).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	// Linux lets a listening socket listen again with another backlog.
	var lerr error
	if err := rc.Control(func(fd uintptr) { lerr = syscall.Listen(int(fd), 0) }); err != nil || lerr != nil {
		t.Fatalf("listen again with no backlog: %v, %v", err, lerr)
	}
	addr := l.Addr().String()
	for range 8 { // a backlog of 0 holds one connection; the kernel may allow a few more
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil { // the SYN was dropped: the queue is full
			return addr
		}
		t.Cleanup(func() { c.Close() })
	}
	t.Fatalf("connects to %s still succeed: its accept queue does not fill", addr)
	return ""
}

// resettingPeer starts a peer on 127.0.0.1 that reads each request's head
// and then resets the connection (SO_LINGER 0) without answering. It
// returns its address and the count of requests it read.
func resettingPeer(t *testing.T) (addr string, requests *atomic.Int64) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	requests = new(atomic.Int64)
	var wg sync.WaitGroup
	wg.Go(func() {
		for { // until the listener is closed
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.SetReadDeadline(time.Now().Add(10 * time.Second)) // bounds a client that sends nothing
			if _, err := http.ReadRequest(bufio.NewReader(c)); err == nil {
				requests.Add(1)
			}
			c.(*net.TCPConn).SetLinger(0)
			c.Close()
		}
	})
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
	})
	return l.Addr().String(), requests
}

// stallingOrigin starts an origin that never answers: each handler waits
// for its request to end.
func stallingOrigin(t *testing.T) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	t.Cleanup(s.Close)
	return s
}

// TestClassify proves how each kind of failed round trip, made for real
// by a peer's transport, is classified: failures to connect (the TLS
// handshake included) wrap ErrConnect and may be retried on another peer
// even when they timed out; every timeout wraps ErrTimeout (504); a reset
// before the response may be retried; a cancelled request is neither.
func TestClassify(t *testing.T) {
	t.Parallel()
	pki := newTransportPKI(t)
	full := fullBacklogAddr(t)
	stalledTLS := stalledListener(t, false, tls.Certificate{})
	untrusted := hostPort(newTLSOrigin(t, pki, nil, false))
	stalling := stallingOrigin(t)
	reset, _ := resettingPeer(t)
	short := config.Duration(100 * time.Millisecond)
	// roundTrip is the error of a GET to peer through its transport in a
	// pool that set changes, under ctx and at most 20s.
	roundTrip := func(t *testing.T, ctx context.Context, peer config.Peer, set func(*config.Pool)) error {
		pc := transportPool()
		set(pc)
		ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, peer.Scheme+"://"+peer.Addr+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := newTransport(t, pc, peer).RoundTrip(req)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	plain := func(addr string) config.Peer { return config.Peer{Scheme: "http", Addr: addr} }
	tests := []struct {
		name string
		fail func(t *testing.T) error
		// want: wraps ErrConnect, wraps ErrTimeout, a GET may be retried
		connect, timeout, retry bool
	}{
		{"connection refused", func(t *testing.T) error {
			return roundTrip(t, t.Context(), plain(testkit.FreeAddr(t)), func(*config.Pool) {})
		}, true, false, true},
		{"connect_timeout", func(t *testing.T) error {
			return roundTrip(t, t.Context(), plain(full), func(pc *config.Pool) { pc.ConnectTimeout = short })
		}, true, true, true},
		{"total_connect_timeout, cleartext", func(t *testing.T) error {
			return roundTrip(t, t.Context(), plain(full), func(pc *config.Pool) { pc.ConnectTimeout, pc.TotalConnectTimeout = 0, short })
		}, true, true, true},
		{"total_connect_timeout in the TLS handshake", func(t *testing.T) error {
			return roundTrip(t, t.Context(), config.Peer{Scheme: "https", Addr: stalledTLS}, func(pc *config.Pool) { pc.TotalConnectTimeout = short })
		}, true, true, true},
		{"connect_timeout bounding the TLS handshake", func(t *testing.T) error {
			return roundTrip(t, t.Context(), config.Peer{Scheme: "https", Addr: stalledTLS}, func(pc *config.Pool) { pc.ConnectTimeout = short })
		}, true, true, true},
		{"certificate of an unknown authority", func(t *testing.T) error {
			return roundTrip(t, t.Context(), config.Peer{Scheme: "https", Addr: untrusted}, func(*config.Pool) {})
		}, true, false, true},
		{"response_timeout", func(t *testing.T) error {
			return roundTrip(t, t.Context(), plain(hostPort(stalling)), func(pc *config.Pool) { pc.ResponseTimeout = short })
		}, false, true, false},
		{"reset before the response", func(t *testing.T) error {
			return roundTrip(t, t.Context(), plain(reset), func(*config.Pool) {})
		}, false, false, true},
		{"the request's deadline", func(t *testing.T) error {
			ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
			defer cancel()
			return roundTrip(t, ctx, plain(hostPort(stalling)), func(*config.Pool) {})
		}, false, true, false},
		{"the request's deadline while connecting", func(t *testing.T) error {
			ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
			defer cancel()
			return roundTrip(t, ctx, plain(full), func(*config.Pool) {})
		}, false, true, false},
		{"cancelled by the client", func(t *testing.T) error {
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			return roundTrip(t, ctx, plain(hostPort(stalling)), func(*config.Pool) {})
		}, false, false, false},
	}
	get, err := http.NewRequest(http.MethodGet, "http://example.com/", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			raw := tt.fail(t)
			if raw == nil {
				t.Fatal("the round trip succeeded")
			}
			err := classify(raw)
			got := [3]bool{errors.Is(err, ErrConnect), errors.Is(err, ErrTimeout), retryable(get, err)}
			if want := [3]bool{tt.connect, tt.timeout, tt.retry}; got != want {
				t.Errorf("classify(%v): ErrConnect, ErrTimeout, retryable GET = %v, want %v", raw, got, want)
			}
		})
	}
}

// TestPoolConnectTimeout proves, through a pool, that a peer that never
// completes the connect (no SYN answered, or no TLS handshake) fails the
// request with ErrTimeout, which the proxy answers with 504, and that the
// request goes to another peer when there is one.
func TestPoolConnectTimeout(t *testing.T) {
	t.Parallel()
	full := fullBacklogAddr(t)
	stalledTLS := "https://" + stalledListener(t, false, tls.Certificate{})
	good, hits := namedPeers(t, 1)
	tests := []struct {
		name, peer string
		timeouts   string // the peer's own, so that the other keeps generous ones
	}{
		{"connect_timeout", full, `connect_timeout = "100ms"`},
		{"total_connect_timeout", full, "connect_timeout = \"0s\"\ntotal_connect_timeout = \"100ms\""},
		{"total_connect_timeout in the TLS handshake", stalledTLS, "connect_timeout = \"50ms\"\ntotal_connect_timeout = \"100ms\""},
		{"connect_timeout bounding the TLS handshake", stalledTLS, `connect_timeout = "100ms"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stalled := fmt.Sprintf("[[pools.p.peer]]\naddr = %q\n%s", tt.peer, tt.timeouts)
			alone := newPool(t, "alone", poolConfig(t, nil, stalled))
			_, err := bodyOf(alone, 0)
			if !errors.Is(err, ErrTimeout) || !errors.Is(err, ErrConnect) {
				t.Errorf("GET to a peer that never connects = %v, want ErrTimeout (504) and ErrConnect", err)
			}
			before := hits[0].Load()
			p := newPool(t, "retry", poolConfig(t, nil, `selection = "failover"`, stalled, fmt.Sprintf("[[pools.p.peer]]\naddr = %q", good[0])))
			if body, err := bodyOf(p, 0); err != nil || body != "peer-0" {
				t.Errorf("GET with the first peer never connecting = %q, %v; want peer-0 by a retry", body, err)
			}
			if hits[0].Load() != before+1 {
				t.Errorf("the second peer got %d requests, want 1", hits[0].Load()-before)
			}
		})
	}
}

// TestPoolRetryOnReset proves that a request whose connection is reset
// before any response is sent to another peer if it is a GET, and never
// if it is a POST.
func TestPoolRetryOnReset(t *testing.T) {
	t.Parallel()
	reset, resets := resettingPeer(t)
	good, hits := namedPeers(t, 1)
	p := newPool(t, "reset", poolConfig(t, []string{reset, good[0]}, `selection = "failover"`,
		"[pools.p.passive]\nmax_fails = 0")) // the resetting peer stays first
	body, err := bodyOf(p, 0)
	if err != nil || body != "peer-0" {
		t.Fatalf("GET with the first peer resetting = %q, %v; want peer-0 by a retry", body, err)
	}
	if resets.Load() != 1 || hits[0].Load() != 1 {
		t.Errorf("the resetting peer read %d requests and the second peer got %d, want 1 and 1", resets.Load(), hits[0].Load())
	}
	if n := value(t, p.m.OriginRetries.WithLabelValues("reset")); n != 1 {
		t.Errorf("retries counted = %v, want 1", n)
	}

	req, _ := http.NewRequest(http.MethodPost, "http://example.com/x", strings.NewReader("form"))
	if resp, err := p.RoundTrip(req, 0); err == nil {
		resp.Body.Close()
		t.Fatal("POST to the resetting peer succeeded: it was sent to another one")
	}
	if resets.Load() != 2 || hits[0].Load() != 1 {
		t.Errorf("after the POST the resetting peer read %d requests and the second peer got %d, want 2 and 1", resets.Load(), hits[0].Load())
	}
	if n := value(t, p.m.OriginRetries.WithLabelValues("reset")); n != 1 {
		t.Errorf("retries counted after the POST = %v, want still 1", n)
	}
}

// TestPoolRetryBudget proves that with retry_budget = 0 requests earn no
// retries: once the pool's reserve of retryReserve is spent, a request
// that fails on its first peer is not retried, and the refusal is counted
// in cdnnode_origin_retries_denied_total.
func TestPoolRetryBudget(t *testing.T) {
	t.Parallel()
	good, hits := namedPeers(t, 1)
	p := newPool(t, "budget", poolConfig(t, []string{testkit.FreeAddr(t), good[0]}, `selection = "failover"`,
		"retry_budget = 0", "[pools.p.passive]\nmax_fails = 0")) // the dead peer stays first
	for i := range retryReserve {
		if body, err := bodyOf(p, 0); err != nil || body != "peer-0" {
			t.Fatalf("GET %d, within the reserve = %q, %v; want peer-0 by a retry", i, body, err)
		}
	}
	_, err := bodyOf(p, 0)
	if !errors.Is(err, ErrConnect) {
		t.Errorf("GET with the budget spent = %v, want the first peer's ErrConnect", err)
	}
	got := fmt.Sprint(value(t, p.m.OriginRetries.WithLabelValues("budget")), value(t, p.m.OriginRetriesDenied.WithLabelValues("budget")), hits[0].Load())
	if want := fmt.Sprint(retryReserve, 1, retryReserve); got != want {
		t.Errorf("retries, retries denied, requests to the second peer = %s, want %s", got, want)
	}
}
