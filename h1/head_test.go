package h1

import (
	"bufio"
	"bytes"
	"errors"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/net/http/httpguts"
)

// headCase is one request head and what Parse makes of it under lim.
type headCase struct {
	name   string
	head   string
	reason string // "" when accepted
	status int    // for a refusal; 0 means 400
	want   shape  // when accepted
	method string // when accepted
	target string // when accepted
	host   string // when accepted: Host()
}

// get is a minimal valid HTTP/1.1 head with the given extra field lines.
func get(fields ...string) string {
	return "GET / HTTP/1.1\r\nHost: a.example\r\n" + strings.Join(fields, "") + "\r\n"
}

// shape is the exported scalar fields of a Head.
type shape struct {
	Version       int
	ContentLength int64
	Chunked       bool
	Upgrade       bool
	Close         bool
}

func shapeOf(h *Head) shape {
	return shape{h.Version, h.ContentLength, h.Chunked, h.Upgrade, h.Close}
}

var testLimits = Limits{MaxURL: 64, MaxFields: 8}

var headCases = []headCase{
	// Accepted.
	{name: "minimal", head: get(), want: shape{Version: 1, ContentLength: -1}, method: "GET", target: "/", host: "a.example"},
	{name: "http/1.0 without host closes", head: "GET /x HTTP/1.0\r\n\r\n", want: shape{Version: 0, ContentLength: -1, Close: true}, method: "GET", target: "/x"},
	{name: "http/1.0 keep-alive", head: "GET /x HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", want: shape{ContentLength: -1}, method: "GET", target: "/x"},
	{name: "connection close among tokens", head: get("Connection: foo, CLOSE ,bar\r\n"), want: shape{Version: 1, ContentLength: -1, Close: true}, method: "GET", target: "/", host: "a.example"},
	{name: "content-length", head: "POST /u HTTP/1.1\r\nHost: a.example\r\nContent-Length: 42\r\n\r\n", want: shape{Version: 1, ContentLength: 42}, method: "POST", target: "/u", host: "a.example"},
	{name: "content-length 10^18", head: get("Content-Length: 1000000000000000000\r\n"), want: shape{Version: 1, ContentLength: 1e18}, method: "GET", target: "/", host: "a.example"},
	{name: "content-length leading zeros", head: get("Content-Length: 007\r\n"), want: shape{Version: 1, ContentLength: 7}, method: "GET", target: "/", host: "a.example"},
	{name: "chunked with OWS and case", head: "PUT /u HTTP/1.1\r\nHost: a.example\r\nTransfer-Encoding: \t Chunked \r\n\r\n", want: shape{Version: 1, ContentLength: -1, Chunked: true}, method: "PUT", target: "/u", host: "a.example"},
	{name: "upgrade", head: get("Connection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n"), want: shape{Version: 1, ContentLength: -1, Upgrade: true}, method: "GET", target: "/", host: "a.example"},
	{name: "upgrade field without the connection token", head: get("Upgrade: websocket\r\n"), want: shape{Version: 1, ContentLength: -1}, method: "GET", target: "/", host: "a.example"},
	{name: "absolute-form names the host", head: "GET http://A.example:8080/p?q HTTP/1.1\r\nHost: a.EXAMPLE:8080\r\n\r\n", want: shape{Version: 1, ContentLength: -1}, method: "GET", target: "http://A.example:8080/p?q", host: "A.example:8080"},
	{name: "absolute-form https without path", head: "GET HTTPS://a.example?x=1 HTTP/1.1\r\nHost: a.example\r\n\r\n", want: shape{Version: 1, ContentLength: -1}, method: "GET", target: "HTTPS://a.example?x=1", host: "a.example"},
	{name: "absolute-form http/1.0 without host", head: "GET http://a.example/ HTTP/1.0\r\n\r\n", want: shape{ContentLength: -1, Close: true}, method: "GET", target: "http://a.example/", host: "a.example"},
	{name: "connect authority-form", head: "CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n", want: shape{Version: 1, ContentLength: -1}, method: "CONNECT", target: "a.example:443", host: "a.example:443"},
	{name: "connect ipv6", head: "CONNECT [2001:db8::1]:443 HTTP/1.1\r\nHost: [2001:db8::1]:443\r\n\r\n", want: shape{Version: 1, ContentLength: -1}, method: "CONNECT", target: "[2001:db8::1]:443", host: "[2001:db8::1]:443"},
	{name: "options asterisk-form", head: "OPTIONS * HTTP/1.1\r\nHost: a.example\r\n\r\n", want: shape{Version: 1, ContentLength: -1}, method: "OPTIONS", target: "*", host: "a.example"},
	{name: "ipv6 host with port", head: "GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", want: shape{Version: 1, ContentLength: -1}, method: "GET", target: "/", host: "[::1]:8080"},
	{name: "extension method", head: "M-SEARCH /x HTTP/1.1\r\nHost: a.example\r\n\r\n", want: shape{Version: 1, ContentLength: -1}, method: "M-SEARCH", target: "/x", host: "a.example"},
	{name: "obs-text, HTAB and colons in values", head: get("X-A: caf\xe9\tau: lait\r\nX-Empty:\r\n"), want: shape{Version: 1, ContentLength: -1}, method: "GET", target: "/", host: "a.example"},
	{name: "pct-encoded path, bare percent in query", head: "GET /a%20b/%7E?q=100%&r=%zz HTTP/1.1\r\nHost: a.example\r\n\r\n", want: shape{Version: 1, ContentLength: -1}, method: "GET", target: "/a%20b/%7E?q=100%&r=%zz", host: "a.example"},
	{name: "target at MaxURL", head: "GET /" + strings.Repeat("a", 63) + " HTTP/1.1\r\nHost: a.example\r\n\r\n", want: shape{Version: 1, ContentLength: -1}, method: "GET", target: "/" + strings.Repeat("a", 63), host: "a.example"},
	{name: "fields at MaxFields", head: get(strings.Repeat("X: y\r\n", 7)), want: shape{Version: 1, ContentLength: -1}, method: "GET", target: "/", host: "a.example"},

	// The request line (RFC 9112 §3).
	{name: "empty request line", head: "\r\nHost: a\r\n\r\n", reason: "bad-request-line"},
	{name: "leading space", head: " GET / HTTP/1.1\r\nHost: a\r\n\r\n", reason: "bad-request-line"},
	{name: "two spaces", head: "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", reason: "bad-request-line"},
	{name: "no version", head: "GET /\r\nHost: a\r\n\r\n", reason: "bad-request-line"},
	{name: "method not a token", head: "G@T / HTTP/1.1\r\nHost: a\r\n\r\n", reason: "bad-method"},
	{name: "tab for space", head: "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", reason: "bad-request-line"},
	{name: "version 1.2", head: "GET / HTTP/1.2\r\nHost: a\r\n\r\n", reason: "bad-version"},
	{name: "version lower-case", head: "GET / http/1.1\r\nHost: a\r\n\r\n", reason: "bad-version"},
	{name: "version 2.0", head: "PRI * HTTP/2.0\r\n\r\n", reason: "bad-version"},
	{name: "space after version", head: "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", reason: "bad-version"},
	{name: "relative target", head: "GET a/b HTTP/1.1\r\nHost: a\r\n\r\n", reason: "bad-target"},
	{name: "fragment", head: "GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", reason: "bad-target"},
	{name: "bad pct-encoding", head: "GET /a%zz HTTP/1.1\r\nHost: a\r\n\r\n", reason: "bad-target"},
	{name: "short pct-encoding", head: "GET /a%2 HTTP/1.1\r\nHost: a\r\n\r\n", reason: "bad-target"},
	{name: "DEL in target", head: "GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n", reason: "bad-target"},
	{name: "tab in target", head: "GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n", reason: "bad-target"},
	{name: "asterisk-form without OPTIONS", head: "GET * HTTP/1.1\r\nHost: a\r\n\r\n", reason: "bad-target"},
	{name: "connect origin-form", head: "CONNECT /x HTTP/1.1\r\nHost: a\r\n\r\n", reason: "bad-target"},
	{name: "connect without port", head: "CONNECT a.example HTTP/1.1\r\nHost: a.example\r\n\r\n", reason: "bad-target"},
	{name: "authority-form without CONNECT", head: "GET a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n", reason: "bad-target"},
	{name: "absolute-form other scheme", head: "GET ftp://a.example/ HTTP/1.1\r\nHost: a.example\r\n\r\n", reason: "bad-target"},
	{name: "absolute-form userinfo", head: "GET http://u@a.example/ HTTP/1.1\r\nHost: a.example\r\n\r\n", reason: "bad-target"},
	{name: "absolute-form empty host", head: "GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n", reason: "bad-target"},
	{name: "absolute-form port too big", head: "GET http://a:65536/ HTTP/1.1\r\nHost: a:65536\r\n\r\n", reason: "bad-target"},
	{name: "absolute-form ipv6 zone", head: "GET http://[fe80::1%25eth0]/ HTTP/1.1\r\nHost: a\r\n\r\n", reason: "bad-target"},
	{name: "absolute-form ipv4 in brackets", head: "GET http://[1.2.3.4]/ HTTP/1.1\r\nHost: a\r\n\r\n", reason: "bad-target"},
	{name: "target too long", head: "GET /" + strings.Repeat("a", 64) + " HTTP/1.1\r\nHost: a\r\n\r\n", reason: "url-too-long", status: 414},

	// Lines (RFC 9112 §2.2).
	{name: "bare LF after request line", head: "GET / HTTP/1.1\nHost: a\r\n\r\n", reason: "bare-lf"},
	{name: "bare LF ends the head", head: "GET / HTTP/1.1\r\nHost: a\r\n\n", reason: "bare-lf"},
	{name: "bare CR in a value", head: get("X: a\rb\r\n"), reason: "bare-cr"},
	{name: "bare CR before CRLF", head: get("X: a\r\r\n"), reason: "bare-cr"},
	{name: "NUL in a value", head: get("X: a\x00b\r\n"), reason: "nul"},
	{name: "NUL in the target", head: "GET /\x00 HTTP/1.1\r\nHost: a\r\n\r\n", reason: "nul"},
	{name: "no empty line", head: "GET / HTTP/1.1\r\nHost: a\r\n", reason: "incomplete-head"},
	{name: "bytes after the head", head: get() + "GET", reason: "incomplete-head"},

	// Field lines (RFC 9112 §5).
	{name: "obs-fold", head: get("X: a\r\n b\r\n"), reason: "obs-fold"},
	{name: "whitespace before the first field", head: "GET / HTTP/1.1\r\n\tHost: a\r\n\r\n", reason: "obs-fold"},
	{name: "no colon", head: get("X-A\r\n"), reason: "bad-field-name"},
	{name: "empty name", head: get(": v\r\n"), reason: "bad-field-name"},
	{name: "name not a token", head: get("X(A): v\r\n"), reason: "bad-field-name"},
	{name: "space before colon", head: "GET / HTTP/1.1\r\nHost : a\r\n\r\n", reason: "space-before-colon"},
	{name: "tab before colon", head: get("Content-Length\t: 5\r\n"), reason: "space-before-colon"},
	{name: "control byte in a value", head: get("X: a\x01b\r\n"), reason: "bad-field-value"},
	{name: "DEL in a value", head: get("X: a\x7f\r\n"), reason: "bad-field-value"},
	{name: "too many fields", head: get(strings.Repeat("X: y\r\n", 8)), reason: "too-many-fields", status: 431},

	// Framing (RFC 9112 §6).
	{name: "content-length then transfer-encoding", head: get("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"), reason: "cl-and-te"},
	{name: "transfer-encoding then content-length", head: get("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n"), reason: "cl-and-te"},
	{name: "identical content-lengths", head: get("Content-Length: 5\r\nContent-Length: 5\r\n"), reason: "duplicate-content-length"},
	{name: "content-length list", head: get("Content-Length: 5, 5\r\n"), reason: "bad-content-length"},
	{name: "content-length sign", head: get("Content-Length: +5\r\n"), reason: "bad-content-length"},
	{name: "content-length negative", head: get("Content-Length: -1\r\n"), reason: "bad-content-length"},
	{name: "content-length empty", head: get("Content-Length: \r\n"), reason: "bad-content-length"},
	{name: "content-length hex", head: get("Content-Length: 0x10\r\n"), reason: "bad-content-length"},
	{name: "content-length inner space", head: get("Content-Length: 1 0\r\n"), reason: "bad-content-length"},
	{name: "content-length above 10^18", head: get("Content-Length: 1000000000000000001\r\n"), reason: "bad-content-length"},
	{name: "content-length overflow", head: get("Content-Length: 99999999999999999999999\r\n"), reason: "bad-content-length"},
	{name: "transfer-encoding gzip, chunked", head: get("Transfer-Encoding: gzip, chunked\r\n"), reason: "bad-transfer-encoding"},
	{name: "transfer-encoding chunked twice in a list", head: get("Transfer-Encoding: chunked, chunked\r\n"), reason: "bad-transfer-encoding"},
	{name: "transfer-encoding twice", head: get("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"), reason: "bad-transfer-encoding"},
	{name: "transfer-encoding identity", head: get("Transfer-Encoding: identity\r\n"), reason: "bad-transfer-encoding"},
	{name: "transfer-encoding empty", head: get("Transfer-Encoding:\r\n"), reason: "bad-transfer-encoding"},
	{name: "transfer-encoding on http/1.0", head: "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", reason: "te-on-http10"},

	// Host (RFC 9112 §3.2).
	{name: "no host", head: "GET / HTTP/1.1\r\nX: y\r\n\r\n", reason: "missing-host"},
	{name: "connect without host", head: "CONNECT a.example:443 HTTP/1.1\r\n\r\n", reason: "missing-host"},
	{name: "two hosts", head: get("Host: a.example\r\n"), reason: "duplicate-host"},
	{name: "empty host", head: "GET / HTTP/1.1\r\nHost:\r\n\r\n", reason: "bad-host"},
	{name: "host with space", head: "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", reason: "bad-host"},
	{name: "host list", head: "GET / HTTP/1.1\r\nHost: a,b\r\n\r\n", reason: "bad-host"},
	{name: "host with userinfo", head: "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", reason: "bad-host"},
	{name: "host with two colons", head: "GET / HTTP/1.1\r\nHost: a:1:2\r\n\r\n", reason: "bad-host"},
	{name: "host with empty port", head: "GET / HTTP/1.1\r\nHost: a:\r\n\r\n", reason: "bad-host"},
	{name: "host unclosed ipv6", head: "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", reason: "bad-host"},
	{name: "host pct-encoded", head: "GET / HTTP/1.1\r\nHost: a%2eb\r\n\r\n", reason: "bad-host"},
	{name: "absolute-form host differs", head: "GET http://a.example/ HTTP/1.1\r\nHost: b.example\r\n\r\n", reason: "host-mismatch"},
	{name: "absolute-form port differs", head: "GET http://a.example:80/ HTTP/1.1\r\nHost: a.example\r\n\r\n", reason: "host-mismatch"},
	{name: "connect host differs", head: "CONNECT a.example:443 HTTP/1.1\r\nHost: b.example:443\r\n\r\n", reason: "host-mismatch"},
}

