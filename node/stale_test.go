package node_test

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cdnnode/cdnnode/internal/testkit"
)

// The stale tests make objects stale without waiting: the origin sends
// "Age: 100" with "max-age=60", so an object is 40 seconds stale the
// moment it is stored, and a 304 or 200 without Age makes it fresh again.

// staleOrigin answers the first request for a path with a stale-on-arrival
// 200 carrying cc, ETag "v1" and body "stale body", and every later one
// with next (nil: a 304 to a matching If-None-Match, else the same 200).
type staleOrigin struct {
	cc    string
	next  http.HandlerFunc
	mu    sync.Mutex
	seen  map[string]int
	total atomic.Int64
}

func (o *staleOrigin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	o.total.Add(1)
	o.mu.Lock()
	n := o.seen[r.URL.Path]
	o.seen[r.URL.Path] = n + 1
	o.mu.Unlock()
	if n > 0 && o.next != nil {
		o.next(w, r)
		return
	}
	w.Header().Set("ETag", `"v1"`)
	w.Header().Set("Cache-Control", o.cc)
	w.Header().Set("Age", "100")
	if r.Header.Get("If-None-Match") == `"v1"` {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	_, _ = w.Write([]byte("stale body"))
}

func (o *staleOrigin) count(path string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.seen[path]
}

func newStaleOrigin(cc string, next http.HandlerFunc) *staleOrigin {
	return &staleOrigin{cc: cc, next: next, seen: make(map[string]int)}
}

// mustGet sends one request and fails the test on a transport error.
func mustGet(t *testing.T, h *harness, path string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	resp, body, err := h.do(http.MethodGet, path, hdr)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp, string(body)
}

// TestRevalidationNotModifiedKeepsBodyRefreshesAge proves RFC 9111
// §4.3.4: a 304 to the cache's conditional request keeps the stored body
// and refreshes its header and age.
func TestRevalidationNotModifiedKeepsBodyRefreshesAge(t *testing.T) {
	t.Parallel()
	o := newStaleOrigin("max-age=60", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("If-None-Match") != `"v1"` {
			t.Errorf("revalidation without the stored validator: If-None-Match %q", r.Header.Get("If-None-Match"))
		}
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("X-Refreshed", "yes")
		w.WriteHeader(http.StatusNotModified)
	})
	h := newHarness(t, "h1", o)
	resp, body := mustGet(t, h, "/reval", nil)
	if resp.Header.Get("Age") != "100" || body != "stale body" {
		t.Fatalf("fill: Age %q body %q", resp.Header.Get("Age"), body)
	}
	want := []struct{ cache, refreshed string }{
		{"fwd=stale; fwd-status=304", "yes"},
		{"hit", "yes"},
	}
	for i, w := range want {
		resp, body := mustGet(t, h, "/reval", nil)
		age, err := strconv.Atoi(resp.Header.Get("Age"))
		if err != nil || age >= 60 {
			t.Errorf("request %d: Age %q, want a refreshed age under 60", i, resp.Header.Get("Age"))
		}
		if cs := resp.Header.Get("Cache-Status"); !strings.Contains(cs, w.cache) || body != "stale body" || resp.Header.Get("X-Refreshed") != w.refreshed {
			t.Errorf("request %d: Cache-Status %q body %q X-Refreshed %q, want %q, the stored body and the 304's field", i, cs, body, resp.Header.Get("X-Refreshed"), w.cache)
		}
	}
	if got := o.count("/reval"); got != 2 {
		t.Errorf("origin requests = %d, want 2 (fill and one revalidation)", got)
	}
}

