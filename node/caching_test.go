package node_test

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// step is one request of an end-to-end case and what must come back.
type step struct {
	method     string            // default GET
	path       string            // relative to the case's object, e.g. "?cc=no-store"; "=" prefix: absolute path
	header     map[string]string // request fields
	status     int               // default 200
	cache      []string          // substrings Cache-Status must contain
	notCache   []string          // substrings it must not contain
	respHeader map[string]string // exact response field values; "" = must be absent
	check      func(t *testing.T, h *harness, resp *http.Response, body []byte)
}

// cachingCases prove the RFC 9111 rules through the real node. Each case
// works on its own object names, so cases share one node and origin.
var cachingCases = []struct {
	name   string
	steps  []step
	origin int64 // requests the origin must have seen for the case's object; -1 = don't check
}{
	{name: "miss then hit with Age", origin: 1, steps: []step{
		{path: "", cache: []string{"fwd=miss", "stored"}},
		{path: "", cache: []string{"cdnnode; hit; ttl="}, check: func(t *testing.T, h *harness, resp *http.Response, body []byte) {
			if resp.Header.Get("Age") == "" {
				t.Error("hit without Age")
			}
			if !bytes.Equal(body, h.originBody("/obj/miss-then-hit-with-Age")) {
				t.Error("hit body differs from the origin's")
			}
		}},
	}},
	{name: "no-store", origin: 2, steps: []step{
		{path: "?cc=no-store", cache: []string{"fwd=miss", "detail=no-store"}, notCache: []string{"stored"}},
		{path: "?cc=no-store", cache: []string{"fwd=miss", "detail=no-store"}},
	}},
	{name: "private", origin: 2, steps: []step{
		{path: "?cc=private,max-age=60", cache: []string{"detail=private"}},
		{path: "?cc=private,max-age=60", cache: []string{"fwd=miss"}},
	}},
	{name: "authorization needs public", origin: 3, steps: []step{
		{path: "?cc=max-age=60", header: map[string]string{"Authorization": "Bearer x"}, cache: []string{"detail=authorization"}},
		{path: "?cc=public,max-age=60", header: map[string]string{"Authorization": "Bearer x"}, cache: []string{"stored"}},
		{path: "?cc=public,max-age=60", header: map[string]string{"Authorization": "Bearer x"}, cache: []string{"hit"}},
		{path: "?cc=max-age=60", cache: []string{"stored"}},
	}},
	{name: "set-cookie not stored", origin: 2, steps: []step{
		{path: "?setcookie=1", cache: []string{"detail=set-cookie"}},
		{path: "?setcookie=1", cache: []string{"fwd=miss"}},
	}},
	{name: "vary variants", origin: 2, steps: []step{
		{path: "?vary=Accept-Language", header: map[string]string{"Accept-Language": "en"}, cache: []string{"fwd=miss", "stored"}, respHeader: map[string]string{"X-Vary-Value": "en"}},
		{path: "?vary=Accept-Language", header: map[string]string{"Accept-Language": "fr"}, cache: []string{"fwd=vary-miss", "stored"}, respHeader: map[string]string{"X-Vary-Value": "fr"}},
		{path: "?vary=Accept-Language", header: map[string]string{"Accept-Language": "en"}, cache: []string{"hit"}, respHeader: map[string]string{"X-Vary-Value": "en"}},
		{path: "?vary=Accept-Language", header: map[string]string{"Accept-Language": "fr"}, cache: []string{"hit"}, respHeader: map[string]string{"X-Vary-Value": "fr"}},
	}},
	{name: "vary variant revalidated alone", origin: 4, steps: []step{
		{path: "?vary=Accept-Language&etag=1&cc=max-age=0", header: map[string]string{"Accept-Language": "en"}, cache: []string{"fwd=miss", "stored"}},
		{path: "?vary=Accept-Language&etag=1&cc=max-age=0", header: map[string]string{"Accept-Language": "fr"}, cache: []string{"fwd=vary-miss", "stored"}},
		{path: "?vary=Accept-Language&etag=1&cc=max-age=0", header: map[string]string{"Accept-Language": "en"}, cache: []string{"fwd=stale", "fwd-status=304"}, respHeader: map[string]string{"X-Vary-Value": "en"}},
		{path: "?vary=Accept-Language&etag=1&cc=max-age=0", header: map[string]string{"Accept-Language": "fr"}, cache: []string{"fwd=stale", "fwd-status=304"}, respHeader: map[string]string{"X-Vary-Value": "fr"}},
	}},
	{name: "vary star", origin: 2, steps: []step{
		{path: "?vary=*", cache: []string{"detail=vary-star"}},
		{path: "?vary=*", cache: []string{"fwd=miss"}},
	}},
	{name: "s-maxage over max-age", origin: 1, steps: []step{
		{path: "?cc=max-age=1000,s-maxage=30", cache: []string{"stored"}},
		{path: "?cc=max-age=1000,s-maxage=30", check: wantTTL(28, 30)},
	}},
	{name: "expires minus date", origin: 1, steps: []step{
		{path: "?cc=&expires={now+100s}", cache: []string{"stored"}},
		{path: "?cc=&expires={now+100s}", check: wantTTL(90, 101)},
	}},
	{name: "invalid expires is stale", origin: 2, steps: []step{
		{path: "?cc=&expires=0", cache: []string{"fwd=miss"}},
		{path: "?cc=&expires=0", cache: []string{"fwd=stale"}},
	}},
	{name: "heuristic freshness", origin: 1, steps: []step{
		{path: "?cc=&lastmod={now-100h}", cache: []string{"stored"}},
		// 10% of 100 hours.
		{path: "?cc=&lastmod={now-100h}", check: wantTTL(10*3600-60, 10*3600+1)},
	}},
	{name: "no freshness not stored", origin: 2, steps: []step{
		{path: "?cc=", cache: []string{"detail=no-freshness"}},
		{path: "?cc=", cache: []string{"fwd=miss"}},
	}},
	{name: "404 with max-age cached", origin: 1, steps: []step{
		{path: "?status=404&cc=max-age=60", status: 404, cache: []string{"stored"}},
		{path: "?status=404&cc=max-age=60", status: 404, cache: []string{"hit"}},
	}},
	{name: "500 without freshness not cached", origin: 2, steps: []step{
		{path: "?status=500&cc=", status: 500, cache: []string{"detail=status"}},
		{path: "?status=500&cc=", status: 500, cache: []string{"fwd=miss"}},
	}},
	{name: "only-if-cached", origin: 1, steps: []step{
		{header: map[string]string{"Cache-Control": "only-if-cached"}, status: 504, cache: []string{"detail=only-if-cached"}},
		{cache: []string{"stored"}},
		{header: map[string]string{"Cache-Control": "only-if-cached"}, cache: []string{"hit"}},
	}},
	{name: "request no-cache revalidates", origin: 2, steps: []step{
		{cache: []string{"stored"}},
		{header: map[string]string{"Cache-Control": "no-cache"}, cache: []string{"fwd=request", "stored"}},
	}},
	{name: "request max-age=0 revalidates", origin: 2, steps: []step{
		{cache: []string{"stored"}},
		{header: map[string]string{"Cache-Control": "max-age=0"}, cache: []string{"fwd=request"}},
	}},
	{name: "HEAD from stored GET", origin: 1, steps: []step{
		{cache: []string{"stored"}},
		{method: "HEAD", cache: []string{"hit"}, respHeader: map[string]string{"Content-Length": "1024"}, check: wantEmptyBody},
	}},
	{name: "HEAD miss fills for GET", origin: 1, steps: []step{
		{method: "HEAD", cache: []string{"fwd=miss", "stored"}, check: wantEmptyBody},
		{cache: []string{"hit"}, check: wantLen(1024)},
	}},
	{name: "If-None-Match answered 304 from cache", origin: 1, steps: []step{
		{path: "?etag=1", cache: []string{"stored"}, check: func(t *testing.T, h *harness, resp *http.Response, body []byte) {
			if resp.Header.Get("ETag") == "" {
				t.Fatal("origin sent no ETag")
			}
		}},
		{path: "?etag=1", header: map[string]string{"If-None-Match": "*"}, status: 304, cache: []string{"hit"}, check: wantEmptyBody},
	}},
	{name: "revalidation 304 refreshes", origin: 2, steps: []step{
		{path: "?etag=1&cc=max-age=0", cache: []string{"stored"}},
		{path: "?etag=1&cc=max-age=0", cache: []string{"fwd=stale", "fwd-status=304"}, check: wantLen(1024)},
	}},
	{name: "single range", origin: 1, steps: []step{
		{cache: []string{"stored"}},
		{header: map[string]string{"Range": "bytes=10-19"}, status: 206, cache: []string{"hit"}, respHeader: map[string]string{"Content-Range": "bytes 10-19/1024"},
			check: func(t *testing.T, h *harness, resp *http.Response, body []byte) {
				if want := h.originBody("/obj/single-range")[10:20]; !bytes.Equal(body, want) {
					t.Errorf("range body = %q, want %q", body, want)
				}
			}},
		{header: map[string]string{"Range": "bytes=-4"}, status: 206, respHeader: map[string]string{"Content-Range": "bytes 1020-1023/1024"}, check: wantLen(4)},
	}},
	{name: "multipart ranges", origin: 1, steps: []step{
		{cache: []string{"stored"}},
		{header: map[string]string{"Range": "bytes=0-1,100-104"}, status: 206, check: func(t *testing.T, h *harness, resp *http.Response, body []byte) {
			full := h.originBody("/obj/multipart-ranges")
			mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
			if err != nil || mt != "multipart/byteranges" {
				t.Fatalf("Content-Type = %q (%v), want multipart/byteranges", resp.Header.Get("Content-Type"), err)
			}
			mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
			want := []struct {
				cr   string
				body []byte
			}{{"bytes 0-1/1024", full[0:2]}, {"bytes 100-104/1024", full[100:105]}}
			for i, w := range want {
				part, err := mr.NextPart()
				if err != nil {
					t.Fatalf("part %d: %v", i, err)
				}
				got, _ := io.ReadAll(part)
				if part.Header.Get("Content-Range") != w.cr || !bytes.Equal(got, w.body) {
					t.Errorf("part %d = %q %q, want %q %q", i, part.Header.Get("Content-Range"), got, w.cr, w.body)
				}
			}
			if _, err := mr.NextPart(); err != io.EOF {
				t.Errorf("after the last part: %v, want EOF", err)
			}
		}},
	}},
	{name: "unsatisfiable range", origin: 1, steps: []step{
		{cache: []string{"stored"}},
		{header: map[string]string{"Range": "bytes=5000-6000"}, status: 416, respHeader: map[string]string{"Content-Range": "bytes */1024"}},
	}},
	{name: "If-Range mismatch serves whole", origin: 1, steps: []step{
		{path: "?etag=1", cache: []string{"stored"}},
		{path: "?etag=1", header: map[string]string{"Range": "bytes=0-9", "If-Range": `"nope"`}, status: 200, check: wantLen(1024)},
	}},
	{name: "POST invalidates", origin: 3, steps: []step{
		{cache: []string{"stored"}},
		{cache: []string{"hit"}},
		{method: "POST", status: 204, cache: []string{"fwd=bypass", "detail=method"}},
		{cache: []string{"fwd=miss", "stored"}},
	}},
	{name: "POST invalidates Location", origin: -1, steps: []step{
		{path: "=/obj/POST-invalidates-Location-target", cache: []string{"stored"}},
		{method: "POST", path: "?location=/obj/POST-invalidates-Location-target", status: 204},
		{path: "=/obj/POST-invalidates-Location-target", cache: []string{"fwd=miss"}},
	}},
	{name: "CDN-Cache-Control precedence and stripping", origin: 1, steps: []step{
		{path: "?cc=no-store&cdncc=max-age=100", cache: []string{"stored"}, respHeader: map[string]string{"CDN-Cache-Control": "", "Cache-Control": "no-store"}},
		{path: "?cc=no-store&cdncc=max-age=100", cache: []string{"hit"}, respHeader: map[string]string{"CDN-Cache-Control": "", "Cache-Control": "no-store"}, check: wantTTL(95, 100)},
	}},
	{name: "CDN-Cache-Control no-store wins", origin: 2, steps: []step{
		{path: "?cc=max-age=100&cdncc=no-store", cache: []string{"detail=no-store"}, respHeader: map[string]string{"CDN-Cache-Control": ""}},
		{path: "?cc=max-age=100&cdncc=no-store", cache: []string{"fwd=miss"}},
	}},
	{name: "surrogate keys not forwarded", origin: 1, steps: []step{
		{path: "?tags=a,b", cache: []string{"stored"}, respHeader: map[string]string{"Surrogate-Key": ""}},
		{path: "?tags=a,b", cache: []string{"hit"}, respHeader: map[string]string{"Surrogate-Key": ""}},
	}},
	{name: "chunked origin body stored", origin: 1, steps: []step{
		{path: "?chunked=1&size=100000", cache: []string{"stored"}, check: wantLen(100000)},
		{path: "?chunked=1&size=100000", cache: []string{"hit"}, respHeader: map[string]string{"Content-Length": "100000"}, check: wantLen(100000)},
	}},
}

