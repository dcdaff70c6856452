package node_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cdnnode/cdnnode/config"
	"github.com/cdnnode/cdnnode/purge"
)

// rawClient speaks minimal HTTP/1.1 over one keep-alive connection so the
// benchmark's allocations are the node's, not a client library's.
type rawClient struct {
	conn net.Conn
	br   *bufio.Reader
	req  []byte
	body int64 // body bytes of the last response
}

func newRawClient(b *testing.B, addr, path string, fields ...string) *rawClient {
	b.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	req := "GET " + path + " HTTP/1.1\r\nHost: bench.example\r\n"
	for _, f := range fields {
		req += f + "\r\n"
	}
	return &rawClient{conn: c, br: bufio.NewReaderSize(c, 64<<10), req: []byte(req + "\r\n")}
}

// get sends the request and reads one response, reporting whether the
// node answered it from cache. It must be called from the benchmark's
// goroutine; other goroutines call roundTrip.
func (c *rawClient) get(b *testing.B) (hit bool) {
	hit, err := c.roundTrip()
	if err != nil {
		b.Fatal(err)
	}
	return hit
}

// roundTrip is get returning its error.
func (c *rawClient) roundTrip() (hit bool, err error) {
	if _, err := c.conn.Write(c.req); err != nil {
		return false, err
	}
	length := -1
	for {
		line, err := c.br.ReadSlice('\n')
		if err != nil {
			return false, err
		}
		if len(line) <= 2 {
			break
		}
		if v, ok := bytes.CutPrefix(line, []byte("Content-Length: ")); ok {
			length = digits(bytes.TrimSpace(v))
		}
		if bytes.HasPrefix(line, []byte("Cache-Status: cdnnode; hit")) {
			hit = true
		}
	}
	if length < 0 {
		return false, errors.New("response without Content-Length")
	}
	if _, err := c.br.Discard(length); err != nil {
		return false, err
	}
	c.body = int64(length)
	return hit, nil
}

// digits is the value of a decimal Content-Length, -1 if it is not one
// (strconv.Atoi would allocate the string).
func digits(b []byte) int {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' || n > 1<<40 {
			return -1
		}
		n = n*10 + int(c-'0')
	}
	if len(b) == 0 {
		return -1
	}
	return n
}

// BenchmarkH1Hit measures one fresh memory hit of a 1 KiB object through
// the real listener, HTTP/1.1 engine, proxy and memory tier, one request
// at a time on a keep-alive connection, with each engine. The client
// allocates nothing, so allocs/op are the node's: 0 on the fast engine.
func BenchmarkH1Hit(b *testing.B) {
	for _, engine := range []string{config.HTTP1Fast, config.HTTP1Stdlib} {
		b.Run(engine, func(b *testing.B) {
			h := newHarness(b, "h1", nil, serverKey+"http1 = \""+engine+"\"")
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
		})
	}
}

