package demoorigin

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// newOrigin starts a demo origin on loopback over HTTP/1.1.
func newOrigin(t *testing.T) (*Server, *httptest.Server) {
	t.Helper()
	s := New(nil)
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return s, ts
}

// fetch sends one request to ts and returns the response with its body read.
func fetch(t *testing.T, ts *httptest.Server, method, target string, hdr http.Header) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, ts.URL+target, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, target, err)
	}
	return resp, body
}

// get is fetch of a GET without extra fields.
func get(t *testing.T, ts *httptest.Server, target string) (*http.Response, []byte) {
	t.Helper()
	return fetch(t, ts, http.MethodGet, target, nil)
}

// expected generates the body the origin sends for name, without Vary.
func expected(name string, size int) []byte {
	g := newBodyGen(name, false, "")
	b := make([]byte, size)
	g.fill(b)
	return b
}
