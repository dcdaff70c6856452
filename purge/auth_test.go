package purge

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/cdnnode/cdnnode/config"
)

func TestAuthorizerCheck(t *testing.T) {
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	office := []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("2001:db8::/32")}
	const tok = "s3cret-token"
	tests := []struct {
		name       string
		allow      []netip.Prefix
		token      config.Secret
		remote     string
		auth       []string // Authorization field values
		wantStatus int
		wantReason string // substring
	}{
		// Allowed networks, no token configured (the default).
		{"loopback v4", loopback, "", "127.0.0.1:5000", nil, 0, ""},
		{"loopback v4 elsewhere in 127/8", loopback, "", "127.3.2.1:5000", nil, 0, ""},
		{"loopback v6", loopback, "", "[::1]:5000", nil, 0, ""},
		{"v4-mapped loopback from a dual-stack listener", loopback, "", "[::ffff:127.0.0.1]:5000", nil, 0, ""},
		{"outside, no token configured", loopback, "", "192.0.2.9:5000", nil, 403, "purge not allowed from 192.0.2.9"},
		{"outside, no token configured, sends one anyway", loopback, "", "192.0.2.9:5000", []string{"Bearer " + tok}, 403, "purge not allowed from 192.0.2.9"},
		{"office v6 zone ignored", office, "", "[2001:db8::7%eth0]:5000", nil, 0, ""},
		{"just outside office v4", office, "", "10.2.0.1:5000", nil, 403, "not allowed from 10.2.0.1"},
		{"bare address RemoteAddr", office, "", "10.1.2.3", nil, 0, ""},
		{"unparsable RemoteAddr", office, "", "@", nil, 403, "unknown client address"},

		// A token configured as well.
		{"token, inside allowed network without token", loopback, tok, "127.0.0.1:1", nil, 0, ""},
		{"token, inside allowed network with a wrong token", loopback, tok, "127.0.0.1:1", []string{"Bearer nope"}, 0, ""},
		{"token, outside, right token", loopback, tok, "203.0.113.5:1", []string{"Bearer " + tok}, 0, ""},
		{"token, outside, scheme in other case", loopback, tok, "203.0.113.5:1", []string{"bEARER  " + tok}, 0, ""},
		{"token, outside, no Authorization", loopback, tok, "203.0.113.5:1", nil, 401, "purge token required"},
		{"token, outside, Basic scheme", loopback, tok, "203.0.113.5:1", []string{"Basic dXNlcjpwYXNz"}, 401, "purge token required"},
		{"token, outside, Bearer without token", loopback, tok, "203.0.113.5:1", []string{"Bearer"}, 401, "purge token required"},
		{"token, outside, two Authorization fields", loopback, tok, "203.0.113.5:1", []string{"Bearer " + tok, "Bearer " + tok}, 401, "purge token required"},
		{"token, outside, token with a space", loopback, tok, "203.0.113.5:1", []string{"Bearer " + tok + " x"}, 401, "purge token required"},
		{"token, outside, wrong token", loopback, tok, "203.0.113.5:1", []string{"Bearer s3cret-tokeN"}, 403, "invalid purge token"},
		{"token, outside, token prefix", loopback, tok, "203.0.113.5:1", []string{"Bearer s3cret"}, 403, "invalid purge token"},
		{"token only, loopback needs it too", nil, tok, "127.0.0.1:1", nil, 401, "purge token required"},
		{"token only, right token", nil, tok, "127.0.0.1:1", []string{"Bearer " + tok}, 0, ""},

		// Nothing configured: nobody.
		{"nothing configured, loopback", nil, "", "127.0.0.1:1", nil, 403, "purging is disabled"},
		{"nothing configured, with a token", nil, "", "127.0.0.1:1", []string{"Bearer " + tok}, 403, "purging is disabled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := NewAuthorizer(config.Purge{Allow: tt.allow, Token: tt.token})
			r := httptest.NewRequest("PURGE", "http://example.com/a", nil)
			r.RemoteAddr = tt.remote
			for _, v := range tt.auth {
				r.Header.Add("Authorization", v)
			}
			status, reason := a.Check(r)
			if status != tt.wantStatus || !strings.Contains(reason, tt.wantReason) || (status == 0) != (reason == "") {
				t.Errorf("Check(from %s, Authorization %q) = %d, %q, want %d and a reason containing %q", tt.remote, tt.auth, status, reason, tt.wantStatus, tt.wantReason)
			}
			if strings.Contains(reason, string(tt.token)) && tt.token != "" {
				t.Errorf("reason %q shows the token", reason)
			}
		})
	}
}

// TestAuthorizerOverHTTP checks Check and Deny on a real loopback
// connection: the client address is the connection's, and a 401 carries
// its challenge.
func TestAuthorizerOverHTTP(t *testing.T) {
	a := NewAuthorizer(config.Purge{Token: "tok"}) // loopback is not allowed: token only
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if status, reason := a.Check(r); status != 0 {
			Deny(w, status, reason)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	tests := []struct {
		name       string
		auth       string
		xff        string
		wantStatus int
		wantChall  bool
	}{
		{"no token", "", "", 401, true},
		{"X-Forwarded-For is not trusted", "", "127.0.0.1", 401, true},
		{"wrong token", "Bearer nope", "", 403, false},
		{"right token", "Bearer tok", "", 200, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest("PURGE", srv.URL+"/a", nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			if tt.xff != "" {
				req.Header.Set("X-Forwarded-For", tt.xff)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status = %d (%q), want %d", resp.StatusCode, body, tt.wantStatus)
			}
			if got := resp.Header.Get("WWW-Authenticate"); (got != "") != tt.wantChall || tt.wantChall && !strings.HasPrefix(got, "Bearer ") {
				t.Errorf("WWW-Authenticate = %q, want a Bearer challenge: %v", got, tt.wantChall)
			}
		})
	}
}

// FuzzAuthorizerCheck feeds Check arbitrary client addresses and
// Authorization fields: it must never panic, and it may allow only a
// client in the allowed network or one sending exactly the token.
func FuzzAuthorizerCheck(f *testing.F) {
	f.Add("127.0.0.1:1", "")                  // allowed network
	f.Add("192.0.2.1:1", "Bearer tok")        // right token
	f.Add("192.0.2.1:1", "bearer   tok")      // scheme case, extra spaces
	f.Add("192.0.2.1:1", "Bearer tok ")       // trailing space
	f.Add("[::ffff:127.0.0.1]:1", "Basic x")  // mapped loopback, other scheme
	f.Add("[fe80::1%eth0]:1", "Bearer\ttok")  // zone, tab
	f.Add("not an address", "Bearer tok\x00") // junk
	a := NewAuthorizer(config.Purge{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, Token: "tok"})
	f.Fuzz(func(t *testing.T, remote, auth string) {
		r := &http.Request{RemoteAddr: remote, Header: http.Header{"Authorization": {auth}}}
		status, reason := a.Check(r)
		switch status {
		case 0:
			ip, ok := clientAddr(remote)
			inNet := ok && ip.Is4() && ip.As4()[0] == 127
			tok, _ := bearer(r.Header)
			if !inNet && tok != "tok" {
				t.Fatalf("Check(%q, %q) allowed", remote, auth)
			}
		case http.StatusUnauthorized, http.StatusForbidden:
			if reason == "" {
				t.Fatalf("Check(%q, %q) = %d with no reason", remote, auth, status)
			}
		default:
			t.Fatalf("Check(%q, %q) = %d", remote, auth, status)
		}
	})
}