// TestCaching runs every caching case over HTTP/1.1, h2c and h2 over TLS.
func TestCaching(t *testing.T) {
	for _, proto := range protocols {
		t.Run(proto, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, proto, nil)
			for _, tc := range cachingCases {
				t.Run(tc.name, func(t *testing.T) {
					obj := "/obj/" + strings.ReplaceAll(tc.name, " ", "-")
					now := time.Now() // one instant for every step: the same URL each time
					for i, s := range tc.steps {
						runStep(t, h, obj, now, i, s)
					}
					if tc.origin >= 0 {
						if got := h.originCount(obj); got != tc.origin {
							t.Errorf("origin saw %d requests for %s, want %d", got, obj, tc.origin)
						}
					}
				})
			}
		})
	}
}

func runStep(t *testing.T, h *harness, obj string, now time.Time, i int, s step) {
	t.Helper()
	method := s.method
	if method == "" {
		method = http.MethodGet
	}
	path := obj + expandTimes(s.path, now)
	if strings.HasPrefix(s.path, "=") {
		path = s.path[1:]
	}
	resp, body, err := h.do(method, path, s.header)
	if err != nil {
		t.Fatalf("step %d %s %s: %v", i, method, path, err)
	}
	if resp.Proto != h.proto {
		t.Errorf("step %d: proto %s, want %s", i, resp.Proto, h.proto)
	}
	want := s.status
	if want == 0 {
		want = http.StatusOK
	}
	cs := resp.Header.Get("Cache-Status")
	if resp.StatusCode != want {
		t.Errorf("step %d %s %s: status %d, want %d (Cache-Status %q)", i, method, path, resp.StatusCode, want, cs)
	}
	if !hasAll(cs, s.cache...) {
		t.Errorf("step %d %s %s: Cache-Status = %q, want it to contain %q", i, method, path, cs, s.cache)
	}
	for _, no := range s.notCache {
		if strings.Contains(cs, no) {
			t.Errorf("step %d: Cache-Status = %q, must not contain %q", i, cs, no)
		}
	}
	for k, v := range s.respHeader {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("step %d: %s = %q, want %q", i, k, got, v)
		}
	}
	if s.check != nil {
		s.check(t, h, resp, body)
	}
}

