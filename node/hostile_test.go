package node_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/cdnnode/cdnnode/internal/testkit"
	"github.com/cdnnode/cdnnode/internal/testnode"
)

// hostileLimits are the request limits the hostile-input tests run under,
// small so that a test can pass them cheaply: a head may take 512 B of
// target plus 4 KiB of fields.
var hostileLimits = []string{
	serverKey + `max_url_bytes = "512B"`,
	serverKey + `max_header_count = 20`,
	serverKey + `max_header_bytes = "4KiB"`,
	serverKey + `max_body = "1KiB"`,
}

// smuggled is the request the smuggling probes hide in a body: the origin
// must never see it.
const smuggled = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"

// hostileCase is an HTTP/1 request, written byte for byte, that the node
// must refuse.
type hostileCase struct {
	name   string
	req    string
	status int
	reason string // its cdnnode_rejections_total label
}

// hostileCases are the smuggling vectors and limits of RFC 9112 the node
// enforces on HTTP/1 (the reasons are h1's and the proxy's), under
// hostileLimits. They seed FuzzRawRequest too.
var hostileCases = []hostileCase{
	{"CL and TE", "POST /cl-te HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "cl-and-te"},
	{"TE and CL", "POST /te-cl HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", 400, "cl-and-te"},
	// CL.TE: a front end framing by Content-Length sends all; a back end
	// framing by chunked reads smuggled as the next request.
	{"smuggling CL.TE", "POST /probe HTTP/1.1\r\nHost: x\r\nContent-Length: " + strconv.Itoa(len("0\r\n\r\n"+smuggled)) +
		"\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled, 400, "cl-and-te"},
	// TE.CL: the other way round, smuggled inside a chunk.
	{"smuggling TE.CL", "POST /probe HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n" +
		strconv.FormatInt(int64(len(smuggled)), 16) + "\r\n" + smuggled + "\r\n0\r\n\r\n", 400, "cl-and-te"},
	{"smuggling with TE hidden by whitespace before the colon", "POST /probe HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n" + smuggled, 400, "space-before-colon"},
	{"smuggling with TE hidden by obs-fold", "POST /probe HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n" + smuggled, 400, "obs-fold"},
	{"smuggling with TE twice", "POST /probe HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n" + smuggled, 400, "bad-transfer-encoding"},
	{"duplicate identical Content-Length", "POST /dup-cl HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello", 400, "duplicate-content-length"},
	{"duplicate differing Content-Length", "POST /dup-cl HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400, "duplicate-content-length"},
	{"Content-Length with a plus sign", "POST /bad-cl HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello", 400, "bad-content-length"},
	{"Content-Length with a minus sign", "POST /bad-cl HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\nhello", 400, "bad-content-length"},
	{"Content-Length as a list", "POST /bad-cl HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\nhello", 400, "bad-content-length"},
	{"Content-Length in letters", "POST /bad-cl HTTP/1.1\r\nHost: x\r\nContent-Length: five\r\n\r\nhello", 400, "bad-content-length"},
	{"Content-Length in hex", "POST /bad-cl HTTP/1.1\r\nHost: x\r\nContent-Length: 0x5\r\n\r\nhello", 400, "bad-content-length"},
	{"huge Content-Length", "POST /bad-cl HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\nhello", 400, "bad-content-length"},
	{"chunk size not hex", "POST /chunks HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", 400, "bad-body"},
	{"chunk data without its CRLF", "POST /chunks HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n", 400, "bad-body"},
	{"bare LF after a chunk size", "POST /chunks HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n", 400, "bad-body"},
	{"bare LF after chunk data", "POST /chunks HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n", 400, "bad-body"},
	{"obs-fold", "GET /fold HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n folded\r\n\r\n", 400, "obs-fold"},
	{"bare CR in a value", "GET /cr HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n", 400, "bare-cr"},
	{"bare LF line endings", "GET /lf HTTP/1.1\nHost: x\n\n", 400, "bare-lf"},
	{"NUL in a value", "GET /nul HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", 400, "nul"},
	{"whitespace before the colon", "GET /ws HTTP/1.1\r\nHost : x\r\n\r\n", 400, "space-before-colon"},
	{"TE on HTTP/1.0", "POST /te10 HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "te-on-http10"},
	{"TE gzip", "POST /te HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nhello", 400, "bad-transfer-encoding"},
	{"TE gzip, chunked", "POST /te HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 400, "bad-transfer-encoding"},
	{"missing Host", "GET /no-host HTTP/1.1\r\n\r\n", 400, "missing-host"},
	{"duplicate Host", "GET /two-hosts HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400, "duplicate-host"},
	{"over-long URL", "GET /" + strings.Repeat("u", 600) + " HTTP/1.1\r\nHost: x\r\n\r\n", 414, "url-too-long"},
	{"too many fields", "GET /fields HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-F: 1\r\n", 20) + "\r\n", 431, "too-many-fields"},
	{"over-large head", "GET /head HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("b", 6000) + "\r\n\r\n", 431, "head-too-large"},
	{"body over max_body by Content-Length", "POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n" + strings.Repeat("b", 2000), 413, "body-too-large"},
	{"chunked body over max_body", "POST /big HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
		strings.Repeat("190\r\n"+strings.Repeat("c", 400)+"\r\n", 5) + "0\r\n\r\n", 413, "body-too-large"},
	{"CONNECT", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 405, "connect-method"},
	{"CONNECT hiding a request", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n" + smuggled, 405, "connect-method"},
}

// TestHostileHTTP1 sends each hostile case on a connection of its own and
// checks the node's answer: the status, the connection closed after it,
// nothing forwarded (bodies that break are caught within the proxy's
// read-ahead), the rejection counted by reason, and the node still
// answering a normal request on a new connection.
func TestHostileHTTP1(t *testing.T) {
	t.Parallel()
	rec := newRecorder()
	h := newHarness(t, "h1", rec, hostileLimits...)
	addr := h.node.Addrs()[0].String()
	for _, tt := range hostileCases {
		t.Run(tt.name, func(t *testing.T) {
			before, counted := len(rec.seen()), h.rejections(tt.reason)
			resp, body, closeErr := hostileExchange(t, addr, tt.req)
			if resp == nil {
				t.Errorf("no answer (%v), want %d", closeErr, tt.status)
			} else if resp.StatusCode != tt.status {
				t.Errorf("status %d (%q), want %d", resp.StatusCode, body, tt.status)
			}
			if closeErr != nil {
				t.Errorf("connection after the answer: %v, want it closed by the node", closeErr)
			}
			for _, r := range rec.seen()[before:] {
				t.Errorf("the origin saw %s %s", r.method, r.uri)
			}
			if got := h.rejections(tt.reason); got <= counted {
				t.Errorf(`cdnnode_rejections_total{reason=%q} = %v, want above %v`, tt.reason, got, counted)
			}
			wantAnswered(t, addr)
		})
	}
	for _, r := range rec.seen() {
		if strings.Contains(r.uri, "smuggled") {
			t.Errorf("the origin saw the smuggled request %s %s", r.method, r.uri)
		}
	}
}

// hostileExchange writes req on a new connection to addr and reads one
// answer, if the node sends one, then whether the node closed the
// connection: closeErr is nil when it did, else what the next read got
// (bytes, or nothing within 5s).
func hostileExchange(t *testing.T, addr, req string) (resp *http.Response, body []byte, closeErr error) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	// A write may fail once the node has refused the head: the answer is
	// read all the same.
	_, _ = io.WriteString(c, req)
	br := bufio.NewReader(c)
	resp, err = http.ReadResponse(br, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("no answer: %w", err)
	}
	body, err = io.ReadAll(resp.Body)
	if err != nil {
		return resp, body, fmt.Errorf("answer body: %w", err)
	}
	return resp, body, wantClosed(c, br)
}

// wantClosed returns nil when the peer closes c (a read gets EOF or a
// reset) within 5s, else an error saying what the read got.
func wantClosed(c net.Conn, r io.Reader) error {
	if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return err
	}
	b := make([]byte, 512)
	n, err := r.Read(b)
	switch {
	case n > 0:
		return fmt.Errorf("still open: read %q", b[:n])
	case isTimeout(err):
		return fmt.Errorf("still open after 5s: %w", err)
	case err == nil:
		return errors.New("still open: an empty read")
	}
	return nil
}

// isTimeout reports whether err is a deadline passing.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// wantAnswered checks that the node at addr answers a normal request on
// a new connection with 200.
func wantAnswered(t *testing.T, addr string) {
	t.Helper()
	resp, body := rawExchange(t, addr, "GET /normal HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp.StatusCode != http.StatusOK {
		t.Errorf("a normal request after it: %d %q, want 200", resp.StatusCode, body)
	}
}

// TestHostileH2 sends the hostile cases that exist in HTTP/2 frame by
// frame over h2c: each stream must be refused (with a status, or reset),
// never reach the origin whole, be counted when the proxy refused it, and
// leave the node answering.
func TestHostileH2(t *testing.T) {
	t.Parallel()
	rec := newRecorder()
	h := newHarness(t, "h1", rec, hostileLimits...)
	addr := h.node.Addrs()[0].String()
	post := func(path string, extra ...hpack.HeaderField) []hpack.HeaderField {
		return append([]hpack.HeaderField{{Name: ":method", Value: "POST"}, {Name: ":scheme", Value: "http"},
			{Name: ":authority", Value: "x"}, {Name: ":path", Value: path}}, extra...)
	}
	many := make([]hpack.HeaderField, 21)
	for i := range many {
		many[i] = hpack.HeaderField{Name: "x-f", Value: strconv.Itoa(i)}
	}
	bigFields := make([]hpack.HeaderField, 8) // 8 KiB in all
	for i := range bigFields {
		bigFields[i] = hpack.HeaderField{Name: "x-big-" + strconv.Itoa(i), Value: strings.Repeat("b", 1000)}
	}
	big := bytes.Repeat([]byte("b"), 2000)
	tests := []struct {
		name   string
		fields []hpack.HeaderField
		body   []byte
		status int    // 0: the stream must be reset; -1: the connection closed with GOAWAY
		reason string // the proxy's rejection reason; "" when x/net refuses
		// partial: refused as the body streams, so the origin may see
		// the request start, never whole.
		partial bool
	}{
		{"transfer-encoding", post("/h2/te", hpack.HeaderField{Name: "transfer-encoding", Value: "chunked"}), []byte("0\r\n\r\n"), 400, "", false},
		{"connection field", post("/h2/conn", hpack.HeaderField{Name: "connection", Value: "keep-alive"}), nil, 400, "", false},
		{"two host fields", post("/h2/hosts", hpack.HeaderField{Name: "host", Value: "x"}, hpack.HeaderField{Name: "host", Value: "y"}), nil, 0, "", false},
		{"NUL in a value", post("/h2/nul", hpack.HeaderField{Name: "x-a", Value: "a\x00b"}), nil, 0, "", false},
		{"CR LF in a value", post("/h2/crlf", hpack.HeaderField{Name: "x-a", Value: "a\r\nx-b: c"}), nil, 0, "", false},
		{"upper-case field name", post("/h2/upper", hpack.HeaderField{Name: "X-A", Value: "1"}), nil, 0, "", false},
		{"space in a field name", post("/h2/space", hpack.HeaderField{Name: "x-a ", Value: "1"}), nil, 0, "", false},
		{"body longer than content-length", post("/h2/cl", hpack.HeaderField{Name: "content-length", Value: "5"}), []byte("hello world"), 0, "", true},
		{"over-long path", post("/" + strings.Repeat("u", 600)), nil, 414, "url-too-long", false},
		// HTTP/1.1's target and Host rules hold, so that a purge can name
		// whatever is cached.
		{"fragment in the path", post("/h2/frag?a#b"), nil, 400, "bad-target", false},
		{"pct-encoded authority", []hpack.HeaderField{{Name: ":method", Value: "GET"}, {Name: ":scheme", Value: "http"},
			{Name: ":authority", Value: "x%41"}, {Name: ":path", Value: "/h2/pct"}}, nil, 400, "bad-host", false},
		{"too many fields", post("/h2/fields", many...), nil, 431, "too-many-fields", false},
		{"over-large header list", post("/h2/head", bigFields...), nil, 431, "", false},
		// A field longer than the whole list may be is a compression error.
		{"over-large field", post("/h2/field", hpack.HeaderField{Name: "x-big", Value: strings.Repeat("b", 8<<10)}), nil, -1, "", false},
		{"body over max_body by content-length", post("/h2/big", hpack.HeaderField{Name: "content-length", Value: "2000"}), big, 413, "body-too-large", false},
		{"body over max_body", post("/h2/big"), big, 413, "body-too-large", false},
		{"CONNECT", []hpack.HeaderField{{Name: ":method", Value: "CONNECT"}, {Name: ":authority", Value: "example.com:443"}}, nil, 405, "connect-method", false},
	}
	partial := map[string]bool{} // the paths of the partial cases
	for _, tt := range tests {
		for _, f := range tt.fields {
			if tt.partial && f.Name == ":path" {
				partial[f.Value] = true
			}
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(rec.seen())
			counted := 0.0
			if tt.reason != "" {
				counted = h.rejections(tt.reason)
			}
			c := testkit.DialH2C(t, addr)
			if err := c.Send(1, tt.fields, tt.body); err != nil {
				t.Fatal(err)
			}
			status, err := c.Answer(1)
			switch {
			case tt.status == -1:
				if !errors.Is(err, testkit.ErrGoAway) {
					t.Errorf("stream 1: status %d, %v; want the connection closed with GOAWAY", status, err)
				}
			case err != nil:
				t.Errorf("stream 1: %v, want status %d (0: reset)", err, tt.status)
			case status != tt.status:
				t.Errorf("stream 1: status %d, want %d (0: reset)", status, tt.status)
			}
			for _, r := range rec.seen()[before:] {
				// A partial case's cut-short request may reach the origin
				// after its own subtest has ended.
				if r.bodyErr == nil || !partial[r.uri] {
					t.Errorf("the origin saw %s %s (body %d bytes, %v)", r.method, r.uri, r.body, r.bodyErr)
				}
			}
			if tt.reason != "" {
				if got := h.rejections(tt.reason); got <= counted {
					t.Errorf(`cdnnode_rejections_total{reason=%q} = %v, want above %v`, tt.reason, got, counted)
				}
			}
			wantAnswered(t, addr)
		})
	}
}

// TestAbsoluteFormTarget: with one site, for example.com, an absolute-form
// target naming another host never reaches the origin, whatever Host says,
// and one naming example.com is served as example.com. h1 refuses a Host
// that differs from the target's authority (400 host-mismatch) rather
// than ignore it (RFC 9112 §3.2.2), so that no two parsers can disagree on
// the host.
func TestAbsoluteFormTarget(t *testing.T) {
	t.Parallel()
	rec := newRecorder()
	origin := newOrigin(t, rec)
	n := testnode.Start(t, fmt.Sprintf("[pools.p]\npeers = [%q]\n[[sites]]\nname = \"example\"\nhosts = [\"example.com\"]\npool = \"p\"\n", origin))
	addr := n.Addrs()[0].String()
	tests := []struct {
		name   string
		req    string
		status int
		host   string // the Host the origin sees; "" when it must see nothing
	}{
		{"evil target, example Host", "GET http://evil.example/x HTTP/1.1\r\nHost: example.com\r\n\r\n", 400, ""},
		{"evil target, evil Host", "GET http://evil.example/x HTTP/1.1\r\nHost: evil.example\r\n\r\n", 404, ""},
		{"evil target, no Host, HTTP/1.0", "GET http://evil.example/x HTTP/1.0\r\n\r\n", 404, ""},
		{"evil target with example userinfo", "GET http://example.com@evil.example/x HTTP/1.1\r\nHost: evil.example\r\n\r\n", 400, ""},
		{"example target, evil Host", "GET http://example.com/x HTTP/1.1\r\nHost: evil.example\r\n\r\n", 400, ""},
		{"example target, example Host", "GET http://example.com/x HTTP/1.1\r\nHost: example.com\r\n\r\n", 200, "example.com"},
		{"example target, no Host, HTTP/1.0", "GET http://example.com/x HTTP/1.0\r\n\r\n", 200, "example.com"},
		{"evil Host", "GET /x HTTP/1.1\r\nHost: evil.example\r\n\r\n", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(rec.seen())
			resp, body := rawExchange(t, addr, tt.req)
			if resp.StatusCode != tt.status {
				t.Errorf("status %d (%q), want %d", resp.StatusCode, body, tt.status)
			}
			seen := rec.seen()[before:]
			switch {
			case tt.host == "" && len(seen) > 0:
				t.Errorf("the origin saw %s %s for Host %q", seen[0].method, seen[0].uri, seen[0].host)
			case tt.host != "" && (len(seen) != 1 || seen[0].host != tt.host || seen[0].uri != "/x"):
				t.Errorf("the origin saw %+v, want one request for /x on Host %q", seen, tt.host)
			}
		})
	}
	// In HTTP/2 :authority is the target's authority (RFC 9113 §8.3.1).
	for _, tt := range []struct {
		authority, host string
		status          int
		seen            string // the Host the origin sees; "" when it must see nothing
	}{
		{"evil.example", "", 404, ""},
		{"evil.example", "example.com", 0, ""}, // reset: x/net refuses a host that differs
		{"example.com", "evil.example", 0, ""},
		{"example.com", "example.com", 200, "example.com"},
	} {
		t.Run(fmt.Sprintf("h2c :authority %s, host %q", tt.authority, tt.host), func(t *testing.T) {
			before := len(rec.seen())
			fields := testkit.GetFields(tt.authority, "/x")
			if tt.host != "" {
				fields = append(fields, hpack.HeaderField{Name: "host", Value: tt.host})
			}
			c := testkit.DialH2C(t, addr)
			if err := c.Send(1, fields, nil); err != nil {
				t.Fatal(err)
			}
			if status, err := c.Answer(1); err != nil || status != tt.status {
				t.Errorf("status %d, %v; want %d (0: reset)", status, err, tt.status)
			}
			seen := rec.seen()[before:]
			switch {
			case tt.seen == "" && len(seen) > 0:
				t.Errorf("the origin saw %s %s for Host %q", seen[0].method, seen[0].uri, seen[0].host)
			case tt.seen != "" && (len(seen) != 1 || seen[0].host != tt.seen):
				t.Errorf("the origin saw %+v, want one request on Host %q", seen, tt.seen)
			}
		})
	}
}

// newOrigin starts handler as an origin server for the test and returns
// its address.
func newOrigin(t *testing.T, handler http.Handler) string {
	t.Helper()
	s := httptest.NewServer(handler)
	t.Cleanup(s.Close)
	return s.Listener.Addr().String()
}

// TestSlowloris: a connection that sends its head a byte every 100ms is
// closed once read_header_timeout (1s) has passed, while normal requests
// on other connections are answered throughout.
func TestSlowloris(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "h1", nil, serverKey+`read_header_timeout = "1s"`)
	stop := testkit.Load(2, func() error { return wantOK(h, "/obj/steady") })
	c, err := net.Dial("tcp", h.node.Addrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(15 * time.Second)); err != nil {
		t.Fatal(err)
	}
	closed := make(chan error, 1)
	go func() {
		n, err := io.Copy(io.Discard, c)
		closed <- fmt.Errorf("%d bytes, then %v", n, err)
	}()
	head := "GET /obj/slow HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("s", 100)
	start := time.Now()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var end error
	for i := 0; i < 100 && end == nil; i++ { // 10s at most
		select {
		case err := <-closed:
			end = err
		case <-tick.C:
			if _, err := io.WriteString(c, head[i:i+1]); err != nil {
				end = fmt.Errorf("write: %w", <-closed)
			}
		}
	}
	if end == nil {
		t.Errorf("the node kept a connection sending its head a byte per 100ms for %v", time.Since(start))
	} else {
		t.Logf("closed after %v: %v", time.Since(start), end)
	}
	if err := wantOK(h, "/obj/after"); err != nil {
		t.Error(err)
	}
	if sent, failed := stop(); sent == 0 || failed != 0 {
		t.Errorf("normal requests meanwhile: %d sent, %d failed; want all answered", sent, failed)
	}
}

// wantOK sends GET path through h and returns an error unless it gets 200.
func wantOK(h *harness, path string) error {
	resp, body, err := h.do(http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %d %q", path, resp.StatusCode, body)
	}
	return nil
}

// TestH2MaxConcurrentStreams: server.max_concurrent_streams is what the
// node advertises in its SETTINGS.
func TestH2MaxConcurrentStreams(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "h2c", nil, serverKey+`max_concurrent_streams = 7`)
	c := testkit.DialH2C(t, h.node.Addrs()[0].String())
	if v, ok := c.Settings.Value(http2.SettingMaxConcurrentStreams); !ok || v != 7 {
		t.Errorf("SETTINGS_MAX_CONCURRENT_STREAMS = %d (sent: %v), want 7", v, ok)
	}
}

// TestH2RapidReset: a client opening streams and resetting them at once
// (CVE-2023-39325) gets few of them to the origin, and normal requests on
// another connection are answered throughout. When its streams are misses
// the origin is slow to answer (handlers outlive the resets), the node
// closes the connection. When they are hits, a handler may end before its
// reset arrives, which makes the stream an ordinary request: the node
// closes the connection when the resets come first (its premature-reset
// limit), which depends on the machine's timing, so only the rest is
// required then.
func TestH2RapidReset(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		path      func(i int) string
		mustClose bool
	}{
		{"slow misses", func(i int) string { return "/obj/flood-" + strconv.Itoa(i) + "?delay=1s" }, true},
		{"one cached object", func(int) string { return "/obj/flood-hit" }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, "h2c", nil, serverKey+`max_concurrent_streams = 10`)
			if err := wantOK(h, tt.path(0)); err != nil {
				t.Fatal(err)
			}
			origin := h.demo.Stats().Requests
			stop := testkit.Load(2, func() error { return wantOK(h, "/obj/steady") })
			c := testkit.DialH2C(t, h.node.Addrs()[0].String())
			ended := make(chan struct{})
			var away *http2.GoAwayFrame
			var readErr error
			go func() {
				away, readErr = c.UntilClosed()
				close(ended)
			}()
			// The pairs fit in the socket buffers: writing them all says
			// nothing.
			const pairs = 20_000
			sent := 0
			for ; sent < pairs; sent++ {
				id := uint32(2*sent + 1)
				if err := c.Get(id, "x", tt.path(sent+1)); err != nil {
					break
				}
				if err := c.Framer.WriteRSTStream(id, http2.ErrCodeCancel); err != nil {
					break
				}
			}
			select {
			case <-ended:
				switch {
				case isTimeout(readErr):
					t.Errorf("the flooding connection timed out instead of being closed: %v", readErr)
				case away != nil:
					t.Logf("closed after %d pairs written: GOAWAY %v, then %v", sent, away.ErrCode, readErr)
				default:
					t.Logf("closed after %d pairs written: %v", sent, readErr)
				}
			case <-time.After(10 * time.Second):
				if tt.mustClose {
					t.Errorf("the connection is open 10s after %d HEADERS+RST_STREAM pairs", sent)
				} else {
					t.Logf("the connection is open 10s after %d HEADERS+RST_STREAM pairs: its hits ended before their resets", sent)
				}
			}
			if err := wantOK(h, "/obj/after"); err != nil {
				t.Error(err)
			}
			if sent, failed := stop(); sent == 0 || failed != 0 {
				t.Errorf("normal requests meanwhile: %d sent, %d failed; want all answered", sent, failed)
			}
			st := h.demo.Stats()
			if flood := st.Requests - origin - st.ByPath["/obj/steady"] - st.ByPath["/obj/after"]; flood >= pairs/10 {
				t.Errorf("%d flooding streams reached the origin, want far fewer than the %d sent", flood, sent)
			} else {
				t.Logf("%d flooding streams reached the origin", flood)
			}
		})
	}
}

