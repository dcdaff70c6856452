package node_test

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cdnnode/cdnnode/demoorigin"
)

// getAll sends n concurrent GETs for path and returns their bodies and
// Cache-Status values.
func getAll(t *testing.T, h *harness, path string, n int) (bodies [][]byte, statuses []string) {
	t.Helper()
	bodies, statuses = make([][]byte, n), make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			resp, body, err := h.do(http.MethodGet, path, nil)
			if err != nil {
				t.Errorf("request %d: %v", i, err)
				return
			}
			if resp.StatusCode != http.StatusOK {
				t.Errorf("request %d: status %d", i, resp.StatusCode)
			}
			bodies[i], statuses[i] = body, resp.Header.Get("Cache-Status")
		})
	}
	wg.Wait()
	return bodies, statuses
}

func TestCollapseStampedeIsOneOriginRequest(t *testing.T) {
	for _, proto := range protocols {
		t.Run(proto, func(t *testing.T) {
			h := newHarness(t, proto, nil)
			const path = "/obj/stampede?delay=300ms&size=20000"
			bodies, statuses := getAll(t, h, path, 200)
			if got := h.originCount("/obj/stampede"); got != 1 {
				t.Fatalf("origin requests = %d, want 1", got)
			}
			want := h.originBody(path)
			collapsed := 0
			for i, b := range bodies {
				if !bytes.Equal(b, want) {
					t.Fatalf("request %d: body of %d bytes differs from the origin's %d", i, len(b), len(want))
				}
				if strings.Contains(statuses[i], "collapsed") {
					collapsed++
				}
			}
			if collapsed == 0 {
				t.Errorf("no response says collapsed: %q", statuses[:3])
			}
			if m := h.adminGet("/metrics"); !strings.Contains(m, `cdnnode_cache_lock_waits_total{result="served"}`) {
				t.Errorf("/metrics lacks served lock waits")
			}
		})
	}
}

// gatedOrigin serves the demo origin, except /obj/slow: a 1 MiB body whose
// first 64 KiB are sent and flushed at once and the rest only when release
// is closed. started is closed when /obj/slow is first requested.
type gatedOrigin struct {
	demo     *demoorigin.Server
	started  chan struct{}
	release  chan struct{}
	once     sync.Once
	requests atomic.Int64
}

const slowSize = 1 << 20

func slowBody() []byte {
	b := make([]byte, slowSize)
	for i := range b {
		b[i] = byte('a' + i%26)
	}
	return b
}

func (g *gatedOrigin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/obj/slow" {
		g.demo.ServeHTTP(w, r)
		return
	}
	g.requests.Add(1)
	body := slowBody()
	w.Header().Set("Cache-Control", "public, max-age=60")
	w.Header().Set("Content-Length", "1048576")
	w.WriteHeader(http.StatusOK)
	w.Write(body[:64<<10])
	http.NewResponseController(w).Flush()
	g.once.Do(func() { close(g.started) })
	select {
	case <-g.release:
	case <-r.Context().Done():
		return
	case <-time.After(10 * time.Second):
		return
	}
	w.Write(body[64<<10:])
}

func newGated() *gatedOrigin {
	return &gatedOrigin{demo: demoorigin.New(nil), started: make(chan struct{}), release: make(chan struct{})}
}

func TestCollapseReadersGetFirstByteBeforeOriginFinishes(t *testing.T) {
	g := newGated()
	h := newHarness(t, "h1", g)
	writer := make(chan []byte, 1)
	go func() {
		_, body, err := h.do(http.MethodGet, "/obj/slow", nil)
		if err != nil {
			t.Errorf("writer: %v", err)
		}
		writer <- body
	}()
	<-g.started
	const readers = 10
	var wg sync.WaitGroup
	first := make(chan struct{}, readers)
	bodies := make([][]byte, readers)
	for i := range readers {
		wg.Go(func() {
			resp, err := h.client.Get(h.base + "/obj/slow")
			if err != nil {
				t.Errorf("reader %d: %v", i, err)
				first <- struct{}{}
				return
			}
			defer resp.Body.Close()
			if cs := resp.Header.Get("Cache-Status"); !strings.Contains(cs, "collapsed") {
				t.Errorf("reader %d: Cache-Status %q, want collapsed", i, cs)
			}
			buf := make([]byte, 1)
			if _, err := io.ReadFull(resp.Body, buf); err != nil {
				t.Errorf("reader %d: first byte: %v", i, err)
			}
			first <- struct{}{}
			rest, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Errorf("reader %d: %v", i, err)
			}
			bodies[i] = append(buf, rest...)
		})
	}
	for range readers { // every reader has its first byte while the origin still holds the rest
		<-first
	}
	close(g.release)
	wg.Wait()
	want := slowBody()
	if got := <-writer; !bytes.Equal(got, want) {
		t.Fatalf("writer got %d bytes, want the %d-byte body", len(got), len(want))
	}
	for i, b := range bodies {
		if !bytes.Equal(b, want) {
			t.Fatalf("reader %d got %d bytes, want the %d-byte body", i, len(b), len(want))
		}
	}
	if n := g.requests.Load(); n != 1 {
		t.Fatalf("origin requests for /obj/slow = %d, want 1", n)
	}
}