// BenchmarkCompressedHit serves a cached 100 KiB JSON object, which the
// node stored in zstd, to clients that accept zstd (sent as stored), gzip
// only (from the stored gzip variant, made after the first requests) and
// nothing (decoded on the fly). MB/s counts the object's unencoded bytes;
// wire-bytes is what each response's body took.
func BenchmarkCompressedHit(b *testing.B) {
	const path, size = "/obj/bench-json?body=json&size=102400", 102400
	h := newHarness(b, "h1", nil)
	addr := strings.TrimPrefix(h.base, "http://")
	for _, tt := range []struct{ name, accept string }{
		{"zstd", "Accept-Encoding: gzip, deflate, br, zstd"},
		{"gzip", "Accept-Encoding: gzip"},
		{"identity", "Accept-Encoding: identity"},
	} {
		b.Run(tt.name, func(b *testing.B) {
			field, value, _ := strings.Cut(tt.accept, ": ")
			for range 5 { // fill, and past compression.gzip_variant_after (chunked transcodes until then)
				if _, _, err := h.do(http.MethodGet, path, map[string]string{field: value, "Host": "bench.example"}); err != nil {
					b.Fatal(err)
				}
			}
			c := newRawClient(b, addr, path, tt.accept)
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				if !c.get(b) {
					b.Fatal("not a hit")
				}
			}
			b.ReportMetric(float64(c.body), "wire-bytes")
		})
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

// BenchmarkTagPurge measures a surrogate-key purge of 100,000 cached
// objects while a hit load runs. Each iteration, with the timer stopped,
// fills the memory tier with 100,000 1 KiB objects tagged "bulk" from 32
// keep-alive clients; then 8 raw keep-alive clients send GETs for 100 hot
// objects without the tag, round robin (no randomness, so no seed), for
// a 1s baseline; then the admin API gets POST /purge {"tags":["bulk"]} and
// /metrics is polled every 20ms until cdnnode_purge_bans reads 0: the
// background sweep has removed every purged object and the ban expired.
// Finally three purged URLs must be misses. It reports
//
//	purge-ms            the POST until its 200
//	sweep-ms            the POST until the gauge reads 0 (at most 2 minutes)
//	hit-p50-us, hit-p99-us              hot GETs started in the baseline
//	purge-hit-p50-us, purge-hit-p99-us  hot GETs started from the POST
//	                    until the gauge read 0
//	hit-misses          hot GETs not answered from cache, per iteration
//	cached-before, cached-after         memory tier objects before the
//	                    purge and once the sweep is done
//
// Run with -benchtime=1x: one iteration is one whole experiment, which
// takes tens of seconds.
func BenchmarkTagPurge(b *testing.B) {
	const (
		objects  = 100_000
		fillers  = 32
		hot      = 100
		loaders  = 8
		maxGets  = 5_000_000              // per loader: bounds a run whose stop never comes
		warmup   = 200 * time.Millisecond // connections and caches settle first
		baseline = time.Second
		poll     = 20 * time.Millisecond
		sweepMax = 2 * time.Minute
		query    = "?size=1024&cc=max-age%3D86400" // outlives any run
	)
	h := newHarness(b, "h1", nil, "[cache]", `memory = "512MiB"`)
	addr := strings.TrimPrefix(h.base, "http://")
	admin := "http://" + h.node.AdminAddr().String()
	bulk := func(i int) string { return "/obj/bulk-" + strconv.Itoa(i) + query + "&tags=bulk" }
	hotReqs := make([][]byte, hot)
	for i := range hotReqs {
		hotReqs[i] = []byte("GET /obj/hot-" + strconv.Itoa(i) + query + " HTTP/1.1\r\nHost: bench.example\r\n\r\n")
	}
	warm := newRawClient(b, addr, "/")
	for _, req := range hotReqs {
		warm.req = req
		warm.get(b) // fill
	}
	for i, req := range hotReqs {
		warm.req = req
		if !waitHit(func() bool { return warm.get(b) }) {
			b.Fatalf("hot object %d: not a hit after its fill", i)
		}
	}
	fillClient := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: fillers, DisableCompression: true}}
	b.Cleanup(fillClient.CloseIdleConnections)

	var before, during []time.Duration
	var purgeTook, sweepTook time.Duration
	var misses, cachedBefore, cachedAfter float64
	iters := 0
	for b.Loop() {
		iters++
		b.StopTimer()
		t0 := time.Now()
		fillBulk(b, fillClient, h.base, objects, fillers, bulk)
		b.Logf("filled %d objects in %v", objects, time.Since(t0).Round(time.Millisecond))
		if !waitHit(func() bool { return isHit(b, h, bulk(0)) }) {
			b.Fatalf("%s: not a hit after the fill", bulk(0))
		}
		b.StartTimer()

		load := startHitLoad(b, addr, hotReqs, loaders, maxGets)
		time.Sleep(warmup + baseline)
		cachedBefore += sumMetric(h.adminGet("/metrics"), "cdnnode_cache_objects")
		sent := time.Now()
		postPurge(b, admin, `{"tags":["bulk"]}`)
		purgeTook += time.Since(sent)
		for deadline := sent.Add(sweepMax); ; time.Sleep(poll) {
			m := h.adminGet("/metrics")
			if slices.Contains(strings.Split(m, "\n"), "cdnnode_purge_bans 0") {
				cachedAfter += sumMetric(m, "cdnnode_cache_objects")
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("the ban did not expire within %v of the purge: cdnnode_purge_bans %v", sweepMax, sumMetric(m, "cdnnode_purge_bans"))
			}
		}
		done := time.Now()
		sweepTook += done.Sub(sent)
		load.stop()
		before = append(before, load.between(sent.Add(-baseline), sent)...)
		during = append(during, load.between(sent, done)...)
		misses += float64(load.misses.Load())

		b.StopTimer()
		for _, i := range []int{0, objects / 2, objects - 1} {
			if resp, _, err := h.do(http.MethodGet, bulk(i), nil); err != nil {
				b.Fatalf("GET %s after the purge: %v", bulk(i), err)
			} else if cs := resp.Header.Get("Cache-Status"); !strings.Contains(cs, "miss") || strings.Contains(cs, "hit") {
				b.Fatalf("GET %s after the purge: Cache-Status %q, want a miss", bulk(i), cs)
			}
		}
		b.StartTimer()
	}
	n := float64(iters)
	ms := float64(time.Millisecond)
	b.ReportMetric(float64(purgeTook)/ms/n, "purge-ms")
	b.ReportMetric(float64(sweepTook)/ms/n, "sweep-ms")
	b.ReportMetric(quantileUS(before, 0.50), "hit-p50-us")
	b.ReportMetric(quantileUS(before, 0.99), "hit-p99-us")
	b.ReportMetric(quantileUS(during, 0.50), "purge-hit-p50-us")
	b.ReportMetric(quantileUS(during, 0.99), "purge-hit-p99-us")
	b.ReportMetric(misses/n, "hit-misses")
	b.ReportMetric(cachedBefore/n, "cached-before")
	b.ReportMetric(cachedAfter/n, "cached-after")
	b.ReportMetric(0, "ns/op")
}

