package origin

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"strings"
	"testing"
)

func TestCheckConnection(t *testing.T) {
	nominate := func(n int) string {
		fs := make([]string, n)
		for i := range fs {
			fs[i] = "X-Custom-" + string(rune('a'+i))
		}
		return strings.Join(fs, ", ")
	}
	tests := []struct {
		name    string
		lines   []string // Connection field lines; nil for none
		wantBad bool
	}{
		{"none", nil, false},
		{"close", []string{"close"}, false},
		{"keep-alive", []string{"keep-alive"}, false},
		{"keep-alive and upgrade", []string{"keep-alive, Upgrade"}, false},
		{"custom field", []string{"X-Trace"}, false},
		{"nominating Host", []string{"Host"}, true},
		{"host lower-case", []string{"host"}, true},
		{"host upper-case", []string{"HOST"}, true},
		{"nominating X-Forwarded-For", []string{"X-Forwarded-For"}, true},
		{"x-forwarded-for lower-case", []string{"close, x-forwarded-for"}, true},
		{"nominating X-Forwarded-Host", []string{"X-Forwarded-Host"}, true},
		{"nominating X-Forwarded-Proto", []string{"keep-alive, X-Forwarded-Proto"}, true},
		{"protected with spaces around", []string{"  host\t"}, true},
		{":authority-shaped", []string{":authority"}, true},
		{":path-shaped after others", []string{"close, :path"}, true},
		{"9 nominations ok", []string{nominate(9)}, false},
		{"10 refused", []string{nominate(10)}, true},
		{"multiple lines counted together: 9", []string{nominate(5), "a, b, c, d"}, false},
		{"multiple lines counted together: 10", []string{nominate(5), "a, b, c, d, e"}, true},
		{"protected on a second line", []string{"close", "Host"}, true},
		{"empty elements ignored", []string{nominate(9) + ", , ,,", " , "}, false},
		{"only empty elements", []string{",,, ,"}, false},
		{"empty line", []string{""}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for _, l := range tt.lines {
				h.Add("Connection", l)
			}
			err := CheckConnection(h)
			if got := errors.Is(err, ErrBadConnection); got != tt.wantBad {
				t.Errorf("CheckConnection(Connection: %q) = %v, want bad %v", tt.lines, err, tt.wantBad)
			}
			if err != nil && !tt.wantBad {
				t.Errorf("CheckConnection(Connection: %q) = %v, want nil", tt.lines, err)
			}
		})
	}
}

func TestCheckConnectionLeavesHeader(t *testing.T) {
	h := http.Header{"Connection": {"close, X-Trace"}, "X-Trace": {"1"}}
	want := h.Clone()
	CheckConnection(h)
	for k, v := range want {
		if got := h[k]; strings.Join(got, "|") != strings.Join(v, "|") {
			t.Errorf("after CheckConnection %s = %q, want %q", k, got, v)
		}
	}
}

func TestStripHopByHop(t *testing.T) {
	tests := []struct {
		name string
		in   http.Header
		want http.Header
	}{
		{
			name: "standard hop-by-hop fields",
			in: http.Header{
				"Connection":          {"keep-alive"},
				"Proxy-Connection":    {"keep-alive"},
				"Keep-Alive":          {"timeout=5"},
				"Proxy-Authenticate":  {"Basic"},
				"Proxy-Authorization": {"Basic Zm9vOmJhcg=="},
				"Te":                  {"trailers"},
				"Trailer":             {"Expires"},
				"Transfer-Encoding":   {"chunked"},
				"Upgrade":             {"websocket"},
				"Content-Type":        {"text/html"},
			},
			want: http.Header{"Content-Type": {"text/html"}},
		},
		{
			name: "nominated by Connection",
			in: http.Header{
				"Connection":     {"X-Trace, x-session-hint", "X-Other"},
				"X-Trace":        {"abc"},
				"X-Session-Hint": {"1"},
				"X-Other":        {"2"},
				"X-Kept":         {"3"},
			},
			want: http.Header{"X-Kept": {"3"}},
		},
		{
			name: "nominations with empty elements and spaces",
			in: http.Header{
				"Connection": {" , X-A ,, "},
				"X-A":        {"1"},
				"X-B":        {"2"},
			},
			want: http.Header{"X-B": {"2"}},
		},
		{
			name: "end-to-end fields kept",
			in: http.Header{
				"Cache-Control":   {"max-age=60"},
				"Content-Length":  {"42"},
				"Content-Type":    {"text/plain"},
				"Etag":            {`"v1"`},
				"Vary":            {"Accept-Encoding"},
				"Accept-Encoding": {"gzip"},
				"Authorization":   {"Bearer t"},
				"Set-Cookie":      {"a=1", "b=2"},
			},
			want: http.Header{
				"Cache-Control":   {"max-age=60"},
				"Content-Length":  {"42"},
				"Content-Type":    {"text/plain"},
				"Etag":            {`"v1"`},
				"Vary":            {"Accept-Encoding"},
				"Accept-Encoding": {"gzip"},
				"Authorization":   {"Bearer t"},
				"Set-Cookie":      {"a=1", "b=2"},
			},
		},
		{
			name: "empty header",
			in:   http.Header{},
			want: http.Header{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.in.Clone()
			StripHopByHop(h)
			if !sameHeader(h, tt.want) {
				t.Errorf("StripHopByHop(%v) left %v, want %v", tt.in, h, tt.want)
			}
		})
	}
}

