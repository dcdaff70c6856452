package node_test

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// TestForwardedHeaders proves the upstream and downstream header policy:
// X-Forwarded-For/-Proto/-Host and Via are added (a client's own
// X-Forwarded-For extended only when it is a trusted proxy), hop-by-hop
// fields and those nominated by Connection are stripped both ways, and a
// request body reaches the origin intact.
func TestForwardedHeaders(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		extra []string
		xff   string // what the origin sees before the client's address
	}{
		{"untrusted client", nil, ""},
		{"trusted proxy", []string{serverKey + `trusted_proxies = ["127.0.0.1/32"]`}, "203.0.113.9, "},
	} {
		t.Run(tt.name, func(t *testing.T) { testForwardedHeaders(t, tt.extra, tt.xff) })
	}
}

func testForwardedHeaders(t *testing.T, extra []string, xff string) {
	type seen struct {
		header http.Header
		host   string
		body   string
	}
	got := make(chan seen, 1)
	h := newHarness(t, "h1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.Header.Clone(), r.Host, string(b)}
		w.Header().Set("Connection", "X-Resp-Hop")
		w.Header().Set("X-Resp-Hop", "1")
		w.Header().Set("Keep-Alive", "timeout=5")
		w.Header().Set("X-End-To-End", "kept")
		w.WriteHeader(http.StatusCreated)
	}), extra...)
	req, err := http.NewRequest(http.MethodPost, h.base+"/submit", bytes.NewReader([]byte("payload")))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "shop.example"
	req.Header.Set("Connection", "X-Secret")
	req.Header.Set("X-Secret", "hop")
	req.Header.Set("X-Forwarded-For", "203.0.113.9")
	req.Header.Set("Te", "trailers")
	resp, err := h.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	up := <-got

	client, _, _ := net.SplitHostPort(h.node.Addrs()[0].String())
	for _, tt := range []struct{ field, want string }{
		{"X-Forwarded-For", xff + client},
		{"X-Forwarded-Proto", "http"},
		{"X-Forwarded-Host", "shop.example"},
		{"Via", "1.1 cdnnode"},
		{"X-Secret", ""},
		{"Te", ""},
		{"Connection", ""},
	} {
		if v := strings.Join(up.header.Values(tt.field), ", "); v != tt.want {
			t.Errorf("origin saw %s = %q, want %q", tt.field, v, tt.want)
		}
	}
	if up.host != "shop.example" || up.body != "payload" {
		t.Errorf("origin saw Host %q body %q, want shop.example and payload", up.host, up.body)
	}
	for _, tt := range []struct{ field, want string }{
		{"X-Resp-Hop", ""},
		{"Keep-Alive", ""},
		{"X-End-To-End", "kept"},
		{"Via", "1.1 cdnnode"},
	} {
		if v := resp.Header.Get(tt.field); v != tt.want {
			t.Errorf("client saw %s = %q, want %q", tt.field, v, tt.want)
		}
	}
	if resp.StatusCode != http.StatusCreated {
		t.Errorf("status %d, want 201", resp.StatusCode)
	}
}
