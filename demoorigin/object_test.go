package demoorigin

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"strconv"
	"testing"
	"time"
)

func TestObjectBody(t *testing.T) {
	_, ts := newOrigin(t)
	_, a1 := get(t, ts, "/obj/a?size=5000")
	_, a2 := get(t, ts, "/obj/a?size=5000&x=other-key")
	_, b := get(t, ts, "/obj/b?size=5000")
	_, def := get(t, ts, "/obj/a")
	_, nested := get(t, ts, "/obj/dir/a?size=5000")
	if got, want := len(a1), 5000; got != want {
		t.Fatalf("len(body) = %d, want %d", got, want)
	}
	if !bytes.Equal(a1, a2) {
		t.Error("same name and size: bodies differ")
	}
	if !bytes.Equal(a1, expected("a", 5000)) {
		t.Error("body differs from the generator's")
	}
	if bytes.Equal(a1, b) {
		t.Error("different names: bodies equal")
	}
	if bytes.Equal(a1, nested) {
		t.Error("a and dir/a: bodies equal")
	}
	if got, want := len(def), defaultSize; got != want {
		t.Errorf("default len(body) = %d, want %d", got, want)
	}
	for i, c := range a1 {
		if c < 0x20 || c > 0x7e {
			t.Fatalf("body[%d] = %#x, not printable ASCII", i, c)
		}
	}
	// A second server answers with the same bytes.
	_, ts2 := newOrigin(t)
	if _, other := get(t, ts2, "/obj/a?size=5000"); !bytes.Equal(a1, other) {
		t.Error("two servers: bodies differ")
	}
}

func TestObjectBodyKinds(t *testing.T) {
	_, ts := newOrigin(t)
	for _, kind := range kinds {
		t.Run(kind.String(), func(t *testing.T) {
			resp, body := get(t, ts, "/obj/dir/k?size=70001&body="+kind.String())
			if resp.StatusCode != http.StatusOK || resp.ContentLength != 70001 {
				t.Fatalf("status %d, Content-Length %d; want 200, 70001", resp.StatusCode, resp.ContentLength)
			}
			if !bytes.Equal(body, generate(kind, bodySeed("dir/k", false, ""), 70001, 70001)) {
				t.Error("body differs from the generator's")
			}
			_, again := get(t, ts, "/obj/dir/k?size=70001&x=1&body="+kind.String())
			if !bytes.Equal(body, again) {
				t.Error("same name and size: bodies differ")
			}
		})
	}
}

