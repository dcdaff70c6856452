package node_test

import (
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestForwardingFieldsFromUntrustedClient: the fields by which a client
// could make the origin (and so the cache) believe another host, scheme,
// address or URL, and those only the node or an origin may set, reach the
// origin as the node sets them, or not at all.
func TestForwardingFieldsFromUntrustedClient(t *testing.T) {
	t.Parallel()
	for _, proto := range protocols {
		t.Run(proto, func(t *testing.T) {
			t.Parallel()
			rec := newRecorder()
			h := newHarness(t, proto, rec)
			resp, body, err := h.do(http.MethodGet, "/poison", map[string]string{
				"Host":               "shop.example",
				"X-Forwarded-For":    "203.0.113.9",
				"X-Forwarded-Host":   "evil.example",
				"X-Forwarded-Proto":  "https",
				"X-Forwarded-Port":   "8443",
				"Forwarded":          "for=203.0.113.9;host=evil.example;proto=https",
				"X-Real-Ip":          "203.0.113.9",
				"X-Original-Url":     "/admin",
				"X-Rewrite-Url":      "/admin",
				"X-Host":             "evil.example",
				"Cache-Status":       "cdnnode; hit",
				"Surrogate-Key":      "all",
				"Cache-Tag":          "all",
				"X-Harmless-Request": "kept",
			})
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("GET: %d %q, %v; want 200", statusOf(resp), body, err)
			}
			scheme := "http"
			if proto == "h2" {
				scheme = "https"
			}
			up := rec.last(t)
			for _, tt := range []struct{ field, want string }{
				{"X-Forwarded-For", "127.0.0.1"},
				{"X-Forwarded-Host", "shop.example"},
				{"X-Forwarded-Proto", scheme},
				{"X-Forwarded-Port", ""},
				{"Forwarded", ""},
				{"X-Real-Ip", ""},
				{"X-Original-Url", ""},
				{"X-Rewrite-Url", ""},
				{"X-Host", ""},
				{"Cache-Status", ""},
				{"Surrogate-Key", ""},
				{"Cache-Tag", ""},
				{"X-Harmless-Request", "kept"},
			} {
				if got := strings.Join(up.header.Values(tt.field), ", "); got != tt.want {
					t.Errorf("origin saw %s = %q, want %q", tt.field, got, tt.want)
				}
			}
			if up.host != "shop.example" {
				t.Errorf("origin saw Host %q, want shop.example", up.host)
			}
		})
	}
}

// TestTrustedProxy: from a trusted proxy the X-Forwarded-For chain is
// kept and extended, and the client it names (the last address that is
// not a trusted proxy) is the one a site's deny list and rate limits
// judge; from any other peer the chain is ignored.
func TestTrustedProxy(t *testing.T) {
	t.Parallel()
	rec := newRecorder()
	h := newHarness(t, "h1", rec, serverKey+`trusted_proxies = ["127.0.0.1/32"]`, `deny = ["203.0.113.66/32"]
[[sites.rate_limit]]
prefix = "/limited/"
limit = 1
window = "24h"
`)
	proxy, other := h, h.from("127.0.0.2")
	tests := []struct {
		name   string
		h      *harness
		path   string
		xff    string
		status int
		seen   string // the X-Forwarded-For the origin sees; "" when it sees nothing
	}{
		{"chain extended", proxy, "/a", "198.51.100.1, 203.0.113.9", 200, "198.51.100.1, 203.0.113.9, 127.0.0.1"},
		{"denied client behind the proxy", proxy, "/a", "203.0.113.66", 403, ""},
		{"denied client behind two trusted hops", proxy, "/a", "203.0.113.66, 127.0.0.1", 403, ""},
		{"denied address forged before the client", proxy, "/a", "203.0.113.66, 198.51.100.1", 200, "203.0.113.66, 198.51.100.1, 127.0.0.1"},
		{"untrusted peer naming a denied address", other, "/a", "203.0.113.66", 200, "127.0.0.2"},
		{"rate limit: first request of a client", proxy, "/limited/x", "198.51.100.20", 200, "198.51.100.20, 127.0.0.1"},
		{"rate limit: second request of that client", proxy, "/limited/x", "198.51.100.20", 429, ""},
		{"rate limit: another client behind the same proxy", proxy, "/limited/x", "198.51.100.21", 200, "198.51.100.21, 127.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(rec.seen())
			resp, body, err := tt.h.do(http.MethodGet, tt.path, map[string]string{"X-Forwarded-For": tt.xff})
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.status {
				t.Errorf("status %d (%q), want %d", resp.StatusCode, body, tt.status)
			}
			seen := rec.seen()[before:]
			switch {
			case tt.seen == "" && len(seen) > 0:
				t.Errorf("the origin saw %s %s", seen[0].method, seen[0].uri)
			case tt.seen != "" && len(seen) != 1:
				t.Errorf("the origin saw %d requests, want 1", len(seen))
			case tt.seen != "":
				if got := strings.Join(seen[0].header.Values("X-Forwarded-For"), ", "); got != tt.seen {
					t.Errorf("origin saw X-Forwarded-For %q, want %q", got, tt.seen)
				}
			}
		})
	}
}

