package node_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
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

// BenchmarkStampede sends 1,000 concurrent GETs for one uncached key whose
// origin takes 100ms, per iteration, and reports the origin requests they
// caused and the readers' latency (p50, p99) relative to that delay; then
// the same 1,000 GETs again, now hits, for the latency that concurrency
// alone costs on this machine (hit-p99/delay). The connections are opened
// before the clock starts. Run with -benchtime=Nx: one iteration is one
// stampede.
func BenchmarkStampede(b *testing.B) {
	const (
		clients = 1000
		delay   = 100 * time.Millisecond
	)
	h := newHarness(b, "h1", nil)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients, DisableCompression: true}}
	b.Cleanup(client.CloseIdleConnections)
	stampede := func(url string) []time.Duration {
		start := make(chan struct{})
		took := make([]time.Duration, clients)
		var wg sync.WaitGroup
		for i := range clients {
			wg.Go(func() {
				<-start
				t0 := time.Now()
				resp, err := client.Get(url)
				if err != nil {
					b.Error(err)
					return
				}
				n, err := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil || n != 1024 || resp.StatusCode != http.StatusOK {
					b.Errorf("status %d, %d bytes, %v", resp.StatusCode, n, err)
				}
				took[i] = time.Since(t0)
			})
		}
		close(start)
		wg.Wait()
		return took
	}
	stampede(h.base + "/obj/herd-warmup?size=1024") // open the connections
	var origin int64
	var miss, hit []time.Duration
	iter := 0
	for b.Loop() {
		iter++
		path := fmt.Sprintf("/obj/herd-%d", iter)
		url := h.base + path + "?size=1024&delay=" + delay.String()
		miss = append(miss, stampede(url)...)
		origin += h.originCount(path)
		hit = append(hit, stampede(url)...)
	}
	q := func(lat []time.Duration, p float64) float64 {
		slices.Sort(lat)
		return float64(lat[int(p*float64(len(lat)-1))]) / float64(delay)
	}
	b.ReportMetric(float64(origin)/float64(iter), "origin-reqs/1000-misses")
	b.ReportMetric(q(miss, 0.50), "p50/delay")
	b.ReportMetric(q(miss, 0.99), "p99/delay")
	b.ReportMetric(q(hit, 0.99), "hit-p99/delay")
	b.ReportMetric(0, "ns/op")
}