// TestRevalidationOfDiskObject proves the same for an object too large for
// memory, whose body lives only in its disk record: 50 concurrent requests
// share one revalidation, each gets the whole body (the refreshed object's
// record stays open until the last reader is done), and the refresh is
// stored (the next request is a hit) without a new body from the origin.
func TestRevalidationOfDiskObject(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("0123456789abcdef", 20_000) // 320,000 bytes
	var revalidations atomic.Int64
	h := newHarness(t, "h1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"big"`)
		if r.Header.Get("If-None-Match") == `"big"` {
			revalidations.Add(1)
			time.Sleep(100 * time.Millisecond) // let readers gather on the fill
			w.Header().Set("Cache-Control", "max-age=60")
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Age", "100")
		_, _ = w.Write([]byte(big))
	}), "[cache]", `max_memory_object = "64KiB"`, "[cache.disk]", "path = "+strconv.Quote(t.TempDir()))
	if _, body := mustGet(t, h, "/big", nil); body != big {
		t.Fatalf("fill: %d bytes", len(body))
	}
	bodies, statuses := getAll(t, h, "/big", 50)
	for i := range bodies {
		if string(bodies[i]) != big {
			t.Fatalf("request %d (%s): %d bytes, want the stored %d", i, statuses[i], len(bodies[i]), len(big))
		}
	}
	if got := revalidations.Load(); got != 1 {
		t.Errorf("revalidations = %d, want 1 for 50 concurrent stale requests", got)
	}
	resp, body := mustGet(t, h, "/big", nil)
	if cs := resp.Header.Get("Cache-Status"); !strings.HasPrefix(cs, "cdnnode; hit") || body != big || resp.Header.Get("Age") == "100" {
		t.Errorf("after the 304: Cache-Status %q Age %q, %d bytes, want a hit with a refreshed age", cs, resp.Header.Get("Age"), len(body))
	}
}

// TestStaleWhileRevalidateDiskObject proves that a background revalidation
// of an object whose body is only on disk keeps that body readable for the
// requests that read along it (here: ones whose no-cache refuses the stale
// answer) after the stale hit that started it is done.
func TestStaleWhileRevalidateDiskObject(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("fedcba9876543210", 20_000)
	release := make(chan struct{})
	var revalidations atomic.Int64
	h := newHarness(t, "h1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"big"`)
		w.Header().Set("Cache-Control", "max-age=60, stale-while-revalidate=600")
		if r.Header.Get("If-None-Match") == `"big"` {
			revalidations.Add(1)
			<-release
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Age", "100")
		_, _ = w.Write([]byte(big))
	}), "[cache]", `max_memory_object = "64KiB"`, "[cache.disk]", "path = "+strconv.Quote(t.TempDir()))
	mustGet(t, h, "/big-swr", nil)
	if resp, body := mustGet(t, h, "/big-swr", nil); body != big || !strings.Contains(resp.Header.Get("Cache-Status"), "detail=stale-while-revalidate") {
		t.Fatalf("stale hit: %q, %d bytes", resp.Header.Get("Cache-Status"), len(body))
	}
	testkit.WaitFor(t, "the background revalidation", func() bool { return revalidations.Load() == 1 })
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			resp, body, err := h.do(http.MethodGet, "/big-swr", map[string]string{"Cache-Control": "no-cache"})
			if err != nil {
				t.Errorf("no-cache request %d: %v", i, err)
			} else if string(body) != big {
				t.Errorf("no-cache request %d (%s): %d bytes, want %d", i, resp.Header.Get("Cache-Status"), len(body), len(big))
			}
		})
	}
	time.Sleep(100 * time.Millisecond) // let them join the background fill
	close(release)
	wg.Wait()
}

// TestStaleWhileRevalidate proves that stale hits inside the window are
// answered at once from the stale object, while exactly one background
// fetch refreshes it: the origin holds that fetch until every one of 100
// concurrent stale hits has been answered.
func TestStaleWhileRevalidate(t *testing.T) {
	for _, proto := range protocols {
		t.Run(proto, func(t *testing.T) {
			t.Parallel()
			started, release := make(chan struct{}), make(chan struct{})
			var once sync.Once
			o := newStaleOrigin("max-age=60, stale-while-revalidate=600", func(w http.ResponseWriter, r *http.Request) {
				once.Do(func() { close(started) })
				<-release
				w.Header().Set("ETag", `"v2"`)
				w.Header().Set("Cache-Control", "max-age=60")
				_, _ = w.Write([]byte("fresh body"))
			})
			h := newHarness(t, proto, o)
			if _, body := mustGet(t, h, "/swr", nil); body != "stale body" {
				t.Fatalf("fill: body %q", body)
			}
			const n = 100
			bodies, statuses := getAll(t, h, "/swr", n)
			for i := range n {
				if string(bodies[i]) != "stale body" || !hasAll(statuses[i], "cdnnode; hit", "detail=stale-while-revalidate") {
					t.Fatalf("stale hit %d: body %q Cache-Status %q", i, bodies[i], statuses[i])
				}
			}
			select {
			case <-started:
			case <-time.After(5 * time.Second):
				t.Fatal("no background revalidation reached the origin")
			}
			if got := o.count("/swr"); got != 2 {
				t.Fatalf("origin requests after %d stale hits = %d, want 2 (fill and one revalidation)", n, got)
			}
			close(release)
			testkit.WaitFor(t, "the refreshed object", func() bool {
				_, body := mustGet(t, h, "/swr", nil)
				return body == "fresh body"
			})
			resp, body := mustGet(t, h, "/swr", nil)
			if cs := resp.Header.Get("Cache-Status"); body != "fresh body" || !strings.HasPrefix(cs, "cdnnode; hit; ttl=") || strings.Contains(cs, "detail") {
				t.Errorf("after the revalidation: body %q Cache-Status %q, want a fresh hit", body, cs)
			}
			if got := o.count("/swr"); got != 2 {
				t.Errorf("origin requests = %d, want 2", got)
			}
			// The background fetch counts itself once done, just after the
			// refreshed object is visible.
			testkit.WaitFor(t, "/metrics to count the revalidation and the stale hits", func() bool {
				return hasAll(h.adminGet("/metrics"), `cdnnode_background_revalidations_total{result="replaced"} 1`, `cdnnode_stale_served_total{reason="while-revalidate"}`)
			})
		})
	}
}