// TestRateLimit: past a site's rate limit a client gets 429 with
// Retry-After, in the site's error format; a header key counts each of
// its values apart, and requests without it by address. The windows are
// a day long: no test here depends on time passing (limits tests that,
// under synctest).
func TestRateLimit(t *testing.T) {
	t.Parallel()
	page := filepath.Join(t.TempDir(), "error.html")
	if err := os.WriteFile(page, []byte("<html><title>custom {{.Status}}</title><p>{{.Title}}: {{.Message}}</p></html>\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		site      string // keys of the default site
		algorithm string
		ctype     string
		body      func([]byte) error // nil when the body is as wanted
	}{
		{"text", `errors = "text"`, "fixed", "text/plain; charset=utf-8", func(b []byte) error {
			if !bytes.Contains(b, []byte("too many requests")) {
				return fmt.Errorf("text body %q does not say why", b)
			}
			return nil
		}},
		{"json", `errors = "json"`, "sliding", "application/json", func(b []byte) error {
			var e struct {
				Status int    `json:"status"`
				Error  string `json:"error"`
			}
			if err := json.Unmarshal(b, &e); err != nil || e.Status != 429 || e.Error != "Too Many Requests" {
				return fmt.Errorf("json body %q: %+v, %v; want status 429, error Too Many Requests", b, e, err)
			}
			return nil
		}},
		{"html", `errors = "html"`, "fixed", "text/html; charset=utf-8", func(b []byte) error {
			if !bytes.Contains(b, []byte("429 Too Many Requests")) {
				return fmt.Errorf("html body %q lacks the status", b)
			}
			return nil
		}},
		{"error_page", fmt.Sprintf("errors = \"html\"\nerror_page = %q", page), "sliding", "text/html; charset=utf-8", func(b []byte) error {
			if !bytes.Contains(b, []byte("<title>custom 429</title><p>Too Many Requests: ")) {
				return fmt.Errorf("body %q is not the error page", b)
			}
			return nil
		}},
	}
	for _, tt := range tests {
		for _, proto := range protocols {
			t.Run(tt.name+"/"+tt.algorithm+"/"+proto, func(t *testing.T) {
				t.Parallel()
				h := newHarness(t, proto, nil, tt.site, fmt.Sprintf(`[[sites.rate_limit]]
prefix = "/obj/limited/"
algorithm = %q
limit = 2
window = "24h"
`, tt.algorithm))
				for i := range 2 {
					if err := wantOK(h, "/obj/limited/"+strconv.Itoa(i)); err != nil {
						t.Fatalf("request %d within the limit: %v", i+1, err)
					}
				}
				if err := wantOK(h, "/obj/free"); err != nil {
					t.Errorf("a path outside the prefix: %v", err)
				}
				counted := h.rejections("rate-limited")
				resp, body, err := h.do(http.MethodGet, "/obj/limited/2", nil)
				if err != nil {
					t.Fatal(err)
				}
				if resp.StatusCode != http.StatusTooManyRequests {
					t.Fatalf("third request: %d %q, want 429", resp.StatusCode, body)
				}
				// A fixed window frees up when it ends; a sliding one may take
				// until far into the next, as the count of this one weighs on
				// it: at most two windows.
				longest := 24 * 3600
				if tt.algorithm == "sliding" {
					longest *= 2
				}
				if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || s < 1 || s > longest {
					t.Errorf("Retry-After %q, want seconds within %ds", resp.Header.Get("Retry-After"), longest)
				}
				if got := resp.Header.Get("Content-Type"); got != tt.ctype {
					t.Errorf("Content-Type %q, want %q", got, tt.ctype)
				}
				if err := tt.body(body); err != nil {
					t.Error(err)
				}
				if got := h.rejections("rate-limited"); got <= counted {
					t.Errorf(`cdnnode_rejections_total{reason="rate-limited"} = %v, want above %v`, got, counted)
				}
				if err := wantOK(h.from("127.0.0.2"), "/obj/limited/0"); err != nil {
					t.Errorf("another client: %v", err)
				}
			})
		}
	}
}

// TestRateLimitByHeader: a limit keyed by X-Api-Key counts each key
// apart, and requests without one by client address.
func TestRateLimitByHeader(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "h1", nil, `[[sites.rate_limit]]
key = "header:X-Api-Key"
limit = 1
window = "24h"
`)
	for _, tt := range []struct {
		name, key string
		status    int
	}{
		{"key A", "A", 200},
		{"key A again", "A", 429},
		{"key B", "B", 200},
		{"key B again", "B", 429},
		{"no key", "", 200},
		{"no key again", "", 429},
		{"key A once more", "A", 429},
	} {
		hdr := map[string]string{}
		if tt.key != "" {
			hdr["X-Api-Key"] = tt.key
		}
		resp, body, err := h.do(http.MethodGet, "/obj/keyed", hdr)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != tt.status {
			t.Errorf("%s: %d %q, want %d", tt.name, resp.StatusCode, body, tt.status)
		}
	}
}