func TestObjectParams(t *testing.T) {
	tests := []struct {
		name       string
		target     string
		wantStatus int
		wantLen    int               // body bytes; -1 to skip
		want       map[string]string // field → value; "" means absent
	}{
		{
			name: "defaults", target: "/obj/a", wantStatus: 200, wantLen: 1024,
			want: map[string]string{
				"Content-Type": bodyRandom.defaultType(), "Cache-Control": defaultCC, "Content-Length": "1024",
				"ETag": "", "Last-Modified": "", "Vary": "", "Surrogate-Key": "", "Set-Cookie": "",
				"CDN-Cache-Control": "", "Expires": "", "Age": "", "Location": "", "Content-Location": "",
			},
		},
		{name: "size zero", target: "/obj/a?size=0", wantStatus: 200, wantLen: 0, want: map[string]string{"Content-Length": "0"}},
		{name: "type", target: "/obj/a?type=image/png", wantStatus: 200, wantLen: 1024, want: map[string]string{"Content-Type": "image/png"}},
		{name: "cc", target: "/obj/a?cc=private,+max-age%3D5", wantStatus: 200, wantLen: 1024, want: map[string]string{"Cache-Control": "private, max-age=5"}},
		{name: "cc empty sends none", target: "/obj/a?cc=", wantStatus: 200, wantLen: 1024, want: map[string]string{"Cache-Control": ""}},
		{name: "cdncc", target: "/obj/a?cdncc=max-age%3D600", wantStatus: 200, wantLen: 1024, want: map[string]string{"CDN-Cache-Control": "max-age=600"}},
		{name: "status 404 has a body", target: "/obj/a?status=404&size=10", wantStatus: 404, wantLen: 10, want: map[string]string{"Content-Length": "10"}},
		{name: "status 503", target: "/obj/a?status=503", wantStatus: 503, wantLen: 1024},
		{name: "status 204 has no body", target: "/obj/a?status=204", wantStatus: 204, wantLen: 0, want: map[string]string{"Content-Length": ""}},
		{name: "status 103 then 200", target: "/obj/a?status=103&size=3", wantStatus: 200, wantLen: 3},
		{name: "etag", target: "/obj/a?etag=1", wantStatus: 200, wantLen: 1024, want: map[string]string{"ETag": etag("a", &params{size: 1024}, "", identity)}},
		{name: "lm", target: "/obj/a?lm=1", wantStatus: 200, wantLen: 1024, want: map[string]string{"Last-Modified": "Thu, 01 Jan 2026 00:00:00 GMT"}},
		{name: "lastmod", target: "/obj/a?lastmod=Mon,+02+Jan+2006+15:04:05+GMT", wantStatus: 200, wantLen: 1024, want: map[string]string{"Last-Modified": "Mon, 02 Jan 2006 15:04:05 GMT"}},
		{name: "tags", target: "/obj/a?tags=red,+blue,,green", wantStatus: 200, wantLen: 1024, want: map[string]string{"Surrogate-Key": "red blue green"}},
		{name: "tags empty", target: "/obj/a?tags=,", wantStatus: 200, wantLen: 1024, want: map[string]string{"Surrogate-Key": ""}},
		{name: "setcookie", target: "/obj/a?setcookie=1", wantStatus: 200, wantLen: 1024, want: map[string]string{"Set-Cookie": setCookieVal}},
		{name: "expires raw", target: "/obj/a?expires=0", wantStatus: 200, wantLen: 1024, want: map[string]string{"Expires": "0"}},
		{name: "age raw", target: "/obj/a?age=30", wantStatus: 200, wantLen: 1024, want: map[string]string{"Age": "30"}},
		{name: "location and clocation", target: "/obj/a?location=/obj/b&clocation=/obj/c", wantStatus: 200, wantLen: 1024, want: map[string]string{"Location": "/obj/b", "Content-Location": "/obj/c"}},
		{name: "delay", target: "/obj/a?delay=10ms&size=1", wantStatus: 200, wantLen: 1},
		{name: "unknown params ignored", target: "/obj/a?foo=bar&size=2", wantStatus: 200, wantLen: 2},
		{name: "max size accepted", target: "/obj/a?size=1073741824", wantStatus: 200, wantLen: -1, want: map[string]string{"Content-Length": "1073741824"}},
		{name: "size negative", target: "/obj/a?size=-1", wantStatus: 400, wantLen: -1},
		{name: "size not a number", target: "/obj/a?size=1k", wantStatus: 400, wantLen: -1},
		{name: "size too big", target: "/obj/a?size=1073741825", wantStatus: 400, wantLen: -1},
		{name: "status too small", target: "/obj/a?status=99", wantStatus: 400, wantLen: -1},
		{name: "status too big", target: "/obj/a?status=600", wantStatus: 400, wantLen: -1},
		{name: "status 101", target: "/obj/a?status=101", wantStatus: 400, wantLen: -1},
		{name: "status not a number", target: "/obj/a?status=ok", wantStatus: 400, wantLen: -1},
		{name: "delay negative", target: "/obj/a?delay=-1s", wantStatus: 400, wantLen: -1},
		{name: "delay too long", target: "/obj/a?delay=61s", wantStatus: 400, wantLen: -1},
		{name: "delay not a duration", target: "/obj/a?delay=5", wantStatus: 400, wantLen: -1},
		{name: "etag not a flag", target: "/obj/a?etag=yes", wantStatus: 400, wantLen: -1},
		{name: "lastmod not a date", target: "/obj/a?lastmod=yesterday", wantStatus: 400, wantLen: -1},
		{name: "vary not a name", target: "/obj/a?vary=Accept+Language", wantStatus: 400, wantLen: -1},
		{name: "abort negative", target: "/obj/a?abort=-1", wantStatus: 400, wantLen: -1},
		{name: "control character in value", target: "/obj/a?type=text/plain%0d%0aX-Evil:+1", wantStatus: 400, wantLen: -1},
		{name: "body random", target: "/obj/a?body=random", wantStatus: 200, wantLen: 1024, want: map[string]string{"Content-Type": "text/plain; charset=utf-8"}},
		{name: "body text", target: "/obj/a?body=text", wantStatus: 200, wantLen: 1024, want: map[string]string{"Content-Type": "text/plain; charset=utf-8", "Content-Length": "1024"}},
		{name: "body json", target: "/obj/a?body=json", wantStatus: 200, wantLen: 1024, want: map[string]string{"Content-Type": "application/json", "Content-Length": "1024"}},
		{name: "body json with type", target: "/obj/a?body=json&type=text/json", wantStatus: 200, wantLen: 1024, want: map[string]string{"Content-Type": "text/json"}},
		{name: "body json smallest", target: "/obj/a?body=json&size=2", wantStatus: 200, wantLen: 2},
		{name: "body json too small", target: "/obj/a?body=json&size=1", wantStatus: 400, wantLen: -1},
		{name: "body json empty", target: "/obj/a?body=json&size=0", wantStatus: 400, wantLen: -1},
		{name: "body unknown", target: "/obj/a?body=xml", wantStatus: 400, wantLen: -1},
		{name: "ce gzip", target: "/obj/a?ce=gzip", wantStatus: 200, wantLen: -1, want: map[string]string{"Content-Encoding": "gzip", "Content-Length": "", "Vary": ""}},
		{name: "ce auto", target: "/obj/a?ce=auto", wantStatus: 200, wantLen: 1024, want: map[string]string{"Content-Encoding": "", "Content-Length": "1024", "Vary": "Accept-Encoding"}},
		{name: "ce empty is identity", target: "/obj/a?ce=", wantStatus: 200, wantLen: 1024, want: map[string]string{"Content-Encoding": "", "Content-Length": "1024"}},
		{name: "ce unknown", target: "/obj/a?ce=deflate", wantStatus: 400, wantLen: -1},
		{name: "ce identity is not a ce", target: "/obj/a?ce=identity", wantStatus: 400, wantLen: -1},
		{name: "status 204 is not encoded", target: "/obj/a?status=204&ce=gzip", wantStatus: 204, wantLen: 0, want: map[string]string{"Content-Encoding": ""}},
	}
	_, ts := newOrigin(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var resp *http.Response
			var body []byte
			if tt.wantLen < 0 && tt.wantStatus == 200 {
				resp, body = fetch(t, ts, http.MethodHead, tt.target, nil)
			} else {
				resp, body = get(t, ts, tt.target)
			}
			if got := resp.StatusCode; got != tt.wantStatus {
				t.Fatalf("GET %s: status %d, want %d (%s)", tt.target, got, tt.wantStatus, body)
			}
			if tt.wantLen >= 0 && len(body) != tt.wantLen {
				t.Errorf("GET %s: len(body) = %d, want %d", tt.target, len(body), tt.wantLen)
			}
			for f, want := range tt.want {
				if got := resp.Header.Get(f); got != want {
					t.Errorf("GET %s: %s = %q, want %q", tt.target, f, got, want)
				}
			}
			if resp.Header.Get("Date") == "" {
				t.Errorf("GET %s: no Date", tt.target)
			}
			if _, err := strconv.Atoi(resp.Header.Get("X-Origin-Request")); err != nil {
				t.Errorf("GET %s: X-Origin-Request %q: %v", tt.target, resp.Header.Get("X-Origin-Request"), err)
			}
		})
	}
}