func TestCollapseWriterClientLeavingDoesNotHurtReaders(t *testing.T) {
	g := newGated()
	h := newHarness(t, "h1", g)
	addr := strings.TrimPrefix(h.base, "http://")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("GET /obj/slow HTTP/1.1\r\nHost: " + addr + "\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	<-g.started
	if _, err := c.Read(make([]byte, 512)); err != nil { // the head arrived: the fill streams
		t.Fatal(err)
	}
	resp, err := h.client.Get(h.base + "/obj/slow")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	c.Close() // the writer's client goes away mid-body
	close(g.release)
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reader: %v", err)
	}
	if !bytes.Equal(body, slowBody()) {
		t.Fatalf("reader got %d bytes, want %d", len(body), slowSize)
	}
	// The fill completed for the cache as well.
	resp2, _, err := h.do(http.MethodGet, "/obj/slow", nil)
	if err != nil {
		t.Fatal(err)
	}
	if cs := resp2.Header.Get("Cache-Status"); !strings.Contains(cs, "; hit") {
		t.Fatalf("after the fill, Cache-Status = %q, want a hit", cs)
	}
	if n := g.requests.Load(); n != 1 {
		t.Fatalf("origin requests = %d, want 1", n)
	}
}

// inflightOrigin counts the demo origin's concurrent requests.
type inflightOrigin struct {
	demo     *demoorigin.Server
	cur, max atomic.Int64
}

func (o *inflightOrigin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := o.cur.Add(1)
	defer o.cur.Add(-1)
	for m := o.max.Load(); n > m && !o.max.CompareAndSwap(m, n); m = o.max.Load() {
	}
	o.demo.ServeHTTP(w, r)
}

func TestCollapseUncacheableReleasesReadersThenHitForPass(t *testing.T) {
	o := &inflightOrigin{demo: demoorigin.New(nil)}
	h := newHarness(t, "h1", o)
	h.demo = o.demo
	const path = "/obj/private?cc=private&delay=200ms"
	_, statuses := getAll(t, h, path, 20)
	if got := h.originCount("/obj/private"); got != 20 {
		t.Fatalf("origin requests = %d, want all 20 (readers released to fetch)", got)
	}
	for _, cs := range statuses {
		if strings.Contains(cs, "collapsed") {
			t.Fatalf("an uncacheable response was shared: %q", cs)
		}
	}
	o.max.Store(0)
	_, statuses = getAll(t, h, path, 50)
	if got := h.originCount("/obj/private"); got != 70 {
		t.Fatalf("origin requests = %d, want 70", got)
	}
	if m := o.max.Load(); m < 25 {
		t.Fatalf("at most %d of 50 hit-for-pass requests reached the origin together; want them in parallel", m)
	}
	for _, cs := range statuses {
		if !strings.Contains(cs, "; hit-for-pass") || !strings.Contains(cs, "detail=private") {
			t.Fatalf("Cache-Status %q, want hit-for-pass and detail=private", cs)
		}
	}
	if m := h.adminGet("/metrics"); !strings.Contains(m, "cdnnode_cache_hit_for_pass_entries 1") {
		t.Errorf("/metrics does not show the hit-for-pass entry")
	}
}

func TestCollapseLockTimeout(t *testing.T) {
	h := newHarness(t, "h1", nil, "[cache]", `lock_timeout = "50ms"`)
	const path = "/obj/lt?delay=1s"
	done := make(chan struct{})
	go func() {
		defer close(done)
		if _, _, err := h.do(http.MethodGet, path, nil); err != nil {
			t.Errorf("writer: %v", err)
		}
	}()
	deadline := time.Now().Add(5 * time.Second)
	for h.originCount("/obj/lt") == 0 && time.Now().Before(deadline) { // bounded: the writer reaches the origin at once
		time.Sleep(5 * time.Millisecond)
	}
	resp, body, err := h.do(http.MethodGet, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	<-done
	if cs := resp.Header.Get("Cache-Status"); !strings.Contains(cs, "detail=lock-timeout") {
		t.Fatalf("Cache-Status = %q, want detail=lock-timeout", cs)
	}
	if !bytes.Equal(body, h.originBody(path)) {
		t.Fatal("lock-timeout response body differs from the origin's")
	}
	if got := h.originCount("/obj/lt"); got != 2 {
		t.Fatalf("origin requests = %d, want 2", got)
	}
}
