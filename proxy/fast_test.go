package proxy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cdnnode/cdnnode/cachelock"
	"github.com/cdnnode/cdnnode/h1"
	"github.com/cdnnode/cdnnode/internal/testkit"
	"github.com/cdnnode/cdnnode/keys"
	"github.com/cdnnode/cdnnode/metrics"
	"github.com/cdnnode/cdnnode/purge"
)

// fastOrigin answers every path with a fresh response (a minute), shaped
// by the path.
func fastOrigin(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "max-age=60")
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Etag", `"v1"`)
	body := "hello, fast path " + r.URL.EscapedPath()
	switch r.URL.Path {
	case "/big.txt": // compressible and long enough: stored in zstd
		body = strings.Repeat("the fast path serves hits ", 200)
	case "/vary":
		h.Set("Vary", "Accept-Language")
	case "/nodate":
		h["Date"] = nil
	case "/sniff":
		h["Content-Type"] = nil
		body = "<html><body>sniffed</body></html>"
	case "/short":
		h.Set("Cache-Control", "max-age=1")
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	_, _ = io.WriteString(w, body)
}

// fastEnv is a real Proxy over a real store and origin, on a clock of its
// own, whose pipeline serves a real HTTP server: what the fast path sends
// is compared with what the pipeline sends for the same request.
type fastEnv struct {
	p     *Proxy
	m     *metrics.Metrics
	pipe  string       // address of the server running p.Handler(0)
	clock atomic.Int64 // the proxy's time, in Unix nanoseconds
}

// newFastEnv builds a fastEnv whose [server] table has serverLines.
func newFastEnv(tb testing.TB, serverLines ...string) *fastEnv {
	tb.Helper()
	originSrv := httptest.NewServer(http.HandlerFunc(fastOrigin))
	tb.Cleanup(originSrv.Close)
	p, m := newTestProxy(tb, originSrv.Listener.Addr().String(), cachelock.New(1, cachelock.Options{}), serverLines...)
	e := &fastEnv{p: p, m: m}
	e.clock.Store(time.Now().UnixNano())
	p.now = func() time.Time { return time.Unix(0, e.clock.Load()) }
	pipe := httptest.NewServer(p.Handler(0))
	tb.Cleanup(pipe.Close)
	e.pipe = pipe.Listener.Addr().String()
	return e
}

// now is the proxy's time.
func (e *fastEnv) now() time.Time { return time.Unix(0, e.clock.Load()) }

// advance moves the proxy's clock on by d.
func (e *fastEnv) advance(d time.Duration) { e.clock.Add(int64(d)) }

// pipeline sends the raw request head to the pipeline's server and
// returns the raw response it reads back.
func (e *fastEnv) pipeline(tb testing.TB, raw string) []byte {
	tb.Helper()
	c, err := net.Dial("tcp", e.pipe)
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, raw); err != nil {
		tb.Fatal(err)
	}
	head, body := readResponse(tb, bufio.NewReader(c), strings.HasPrefix(raw, "HEAD "))
	return append(head, body...)
}

// fill requests raw through the pipeline and waits until the response is
// in the memory tier under key, unless it is not to be stored (key "").
func (e *fastEnv) fill(tb testing.TB, raw string, key keys.Key) {
	tb.Helper()
	e.pipeline(tb, raw)
	if key.Full != "" {
		testkit.WaitFor(tb, "the fill of "+key.Full, func() bool {
			return e.p.store.Memory(key.Hash, []byte(key.Full)) != nil
		})
	}
}

// fast offers the raw request head to worker 0's responder, from client
// remote, as the engine would, and returns whether it answered and the
// bytes the engine would write: the head, "Connection: close" if the
// request asked for it, the empty line and the body.
func (e *fastEnv) fast(tb testing.TB, raw string, remote net.Addr, tls bool) ([]byte, bool) {
	tb.Helper()
	var head h1.Head
	if err := head.Parse([]byte(raw), h1.Limits{}); err != nil {
		tb.Fatalf("Parse(%q): %v", raw, err)
	}
	var resp h1.Response
	if !e.p.Responder(0).Respond(&h1.Request{Head: &head, TLS: tls, Remote: remote, Client: h1.ClientOf(remote), Start: e.now()}, &resp) {
		return nil, false
	}
	out := resp.Head
	if head.Close {
		out = append(out, "Connection: close\r\n"...)
	}
	out = append(out, "\r\n"...)
	return append(out, resp.Body...), true
}