func TestInterimResponse(t *testing.T) {
	_, ts := newOrigin(t)
	var interim []int
	trace := &httptrace.ClientTrace{
		Got1xxResponse: func(code int, _ textproto.MIMEHeader) error {
			interim = append(interim, code)
			return nil
		},
	}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), http.MethodGet, ts.URL+"/obj/a?status=103&size=4", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || len(interim) != 1 || interim[0] != 103 {
		t.Errorf("status %d after interim %v, want 200 after [103]", resp.StatusCode, interim)
	}
}

func TestConditional(t *testing.T) {
	tag := etag("a", &params{size: 1024}, "", identity)
	lm := "Thu, 01 Jan 2026 00:00:00 GMT"
	tests := []struct {
		name   string
		target string
		hdr    http.Header
		want   int
	}{
		{name: "etag match", target: "/obj/a?etag=1", hdr: http.Header{"If-None-Match": {tag}}, want: 304},
		{name: "etag in list", target: "/obj/a?etag=1", hdr: http.Header{"If-None-Match": {`"x", ` + tag}}, want: 304},
		{name: "etag in second line", target: "/obj/a?etag=1", hdr: http.Header{"If-None-Match": {`"x"`, tag}}, want: 304},
		{name: "weak comparison", target: "/obj/a?etag=1", hdr: http.Header{"If-None-Match": {"W/" + tag}}, want: 304},
		{name: "star", target: "/obj/a?etag=1", hdr: http.Header{"If-None-Match": {"*"}}, want: 304},
		{name: "etag mismatch", target: "/obj/a?etag=1", hdr: http.Header{"If-None-Match": {`"nope"`}}, want: 200},
		{name: "etag of other size", target: "/obj/a?etag=1&size=10", hdr: http.Header{"If-None-Match": {tag}}, want: 200},
		{name: "malformed list", target: "/obj/a?etag=1", hdr: http.Header{"If-None-Match": {`junk, "unterminated`}}, want: 200},
		{name: "etags off", target: "/obj/a", hdr: http.Header{"If-None-Match": {tag}}, want: 200},
		{name: "ims equal", target: "/obj/a?lm=1", hdr: http.Header{"If-Modified-Since": {lm}}, want: 304},
		{name: "ims later", target: "/obj/a?lm=1", hdr: http.Header{"If-Modified-Since": {"Fri, 02 Jan 2026 00:00:00 GMT"}}, want: 304},
		{name: "ims earlier", target: "/obj/a?lm=1", hdr: http.Header{"If-Modified-Since": {"Wed, 31 Dec 2025 23:59:59 GMT"}}, want: 200},
		{name: "ims invalid", target: "/obj/a?lm=1", hdr: http.Header{"If-Modified-Since": {"soon"}}, want: 200},
		{name: "ims without lm", target: "/obj/a", hdr: http.Header{"If-Modified-Since": {lm}}, want: 200},
		{name: "ims against lastmod", target: "/obj/a?lastmod=Mon,+02+Jan+2006+15:04:05+GMT", hdr: http.Header{"If-Modified-Since": {lm}}, want: 304},
		{name: "inm takes precedence", target: "/obj/a?etag=1&lm=1", hdr: http.Header{"If-None-Match": {`"nope"`}, "If-Modified-Since": {lm}}, want: 200},
		{name: "only for 200", target: "/obj/a?etag=1&status=404", hdr: http.Header{"If-None-Match": {tag}}, want: 404},
	}
	_, ts := newOrigin(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := fetch(t, ts, http.MethodGet, tt.target, tt.hdr)
			if got := resp.StatusCode; got != tt.want {
				t.Fatalf("GET %s with %v: status %d, want %d", tt.target, tt.hdr, got, tt.want)
			}
			if tt.want != 304 {
				return
			}
			if len(body) != 0 {
				t.Errorf("304 with %d body bytes", len(body))
			}
			for _, f := range []string{"Cache-Control", "Date", "X-Origin-Request"} {
				if resp.Header.Get(f) == "" {
					t.Errorf("304 without %s", f)
				}
			}
			if got := resp.Header.Get("Content-Type"); got != "" {
				t.Errorf("304 with Content-Type %q", got)
			}
		})
	}
	resp, _ := fetch(t, ts, http.MethodGet, "/obj/a?etag=1", http.Header{"If-None-Match": {tag}})
	if got := resp.Header.Get("ETag"); got != tag {
		t.Errorf("304 ETag = %q, want %q", got, tag)
	}
}

