package purge

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cdnnode/cdnnode/config"
	"github.com/cdnnode/cdnnode/internal/testkit"
)

// seenPurge is what a peer saw of one forwarded purge.
type seenPurge struct {
	method, path, auth, hop, contentType string
	req                                  Request
}

// peer is a real admin API stand-in on loopback. Its handler records each
// request on seen, counts it, and answers with answer(n) for the n-th
// request (1-based): a status and, for a 2xx, the number purged.
type peer struct {
	srv   *httptest.Server
	seen  chan seenPurge
	count atomic.Int32
}

func newPeer(t *testing.T, answer func(n int) (status, purged int)) *peer {
	t.Helper()
	p := &peer{seen: make(chan seenPurge, 16)}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(p.count.Add(1))
		s := seenPurge{method: r.Method, path: r.URL.Path, auth: r.Header.Get("Authorization"), hop: r.Header.Get(HopField), contentType: r.Header.Get("Content-Type")}
		if err := json.NewDecoder(r.Body).Decode(&s.req); err != nil {
			t.Errorf("peer: decoding the forwarded body: %v", err)
		}
		p.seen <- s
		status, purged := answer(n)
		if status/100 != 2 {
			http.Error(w, "peer says no\nsecond line", status)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(Result{Kind: Exact, Purged: purged})
	}))
	t.Cleanup(p.srv.Close)
	return p
}

// always answers every request the same.
func always(status, purged int) func(int) (int, int) {
	return func(int) (int, int) { return status, purged }
}

// newTestFanout is a Fanout to peers with a short backoff.
func newTestFanout(t *testing.T, timeout time.Duration, retries int, peers ...string) *Fanout {
	t.Helper()
	f := NewFanout(config.Purge{Peers: peers, PeerTimeout: config.Duration(timeout), PeerRetries: retries})
	f.backoff = time.Millisecond
	t.Cleanup(f.Close)
	return f
}

func TestFanoutAllOK(t *testing.T) {
	a, b := newPeer(t, always(200, 3)), newPeer(t, always(200, 5))
	f := newTestFanout(t, 2*time.Second, 2, a.srv.URL, b.srv.URL)
	req := Request{URLs: []string{"http://example.com/a", "http://example.com/b"}, Soft: true}
	got := f.Send(context.Background(), req, "tok-1")
	want := []PeerResult{
		{Peer: a.srv.URL, Status: 200, Purged: 3, Attempts: 1},
		{Peer: b.srv.URL, Status: 200, Purged: 5, Attempts: 1},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Send = %+v, want %+v", got, want)
	}
	if Failed(got) > 0 {
		t.Errorf("Failed(%+v) > 0, want none", got)
	}
	for _, p := range []*peer{a, b} {
		s := <-p.seen
		wantSeen := seenPurge{method: "POST", path: "/purge", auth: "Bearer tok-1", hop: "1", contentType: "application/json", req: req}
		if !reflect.DeepEqual(s, wantSeen) {
			t.Errorf("peer %s saw %+v, want %+v", p.srv.URL, s, wantSeen)
		}
	}
}

func TestFanoutNoToken(t *testing.T) {
	a := newPeer(t, always(200, 0))
	f := newTestFanout(t, 2*time.Second, 0, a.srv.URL+"/") // a trailing slash is harmless
	f.Send(context.Background(), Request{All: "example.com"}, "")
	s := <-a.seen
	if s.auth != "" || s.hop != "1" || s.path != "/purge" || s.req.All != "example.com" {
		t.Errorf("peer saw %+v, want no Authorization, hop 1, /purge, all example.com", s)
	}
}

func TestFanoutPeerPathPrefix(t *testing.T) {
	a := newPeer(t, always(200, 1))
	f := newTestFanout(t, 2*time.Second, 0, a.srv.URL+"/cdn-admin")
	if got := f.Send(context.Background(), Request{Tags: []string{"t"}}, ""); Failed(got) > 0 {
		t.Fatalf("Send = %+v, want success", got)
	}
	if s := <-a.seen; s.path != "/cdn-admin/purge" {
		t.Errorf("peer saw path %q, want /cdn-admin/purge", s.path)
	}
}

