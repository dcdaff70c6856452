package proxy

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/cdnnode/cdnnode/cachelock"
	"github.com/cdnnode/cdnnode/internal/testkit"
	"github.com/cdnnode/cdnnode/keys"
	"github.com/cdnnode/cdnnode/purge"
)

// lockAge is the lock tables' cachelock.Options.AgeTimeout, on their own
// clock (sweepEnv.lockNow).
const lockAge = 10 * time.Second

// sweepOrigin answers "<path> #n", n counting the path's requests, fresh
// for a minute, unless the path says otherwise (ServeHTTP). The first
// request of a path under /held/ sends its first bytes and holds the rest
// until the test calls free.
type sweepOrigin struct {
	mu       sync.Mutex
	requests map[string]int
	free     func() // ends every held body
	release  chan struct{}
}

func (o *sweepOrigin) count(path string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.requests[path]
}

func (o *sweepOrigin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	o.mu.Lock()
	o.requests[r.URL.Path]++
	n := o.requests[r.URL.Path]
	o.mu.Unlock()
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream") // stored as sent
	h.Set("Cache-Control", "max-age=60")
	body := fmt.Sprintf("%s #%d", r.URL.Path, n)
	switch r.URL.Path {
	case "/vary":
		h.Set("Vary", "Accept-Language")
	case "/no-store":
		h.Set("Cache-Control", "no-store")
	case "/hit-for-pass":
		if n == 1 {
			h.Set("Cache-Control", "no-store")
		}
	case "/revalidated", "/background":
		h.Set("Etag", `"1"`)
		h.Set("Cache-Control", "max-age=0")
		if r.URL.Path == "/background" {
			h.Set("Cache-Control", "max-age=0, stale-while-revalidate=60")
		}
		if r.Header.Get("If-None-Match") == `"1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	case "/failed": // no head at all
		panic(http.ErrAbortHandler)
	case "/aborted": // the body stops short
		h.Set("Content-Length", "100")
		_, _ = io.WriteString(w, body)
		_ = http.NewResponseController(w).Flush()
		panic(http.ErrAbortHandler)
	}
	rest := body
	if strings.HasPrefix(r.URL.Path, "/held/") && n == 1 {
		_, _ = io.WriteString(w, body[:3]) // no length: the node passes it on at once
		_ = http.NewResponseController(w).Flush()
		select {
		case <-o.release:
		case <-r.Context().Done():
			return
		}
		rest = body[3:]
	}
	_, _ = io.WriteString(w, rest)
}

// sweepEnv is a real Proxy over a real store, in front of a sweepOrigin,
// serving a real HTTP server, whose sweeper the tests run by hand.
type sweepEnv struct {
	p       *Proxy
	origin  *sweepOrigin
	base    string // the pipeline server's URL
	client  *http.Client
	lockNow atomic.Int64 // the lock tables' time, in Unix nanoseconds
}

func newSweepEnv(t *testing.T) *sweepEnv {
	t.Helper()
	o := &sweepOrigin{requests: map[string]int{}, release: make(chan struct{})}
	o.free = sync.OnceFunc(func() { close(o.release) })
	originSrv := httptest.NewServer(o)
	t.Cleanup(originSrv.Close)
	e := &sweepEnv{origin: o, client: &http.Client{Transport: &http.Transport{}}}
	e.lockNow.Store(time.Now().UnixNano())
	locks := cachelock.New(1, cachelock.Options{AgeTimeout: lockAge, HitForPass: time.Minute,
		Now: func() time.Time { return time.Unix(0, e.lockNow.Load()) }})
	e.p, _ = newTestProxy(t, originSrv.Listener.Addr().String(), locks)
	t.Cleanup(e.p.StopBackground)
	pipe := httptest.NewServer(e.p.Handler(0))
	t.Cleanup(pipe.Close)
	t.Cleanup(e.client.CloseIdleConnections)
	t.Cleanup(o.free) // first: nothing waits on a held body
	e.base = pipe.URL
	return e
}

// get sends GET path to the pipeline in ctx with the header fields hdr
// (name, value, ...) and returns the response with its body read.
func (e *sweepEnv) get(ctx context.Context, path string, hdr ...string) (*http.Response, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.base+path, nil)
	if err != nil {
		return nil, "", err
	}
	req.Host = "main.test"
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, string(body), err
}

// mustGet is get that fails the test on an error.
func (e *sweepEnv) mustGet(t *testing.T, path string, hdr ...string) (cacheStatus, body string) {
	t.Helper()
	resp, body, err := e.get(t.Context(), path, hdr...)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp.Header.Get("Cache-Status"), body
}

// stored waits until path is in the memory tier: a fill commits just
// after its client has the whole body.
func (e *sweepEnv) stored(t *testing.T, path string) {
	t.Helper()
	k := keys.New("http", "main.test", path, "", keys.Options{})
	testkit.WaitFor(t, path+" to be stored", func() bool { return e.p.store.Memory(k.Hash, []byte(k.Full)) != nil })
}

// reached waits until the origin has had n requests for path.
func (e *sweepEnv) reached(t *testing.T, path string, n int) {
	t.Helper()
	testkit.WaitFor(t, fmt.Sprintf("request %d of %s to reach the origin", n, path), func() bool { return e.origin.count(path) >= n })
}

// lockWaits is how many readers have had their wait for a fill's head
// observed.
func (e *sweepEnv) lockWaits(t *testing.T) uint64 {
	t.Helper()
	var m dto.Metric
	if err := e.p.metrics.LockWait.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount()
}

// ban purges something no request of the tests names.
func (e *sweepEnv) ban(t *testing.T) {
	t.Helper()
	if _, err := e.p.bans.Add(purge.Ban{Kind: purge.Exact, Target: "main.test/unrelated"}, e.p.now()); err != nil {
		t.Fatal(err)
	}
}

// bansExpire checks that a ban made now expires once the sweeper passes,
// as it does when no fill is in flight; a flight never ended would keep
// it forever.
func (e *sweepEnv) bansExpire(t *testing.T) {
	t.Helper()
	e.ban(t)
	testkit.WaitFor(t, "the ban to expire: every flight ended", func() bool {
		e.p.sweepOnce(t.Context())
		return e.p.bans.Len() == 0
	})
}

// TestSweepSparesFillsInFlight: while a fill is in flight, the sweeper
// expires the bans made before it began and none made since, which could
// name what it stores, until it ends.
func TestSweepSparesFillsInFlight(t *testing.T) {
	e := newSweepEnv(t)
	e.ban(t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if _, _, err := e.get(t.Context(), "/held/slow"); err != nil {
			t.Errorf("the slow fill: %v", err)
		}
	}()
	e.reached(t, "/held/slow", 1)
	e.ban(t)
	newest, _ := e.p.bans.Newest()
	e.p.sweepOnce(t.Context())
	if at, _ := e.p.bans.Newest(); e.p.bans.Len() != 1 || !at.Equal(newest) {
		t.Errorf("after a sweep with a fill in flight: %d bans, the newest at %v; want the one made since the fill began, at %v", e.p.bans.Len(), at, newest)
	}
	e.origin.free()
	<-done
	testkit.WaitFor(t, "the ban to expire once the fill ended", func() bool {
		e.p.sweepOnce(t.Context())
		return e.p.bans.Len() == 0
	})
}

// TestSweepFlightsEnd: whichever way a fill ends, its flight ends with it
// (and the stale-object guard of a revalidation with its request), so the
// bans expire afterwards.
func TestSweepFlightsEnd(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, e *sweepEnv)
	}{
		{"stored", func(t *testing.T, e *sweepEnv) {
			e.mustGet(t, "/stored")
		}},
		{"vary", func(t *testing.T, e *sweepEnv) {
			e.mustGet(t, "/vary", "Accept-Language", "en")
		}},
		{"collapsed readers", func(t *testing.T, e *sweepEnv) {
			var wg sync.WaitGroup
			wg.Go(func() {
				if _, _, err := e.get(t.Context(), "/held/collapsed"); err != nil {
					t.Errorf("the writer: %v", err)
				}
			})
			e.reached(t, "/held/collapsed", 1)
			for range 2 {
				wg.Go(func() {
					resp, body, err := e.get(t.Context(), "/held/collapsed")
					if err != nil || !strings.Contains(resp.Header.Get("Cache-Status"), "collapsed") {
						t.Errorf("a reader: %q, %v; want it read along", body, err)
					}
				})
			}
			testkit.WaitFor(t, "the readers to have the head", func() bool { return e.lockWaits(t) == 2 })
			e.origin.free()
			wg.Wait()
		}},
		{"client gone", func(t *testing.T, e *sweepEnv) {
			ctx, cancel := context.WithCancel(t.Context())
			errc := make(chan error, 1)
			go func() {
				_, _, err := e.get(ctx, "/held/client-gone")
				errc <- err
			}()
			e.reached(t, "/held/client-gone", 1)
			cancel()
			<-errc
			e.origin.free()
			e.stored(t, "/held/client-gone") // the fill went on without it
		}},
		{"aborted", func(t *testing.T, e *sweepEnv) {
			if _, body, err := e.get(t.Context(), "/aborted"); err == nil {
				t.Errorf("a body cut short by the origin arrived whole: %q", body)
			}
		}},
		{"failed", func(t *testing.T, e *sweepEnv) {
			if cs, body := e.mustGet(t, "/failed"); !strings.Contains(cs, "detail=origin-") {
				t.Errorf("GET of a failing origin: %q, Cache-Status %q", body, cs)
			}
		}},
		{"passed", func(t *testing.T, e *sweepEnv) {
			e.mustGet(t, "/no-store")
		}},
		{"uncollapsed, after hit-for-pass", func(t *testing.T, e *sweepEnv) {
			e.mustGet(t, "/hit-for-pass")
			if cs, _ := e.mustGet(t, "/hit-for-pass"); !strings.Contains(cs, "hit-for-pass") || !strings.Contains(cs, "stored") {
				t.Errorf("second GET: Cache-Status %q, want stored without the lock", cs)
			}
		}},
		{"revalidated", func(t *testing.T, e *sweepEnv) {
			e.mustGet(t, "/revalidated")
			e.stored(t, "/revalidated")
			if _, body := e.mustGet(t, "/revalidated"); body != "/revalidated #1" || e.origin.count("/revalidated") != 2 {
				t.Errorf("after a 304: %q, %d origin requests; want the stored body, 2", body, e.origin.count("/revalidated"))
			}
		}},
		{"revalidated in the background", func(t *testing.T, e *sweepEnv) {
			e.mustGet(t, "/background")
			e.stored(t, "/background")
			if cs, _ := e.mustGet(t, "/background"); !strings.Contains(cs, "stale-while-revalidate") {
				t.Errorf("second GET: Cache-Status %q, want served stale", cs)
			}
			e.reached(t, "/background", 2)
		}},
		{"lock-age timeout", func(t *testing.T, e *sweepEnv) {
			done := make(chan struct{})
			go func() {
				defer close(done)
				if _, _, err := e.get(t.Context(), "/held/stuck"); err != nil {
					t.Errorf("the stuck fill: %v", err)
				}
			}()
			e.reached(t, "/held/stuck", 1)
			e.lockNow.Add(int64(lockAge))
			if cs, body := e.mustGet(t, "/held/stuck"); body != "/held/stuck #2" || strings.Contains(cs, "collapsed") {
				t.Errorf("GET past the stuck fill's lock age: %q, Cache-Status %q; want a fill of its own", body, cs)
			}
			e.origin.free()
			<-done
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newSweepEnv(t)
			tt.run(t, e)
			e.bansExpire(t)
		})
	}
}