// TestStaleWhileRevalidateFailureKeepsStale proves that a background
// revalidation the origin fails leaves the stale object to be served (and
// revalidated again by a later hit) rather than dropping it.
func TestStaleWhileRevalidateFailureKeepsStale(t *testing.T) {
	t.Parallel()
	o := newStaleOrigin("max-age=60, stale-while-revalidate=600", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
	})
	h := newHarness(t, "h1", o)
	mustGet(t, h, "/swr-fail", nil)
	for i := range 3 {
		before := o.count("/swr-fail")
		resp, body := mustGet(t, h, "/swr-fail", nil)
		if resp.StatusCode != http.StatusOK || body != "stale body" || !strings.Contains(resp.Header.Get("Cache-Status"), "detail=stale-while-revalidate") {
			t.Fatalf("hit %d: %d %q %q, want the stale object", i, resp.StatusCode, body, resp.Header.Get("Cache-Status"))
		}
		testkit.WaitFor(t, "the background revalidation", func() bool { return o.count("/swr-fail") > before })
		testkit.WaitFor(t, "the failure to be counted", func() bool {
			return strings.Contains(h.adminGet("/metrics"), `cdnnode_background_revalidations_total{result="error"} `+strconv.Itoa(i+1))
		})
	}
}

// TestStaleIfError proves when a stale object stands in for an origin that
// fails, is down or times out, and when it must not.
func TestStaleIfError(t *testing.T) {
	tests := []struct {
		name       string
		cc         string            // the stored response's Cache-Control (it arrives 40s stale)
		site       string            // extra [[sites]] keys
		req        map[string]string // the failing request's fields
		fail       string            // "503", "down" or "timeout"
		wantStatus int
		wantCache  []string // in Cache-Status
	}{
		{name: "5xx inside the window", cc: "max-age=60, stale-if-error=600", fail: "503",
			wantStatus: 200, wantCache: []string{"fwd=stale", "fwd-status=503", "detail=stale-if-error"}},
		{name: "origin down", cc: "max-age=60, stale-if-error=600", fail: "down",
			wantStatus: 200, wantCache: []string{"fwd=stale", "detail=stale-if-error"}},
		{name: "origin timeout", cc: "max-age=60, stale-if-error=600", fail: "timeout",
			wantStatus: 200, wantCache: []string{"fwd=stale", "detail=stale-if-error"}},
		{name: "site default window", cc: "max-age=60", site: `stale_if_error = "10m"`, fail: "503",
			wantStatus: 200, wantCache: []string{"fwd-status=503", "detail=stale-if-error"}},
		{name: "request's own window", cc: "max-age=60", req: map[string]string{"Cache-Control": "stale-if-error=3600"}, fail: "503",
			wantStatus: 200, wantCache: []string{"detail=stale-if-error"}},
		{name: "past the window", cc: "max-age=30, stale-if-error=60", fail: "503",
			wantStatus: 503, wantCache: []string{"fwd=stale", "fwd-status=503"}},
		{name: "must-revalidate", cc: "max-age=60, must-revalidate, stale-if-error=600", fail: "503",
			wantStatus: 503, wantCache: []string{"fwd-status=503"}},
		{name: "must-revalidate, origin down", cc: "max-age=60, must-revalidate, stale-if-error=600", fail: "down",
			wantStatus: 502, wantCache: []string{"detail=origin-connect"}},
		{name: "proxy-revalidate", cc: "max-age=60, proxy-revalidate, stale-if-error=600", fail: "503",
			wantStatus: 503, wantCache: []string{"fwd-status=503"}},
		{name: "no-cache response", cc: "no-cache, max-age=60, stale-if-error=600", fail: "503",
			wantStatus: 503, wantCache: []string{"fwd-status=503"}},
		{name: "request no-cache", cc: "max-age=60, stale-if-error=600", req: map[string]string{"Cache-Control": "no-cache"}, fail: "503",
			wantStatus: 503, wantCache: []string{"fwd-status=503"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := newStaleOrigin(tt.cc, func(w http.ResponseWriter, r *http.Request) {
				if tt.fail == "timeout" { // the harness's response_timeout is 2s
					select {
					case <-r.Context().Done():
					case <-time.After(5 * time.Second):
					}
					return
				}
				http.Error(w, "origin error", http.StatusServiceUnavailable)
			})
			var extra []string
			if tt.site != "" {
				extra = append(extra, tt.site)
			}
			h := newHarness(t, "h1", o, extra...)
			if _, body := mustGet(t, h, "/sie", nil); body != "stale body" {
				t.Fatalf("fill: body %q", body)
			}
			if tt.fail == "down" {
				h.origin.Close()
			}
			resp, body := mustGet(t, h, "/sie", tt.req)
			cs := resp.Header.Get("Cache-Status")
			if resp.StatusCode != tt.wantStatus || !hasAll(cs, tt.wantCache...) {
				t.Fatalf("status %d Cache-Status %q, want %d and %q", resp.StatusCode, cs, tt.wantStatus, tt.wantCache)
			}
			if (tt.wantStatus == http.StatusOK) != (body == "stale body") {
				t.Errorf("body %q with status %d", body, resp.StatusCode)
			}
			if tt.wantStatus == http.StatusOK && !strings.Contains(h.adminGet("/metrics"), `cdnnode_stale_served_total{reason="if-error"} 1`) {
				t.Errorf("/metrics does not count the stale-if-error answer")
			}
		})
	}
}

