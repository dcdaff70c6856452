package node_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
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
		case <-time.After(10 * time.Second): // the test failed before releasing it
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
