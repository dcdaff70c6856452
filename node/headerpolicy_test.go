package node_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"github.com/cdnnode/cdnnode/internal/testnode"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// seenRequest is what the echoing origin saw of a request.
type seenRequest struct {
	Proto            string
	Header           http.Header
	TransferEncoding []string
	ContentLength    int64
	Body             string
}

// echoOrigin answers every request with what it saw of it, as JSON, and
// counts them in n.
func echoOrigin(n *atomic.Int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(seenRequest{r.Proto, r.Header, r.TransferEncoding, r.ContentLength, string(body)})
	})
}

// rawRequest sends req as is over a new connection to addr and reads the
// response's head. The connection, closed when the test ends, and its
// reader stay usable, as for a protocol the response switched to.
func rawRequest(t *testing.T, addr, req string) (net.Conn, *bufio.Reader, *http.Response) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no response to %q: %v", req, err)
	}
	return c, br, resp
}

// rawExchange sends req as is over a new connection to addr and reads
// one response.
func rawExchange(t *testing.T, addr, req string) (*http.Response, []byte) {
	t.Helper()
	c, _, resp := rawRequest(t, addr, req)
	defer c.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

// TestUpstreamHeaderPolicy proves each rule of the upstream request header
// policy (DESIGN.md, Pingora's default) with requests written byte by byte:
// what is refused with 400 before reaching the origin, and what the origin
// sees of what is forwarded.
func TestUpstreamHeaderPolicy(t *testing.T) {
	t.Parallel()
	var seen atomic.Int64
	h := newHarness(t, "h1", echoOrigin(&seen))
	addr := strings.TrimPrefix(h.base, "http://")
	tests := []struct {
		name   string
		req    string
		status int
		check  func(s seenRequest) string // "" when the origin saw what it should
	}{
		{"hop-by-hop fields are stripped", "GET /a HTTP/1.1\r\nHost: x\r\nKeep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nTE: trailers\r\nTrailer: X-T\r\nProxy-Authorization: Basic eA==\r\nUpgrade: h2c\r\nX-Kept: 1\r\n\r\n", 200,
			func(s seenRequest) string {
				for _, f := range []string{"Keep-Alive", "Proxy-Connection", "Te", "Trailer", "Proxy-Authorization", "Upgrade"} {
					if s.Header.Get(f) != "" {
						return f + " reached the origin"
					}
				}
				if s.Header.Get("X-Kept") != "1" {
					return "an end-to-end field was lost"
				}
				return ""
			}},
		{"nominated fields are stripped", "GET /a HTTP/1.1\r\nHost: x\r\nConnection: X-Secret, x-other\r\nX-Secret: 1\r\nX-Other: 2\r\nX-Kept: 3\r\n\r\n", 200,
			func(s seenRequest) string {
				if s.Header.Get("X-Secret") != "" || s.Header.Get("X-Other") != "" || s.Header.Get("Connection") != "" {
					return "a nominated field reached the origin"
				}
				if s.Header.Get("X-Kept") != "3" {
					return "an end-to-end field was lost"
				}
				return ""
			}},
		{"Connection nominating Host", "GET /a HTTP/1.1\r\nHost: x\r\nConnection: Host\r\n\r\n", 400, nil},
		{"Connection nominating X-Forwarded-For", "GET /a HTTP/1.1\r\nHost: x\r\nConnection: x-forwarded-for\r\n\r\n", 400, nil},
		{"Connection nominating X-Forwarded-Host", "GET /a HTTP/1.1\r\nHost: x\r\nConnection: X-Forwarded-Host\r\n\r\n", 400, nil},
		{"Connection nominating X-Forwarded-Proto", "GET /a HTTP/1.1\r\nHost: x\r\nConnection: X-Forwarded-Proto\r\n\r\n", 400, nil},
		{"Connection nominating a pseudo-header", "GET /a HTTP/1.1\r\nHost: x\r\nConnection: :authority\r\n\r\n", 400, nil},
		{"ten nominations", "GET /a HTTP/1.1\r\nHost: x\r\nConnection: a, b, c, d, e, f, g, h, i, j\r\n\r\n", 400, nil},
		{"nine nominations", "GET /a HTTP/1.1\r\nHost: x\r\nConnection: a, b, c, d, e, f, g, h, i\r\n\r\n", 200,
			func(s seenRequest) string { return "" }},
		{"a body without a length goes chunked", "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", 200,
			func(s seenRequest) string {
				if len(s.TransferEncoding) != 1 || s.TransferEncoding[0] != "chunked" || s.ContentLength != -1 || s.Body != "hello world" {
					return "the body did not arrive chunked and whole"
				}
				return ""
			}},
		{"a body with a length keeps it", "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", 200,
			func(s seenRequest) string {
				if s.ContentLength != 5 || len(s.TransferEncoding) != 0 || s.Body != "hello" {
					return "the body's length was not kept"
				}
				return ""
			}},
		{"HTTP/1.0 goes upstream as HTTP/1.1", "GET /a HTTP/1.0\r\nHost: x\r\n\r\n", 200,
			func(s seenRequest) string {
				if s.Proto != "HTTP/1.1" {
					return "the origin saw " + s.Proto
				}
				return ""
			}},
		{"an upgrade other than WebSocket is not forwarded", "GET /a HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: foo/2\r\n\r\n", 200,
			func(s seenRequest) string {
				if s.Header.Get("Upgrade") != "" || s.Header.Get("Connection") != "" {
					return "the upgrade reached the origin"
				}
				return ""
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := seen.Load()
			resp, body := rawExchange(t, addr, tt.req)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, body, tt.status)
			}
			if tt.check == nil {
				if seen.Load() != before {
					t.Error("a refused request reached the origin")
				}
				return
			}
			var s seenRequest
			if err := json.Unmarshal(body, &s); err != nil {
				t.Fatalf("origin answer %q: %v", body, err)
			}
			if msg := tt.check(s); msg != "" {
				t.Errorf("%s (origin saw %+v)", msg, s)
			}
		})
	}
}