// TestInFlightLimits: past max_in_flight_per_client a client's request
// gets 429 while other clients are served, past max_in_flight any
// request gets 503, and both limits free up as requests end.
func TestInFlightLimits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		key    string
		status int
		reason string
		other  int // status of another client's request meanwhile
	}{
		{"per client", "max_in_flight_per_client = 2", 429, "client-in-flight", 200},
		{"node-wide", "max_in_flight = 2", 503, "in-flight", 503},
	}
	for _, tt := range tests {
		for _, proto := range protocols {
			t.Run(tt.name+"/"+proto, func(t *testing.T) {
				t.Parallel()
				rec := newRecorder()
				h := newHarness(t, proto, rec, serverKey+tt.key)
				var wg sync.WaitGroup
				defer wg.Wait()
				var once sync.Once
				release := func() { once.Do(func() { close(rec.release) }) }
				defer release()
				for i := range 2 {
					wg.Go(func() {
						if err := wantOK(h, "/hold/"+strconv.Itoa(i)); err != nil {
							t.Errorf("held request %d: %v", i, err)
						}
					})
				}
				for range 2 {
					select {
					case <-rec.entered:
					case <-time.After(10 * time.Second):
						t.Fatal("the held requests did not reach the origin within 10s")
					}
				}
				counted := h.rejections(tt.reason)
				resp, body, err := h.do(http.MethodGet, "/hold/over", nil)
				if err != nil || resp.StatusCode != tt.status {
					t.Errorf("a third request at once: %d %q, %v; want %d", statusOf(resp), body, err, tt.status)
				}
				if got := h.rejections(tt.reason); got <= counted {
					t.Errorf(`cdnnode_rejections_total{reason=%q} = %v, want above %v`, tt.reason, got, counted)
				}
				if resp, body, err := h.from("127.0.0.2").do(http.MethodGet, "/other-client", nil); err != nil || resp.StatusCode != tt.other {
					t.Errorf("another client meanwhile: %d %q, %v; want %d", statusOf(resp), body, err, tt.other)
				}
				if proto == "h1" {
					// The h1 guard passes what follows an upgrade request
					// unchecked: refused, it must end its connection.
					resp, body, closeErr := hostileExchange(t, h.node.Addrs()[0].String(),
						"GET /upgrade HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"+smuggled)
					if statusOf(resp) != tt.status || closeErr != nil {
						t.Errorf("an upgrade request at once: %d %q, then %v; want %d and the connection closed", statusOf(resp), body, closeErr, tt.status)
					}
				}
				release()
				wg.Wait()
				for i := range 3 {
					if err := wantOK(h, "/after/"+strconv.Itoa(i)); err != nil {
						t.Errorf("once the held requests ended: %v", err)
					}
				}
				for _, r := range rec.seen() {
					if r.uri == "/hold/over" || strings.Contains(r.uri, "smuggled") {
						t.Errorf("the origin saw the refused %s %s", r.method, r.uri)
					}
				}
			})
		}
	}
}