func TestParseHead(t *testing.T) {
	for _, tt := range headCases {
		t.Run(tt.name, func(t *testing.T) {
			var h Head
			err := h.Parse([]byte(tt.head), testLimits)
			if tt.reason != "" {
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("ParseHead(%q) = %v, want reason %s", tt.head, err, tt.reason)
				}
				status := tt.status
				if status == 0 {
					status = 400
				}
				if e.Reason != tt.reason || e.Status != status {
					t.Errorf("ParseHead(%q) = %d %s, want %d %s", tt.head, e.Status, e.Reason, status, tt.reason)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseHead(%q) = %v, want it accepted", tt.head, err)
			}
			if got := shapeOf(&h); got != tt.want {
				t.Errorf("ParseHead(%q) framing = %+v, want %+v", tt.head, got, tt.want)
			}
			if string(h.Method()) != tt.method || string(h.Target()) != tt.target || string(h.Host()) != tt.host {
				t.Errorf("ParseHead(%q) = %q %q host %q, want %q %q host %q", tt.head, h.Method(), h.Target(), h.Host(), tt.method, tt.target, tt.host)
			}
		})
	}
}

func TestHeadFields(t *testing.T) {
	b := []byte("GET / HTTP/1.1\r\nHost: a.example\r\nX-Tab:\t a b \t\r\nx-tab: second\r\nEmpty:\r\n\r\n")
	var h Head
	if err := h.Parse(b, Limits{}); err != nil {
		t.Fatal(err)
	}
	want := [][2]string{{"Host", "a.example"}, {"X-Tab", "a b"}, {"x-tab", "second"}, {"Empty", ""}}
	if h.NumFields() != len(want) {
		t.Fatalf("NumFields() = %d, want %d", h.NumFields(), len(want))
	}
	for i, w := range want {
		if name, value := h.Field(i); string(name) != w[0] || string(value) != w[1] {
			t.Errorf("Field(%d) = %q: %q, want %q: %q", i, name, value, w[0], w[1])
		}
	}
	if v, ok := h.Get("x-tab"); !ok || string(v) != "a b" {
		t.Errorf(`Get("x-tab") = %q, %v, want "a b", true`, v, ok)
	}
	if v, ok := h.Get("empty"); !ok || len(v) != 0 {
		t.Errorf(`Get("empty") = %q, %v, want "", true`, v, ok)
	}
	if v, ok := h.Get("missing"); ok {
		t.Errorf(`Get("missing") = %q, true, want false`, v)
	}

	// A second parse reuses the field table and forgets the first head.
	if err := h.Parse([]byte("GET /2 HTTP/1.0\r\n\r\n"), Limits{}); err != nil {
		t.Fatal(err)
	}
	if h.NumFields() != 0 || h.Host() != nil || string(h.Target()) != "/2" {
		t.Errorf("after a second Parse: %d fields, host %q, target %q; want 0, nil, /2", h.NumFields(), h.Host(), h.Target())
	}
	allocs := testing.AllocsPerRun(100, func() {
		if err := h.Parse(b, Limits{}); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Parse into a used Head: %v allocs, want 0", allocs)
	}
}

// serverAccepts reports whether net/http's server accepts the request
// head b: http.ReadRequest, then the checks its server adds (Host present
// in HTTP/1.1 and once, a valid Host, valid field names and values).
func serverAccepts(b []byte) bool {
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(b)))
	if err != nil {
		return false
	}
	hosts, haveHost := req.Header["Host"]
	switch {
	case req.ProtoAtLeast(1, 1) && (!haveHost || len(hosts) == 0) && req.Method != http.MethodConnect:
		return false
	case len(hosts) > 1:
		return false
	case len(hosts) == 1 && !httpguts.ValidHostHeader(hosts[0]):
		return false
	}
	for k, vs := range req.Header {
		if !httpguts.ValidHeaderFieldName(k) {
			return false
		}
		for _, v := range vs {
			if !httpguts.ValidHeaderFieldValue(v) {
				return false
			}
		}
	}
	return true
}