// sameHeader reports whether a and b hold the same fields and values in order.
func sameHeader(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, av := range a {
		bv, ok := b[k]
		if !ok || strings.Join(av, "\x00") != strings.Join(bv, "\x00") {
			return false
		}
	}
	return true
}

func TestIsWebSocket(t *testing.T) {
	valid := func() *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/ws", nil)
		r.Header.Set("Connection", "keep-alive, Upgrade")
		r.Header.Set("Upgrade", "WebSocket")
		r.Header.Set("Sec-WebSocket-Version", "13")
		r.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
		return r
	}
	tests := []struct {
		name   string
		change func(r *http.Request)
		want   bool
	}{
		{"valid", func(*http.Request) {}, true},
		{"POST", func(r *http.Request) { r.Method = http.MethodPost }, false},
		{"HTTP/1.0", func(r *http.Request) { r.ProtoMinor = 0 }, false},
		{"HTTP/2", func(r *http.Request) { r.ProtoMajor, r.ProtoMinor = 2, 0 }, false},
		{"no Connection upgrade", func(r *http.Request) { r.Header.Set("Connection", "keep-alive") }, false},
		{"other protocol", func(r *http.Request) { r.Header.Set("Upgrade", "h2c") }, false},
		{"version 8", func(r *http.Request) { r.Header.Set("Sec-WebSocket-Version", "8") }, false},
		{"no key", func(r *http.Request) { r.Header.Del("Sec-WebSocket-Key") }, false},
		{"two keys", func(r *http.Request) { r.Header.Add("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==") }, false},
		{"short key", func(r *http.Request) { r.Header.Set("Sec-WebSocket-Key", "c2hvcnQ=") }, false},
		{"key not base64", func(r *http.Request) { r.Header.Set("Sec-WebSocket-Key", "not base64 at all!!!!!!!") }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := valid()
			tt.change(r)
			if got := IsWebSocket(r); got != tt.want {
				t.Errorf("IsWebSocket = %v, want %v (%v)", got, tt.want, r.Header)
			}
		})
	}
}

// FuzzIsWebSocket checks that no handshake fields crash IsWebSocket, and
// that it accepts only keys of 16 bytes.
func FuzzIsWebSocket(f *testing.F) {
	f.Add("Upgrade", "websocket", "13", "dGhlIHNhbXBsZSBub25jZQ==")
	f.Add("upgrade, close", "WEBSOCKET", " 13 ", "AAAAAAAAAAAAAAAAAAAAAA==")
	f.Add("", "", "", "")
	f.Fuzz(func(t *testing.T, conn, upgrade, version, key string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header = http.Header{"Connection": {conn}, "Upgrade": {upgrade}, "Sec-Websocket-Version": {version}, "Sec-Websocket-Key": {key}}
		if IsWebSocket(r) {
			if b, err := base64.StdEncoding.DecodeString(textproto.TrimString(key)); err != nil || len(b) != 16 {
				t.Fatalf("accepted key %q", key)
			}
		}
	})
}