func TestVary(t *testing.T) {
	_, ts := newOrigin(t)
	target := "/obj/a?vary=accept-language&etag=1&size=300"
	en1, b1 := fetch(t, ts, http.MethodGet, target, http.Header{"Accept-Language": {"en"}})
	en2, b2 := fetch(t, ts, http.MethodGet, target, http.Header{"Accept-Language": {"en"}})
	fr, b3 := fetch(t, ts, http.MethodGet, target, http.Header{"Accept-Language": {"fr"}})
	none, b4 := fetch(t, ts, http.MethodGet, target, nil)
	if got, want := en1.Header.Get("Vary"), "Accept-Language"; got != want {
		t.Errorf("Vary = %q, want %q", got, want)
	}
	for _, tc := range []struct {
		resp *http.Response
		want string
	}{{en1, "en"}, {fr, "fr"}, {none, ""}} {
		if got, ok := tc.resp.Header["X-Vary-Value"]; !ok || got[0] != tc.want {
			t.Errorf("X-Vary-Value = %q (present %v), want %q", got, ok, tc.want)
		}
	}
	if !bytes.Equal(b1, b2) || en1.Header.Get("ETag") != en2.Header.Get("ETag") {
		t.Error("same Accept-Language: responses differ")
	}
	if bytes.Equal(b1, b3) || bytes.Equal(b1, b4) || bytes.Equal(b3, b4) {
		t.Error("different Accept-Language: bodies equal")
	}
	if en1.Header.Get("ETag") == fr.Header.Get("ETag") {
		t.Error("different Accept-Language: ETags equal")
	}
	if bytes.Equal(b1, expected("a", 300)) {
		t.Error("varying body equals the unvaried one")
	}
}