// TestClientDirectivesAndStale proves how the request's own directives
// change what a stale object inside its stale-while-revalidate window may
// do (RFC 9111 §5.2.1, RFC 5861).
func TestClientDirectivesAndStale(t *testing.T) {
	t.Parallel()
	o := newStaleOrigin("max-age=60, stale-while-revalidate=600", nil) // 304s keep it stale
	h := newHarness(t, "h1", o)
	tests := []struct {
		name      string
		cc        string
		wantCache []string
	}{
		{"none", "", []string{"cdnnode; hit", "detail=stale-while-revalidate"}},
		{"max-stale covers it", "max-stale=600", []string{"cdnnode; hit", "detail=max-stale"}},
		{"only-if-cached", "only-if-cached", []string{"cdnnode; hit", "detail=stale-while-revalidate"}},
		{"max-age within the age", "max-age=200", []string{"cdnnode; hit", "detail=stale-while-revalidate"}},
		{"max-age exceeded", "max-age=30", []string{"fwd=stale", "fwd-status=304"}},
		{"min-fresh", "min-fresh=1", []string{"fwd=stale", "fwd-status=304"}},
		{"no-cache", "no-cache", []string{"fwd=stale", "fwd-status=304"}},
	}
	for i, tt := range tests {
		path := "/directives/" + strconv.Itoa(i)
		mustGet(t, h, path, nil)
		var hdr map[string]string
		if tt.cc != "" {
			hdr = map[string]string{"Cache-Control": tt.cc}
		}
		resp, body := mustGet(t, h, path, hdr)
		if cs := resp.Header.Get("Cache-Status"); !hasAll(cs, tt.wantCache...) || body != "stale body" {
			t.Errorf("%s: Cache-Status %q body %q, want %q", tt.name, cs, body, tt.wantCache)
		}
		if tt.name == "max-stale covers it" && o.count(path) != 1 {
			t.Errorf("%s: origin requests %d, want 1: max-stale needs no revalidation", tt.name, o.count(path))
		}
	}
}