// TestSiteDeny: a site's deny list refuses a client per request with 403
// when another site admits it (so its connections are accepted), and
// counts it.
func TestSiteDeny(t *testing.T) {
	t.Parallel()
	for _, proto := range protocols {
		t.Run(proto, func(t *testing.T) {
			t.Parallel()
			rec := newRecorder()
			h := newHarness(t, proto, rec, `deny = ["127.0.0.1/32"]
errors = "json"

[[sites]]
name = "open"
hosts = ["open.example"]
pool = "demo"
`)
			counted := h.rejections("access-denied")
			resp, body, err := h.do(http.MethodGet, "/denied", nil)
			if err != nil || resp.StatusCode != http.StatusForbidden {
				t.Fatalf("denied client: %d %q, %v; want 403", statusOf(resp), body, err)
			}
			if !json.Valid(body) {
				t.Errorf("403 body %q is not in the site's format (json)", body)
			}
			if got := h.rejections("access-denied"); got <= counted {
				t.Errorf(`cdnnode_rejections_total{reason="access-denied"} = %v, want above %v`, got, counted)
			}
			if err := wantOK(h.from("127.0.0.2"), "/admitted"); err != nil {
				t.Errorf("a client not denied: %v", err)
			}
			for _, r := range rec.seen() {
				if r.uri == "/denied" {
					t.Errorf("the origin saw the denied request")
				}
			}
		})
	}
}

// TestDeniedAtAccept: when no site admits a client, its connections are
// closed as soon as they are accepted, before any TLS handshake or any
// byte of a response, and counted; an admitted client is served on both
// listeners.
func TestDeniedAtAccept(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "h2", nil, `allow = ["127.0.0.2/32"]`)
	plain, secure := h.node.Addrs()[0].String(), h.node.Addrs()[1].String()
	counted := h.rejections("connection-denied")
	for _, tt := range []struct {
		name, addr string
		send       string
	}{
		{"plain, silent", plain, ""},
		{"plain, a request", plain, "GET /obj/x HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"TLS, silent", secure, ""},
	} {
		c, err := net.Dial("tcp", tt.addr)
		if err != nil {
			t.Fatal(err)
		}
		// Nothing sent: a node that waited for a request or a ClientHello
		// would keep the connection open.
		if tt.send != "" {
			_, _ = io.WriteString(c, tt.send)
		}
		if err := wantClosed(c, c); err != nil {
			t.Errorf("%s: %v, want the connection closed with nothing sent", tt.name, err)
		}
		c.Close()
	}
	tc, err := tls.Dial("tcp", secure, &tls.Config{InsecureSkipVerify: true})
	if err == nil {
		tc.Close()
		t.Error("a TLS handshake with a client no site admits succeeded")
	}
	if got := h.rejections("connection-denied"); got < counted+4 {
		t.Errorf(`cdnnode_rejections_total{reason="connection-denied"} = %v, want at least %v`, got, counted+4)
	}
	admitted := h.from("127.0.0.2")
	if err := wantOK(admitted, "/obj/admitted"); err != nil {
		t.Errorf("an admitted client over TLS: %v", err)
	}
	resp, body, err := admitted.do(http.MethodGet, "/obj/admitted", nil)
	if err != nil || resp.Proto != "HTTP/2.0" {
		t.Errorf("an admitted client over TLS: %d %q, %v; want it over HTTP/2.0", statusOf(resp), body, err)
	}
	plainClient := &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}).DialContext}}
	defer plainClient.CloseIdleConnections()
	if resp, err := plainClient.Get("http://" + plain + "/obj/admitted"); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("an admitted client over plain HTTP: %d, %v; want 200", statusOf(resp), err)
	} else {
		resp.Body.Close()
	}
}

