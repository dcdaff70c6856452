package node_test

import (
	"bufio"
	"bytes"
	"net"
	"strconv"
	"strings"
	"testing"
)

// rawClient speaks minimal HTTP/1.1 over one keep-alive connection so the
// benchmark's allocations are the node's, not a client library's.
type rawClient struct {
	conn net.Conn
	br   *bufio.Reader
	req  []byte
}

func newRawClient(b *testing.B, addr, path string) *rawClient {
	b.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return &rawClient{conn: c, br: bufio.NewReaderSize(c, 64<<10), req: []byte("GET " + path + " HTTP/1.1\r\nHost: bench.example\r\n\r\n")}
}

// get sends the request and reads one response, reporting whether the
// node answered it from cache.
func (c *rawClient) get(b *testing.B) (hit bool) {
	if _, err := c.conn.Write(c.req); err != nil {
		b.Fatal(err)
	}
	length := -1
	for {
		line, err := c.br.ReadSlice('\n')
		if err != nil {
			b.Fatal(err)
		}
		if len(line) <= 2 {
			break
		}
		if v, ok := bytes.CutPrefix(line, []byte("Content-Length: ")); ok {
			length, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
		}
		if bytes.HasPrefix(line, []byte("Cache-Status: cdnnode; hit")) {
			hit = true
		}
	}
	if length < 0 {
		b.Fatal("response without Content-Length")
	}
	if _, err := c.br.Discard(length); err != nil {
		b.Fatal(err)
	}
	return hit
}

// BenchmarkHitH1 measures one hit of a 1 KiB object through the real
// listener, proxy and memory tier, one request at a time on a keep-alive
// connection.
func BenchmarkHitH1(b *testing.B) {
	h := newHarness(b, "h1", nil)
	addr := strings.TrimPrefix(h.base, "http://")
	c := newRawClient(b, addr, "/obj/bench?size=1024")
	c.get(b) // fill
	b.SetBytes(1024)
	b.ReportAllocs()
	for b.Loop() {
		if !c.get(b) {
			b.Fatal("not a hit")
		}
	}
}

// BenchmarkHitH1Parallel is BenchmarkHitH1 from GOMAXPROCS connections.
func BenchmarkHitH1Parallel(b *testing.B) {
	h := newHarness(b, "h1", nil)
	addr := strings.TrimPrefix(h.base, "http://")
	newRawClient(b, addr, "/obj/bench-par?size=1024").get(b)
	b.SetBytes(1024)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		c := newRawClient(b, addr, "/obj/bench-par?size=1024")
		for pb.Next() {
			if !c.get(b) {
				b.Error("not a hit")
				return
			}
		}
	})
}