// TestH2ContinuationFlood: a header block going on in CONTINUATION frames
// past the header list limit (CVE-2023-45288) has its connection closed
// long before it is sent whole, and the node answers normal requests
// throughout.
func TestH2ContinuationFlood(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "h2c", nil, serverKey+`max_header_bytes = "4KiB"`)
	stop := testkit.Load(2, func() error { return wantOK(h, "/obj/steady") })
	c := testkit.DialH2C(t, h.node.Addrs()[0].String())
	go c.UntilClosed() // keeps the node's writes flowing
	get := c.Block(testkit.GetFields("x", "/obj/flood"))
	if err := c.Framer.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: get, EndStream: true}); err != nil {
		t.Fatal(err)
	}
	flood := make([]hpack.HeaderField, 16) // 16 KiB of fields per frame
	for i := range flood {
		flood[i] = hpack.HeaderField{Name: "x-flood", Value: strings.Repeat("a", 1000), Sensitive: true}
	}
	block := c.Block(flood)
	// 64 MiB in all: far more than the socket buffers between client and
	// node can hold.
	const frames = 4096
	var err error
	sent := 0
	for ; sent < frames && err == nil; sent++ {
		err = c.Framer.WriteContinuation(1, false, block)
	}
	switch {
	case err == nil:
		t.Errorf("all %d CONTINUATION frames (%d MiB) were written: the node read the whole flood", frames, frames*len(block)>>20)
	case isTimeout(err):
		t.Errorf("the node neither read nor closed the connection: %v", err)
	default:
		t.Logf("closed after %d CONTINUATION frames: %v", sent, err)
	}
	if err := wantOK(h, "/obj/after"); err != nil {
		t.Error(err)
	}
	if sent, failed := stop(); sent == 0 || failed != 0 {
		t.Errorf("normal requests meanwhile: %d sent, %d failed; want all answered", sent, failed)
	}
}