// upgradeOrigin is echoOrigin, but switches a request with "Upgrade:
// foo/2" to that protocol and echoes the bytes it then receives.
func upgradeOrigin(t *testing.T, n *atomic.Int64) *httptest.Server {
	echo := echoOrigin(n)
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "foo/2" {
			echo.ServeHTTP(w, r)
			return
		}
		n.Add(1)
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: foo/2\r\n\r\n")
		brw.Flush()
		_, _ = io.Copy(c, brw)
	}))
	t.Cleanup(s.Close)
	return s
}

// TestHeaderPolicyOverrides proves the per-pool header policies: keeping
// nominated fields, forwarding any HTTP/1 upgrade, and preserving the
// request's fields as they came.
func TestHeaderPolicyOverrides(t *testing.T) {
	t.Parallel()
	const (
		nominated = "GET /a HTTP/1.1\r\nHost: x\r\nConnection: X-Secret\r\nX-Secret: 1\r\nKeep-Alive: timeout=5\r\n\r\n"
		hostNom   = "GET /a HTTP/1.1\r\nHost: x\r\nConnection: Host\r\n\r\n"
		upgrade   = "GET /u HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: foo/2\r\n\r\n"
	)
	tests := []struct {
		policy                    string
		keepsSecret, keepsKeepAlv bool
		hostNomStatus             int
		upgrades                  bool
	}{
		{`header_policy = "strip"`, false, false, 400, false},
		{`strip_connection_nominated = false`, true, false, 200, false},
		{`h1_upgrade = "preserve"`, false, false, 400, true},
		{`header_policy = "preserve"`, true, true, 200, true},
	}
	for _, tt := range tests {
		t.Run(tt.policy, func(t *testing.T) {
			t.Parallel()
			var seen atomic.Int64
			o := upgradeOrigin(t, &seen)
			n := testnode.Start(t, fmt.Sprintf("[pools.p]\npeers = [%q]\n%s\n[[sites]]\nname = \"s\"\nhosts = [\"*\"]\npool = \"p\"\n",
				o.Listener.Addr().String(), tt.policy))
			addr := n.Addrs()[0].String()

			resp, body := rawExchange(t, addr, nominated)
			var s seenRequest
			if err := json.Unmarshal(body, &s); resp.StatusCode != http.StatusOK || err != nil {
				t.Fatalf("nominated fields: %d %s", resp.StatusCode, body)
			}
			if got := s.Header.Get("X-Secret") != ""; got != tt.keepsSecret {
				t.Errorf("origin saw the nominated field: %v, want %v", got, tt.keepsSecret)
			}
			if got := s.Header.Get("Keep-Alive") != ""; got != tt.keepsKeepAlv {
				t.Errorf("origin saw Keep-Alive: %v, want %v", got, tt.keepsKeepAlv)
			}
			if resp, body := rawExchange(t, addr, hostNom); resp.StatusCode != tt.hostNomStatus {
				t.Errorf("Connection nominating Host: %d %s, want %d", resp.StatusCode, body, tt.hostNomStatus)
			}

			c, br, resp := rawRequest(t, addr, upgrade)
			if !tt.upgrades {
				if resp.StatusCode != http.StatusOK {
					t.Errorf("a foo/2 upgrade without the policy: %d, want 200 without an upgrade", resp.StatusCode)
				}
				return
			}
			if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Upgrade") != "foo/2" {
				t.Fatalf("a foo/2 upgrade: %d %v, want 101 to foo/2", resp.StatusCode, resp.Header)
			}
			io.WriteString(c, "ping over foo/2")
			got := make([]byte, len("ping over foo/2"))
			if _, err := io.ReadFull(br, got); err != nil || string(got) != "ping over foo/2" {
				t.Errorf("through the tunnel: %q, %v", got, err)
			}
		})
	}
}
