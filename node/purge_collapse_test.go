package node_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cdnnode/cdnnode/internal/testkit"
	"github.com/cdnnode/cdnnode/purge"
)

// How a purgeRaceOrigin path's slow request is slow.
const (
	lateHead = "late-head" // the first request waits a second before its head
	lateBody = "late-body" // the first request sends its head, then its body when released
	late304  = "late-304"  // the first request is stored; the first revalidation waits a second before its 304
)

// racePath is one path of a purgeRaceOrigin.
type racePath struct {
	slow     string
	requests atomic.Int64
	release  chan struct{} // closed by the test: a lateBody body may end
}

// purgeRaceOrigin answers each of its paths with "<path> #n", n counting
// the path's requests, tagged with the path's surrogate key (raceTag), and
// makes one request of each path slow as its racePath says.
type purgeRaceOrigin map[string]*racePath

// raceTag is the surrogate key the origin tags path's responses with.
func raceTag(path string) string { return "race" + strings.ReplaceAll(path, "/", "-") }

// raceBody is the body of path's n-th response.
func raceBody(path string, n int64) string { return fmt.Sprintf("%s #%d", path, n) }

// wait waits d, or less if the node gives up on the request.
func wait(r *http.Request, d time.Duration) {
	select {
	case <-time.After(d):
	case <-r.Context().Done():
	}
}

func (o purgeRaceOrigin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := o[r.URL.Path]
	if p == nil {
		http.NotFound(w, r)
		return
	}
	n := p.requests.Add(1)
	h := w.Header()
	h.Set("Surrogate-Key", raceTag(r.URL.Path))
	h.Set("Content-Type", "application/octet-stream")
	h.Set("ETag", `"1"`)
	if p.slow == late304 {
		h.Set("Cache-Control", "max-age=0") // each request revalidates
		if r.Header.Get("If-None-Match") == `"1"` {
			if n == 2 {
				wait(r, time.Second)
			}
			w.WriteHeader(http.StatusNotModified)
			return
		}
	} else {
		h.Set("Cache-Control", "max-age=600")
	}
	body := raceBody(r.URL.Path, n)
	switch {
	case n == 1 && p.slow == lateHead:
		wait(r, time.Second)
	case n == 1 && p.slow == lateBody:
		h.Set("Content-Length", fmt.Sprint(len(body)))
		_, _ = io.WriteString(w, body[:3])
		_ = http.NewResponseController(w).Flush()
		select {
		case <-p.release:
		case <-r.Context().Done():
			return
		case <-time.After(30 * time.Second): // the test failed before releasing it
		}
		_, _ = io.WriteString(w, body[3:])
		return
	}
	_, _ = io.WriteString(w, body)
}