// readResponse reads one response from br: its head, as sent, and its
// body, of the head's Content-Length (none for HEAD).
func readResponse(tb testing.TB, br *bufio.Reader, head bool) (raw, body []byte) {
	tb.Helper()
	n := 0
	for { // one line each pass, up to the empty line
		line, err := br.ReadString('\n')
		if err != nil {
			tb.Fatalf("reading a response head after %q: %v", raw, err)
		}
		raw = append(raw, line...)
		if line == "\r\n" {
			break
		}
		if v, ok := strings.CutPrefix(line, "Content-Length: "); ok {
			if n, err = strconv.Atoi(strings.TrimSpace(v)); err != nil {
				tb.Fatalf("Content-Length %q: %v", v, err)
			}
		}
	}
	if head {
		return raw, nil
	}
	body = make([]byte, n)
	if _, err := io.ReadFull(br, body); err != nil {
		tb.Fatalf("reading a %d-byte body: %v", n, err)
	}
	return raw, body
}

// response is a raw response taken apart for comparison: its status line,
// its field lines sorted (Date's value checked and dropped: net/http's own
// is the time of writing) and its body.
type response struct {
	status string
	fields []string
	body   string
}

func parseResponse(tb testing.TB, b []byte, head bool) response {
	tb.Helper()
	raw, body := readResponse(tb, bufio.NewReader(bytes.NewReader(b)), head)
	lines := strings.Split(strings.TrimSuffix(string(raw), "\r\n\r\n"), "\r\n")
	r := response{status: lines[0], body: string(body)}
	for _, line := range lines[1:] {
		if v, ok := strings.CutPrefix(line, "Date: "); ok {
			if _, err := http.ParseTime(v); err != nil {
				tb.Errorf("Date %q: %v", v, err)
			}
			line = "Date: (a date)"
		}
		r.fields = append(r.fields, line)
	}
	slices.Sort(r.fields)
	return r
}

