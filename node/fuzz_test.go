package node_test

import (
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// FuzzRawRequest writes random bytes on a raw HTTP/1 connection to a real
// node, one node for the whole run, under hostileLimits, and checks after
// each input that the node still answers a normal request on a new
// connection: no input may panic it or wedge it. The seeds are the
// hostile HTTP/1 cases (hostileCases), plus a valid request and two
// pipelined ones.
func FuzzRawRequest(f *testing.F) {
	for _, c := range hostileCases {
		f.Add([]byte(c.req))
	}
	f.Add([]byte("GET /obj/a HTTP/1.1\r\nHost: x\r\n\r\n"))                                                               // valid
	f.Add([]byte("GET /obj/a HTTP/1.1\r\nHost: x\r\n\r\nPOST /obj/b HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi")) // pipelined
	h := newHarness(f, "h1", nil, hostileLimits...)
	addr := h.node.Addrs()[0].String()
	f.Fuzz(func(t *testing.T, raw []byte) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
			t.Fatal(err)
		}
		// The node may refuse and close before it has read everything.
		_, _ = c.Write(raw)
		_ = c.(*net.TCPConn).CloseWrite()
		_, _ = io.Copy(io.Discard, c) // until the node closes, or the deadline
		resp, body := rawExchange(t, addr, "GET /obj/alive HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("after %q: a normal request got %d %q", raw, resp.StatusCode, body)
		}
	})
}