// timeRef matches a placeholder such as {now+100s} or {now-100h}.
var timeRef = regexp.MustCompile(`\{now([+-][0-9a-z]+)\}`)

// expandTimes replaces each {now±duration} in path with that HTTP-date,
// query-escaped.
func expandTimes(path string, now time.Time) string {
	return timeRef.ReplaceAllStringFunc(path, func(m string) string {
		d, err := time.ParseDuration(timeRef.FindStringSubmatch(m)[1])
		if err != nil {
			panic(fmt.Sprintf("bad time placeholder %s: %v", m, err))
		}
		return url.QueryEscape(now.Add(d).UTC().Format(http.TimeFormat))
	})
}

// wantTTL checks that Cache-Status reports a hit whose ttl is in [lo, hi].
func wantTTL(lo, hi int) func(*testing.T, *harness, *http.Response, []byte) {
	return func(t *testing.T, _ *harness, resp *http.Response, _ []byte) {
		t.Helper()
		cs := resp.Header.Get("Cache-Status")
		_, after, ok := strings.Cut(cs, "ttl=")
		if !ok {
			t.Fatalf("Cache-Status = %q, want a hit with ttl", cs)
		}
		ttl, err := strconv.Atoi(strings.SplitN(after, ";", 2)[0])
		if err != nil || ttl < lo || ttl > hi {
			t.Errorf("Cache-Status = %q: ttl %d, want within [%d, %d]", cs, ttl, lo, hi)
		}
	}
}

func wantLen(n int) func(*testing.T, *harness, *http.Response, []byte) {
	return func(t *testing.T, _ *harness, _ *http.Response, body []byte) {
		t.Helper()
		if len(body) != n {
			t.Errorf("body is %d bytes, want %d", len(body), n)
		}
	}
}

func wantEmptyBody(t *testing.T, _ *harness, _ *http.Response, body []byte) {
	t.Helper()
	if len(body) != 0 {
		t.Errorf("body is %d bytes, want none", len(body))
	}
}