// TestPurgeCollapsedReaders proves DESIGN invariant 2 for requests that
// find a fill in flight: a request arriving after a purge has answered
// never reads along a fill that began before it, whether the fill is
// waiting for its head, streaming its body or revalidating (a 304), and
// whether the purge names the URL or its surrogate key. The request
// fetches on its own: the origin sees it and it gets the new body.
func TestPurgeCollapsedReaders(t *testing.T) {
	t.Parallel()
	o := purgeRaceOrigin{}
	type tc struct{ slow, purge string }
	var cases []tc
	for _, slow := range []string{lateHead, lateBody, late304} {
		for _, kind := range []string{"exact", "tag"} {
			cases = append(cases, tc{slow, kind})
			o["/"+slow+"/"+kind] = &racePath{slow: slow, release: make(chan struct{})}
		}
	}
	h := newHarness(t, "h1", o)
	for _, c := range cases {
		t.Run(c.slow+"/"+c.purge, func(t *testing.T) {
			t.Parallel()
			path := "/" + c.slow + "/" + c.purge
			p := o[path]
			filled := int64(1) // origin requests once the slow one is in flight
			if c.slow == late304 {
				mustGet(t, h, path, nil) // stored, stale at once
				filled = 2
			}
			fill := make(chan string, 1)
			go func() {
				_, body, err := h.do(http.MethodGet, path, nil)
				if err != nil {
					t.Errorf("the slow fill: %v", err)
				}
				fill <- string(body)
			}()
			testkit.WaitFor(t, "the slow fill to reach the origin", func() bool { return p.requests.Load() == filled })

			switch status := http.StatusOK; c.purge {
			case "exact":
				if c.slow != late304 {
					status = http.StatusNotFound // nothing stored yet: the ban still holds
				}
				purgeOK(t, h, path, nil, status)
			case "tag":
				purgeOK(t, h, "/", map[string]string{purge.TagField: raceTag(path)}, status)
			}

			req, err := http.NewRequest(http.MethodGet, h.base+path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := h.client.Do(req)
			close(p.release) // a reader along a slow body has its head by now
			if err != nil {
				t.Fatalf("GET after the purge: %v", err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatalf("GET after the purge: body: %v", err)
			}
			want := raceBody(path, filled+1)
			if cs := resp.Header.Get("Cache-Status"); string(body) != want || strings.Contains(cs, "collapsed") {
				t.Errorf("GET after the purge: %q, Cache-Status %q; want %q from the origin, not read along the purged fill", body, cs, want)
			}
			if got := p.requests.Load(); got != filled+1 {
				t.Errorf("origin requests = %d, want %d: the GET after the purge fetches on its own", got, filled+1)
			}

			old := <-fill // the fill's own request came before the purge
			if _, body := mustGet(t, h, path, nil); body == old {
				t.Errorf("once the purged fill is done, GET serves its body %q", body)
			}
		})
	}
}

// TestPurgeBansOutliveFills proves that the sweeper never expires a ban
// that a fill in flight could be named by, while it still expires older
// ones; so that a purge storm costs a fill nothing unless a purge names
// it. A slow fill of /k is in flight; an anchor fill, in flight since
// before it, holds an unrelated ban made between the two (/u0), and
// after /k began another ban comes: of something unrelated (/u1), or of
// /k itself. Once the anchor is done the older ban expires, proof the
// sweeper passed with the newer one to expire, which stays as long as
// the fill of /k is in flight, and expires after it:
//
//   - unrelated: readers arriving after that pass read along the one fill
//     (the origin sees one request for /k), and what it stored is a hit;
//   - of /k: the readers fetch on their own, and what the fill stored is
//     dropped.
func TestPurgeBansOutliveFills(t *testing.T) {
	t.Parallel()
	for _, purged := range []string{"/u1", "/k"} {
		t.Run("purge "+purged, func(t *testing.T) {
			t.Parallel()
			o := purgeRaceOrigin{
				"/anchor": {slow: lateBody, release: make(chan struct{})},
				"/k":      {slow: lateBody, release: make(chan struct{})},
				"/u0":     {},
				"/u1":     {},
			}
			// The fills wait for the test, with no progress, far longer than
			// the default lock_age_timeout on a loaded machine.
			h := newHarness(t, "h1", o, "[cache]", `lock_age_timeout = "60s"`)
			release := map[string]func(){}
			for _, path := range []string{"/anchor", "/k"} {
				release[path] = sync.OnceFunc(func() { close(o[path].release) })
				t.Cleanup(release[path]) // before the origin closes, should the test fail first
			}
			fill := func(path string) <-chan string {
				done := make(chan string, 1)
				go func() {
					_, body, err := h.do(http.MethodGet, path, nil)
					if err != nil {
						t.Errorf("the slow fill of %s: %v", path, err)
					}
					done <- string(body)
				}()
				testkit.WaitFor(t, "the fill of "+path+" to reach the origin", func() bool { return o[path].requests.Load() == 1 })
				return done
			}
			anchor := fill("/anchor")
			purgeOK(t, h, "/u0", nil, http.StatusNotFound) // a ban all the same
			k := fill("/k")
			purgeOK(t, h, purged, nil, http.StatusNotFound)
			if got := bansLeft(h); got != 2 {
				t.Fatalf("bans with both fills in flight = %v, want 2: the anchor holds both", got)
			}
			release["/anchor"]()
			if body := <-anchor; body != raceBody("/anchor", 1) {
				t.Errorf("the anchor fill: %q", body)
			}
			testkit.WaitFor(t, "the ban older than the fill of /k to expire", func() bool { return bansLeft(h) <= 1 })
			if got := bansLeft(h); got != 1 {
				t.Fatalf("bans with the fill of /k in flight = %v, want 1: the ban made since it began stays", got)
			}

			const readers = 3
			waits := func() float64 { return sumMetric(h.adminGet("/metrics"), "cdnnode_cache_lock_wait_seconds_count") }
			type answer struct{ body, status string }
			answers := make(chan answer, readers)
			for range readers {
				go func() {
					resp, body, err := h.do(http.MethodGet, "/k", nil)
					if err != nil {
						t.Errorf("a reader of /k: %v", err)
						answers <- answer{}
						return
					}
					answers <- answer{string(body), resp.Header.Get("Cache-Status")}
				}()
			}
			found := func() bool { return waits() == readers }
			if purged == "/k" {
				// Turned away, the readers fetch on their own, quickly, and
				// one may hit what another stored before it came.
				found = func() bool { return len(answers) == readers }
			}
			testkit.WaitFor(t, "the readers to find the fill of /k", found)
			release["/k"]()
			if body := <-k; body != raceBody("/k", 1) {
				t.Errorf("the fill of /k: %q", body)
			}
			for range readers {
				a := <-answers
				collapsed := a.body == raceBody("/k", 1) && strings.Contains(a.status, "collapsed")
				if want := purged != "/k"; collapsed != want {
					t.Errorf("a reader of /k: %q, Cache-Status %q; want read along the fill: %v", a.body, a.status, want)
				}
			}
			testkit.WaitFor(t, "the last ban to expire once the fill of /k is done", func() bool { return bansLeft(h) == 0 })

			fromOrigin := o["/k"].requests.Load()
			resp, body := mustGet(t, h, "/k", nil)
			cs := resp.Header.Get("Cache-Status")
			switch purged {
			case "/k":
				if body == raceBody("/k", 1) {
					t.Errorf("after the purge of /k, GET serves the purged fill's body: %q, Cache-Status %q", body, cs)
				}
			default:
				if fromOrigin != 1 {
					t.Errorf("origin requests for /k = %d, want 1: a purge of something else turned readers away", fromOrigin)
				}
				if body != raceBody("/k", 1) || !strings.HasPrefix(cs, "cdnnode; hit") {
					t.Errorf("after the fill: %q, Cache-Status %q; want its body, a hit", body, cs)
				}
			}
		})
	}
}

// TestPurgeStaleReader proves DESIGN invariant 2 for a request that found
// a stale object before a purge and waits on its revalidation: the purge
// names the revalidation, so the request fetches on its own, and since it
// names the stale object too, unconditionally: a 304 to its validators
// must not bring the purged body back, to it or to anyone after.
func TestPurgeStaleReader(t *testing.T) {
	t.Parallel()
	const path = "/stale-reader"
	o := purgeRaceOrigin{path: {slow: late304}}
	h := newHarness(t, "h1", o)
	metric := func(name string) float64 { return sumMetric(h.adminGet("/metrics"), name) }
	mustGet(t, h, path, nil) // stored, stale at once
	testkit.WaitFor(t, "the first fill to be stored", func() bool { return metric("cdnnode_cache_fills_in_flight") == 0 })

	revalidation := make(chan string, 1)
	go func() {
		_, body, err := h.do(http.MethodGet, path, nil)
		if err != nil {
			t.Errorf("the slow revalidation: %v", err)
		}
		revalidation <- string(body)
	}()
	testkit.WaitFor(t, "the revalidation to reach the origin", func() bool { return o[path].requests.Load() == 2 })
	hits := metric("cdnnode_cache_hits_total")
	type answer struct{ body, status string }
	reader := make(chan answer, 1)
	go func() {
		resp, body, err := h.do(http.MethodGet, path, nil)
		if err != nil {
			t.Errorf("the reader: %v", err)
			reader <- answer{}
			return
		}
		reader <- answer{string(body), resp.Header.Get("Cache-Status")}
	}()
	testkit.WaitFor(t, "the reader to find the stale object", func() bool { return metric("cdnnode_cache_hits_total") > hits })
	purgeOK(t, h, path, nil, http.StatusOK)

	a := <-reader
	if want := raceBody(path, 3); a.body != want || !hasAll(a.status, "fwd=stale", "detail=fill-purged") {
		t.Errorf("the reader: %q, Cache-Status %q; want %q fetched on its own past the purged revalidation", a.body, a.status, want)
	}
	if body := <-revalidation; body != raceBody(path, 1) { // it came before the purge
		t.Errorf("the revalidation: %q", body)
	}
	if _, body := mustGet(t, h, path, nil); body == raceBody(path, 1) {
		t.Errorf("after the purge, GET serves the purged body %q", body)
	}
}