// TestAuth: a bearer route answers 401 with a challenge without a token
// and 403 with a wrong one, a basic route 401 with its challenge without
// or with wrong credentials; the right ones are served, and the origin
// never sees the credentials, nor does the node's log (access lines and
// debug messages included) ever hold them. Not parallel: the token comes
// from the environment (t.Setenv).
func TestAuth(t *testing.T) {
	const (
		token    = "tok-e2e-5f7c2d9a1b"
		password = "pw-e2e-8c3e1f6b4d"
	)
	t.Setenv("CDNNODE_E2E_TOKEN", token)
	rec := newRecorder()
	h := newHarness(t, "h1", rec, `[[sites.auth]]
prefix = "/private/"
type = "bearer"
token_env = "CDNNODE_E2E_TOKEN"

[[sites.auth]]
prefix = "/ops/"
type = "basic"
users = ["alice:`+password+`", "bob:other-pw"]
realm = "ops area"
`)
	var log lockedBuffer
	h.restartLogged(&log)
	basic := func(user, pw string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pw))
	}
	tests := []struct {
		name, path, auth string
		status           int
		challenge        string // WWW-Authenticate's prefix; "" when none is wanted
		reason           string
	}{
		{"bearer, none", "/private/a", "", 401, "Bearer", "auth-missing"},
		{"bearer, basic instead", "/private/a", basic("alice", password), 401, "Bearer", "auth-missing"},
		{"bearer, wrong token", "/private/a", "Bearer tok-e2e-wrong", 403, "", "auth-wrong"},
		{"bearer, token prefix", "/private/a", "Bearer " + token[:len(token)-1], 403, "", "auth-wrong"},
		{"bearer, right token", "/private/a", "Bearer " + token, 200, "", ""},
		{"bearer, right token, scheme in lower case", "/private/a", "bearer " + token, 200, "", ""},
		{"basic, none", "/ops/a", "", 401, `Basic realm="ops area"`, "auth-missing"},
		{"basic, wrong password", "/ops/a", basic("alice", "wrong"), 401, `Basic realm="ops area"`, "auth-wrong"},
		{"basic, another user's password", "/ops/a", basic("bob", password), 401, `Basic realm="ops area"`, "auth-wrong"},
		{"basic, unknown user", "/ops/a", basic("mallory", password), 401, `Basic realm="ops area"`, "auth-wrong"},
		{"basic, not base64", "/ops/a", "Basic !!!", 401, `Basic realm="ops area"`, "auth-wrong"},
		{"basic, right user", "/ops/a", basic("alice", password), 200, "", ""},
		{"open path", "/public", "", 200, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(rec.seen())
			counted := 0.0
			if tt.reason != "" {
				counted = h.rejections(tt.reason)
			}
			hdr := map[string]string{}
			if tt.auth != "" {
				hdr["Authorization"] = tt.auth
			}
			resp, body, err := h.do(http.MethodGet, tt.path, hdr)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.status {
				t.Errorf("status %d (%q), want %d", resp.StatusCode, body, tt.status)
			}
			if got := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, tt.challenge) || (tt.challenge == "") != (got == "") {
				t.Errorf("WWW-Authenticate %q, want %q", got, tt.challenge)
			}
			seen := rec.seen()[before:]
			switch {
			case tt.status != 200 && len(seen) > 0:
				t.Errorf("the origin saw the refused request")
			case tt.status == 200 && len(seen) != 1:
				t.Errorf("the origin saw %d requests, want 1", len(seen))
			case tt.status == 200 && seen[0].header.Get("Authorization") != "":
				t.Errorf("the origin saw Authorization %q", seen[0].header.Get("Authorization"))
			}
			if tt.reason != "" {
				if got := h.rejections(tt.reason); got <= counted {
					t.Errorf(`cdnnode_rejections_total{reason=%q} = %v, want above %v`, tt.reason, got, counted)
				}
			}
		})
	}
	h.stop()
	logged := log.String()
	if !strings.Contains(logged, "/private/a") {
		t.Fatalf("the node logged no access line for /private/a; log:\n%s", logged)
	}
	for _, secret := range []string{token, password, "other-pw", base64.StdEncoding.EncodeToString([]byte("alice:" + password))} {
		if strings.Contains(logged, secret) {
			t.Errorf("the node's log holds the credential %q", secret)
		}
	}
}

// statusOf is resp's status code, 0 without a response.
func statusOf(resp *http.Response) int {
	if resp == nil {
		return 0
	}
	return resp.StatusCode
}

// lockedBuffer is a bytes.Buffer safe for concurrent use, for a log.
type lockedBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