func TestHead(t *testing.T) {
	_, ts := newOrigin(t)
	target := "/obj/a?size=777&etag=1&lm=1&tags=t&cc=max-age%3D9"
	g, gb := get(t, ts, target)
	h, hb := fetch(t, ts, http.MethodHead, target, nil)
	if len(hb) != 0 {
		t.Errorf("HEAD body has %d bytes", len(hb))
	}
	if len(gb) != 777 {
		t.Errorf("GET body has %d bytes, want 777", len(gb))
	}
	for _, f := range []string{"Content-Length", "Content-Type", "Cache-Control", "ETag", "Last-Modified", "Surrogate-Key"} {
		if got, want := h.Header.Get(f), g.Header.Get(f); got != want || want == "" {
			t.Errorf("HEAD %s = %q, GET %s = %q", f, got, f, want)
		}
	}
}

func TestChunked(t *testing.T) {
	_, ts := newOrigin(t)
	resp, body := get(t, ts, "/obj/a?chunked=1&size=50000")
	if resp.ContentLength != -1 || len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked" {
		t.Errorf("ContentLength %d, TransferEncoding %q; want -1, [chunked]", resp.ContentLength, resp.TransferEncoding)
	}
	if !bytes.Equal(body, expected("a", 50000)) {
		t.Errorf("chunked body (%d bytes) differs from the plain one", len(body))
	}
	resp, body = fetch(t, ts, http.MethodHead, "/obj/a?chunked=1", nil)
	if got := resp.Header.Get("Content-Length"); got != "" || len(body) != 0 {
		t.Errorf("chunked HEAD: Content-Length %q, %d body bytes; want none", got, len(body))
	}
}

func TestDelayHonoursCancel(t *testing.T) {
	s := New(nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := httptest.NewRequestWithContext(ctx, http.MethodGet, "/obj/a?delay=60s", nil)
	w := httptest.NewRecorder()
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.ServeHTTP(w, r)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second): // a generous bound, far below the delay
		t.Fatal("handler still sleeping after the request was cancelled")
	}
	if w.Body.Len() != 0 || w.Header().Get("Content-Length") != "" {
		t.Errorf("cancelled request got a response: %d bytes, Content-Length %q", w.Body.Len(), w.Header().Get("Content-Length"))
	}
}
