package h1

import "testing"

// TestCheckOrigin: a request that came by HTTP/2 is held to the target and
// Host rules Head applies to HTTP/1.1 heads.
func TestCheckOrigin(t *testing.T) {
	tests := []struct {
		name, method, target, host string
		reason                     string // "" when admitted
	}{
		{"origin-form", "GET", "/a/b?x=1", "a.example", ""},
		{"a port and an escaped path", "GET", "/a%2Fb", "a.example:8443", ""},
		{"IPv6 authority", "GET", "/", "[::1]:8080", ""},
		{"a bare % in the query", "GET", "/a?x=%", "a.example", ""},
		{"asterisk for OPTIONS", "OPTIONS", "*", "a.example", ""},
		{"empty target", "GET", "", "a.example", "bad-target"},
		{"fragment", "GET", "/a?x=1#b", "a.example", "bad-target"},
		{"bad pct-encoding in the path", "GET", "/a%zz", "a.example", "bad-target"},
		{"space in the target", "GET", "/a b", "a.example", "bad-target"},
		{"asterisk for GET", "GET", "*", "a.example", "bad-target"},
		{"pct-encoded host", "GET", "/", "a%41.example", "bad-host"},
		{"empty host", "GET", "/", "", "bad-host"},
		{"userinfo", "GET", "/", "u@a.example", "bad-host"},
		{"port out of range", "GET", "/", "a.example:65536", "bad-host"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckOrigin(tt.method, tt.target, tt.host)
			switch {
			case tt.reason == "" && err != nil:
				t.Errorf("CheckOrigin(%q, %q, %q) = %v, want it admitted", tt.method, tt.target, tt.host, err)
			case tt.reason != "" && (err == nil || err.Reason != tt.reason || err.Status != 400):
				t.Errorf("CheckOrigin(%q, %q, %q) = %v, want 400 %s", tt.method, tt.target, tt.host, err, tt.reason)
			}
		})
	}
}