// waitHit calls get up to 50 times, 10ms apart, until it reports a hit:
// the memory tier admits a new object asynchronously.
func waitHit(get func() bool) bool {
	for range 50 {
		if get() {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

// isHit sends one GET for path through the harness's client and reports
// whether the node answered it from cache.
func isHit(b *testing.B, h *harness, path string) bool {
	resp, _, err := h.do(http.MethodGet, path, nil)
	if err != nil {
		b.Fatalf("GET %s: %v", path, err)
	}
	return strings.HasPrefix(resp.Header.Get("Cache-Status"), "cdnnode; hit")
}

// fillBulk GETs path(0) to path(n-1) through the node at base from
// clients goroutines sharing client's keep-alive connections, each
// request expected to be a 200 with 1 KiB. It fails b on any error.
func fillBulk(b *testing.B, client *http.Client, base string, n, clients int, path func(int) string) {
	b.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				resp, err := client.Get(base + path(i))
				if err != nil {
					b.Errorf("fill %s: %v", path(i), err)
					return
				}
				got, err := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil || got != 1024 || resp.StatusCode != http.StatusOK {
					b.Errorf("fill %s: status %d, %d bytes, %v", path(i), resp.StatusCode, got, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
}

// hitLoad is a set of raw keep-alive clients, each sending GETs round
// robin over a list of requests until stopped, recording when each
// started and how long it took.
type hitLoad struct {
	t0      time.Time // samples' starts are relative to it
	done    chan struct{}
	stop    func() // closes done and waits for the clients; idempotent
	misses  atomic.Int64
	samples [][]hitSample // one per client, written only by it until stop returns
}

// hitSample is one GET: its start since hitLoad.t0 and its latency.
type hitSample struct{ start, took time.Duration }

// startHitLoad connects clients raw clients to addr (on the benchmark's
// goroutine, so a failure to connect is fatal) and starts them, each
// sending at most max requests. The caller must call stop before reading
// the samples; b's cleanup does too.
func startHitLoad(b *testing.B, addr string, reqs [][]byte, clients, max int) *hitLoad {
	b.Helper()
	l := &hitLoad{t0: time.Now(), done: make(chan struct{}), samples: make([][]hitSample, clients)}
	conns := make([]*rawClient, clients)
	for g := range conns {
		conns[g] = newRawClient(b, addr, "/")
	}
	var wg sync.WaitGroup
	l.stop = sync.OnceFunc(func() {
		close(l.done)
		wg.Wait()
	})
	b.Cleanup(l.stop) // before the connections' cleanups close them
	for g, c := range conns {
		wg.Go(func() {
			out := make([]hitSample, 0, 1<<16)
			defer func() { l.samples[g] = out }()
			for i := range max {
				select {
				case <-l.done:
					return
				default:
				}
				c.req = reqs[(g+i)%len(reqs)]
				start := time.Now()
				hit, err := c.roundTrip()
				took := time.Since(start)
				if err != nil {
					b.Errorf("hit load: %v", err)
					return
				}
				if !hit {
					l.misses.Add(1)
				}
				out = append(out, hitSample{start.Sub(l.t0), took})
			}
		})
	}
	return l
}

// between returns the latencies of the GETs that started in [from, to).
func (l *hitLoad) between(from, to time.Time) []time.Duration {
	lo, hi := from.Sub(l.t0), to.Sub(l.t0)
	var lat []time.Duration
	for _, s := range l.samples {
		for _, x := range s {
			if x.start >= lo && x.start < hi {
				lat = append(lat, x.took)
			}
		}
	}
	return lat
}

// quantileUS is the q-quantile of lat in microseconds (0 when empty); lat
// is sorted in place.
func quantileUS(lat []time.Duration, q float64) float64 {
	if len(lat) == 0 {
		return 0
	}
	slices.Sort(lat)
	return float64(lat[int(q*float64(len(lat)-1))]) / float64(time.Microsecond)
}

// postPurge sends body to the admin API's POST /purge and fails b unless
// the answer is a 200 with a tag purge's result.
func postPurge(b *testing.B, admin, body string) {
	b.Helper()
	resp, err := http.Post(admin+"/purge", "application/json", strings.NewReader(body))
	if err != nil {
		b.Fatalf("POST /purge: %v", err)
	}
	defer resp.Body.Close()
	text, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("POST /purge %s: status %d (%s), %v", body, resp.StatusCode, text, err)
	}
	var res purge.Result
	if err := json.Unmarshal(text, &res); err != nil || res.Kind != purge.Tag {
		b.Fatalf("POST /purge %s: answer %q (%v), want a tag purge's result", body, text, err)
	}
}

// BenchmarkMissCost measures what a miss costs beyond the origin itself:
// the same uncacheable 1 KiB GET sent by 8 keep-alive clients, 2,000 each,
// straight to the origin and then through the node. It reports both
// sides' p50 and p99, what the node adds, and the share of the node's
// origin requests that reused a connection. Run with -benchtime=1x.
func BenchmarkMissCost(b *testing.B) {
	const clients, perClient = 8, 2000
	h := newHarness(b, "h1", nil)
	const path = "/obj/miss?size=1024&cc=no-store"
	run := func(addr string) []time.Duration {
		lat := make([][]time.Duration, clients)
		conns := make([]*rawClient, clients)
		for i := range conns {
			conns[i] = newRawClient(b, addr, path)
		}
		var wg sync.WaitGroup
		errs := make(chan error, clients)
		for i, c := range conns {
			wg.Go(func() {
				for range perClient {
					t0 := time.Now()
					if _, err := c.roundTrip(); err != nil {
						errs <- err
						return
					}
					lat[i] = append(lat[i], time.Since(t0))
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
		return slices.Concat(lat...)
	}
	var direct, through []time.Duration
	for b.Loop() {
		direct = append(direct, run(h.origin.Listener.Addr().String())...)
		through = append(through, run(strings.TrimPrefix(h.base, "http://"))...)
	}
	m := h.adminGet("/metrics")
	reused := sumMetric(m, `cdnnode_origin_connections_total{peer="http://`+h.origin.Listener.Addr().String()+`",pool="demo",reused="true"}`)
	fresh := sumMetric(m, `cdnnode_origin_connections_total{peer="http://`+h.origin.Listener.Addr().String()+`",pool="demo",reused="false"}`)
	b.ReportMetric(quantileUS(direct, 0.50), "direct-p50-us")
	b.ReportMetric(quantileUS(direct, 0.99), "direct-p99-us")
	b.ReportMetric(quantileUS(through, 0.50), "node-p50-us")
	b.ReportMetric(quantileUS(through, 0.99), "node-p99-us")
	b.ReportMetric(quantileUS(through, 0.50)-quantileUS(direct, 0.50), "added-p50-us")
	b.ReportMetric(quantileUS(through, 0.99)-quantileUS(direct, 0.99), "added-p99-us")
	b.ReportMetric(reused/(reused+fresh), "conn-reuse-ratio")
	b.ReportMetric(0, "ns/op")
}
