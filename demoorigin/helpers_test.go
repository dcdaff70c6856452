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
	return startOrigin(t, false)
}

// startOrigin starts a demo origin on loopback, over TLS and HTTP/2 when h2.
// Its client sends no Accept-Encoding of its own and decodes nothing, so
// tests see the bodies as sent.
func startOrigin(t *testing.T, h2 bool) (*Server, *httptest.Server) {
	t.Helper()
	s := New(nil)
	ts := httptest.NewUnstartedServer(s)
	if h2 {
		ts.EnableHTTP2 = true
		ts.StartTLS()
	} else {
		ts.Start()
	}
	t.Cleanup(ts.Close)
	ts.Client().Transport.(*http.Transport).DisableCompression = true
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

// expected generates the body=random body the origin sends for name,
// without Vary.
func expected(name string, size int) []byte {
	return generate(bodyRandom, bodySeed(name, false, ""), size, size)
}

// generate returns a body of kind, seed and size, filled chunk bytes at a
// time.
func generate(kind bodyKind, seed uint64, size, chunk int) []byte {
	g := newBody(kind, seed, int64(size))
	b := make([]byte, size)
	for off := 0; off < size; off += chunk {
		g.fill(b[off:min(off+chunk, size)])
	}
	return b
}