// TestFanoutRetries checks which failures are tried again, and how often.
func TestFanoutRetries(t *testing.T) {
	tests := []struct {
		name         string
		answer       func(n int) (status, purged int)
		retries      int
		wantStatus   int
		wantPurged   int
		wantAttempts int
		wantErr      string // substring; "" = success
	}{
		{"5xx then success", func(n int) (int, int) {
			if n < 3 {
				return 503, 0
			}
			return 200, 7
		}, 2, 200, 7, 3, ""},
		{"5xx every time", always(502, 0), 2, 502, 0, 3, "attempt 3: answered 502 Bad Gateway: peer says no"},
		{"5xx, no retries", always(500, 0), 0, 500, 0, 1, "attempt 1: answered 500"},
		{"403 is not retried", always(403, 0), 2, 403, 0, 1, "answered 403 Forbidden: peer says no"},
		{"401 is not retried", always(401, 0), 5, 401, 0, 1, "answered 401 Unauthorized"},
		{"400 is not retried", always(400, 0), 2, 400, 0, 1, "answered 400 Bad Request"},
		{"404 is not retried", always(404, 0), 2, 404, 0, 1, "answered 404"},
		{"redirect is not followed", always(307, 0), 2, 307, 0, 1, "answered 307 Temporary Redirect"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPeer(t, tt.answer)
			f := newTestFanout(t, 2*time.Second, tt.retries, p.srv.URL)
			got := f.Send(context.Background(), Request{URLs: []string{"http://example.com/"}}, "tok")
			if len(got) != 1 {
				t.Fatalf("Send = %+v, want one result", got)
			}
			r := got[0]
			if r.Status != tt.wantStatus || r.Purged != tt.wantPurged || r.Attempts != tt.wantAttempts {
				t.Errorf("Send = %+v, want status %d, purged %d, %d attempts", r, tt.wantStatus, tt.wantPurged, tt.wantAttempts)
			}
			if (tt.wantErr == "") != (r.Error == "") || !strings.Contains(r.Error, tt.wantErr) {
				t.Errorf("Send error = %q, want %q", r.Error, tt.wantErr)
			}
			if (Failed(got) > 0) != (tt.wantErr != "") {
				t.Errorf("Failed = %d, want failures: %v", Failed(got), tt.wantErr != "")
			}
			if n := int(p.count.Load()); n != tt.wantAttempts {
				t.Errorf("peer saw %d requests, want %d", n, tt.wantAttempts)
			}
			for range tt.wantAttempts {
				if s := <-p.seen; s.hop != "1" || s.auth != "Bearer tok" {
					t.Errorf("attempt carried hop %q, Authorization %q; want 1, Bearer tok", s.hop, s.auth)
				}
			}
		})
	}
}

// TestFanoutPeerDown checks that a peer nobody listens for is tried
// retries+1 times and recorded as failed, while the others succeed, in
// the configured order.
func TestFanoutPeerDown(t *testing.T) {
	a, c := newPeer(t, always(200, 2)), newPeer(t, always(200, 4))
	down := "http://" + testkit.FreeAddr(t)
	f := newTestFanout(t, 2*time.Second, 2, a.srv.URL, down, c.srv.URL)
	got := f.Send(context.Background(), Request{Prefix: "http://example.com/img/"}, "")
	if len(got) != 3 {
		t.Fatalf("Send = %+v, want three results", got)
	}
	if r := got[0]; r != (PeerResult{Peer: a.srv.URL, Status: 200, Purged: 2, Attempts: 1}) {
		t.Errorf("result[0] = %+v, want peer a's success", r)
	}
	if r := got[2]; r != (PeerResult{Peer: c.srv.URL, Status: 200, Purged: 4, Attempts: 1}) {
		t.Errorf("result[2] = %+v, want peer c's success", r)
	}
	r := got[1]
	if r.Peer != down || r.Status != 0 || r.Attempts != 3 || !strings.Contains(r.Error, "attempt 3:") || !strings.Contains(r.Error, "connection refused") {
		t.Errorf("result[1] = %+v, want %s failed after 3 attempts with connection refused", r, down)
	}
	if Failed(got) == 0 {
		t.Errorf("Failed(%+v) = 0, want failures", got)
	}
}