// counters scrapes the node's own metrics (cdnnode_*), by sample.
func (e *fastEnv) counters(tb testing.TB) map[string]float64 {
	tb.Helper()
	rec := httptest.NewRecorder()
	e.m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	out := map[string]float64{}
	for line := range strings.Lines(rec.Body.String()) {
		if !strings.HasPrefix(line, "cdnnode_") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(strings.TrimSpace(line[i+1:]), 64)
		if err != nil {
			tb.Fatalf("metric line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// delta lists how much each sample that moved between two scrapes moved.
func delta(before, after map[string]float64) []string {
	var d []string
	for k, v := range after {
		if v != before[k] {
			d = append(d, fmt.Sprintf("%s %+g", k, v-before[k]))
		}
	}
	slices.Sort(d)
	return d
}

// loopback is the client address of the tests' requests, as the engine
// gives it: an IPv4 address in 16-byte form, which must be unmapped.
var loopback = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}

// get is a raw GET of target at host with the given field lines.
func get(host, target string, fields ...string) string {
	return "GET " + target + " HTTP/1.1\r\nHost: " + host + "\r\n" + strings.Join(append(fields, ""), "\r\n") + "\r\n"
}

// head is get with HEAD.
func head(host, target string, fields ...string) string {
	return "HEAD" + strings.TrimPrefix(get(host, target, fields...), "GET")
}

func TestResponder(t *testing.T) {
	e := newFastEnv(t, "max_in_flight = 100")
	key := func(host, target string) keys.Key {
		path, query, _ := strings.Cut(target, "?")
		return keys.New("http", host, path, query, e.p.sites[e.p.cfg.Match(host)].keys)
	}
	tests := []struct {
		name   string
		fill   string   // a request that stores the object first ("" = none)
		stored keys.Key // where the fill stores it, awaited
		req    string
		remote net.Addr // default loopback
		tls    bool
		before func() // after the fill, before the request
		answer bool   // the fast path answers, with the pipeline's bytes
	}{
		{name: "identity GET", fill: get("main.test", "/plain"), stored: key("main.test", "/plain"), req: get("main.test", "/plain"), answer: true},
		{name: "identity HEAD", req: head("main.test", "/plain"), answer: true},
		{name: "identity to a zstd client", req: get("main.test", "/plain", "Accept-Encoding: zstd"), answer: true},
		{name: "host in upper case, default port", req: get("MAIN.test:80", "/plain"), answer: true},
		{name: "keep-alive and close", req: get("main.test", "/plain", "Connection: keep-alive, close"), answer: true},
		{name: "zstd to a zstd client", fill: get("main.test", "/big.txt", "Accept-Encoding: zstd"), stored: key("main.test", "/big.txt"),
			req: get("main.test", "/big.txt", "Accept-Encoding: gzip;q=0.5", "Accept-Encoding: zstd"), answer: true},
		{name: "zstd HEAD", req: head("main.test", "/big.txt", "Accept-Encoding: zstd, gzip"), answer: true},
		{name: "zstd to a gzip-only client", req: get("main.test", "/big.txt", "Accept-Encoding: gzip")},
		{name: "zstd to an identity client", req: get("main.test", "/big.txt")},
		{name: "too many Accept-Encoding lines", req: get("main.test", "/big.txt", slices.Repeat([]string{"Accept-Encoding: zstd"}, maxAcceptLines+1)...)},
		{name: "no Date stored", fill: get("main.test", "/nodate"), stored: key("main.test", "/nodate"), req: get("main.test", "/nodate"), answer: true},
		{name: "no Content-Type stored: GET sniffs", fill: get("main.test", "/sniff"), stored: key("main.test", "/sniff"), req: get("main.test", "/sniff"), answer: true},
		{name: "no Content-Type stored: HEAD", req: head("main.test", "/sniff")},
		{name: "percent-encoded path", fill: get("main.test", "/a%2Fb%7Ec"), stored: key("main.test", "/a%2Fb%7Ec"), req: get("main.test", "/a%2Fb%7Ec"), answer: true},
		{name: "path net/url escapes again", fill: get("main.test", `/q"x`), stored: key("main.test", "/q%22x"), req: get("main.test", `/q"x`)},
		{name: "query", fill: get("main.test", "/plain?x=1"), stored: key("main.test", "/plain?x=1"), req: get("main.test", "/plain?x=1"), answer: true},
		{name: "sorted, filtered query", fill: get("sorted.test", "/plain?b=2&utm_source=x&a=1"), stored: key("sorted.test", "/plain?a=1&b=2"),
			req: get("sorted.test", "/plain?a=1&utm_source=y&&b=2"), answer: true},
		{name: "Vary index", fill: get("main.test", "/vary"), stored: key("main.test", "/vary"), req: get("main.test", "/vary")},
		{name: "If-None-Match", req: get("main.test", "/plain", `If-None-Match: "v1"`)},
		{name: "If-Modified-Since", req: get("main.test", "/plain", "If-Modified-Since: "+time.Now().UTC().Format(http.TimeFormat))},
		{name: "If-Match", req: get("main.test", "/plain", `If-Match: "v1"`)},
		{name: "If-Unmodified-Since", req: get("main.test", "/plain", "If-Unmodified-Since: "+time.Now().UTC().Format(http.TimeFormat))},
		{name: "Range", req: get("main.test", "/plain", "Range: bytes=0-1")},
		{name: "If-Range", req: get("main.test", "/plain", `If-Range: "v1"`)},
		{name: "Cache-Control", req: get("main.test", "/plain", "cache-control: max-age=0")},
		{name: "Pragma", req: get("main.test", "/plain", "Pragma: no-cache")},
		{name: "Expect", req: get("main.test", "/plain", "Expect: 100-continue")},
		{name: "TE", req: get("main.test", "/plain", "TE: trailers")},
		{name: "Authorization", req: get("main.test", "/plain", "Authorization: Bearer x")},
		{name: "Upgrade without Connection", req: get("main.test", "/plain", "Upgrade: websocket")},
		{name: "guard's reject field", req: get("main.test", "/plain", "Cdnnode-Reject: x 400 nul")},
		{name: "Connection nominates a field", req: get("main.test", "/plain", "Connection: close, X-Secret")},
		{name: "POST", req: "POST /plain HTTP/1.1\r\nHost: main.test\r\n\r\n"},
		{name: "HTTP/1.0", req: "GET /plain HTTP/1.0\r\nHost: main.test\r\n\r\n"},
		{name: "over TLS: another key", req: get("main.test", "/plain"), tls: true},
		{name: "a client address of no TCP connection", req: get("main.test", "/plain"), remote: &net.UnixAddr{Name: "@x", Net: "unix"}},
		{name: "stale", fill: get("main.test", "/short"), stored: key("main.test", "/short"), req: get("main.test", "/short"), before: func() { e.advance(2 * time.Second) }},
		{name: "purged", fill: get("main.test", "/purged"), stored: key("main.test", "/purged"), req: get("main.test", "/purged"), before: func() {
			e.advance(time.Millisecond)
			if _, err := e.p.bans.Add(purge.Ban{Kind: purge.Exact, Target: "main.test/purged"}, e.now()); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "soft-purged", fill: get("main.test", "/soft"), stored: key("main.test", "/soft"), req: get("main.test", "/soft"), before: func() {
			e.advance(time.Millisecond)
			if _, err := e.p.bans.Add(purge.Ban{Kind: purge.Exact, Target: "main.test/soft", Soft: true}, e.now()); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "missing site", req: get("none.test", "/plain")},
		{name: "cache off", fill: get("nocache.test", "/plain"), req: get("nocache.test", "/plain")},
		{name: "auth site, open path", fill: get("auth.test", "/plain"), stored: key("auth.test", "/plain"), req: get("auth.test", "/plain"), answer: true},
		{name: "auth site, protected path", req: get("auth.test", "/admin/x")},
		{name: "auth site, escaped path", fill: get("auth.test", "/pl%61in"), stored: key("auth.test", "/pl%61in"), req: get("auth.test", "/pl%61in")},
		{name: "allow list admits", fill: get("allow.test", "/plain"), stored: key("allow.test", "/plain"), req: get("allow.test", "/plain"), answer: true},
		{name: "allow list refuses", req: get("allow.test", "/plain"), remote: &net.TCPAddr{IP: net.IPv4(10, 9, 8, 7), Port: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.fill != "" {
				e.fill(t, tt.fill, tt.stored)
			}
			if tt.before != nil {
				tt.before()
			}
			remote := tt.remote
			if remote == nil {
				remote = loopback
			}
			isHead := strings.HasPrefix(tt.req, "HEAD ")
			var want response
			var wantDelta []string
			if tt.answer {
				before := e.counters(t)
				want = parseResponse(t, e.pipeline(t, tt.req), isHead)
				wantDelta = delta(before, e.counters(t))
				if !slices.ContainsFunc(want.fields, func(f string) bool { return strings.HasPrefix(f, "Cache-Status: cdnnode; hit;") }) {
					t.Fatalf("the pipeline's answer is no hit: %q", want.fields)
				}
			}
			before := e.counters(t)
			out, ok := e.fast(t, tt.req, remote, tt.tls)
			gotDelta := delta(before, e.counters(t))
			if ok != tt.answer {
				t.Fatalf("Respond(%q) = %v, want %v", tt.req, ok, tt.answer)
			}
			if !ok {
				if len(gotDelta) > 0 {
					t.Errorf("a declined request changed the metrics: %q", gotDelta)
				}
				return
			}
			got := parseResponse(t, out, isHead)
			if got.status != want.status {
				t.Errorf("status line %q, want the pipeline's %q", got.status, want.status)
			}
			if !slices.Equal(got.fields, want.fields) {
				t.Errorf("fields\n%q\nwant the pipeline's\n%q", got.fields, want.fields)
			}
			if got.body != want.body {
				t.Errorf("body %q, want the pipeline's %q", got.body, want.body)
			}
			if !slices.Equal(gotDelta, wantDelta) {
				t.Errorf("metrics moved by\n%q\nwant the pipeline's\n%q", gotDelta, wantDelta)
			}
		})
	}
	if n := e.p.inFlight.Total(); n != 0 {
		t.Errorf("%d requests in flight after all, want 0", n)
	}
}

// TestResponderLogsAsPipeline: with access logging on, a fast answer's
// line says what the pipeline's says of the same hit.
func TestResponderLogsAsPipeline(t *testing.T) {
	e := newFastEnv(t)
	var logged bytes.Buffer
	e.p.log, e.p.access = slog.New(slog.NewJSONHandler(&logged, nil)), true
	req := get("main.test", "/plain?x=1")
	e.fill(t, req, keys.New("http", "main.test", "/plain", "x=1", keys.Options{}))
	logged.Reset()
	e.pipeline(t, req)
	if _, ok := e.fast(t, req, loopback, false); !ok {
		t.Fatalf("Respond(%q) declined a hit", req)
	}
	var lines []map[string]any
	for line := range strings.Lines(logged.String()) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		for _, k := range []string{"time", "remote", "dur_ms"} { // the connection's and the clock's
			if _, ok := m[k]; !ok {
				t.Errorf("log line %q has no %s", line, k)
			}
			delete(m, k)
		}
		lines = append(lines, m)
	}
	if len(lines) != 2 {
		t.Fatalf("%d log lines, want 2: %s", len(lines), logged.String())
	}
	if !maps.Equal(lines[1], lines[0]) {
		t.Errorf("fast path logged %v, want the pipeline's %v", lines[1], lines[0])
	}
}

// TestResponderDeclinesForThePipeline: settings under which the pipeline
// must see even a plain hit decline it.
func TestResponderDeclinesForThePipeline(t *testing.T) {
	tests := []struct {
		name   string
		server string
	}{
		{"a per-client in-flight cap", "max_in_flight_per_client = 10"},
		{"a trusted proxy as peer", `trusted_proxies = ["127.0.0.0/8"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newFastEnv(t, tt.server)
			req := get("main.test", "/plain")
			e.fill(t, req, keys.New("http", "main.test", "/plain", "", keys.Options{}))
			if _, ok := e.fast(t, req, loopback, false); ok {
				t.Errorf("Respond(%q) answered, want the pipeline to", req)
			}
		})
	}
}

// FuzzSplitTarget: the fast path takes a target's path only when it is
// the path net/url gives back (r.URL.EscapedPath()), and its query is
// r.URL.RawQuery.
func FuzzSplitTarget(f *testing.F) {
	f.Add("/a/b?x=1&y")    // plain
	f.Add("/a%2Fb%7e?q=%") // escapes; a bare % in the query
	f.Add(`/q"x`)          // a byte net/url escapes
	f.Add("/%zz")          // a bad escape
	f.Add("/a?b?c")        // a second '?'
	f.Add("/\xff[]:@!$")   // non-ASCII, brackets, sub-delims
	f.Fuzz(func(t *testing.T, target string) {
		raw := "GET " + target + " HTTP/1.1\r\nHost: h\r\n\r\n"
		var head h1.Head
		if head.Parse([]byte(raw), h1.Limits{}) != nil {
			return // the guard refuses it: never offered
		}
		path, query, ok := splitTarget(head.Target())
		if !ok {
			return
		}
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			t.Fatalf("splitTarget(%q) took a target net/http refuses: %v", target, err)
		}
		if got, want := string(path), r.URL.EscapedPath(); got != want {
			t.Fatalf("splitTarget(%q) path %q, net/url's %q", target, got, want)
		}
		if got, want := string(query), r.URL.RawQuery; got != want {
			t.Fatalf("splitTarget(%q) query %q, net/url's %q", target, got, want)
		}
	})
}

// FuzzResponder: whatever the request, when the fast path answers, it
// answers a hit with the pipeline's bytes.
func FuzzResponder(f *testing.F) {
	e := newFastEnv(f)
	for _, target := range []string{"/plain", "/big.txt", "/sniff"} {
		e.fill(f, get("main.test", target, "Accept-Encoding: zstd"), keys.New("http", "main.test", target, "", keys.Options{}))
	}
	f.Add("GET", "main.test", "/plain", "Accept-Encoding: zstd")                   // identity, answered
	f.Add("HEAD", "Main.Test:80", "/big.txt", "accept-encoding: ZSTD;q=0.5, gzip") // zstd, answered
	f.Add("GET", "main.test", "/big.txt", "Accept-Encoding: gzip;q=1, zstd;q=0")   // zstd refused: declined
	f.Add("GET", "main.test", "/sniff", "Connection: close\nX-Any: 1")             // sniffed type, closing
	f.Add("GET", "main.test", "/plain?", "Cache-Control: no-cache")                // an empty query; a directive
	f.Add("HEAD", "main.test", "/sniff", "")                                       // no sniffing for HEAD
	f.Add("GET", "main.test", "/%70lain", "Accept-Encoding: identity")             // another key
	f.Fuzz(func(t *testing.T, method, host, target, fields string) {
		raw := method + " " + target + " HTTP/1.1\r\nHost: " + host + "\r\n"
		for line := range strings.SplitSeq(fields, "\n") {
			if line != "" {
				raw += line + "\r\n"
			}
		}
		raw += "\r\n"
		var head h1.Head
		if head.Parse([]byte(raw), h1.Limits{}) != nil {
			return // the guard refuses it: never offered
		}
		out, ok := e.fast(t, raw, loopback, false)
		if !ok {
			return
		}
		isHead := method == http.MethodHead
		got, want := parseResponse(t, out, isHead), parseResponse(t, e.pipeline(t, raw), isHead)
		if got.status != want.status || !slices.Equal(got.fields, want.fields) || got.body != want.body {
			t.Fatalf("fast path answered %q with\n%s %q\nwant the pipeline's\n%s %q", raw, got.status, got.fields, want.status, want.fields)
		}
		if !slices.ContainsFunc(got.fields, func(f string) bool { return strings.HasPrefix(f, "Cache-Status: cdnnode; hit;") }) {
			t.Fatalf("fast path answered %q with no hit: %q", raw, got.fields)
		}
	})
}

// BenchmarkResponderHit is a fresh memory hit answered on the fast path,
// for a client of zstd and an object stored in zstd, with a purge since
// the object was stored (of another one) for the bans to check: no
// allocation.
func BenchmarkResponderHit(b *testing.B) {
	e := newFastEnv(b, "max_in_flight = 100")
	req := get("main.test", "/big.txt?v=1", "Accept-Encoding: gzip, deflate, br, zstd", "User-Agent: bench", "Accept: */*")
	e.fill(b, req, keys.New("http", "main.test", "/big.txt", "v=1", keys.Options{}))
	e.advance(time.Millisecond)
	if _, err := e.p.bans.Add(purge.Ban{Kind: purge.Prefix, Target: "main.test/img/"}, e.now()); err != nil {
		b.Fatal(err)
	}
	var head h1.Head
	if err := head.Parse([]byte(req), h1.Limits{}); err != nil {
		b.Fatal(err)
	}
	r := e.p.Responder(0)
	hreq := &h1.Request{Head: &head, Remote: loopback, Client: h1.ClientOf(loopback), Start: e.now()}
	resp := &h1.Response{Head: make([]byte, 0, 4096)}
	b.ReportAllocs()
	for b.Loop() {
		resp.Head, resp.Body = resp.Head[:0], nil
		if !r.Respond(hreq, resp) {
			b.Fatal("declined a fresh hit")
		}
	}
}