// stricterThanNetHTTP are the refusals whose inputs net/http's server
// accepts (serverAccepts), on purpose: the framing ambiguities request
// smuggling lives on, which net/http resolves one way and another parser
// may resolve another (cl-and-te, duplicate-content-length, te-on-http10,
// obs-fold, bare-lf), rules the server applies more loosely or not at all
// (missing-host for CONNECT, bad-host, host-mismatch, bad-version for
// HTTP/1.2 and the like, bad-target for '#' or a bad percent-escape in the
// path, bad-field-value for controls it lets through, bad-request-line for
// leading empty lines, incomplete-head for bytes after the head, which
// ReadRequest leaves unread, bad-content-length for lengths above 10^18),
// and the configured limits (url-too-long, too-many-fields). Any other
// disagreement fails FuzzParseHead.
var stricterThanNetHTTP = map[string]bool{
	"cl-and-te": true, "duplicate-content-length": true, "te-on-http10": true, "obs-fold": true, "bare-lf": true,
	"missing-host": true, "bad-host": true, "host-mismatch": true, "bad-version": true,
	"bad-target": true, "bad-field-value": true, "bad-request-line": true, "incomplete-head": true, "bad-content-length": true,
	"url-too-long": true, "too-many-fields": true,
}

// FuzzParseHead checks the parser against net/http's server both ways:
// what we accept, it accepts and frames the same way; what we refuse, it
// refuses too, unless the reason is one of stricterThanNetHTTP.
func FuzzParseHead(f *testing.F) {
	// Every table case, accepted and refused, seeds the corpus.
	for _, tt := range headCases {
		f.Add([]byte(tt.head))
	}
	f.Add([]byte("GET /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n")) // the classic smuggle
	f.Add([]byte("GET http://[::ffff:1.2.3.4]:1/ HTTP/1.1\r\nHost: [::ffff:1.2.3.4]:1\r\n\r\n"))           // v4-in-v6 literal
	f.Fuzz(func(t *testing.T, b []byte) {
		var h Head
		err := h.Parse(b, testLimits)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Reason == "" || (e.Status != 400 && e.Status != 414 && e.Status != 431) {
				t.Fatalf("Parse(%q) = %v: not a refusal", b, err)
			}
			// net/http may accept what we refuse only for a documented
			// reason: one of the rules we hold it stricter than it does.
			if serverAccepts(b) && !stricterThanNetHTTP[e.Reason] {
				t.Fatalf("Parse(%q) refuses (%s), net/http accepts, and %s is not a documented stricter rule", b, e.Reason, e.Reason)
			}
			return
		}
		// We accept: net/http, more lenient, must accept too, and frame
		// the request the same way.
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(b)))
		if err != nil {
			t.Fatalf("Parse(%q) accepts, net/http refuses: %v", b, err)
		}
		if req.Method != string(h.Method()) || req.RequestURI != string(h.Target()) {
			t.Errorf("Parse(%q) = %q %q, net/http %q %q", b, h.Method(), h.Target(), req.Method, req.RequestURI)
		}
		chunked := len(req.TransferEncoding) == 1 && req.TransferEncoding[0] == "chunked"
		wantCL := h.ContentLength
		switch {
		case h.Chunked:
			wantCL = -1
		case wantCL < 0:
			wantCL = 0 // net/http: a request without a length has none
		}
		if chunked != h.Chunked || req.ContentLength != wantCL {
			t.Errorf("Parse(%q): chunked %v, length %d; net/http %v, %d", b, h.Chunked, h.ContentLength, chunked, req.ContentLength)
		}
		if host := h.Host(); host != nil && req.Host != string(host) {
			t.Errorf("Parse(%q): host %q, net/http %q", b, host, req.Host)
		}
	})
}