// TestFanoutTimeout checks that an attempt is bounded by the peer timeout
// and that a timeout is tried again.
func TestFanoutTimeout(t *testing.T) {
	var count atomic.Int32
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		count.Add(1)
		_, _ = io.Copy(io.Discard, r.Body) // so the server notices the client leave
		select {                           // never answers; the client gives up
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer slow.Close()
	defer close(release)
	f := newTestFanout(t, 100*time.Millisecond, 1, slow.URL)
	start := time.Now()
	got := f.Send(context.Background(), Request{All: "example.com"}, "")
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("Send took %s, want about 200ms", el)
	}
	if r := got[0]; r.Attempts != 2 || r.Status != 0 || !strings.Contains(r.Error, "attempt 2: no answer within 100ms") {
		t.Errorf("Send = %+v, want 2 attempts, ending in no answer within 100ms", r)
	}
	if n := count.Load(); n != 2 {
		t.Errorf("peer saw %d requests, want 2", n)
	}
}

// TestFanoutCancelled checks that Send stops retrying once its context is
// done.
func TestFanoutCancelled(t *testing.T) {
	f := newTestFanout(t, 2*time.Second, 10, "http://"+testkit.FreeAddr(t))
	f.backoff = time.Hour // only cancellation can end the wait
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan []PeerResult)
	go func() { done <- f.Send(ctx, Request{All: "example.com"}, "") }()
	cancel()
	select {
	case got := <-done:
		if r := got[0]; r.Error == "" || r.Attempts > 2 {
			t.Errorf("Send = %+v, want a failure after at most 2 attempts", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Send did not return after its context was cancelled")
	}
}

func TestFanoutNoPeers(t *testing.T) {
	f := newTestFanout(t, time.Second, 2)
	if got := f.Send(context.Background(), Request{All: "example.com"}, "tok"); got != nil {
		t.Errorf("Send with no peers = %+v, want nil", got)
	}
}

func TestFanoutBudget(t *testing.T) {
	tests := []struct {
		timeout time.Duration
		retries int
		want    time.Duration
	}{
		{5 * time.Second, 0, 5*time.Second + 250*time.Millisecond},
		{5 * time.Second, 2, 15*time.Second + 300*time.Millisecond + 250*time.Millisecond},
		{time.Second, 10, 11*time.Second + (100+200+400+800+6*1000)*time.Millisecond + 250*time.Millisecond},
	}
	for _, tt := range tests {
		f := NewFanout(config.Purge{PeerTimeout: config.Duration(tt.timeout), PeerRetries: tt.retries})
		if got := f.budget(); got != tt.want {
			t.Errorf("budget(timeout %s, %d retries) = %s, want %s", tt.timeout, tt.retries, got, tt.want)
		}
	}
}

func TestFailed(t *testing.T) {
	tests := []struct {
		name string
		in   []PeerResult
		want int
	}{
		{"none", nil, 0},
		{"all ok", []PeerResult{{Peer: "a", Status: 200}, {Peer: "b", Status: 200}}, 0},
		{"one failed", []PeerResult{{Peer: "a", Status: 200}, {Peer: "b", Error: "connection refused"}}, 1},
		{"refused", []PeerResult{{Peer: "a", Status: 403, Error: "answered 403"}}, 1},
		{"two failed", []PeerResult{{Peer: "a", Error: "timeout"}, {Peer: "b", Error: "connection refused"}}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Failed(tt.in); got != tt.want {
				t.Errorf("Failed(%+v) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}
