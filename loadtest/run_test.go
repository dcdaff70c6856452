package loadtest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cdnnode/cdnnode/demoorigin"
	"github.com/cdnnode/cdnnode/internal/testkit"
	"github.com/cdnnode/cdnnode/internal/testnode"
)

// TestOpenLoopRate: an open loop of R req/s for 3s sends exactly 3R
// measured requests, and both the generator's throughput and the rate at
// which the server saw them arrive are within 2% of R. 20,000 req/s needs
// the CPUs: it is skipped under -race, which slows both sides several
// times over, and under -short.
func TestOpenLoopRate(t *testing.T) {
	const dur, warm = 3 * time.Second, 500 * time.Millisecond
	for _, tt := range []struct {
		rate        int
		connections int
		heavy       bool
	}{
		{2000, 32, false},
		{20000, 64, true},
	} {
		t.Run(fmt.Sprintf("%d req/s", tt.rate), func(t *testing.T) {
			if tt.heavy && (raceEnabled || testing.Short()) {
				t.Skip("needs the CPUs: not under -race or -short")
			}
			retryOnce(t, func() error {
				srv, ls := startLog(t, 0)
				res := run(t, Options{Target: srv.URL, Rate: float64(tt.rate), Duration: dur, Warmup: warm, Connections: tt.connections})
				if want := int64(tt.rate) * int64(dur/time.Second); res.Requests != want || res.Errors != 0 {
					t.Fatalf("%d requests, %d errors; want %d, none", res.Requests, res.Errors, want)
				}
				measured := res.Start.Add(warm)
				var first, last time.Time
				n := 0
				for _, s := range ls.requests() {
					if s.at.Before(measured) {
						continue
					}
					if n == 0 || s.at.Before(first) {
						first = s.at
					}
					if s.at.After(last) {
						last = s.at
					}
					n++
				}
				seen := float64(n-1) / last.Sub(first).Seconds()
				t.Logf("generator %.1f req/s, server saw %d at %.1f req/s, %d late", res.RequestsPerSec, n, seen, res.Late)
				if !within(res.RequestsPerSec, float64(tt.rate), 0.02) || !within(seen, float64(tt.rate), 0.02) {
					return fmt.Errorf("generator %.1f req/s, server saw %.1f req/s; want %d ± 2%%", res.RequestsPerSec, seen, tt.rate)
				}
				return nil
			})
		})
	}
}

// TestLatencyPercentiles: against a server that takes 20ms per request,
// the median latency, closed and open loop, is within 5% of the median
// time the server's handler took (20ms plus its timer's slack).
func TestLatencyPercentiles(t *testing.T) {
	for _, mode := range []struct {
		name string
		o    Options
	}{
		{"closed loop", Options{Connections: 4, Duration: 2 * time.Second, Warmup: 200 * time.Millisecond}},
		{"open loop", Options{Connections: 8, Rate: 100, Duration: 3 * time.Second, Warmup: 200 * time.Millisecond}},
	} {
		t.Run(mode.name, func(t *testing.T) {
			retryOnce(t, func() error {
				srv, ls := startLog(t, 20*time.Millisecond)
				o := mode.o
				o.Target = srv.URL
				res := run(t, o)
				if res.Errors != 0 || res.Requests < 100 {
					t.Fatalf("%d requests, %d errors", res.Requests, res.Errors)
				}
				took := []time.Duration{}
				for _, s := range ls.requests() {
					took = append(took, s.took)
				}
				slices.Sort(took)
				ref := took[len(took)/2]
				t.Logf("p50 %v, p99 %v; server's median %v", res.Latency.P50, res.Latency.P99, ref)
				if !within(float64(res.Latency.P50), float64(ref), 0.05) {
					return fmt.Errorf("p50 %v, want %v ± 5%% (the server's median)", res.Latency.P50, ref)
				}
				if res.Latency.Min < 20*time.Millisecond {
					t.Fatalf("min latency %v below the server's 20ms", res.Latency.Min)
				}
				return nil
			})
		})
	}
}

// staller is an origin that, at its stallAt-th request, stops answering
// anything for a second, then answers at once again.
type staller struct {
	stallAt int

	mu    sync.Mutex // guards n and until
	n     int
	until time.Time
}

func (s *staller) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.n++
	if s.n == s.stallAt {
		s.until = time.Now().Add(time.Second)
	}
	until := s.until
	s.mu.Unlock()
	if wait := time.Until(until); wait > 0 {
		time.Sleep(wait)
	}
	_, _ = w.Write([]byte("ok"))
}

// TestCoordinatedOmission: a server stalls once for 1s. An open loop at
// 200 req/s keeps sending while it stalls, counts from when each request
// was due, and so its p99 shows the stall (the ~200 requests due during it
// waited up to 1s); a closed loop's workers stop sending during the stall,
// so only its few stuck requests saw it: the max shows it, the p99 not.
func TestCoordinatedOmission(t *testing.T) {
	open := httptest.NewServer(&staller{stallAt: 200})
	defer open.Close()
	res := run(t, Options{Target: open.URL, Rate: 200, Duration: 4 * time.Second, Connections: 16})
	t.Logf("open loop: p50 %v, p90 %v, p99 %v, max %v, %d late", res.Latency.P50, res.Latency.P90, res.Latency.P99, res.Latency.Max, res.Late)
	if res.Latency.P99 < 500*time.Millisecond || res.Late == 0 {
		t.Errorf("open loop: p99 %v and %d late sends; want the 1s stall to show (p99 >= 500ms, late sends)", res.Latency.P99, res.Late)
	}
	if res.Requests != 800 || res.Errors != 0 {
		t.Errorf("open loop: %d requests, %d errors; want 800 (none dropped), none", res.Requests, res.Errors)
	}

	closed := httptest.NewServer(&staller{stallAt: 200})
	defer closed.Close()
	res = run(t, Options{Target: closed.URL, Connections: 4, Duration: 4 * time.Second})
	t.Logf("closed loop: %d requests, p99 %v, max %v", res.Requests, res.Latency.P99, res.Latency.Max)
	if res.Latency.Max < 900*time.Millisecond {
		t.Errorf("closed loop: max %v; the stall did not happen", res.Latency.Max)
	}
	if res.Latency.P99 > 200*time.Millisecond {
		t.Errorf("closed loop: p99 %v; want the stall hidden from it (< 200ms), as closed loops do", res.Latency.P99)
	}
}

// TestOriginStatsDirect: aimed at the demo origin itself, every request
// is an origin request: the counts match exactly and nothing is offloaded.
func TestOriginStatsDirect(t *testing.T) {
	srv, demo := startDemo(t)
	res := run(t, Options{Target: srv.URL, Connections: 4, Requests: 500, Keys: Uniform, Objects: 10, OriginStats: srv.URL + "/__origin/stats"})
	if res.Origin == nil || res.Origin.Error != "" {
		t.Fatalf("origin: %+v", res.Origin)
	}
	if got := demo.Stats().Requests; res.Origin.Requests != 500 || got != 500 || res.Origin.Offload != 0 {
		t.Errorf("origin requests %d (origin's own count %d), offload %v; want 500, 500, 0", res.Origin.Requests, got, res.Origin.Offload)
	}
	if res.Cache.Other != 500 || res.Cache.HitRatio != 0 {
		t.Errorf("cache %+v: want 500 other (no Cache-Status), hit ratio 0", res.Cache)
	}
}

// TestOriginStatsThroughNode: through a real node, the origin requests
// reported are those the demo origin counted, each object was fetched at
// least once and each fetch was a miss, and offload follows.
func TestOriginStatsThroughNode(t *testing.T) {
	srv, demo := startDemo(t)
	base := testnode.Fronting(t, srv.Listener.Addr().String())
	res := run(t, Options{Target: base, Connections: 8, Requests: 2000, Keys: Uniform, Objects: 50, Size: DefaultSize(), OriginStats: srv.URL + "/__origin/stats"})
	if res.Origin == nil || res.Origin.Error != "" {
		t.Fatalf("origin: %+v", res.Origin)
	}
	got := demo.Stats().Requests
	c := res.Cache
	t.Logf("origin %d, cache %+v", res.Origin.Requests, c)
	if res.Origin.Requests != got || got < 50 || got > c.Miss {
		t.Errorf("origin requests %d, origin's own count %d, misses %d; want equal counts, at least 50, at most the misses", res.Origin.Requests, got, c.Miss)
	}
	if want := 1 - float64(got)/2000; res.Origin.Offload != want {
		t.Errorf("offload %v, want %v", res.Origin.Offload, want)
	}
	if c.Hit+c.Miss != 2000 || c.Stale+c.Other != 0 || res.Errors != 0 {
		t.Errorf("cache %+v, %d errors; want 2000 hits and misses, no error", c, res.Errors)
	}
	if want := float64(c.Hit) / 2000; c.HitRatio != want || c.ByteHitRatio != want {
		t.Errorf("hit ratio %v, by bytes %v; want %v (1KiB objects)", c.HitRatio, c.ByteHitRatio, want)
	}

	// The warm-up fetches the single object; measured requests are hits.
	res = run(t, Options{Target: base, Connections: 4, Duration: time.Second, Warmup: 300 * time.Millisecond, Prefix: "warm-", OriginStats: srv.URL + "/__origin/stats"})
	if res.Origin == nil || res.Origin.Requests != 0 || res.Origin.Offload != 1 || res.Cache.Hit != res.Requests {
		t.Errorf("after a warm-up: origin %+v, cache %+v of %d requests; want no origin request, all hits", res.Origin, res.Cache, res.Requests)
	}
}

// TestMixThroughNode: PURGE and conditional requests at the asked
// percentages; purges are answered (200, or 404 for nothing stored) and
// conditionals of stored objects get 304s.
func TestMixThroughNode(t *testing.T) {
	srv, _ := startDemo(t)
	base := testnode.Fronting(t, srv.Listener.Addr().String())
	res := run(t, Options{Target: base, Connections: 4, Requests: 2000, Keys: Uniform, Objects: 20, PurgePct: 10, ConditionalPct: 30, Seed: 3})
	if res.Errors != 0 {
		t.Fatalf("%d errors: %v", res.Errors, res.ErrorSamples)
	}
	if !within(float64(res.Purges), 200, 0.3) || !within(float64(res.Conditionals), 600, 0.15) {
		t.Errorf("%d purges, %d conditionals; want about 200 and 600", res.Purges, res.Conditionals)
	}
	if res.NotModified == 0 || res.Status["304"] != res.NotModified {
		t.Errorf("%d 304s (status %v); want some", res.NotModified, res.Status)
	}
	if res.Status["200"]+res.Status["304"]+res.Status["404"] != 2000 {
		t.Errorf("status %v: want only 200, 304 and 404 (purges of nothing stored)", res.Status)
	}
	if c := res.Cache; c.Hit+c.Miss+c.Stale+c.Other != 2000-res.Purges {
		t.Errorf("cache %+v: want every GET counted, no PURGE", c)
	}
}

// TestSeedDeterminism: the same seed sends the same requests in the same
// order (one connection, so the order on the wire is the order of
// request numbers); another seed, others.
func TestSeedDeterminism(t *testing.T) {
	sent := func(seed uint64) []string {
		srv, ls := startLog(t, 0)
		run(t, Options{Target: srv.URL, Connections: 1, Requests: 300, Keys: Zipf, Objects: 100, ZipfS: 0.8, Size: Size{10, 10000}, PurgePct: 5, ConditionalPct: 10, Seed: seed})
		var lines []string
		for _, s := range ls.requests() {
			lines = append(lines, s.line+" "+s.ims)
		}
		return lines
	}
	a, b, c := sent(42), sent(42), sent(43)
	if len(a) != 300 || !slices.Equal(a, b) {
		t.Fatalf("seed 42 twice: %d and %d requests, equal %v", len(a), len(b), slices.Equal(a, b))
	}
	if slices.Equal(a, c) {
		t.Error("seeds 42 and 43 sent the same requests")
	}
	joined := strings.Join(a, "\n")
	for _, want := range []string{"PURGE /obj/lt-", "GET /obj/lt-0?size=", "&lm=1 " + demoorigin.LastModified().Format(http.TimeFormat)} {
		if !strings.Contains(joined, want) {
			t.Errorf("requests do not include %q:\n%s", want, joined[:min(len(joined), 500)])
		}
	}
}

// TestHTTP2 runs h2c through the node (which speaks h2c with prior
// knowledge) and h2 over TLS against a TLS server.
func TestHTTP2(t *testing.T) {
	srv, _ := startDemo(t)
	base := testnode.Fronting(t, srv.Listener.Addr().String())
	res := run(t, Options{Target: base, H2: true, Connections: 2, Streams: 4, Requests: 500, Size: DefaultSize()})
	if res.Protocol != "h2c" || res.Errors != 0 || res.Status["200"] != 500 || res.Cache.Hit < 490 || res.Bytes != 500*1024 {
		t.Errorf("h2c: %s, %d errors %v, status %v, cache %+v, %d bytes", res.Protocol, res.Errors, res.ErrorSamples, res.Status, res.Cache, res.Bytes)
	}

	tlsSrv := httptest.NewUnstartedServer(demoorigin.New(nil))
	tlsSrv.EnableHTTP2 = true
	tlsSrv.StartTLS()
	defer tlsSrv.Close()
	pool := x509.NewCertPool()
	pool.AddCert(tlsSrv.Certificate())
	for _, h2 := range []bool{true, false} {
		res := run(t, Options{Target: tlsSrv.URL, H2: h2, TLS: &tls.Config{RootCAs: pool}, Connections: 2, Requests: 200})
		if res.Errors != 0 || res.Status["200"] != 200 {
			t.Errorf("https, %s: %d errors %v, status %v", res.Protocol, res.Errors, res.ErrorSamples, res.Status)
		}
	}
	// An unverifiable certificate fails to connect.
	if _, err := Run(context.Background(), Options{Target: tlsSrv.URL, Connections: 1, Requests: 1}); err == nil {
		t.Error("https with an unknown CA: Run succeeded")
	}
}

// TestErrorKinds: 5xx responses, timeouts and cut bodies are counted by
// kind, with a sample message; responses with 5xx have latencies.
func TestErrorKinds(t *testing.T) {
	srv, _ := startDemo(t)
	for _, tt := range []struct {
		name, query string
		timeout     time.Duration
		kind        string
		responses   int64
	}{
		{"status", "status=503", 0, "status>=500", 20},
		{"timeout", "delay=2s", 200 * time.Millisecond, "timeout", 0},
		{"cut body", "abort=100", 0, "read", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := run(t, Options{Target: srv.URL, Query: tt.query, Size: Size{1000, 1000}, Timeout: tt.timeout, Connections: 2, Requests: 20})
			if res.Requests != 20 || res.Errors != 20 || res.ErrorsByKind[tt.kind] != 20 || res.Responses != tt.responses {
				t.Errorf("%d requests, %d responses, errors %v; want 20 %s errors, %d responses", res.Requests, res.Responses, res.ErrorsByKind, tt.kind, tt.responses)
			}
			if tt.kind != "status>=500" && res.ErrorSamples[tt.kind] == "" {
				t.Errorf("no sample of the %s errors: %v", tt.kind, res.ErrorSamples)
			}
			if tt.responses > 0 && res.Latency.P50 == 0 {
				t.Error("5xx responses without latencies")
			}
		})
	}

	// Nothing listening: Run refuses at once.
	_, err := Run(context.Background(), Options{Target: "http://" + testkit.FreeAddr(t), Requests: 10})
	if err == nil || !strings.Contains(err.Error(), "connect") {
		t.Errorf("Run against a closed port: %v, want a connect error", err)
	}
}

// TestInterrupt: cancelling the context ends a long run early, and the
// requests it cut are not counted as errors.
func TestInterrupt(t *testing.T) {
	srv, _ := startDemo(t)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(1200*time.Millisecond, cancel)
	res, err := Run(ctx, Options{Target: srv.URL, Query: "delay=300ms", Connections: 4, Duration: time.Minute, Warmup: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Elapsed >= time.Minute || !res.Interrupted || res.Errors != 0 || res.Requests == 0 {
		t.Errorf("measured %v of a minute: interrupted %v, %d requests, %d errors %v", res.Elapsed, res.Interrupted, res.Requests, res.Errors, res.ErrorSamples)
	}
}

// TestValidate: options Run refuses, with what it says.
func TestValidate(t *testing.T) {
	ok := Options{Target: "http://127.0.0.1:1"}
	tests := []struct {
		name string
		edit func(*Options)
		want string
	}{
		{"no target", func(o *Options) { o.Target = "" }, "no target"},
		{"bad scheme", func(o *Options) { o.Target = "ftp://x" }, "invalid target"},
		{"query in target", func(o *Options) { o.Target = "http://x/?a=1" }, "invalid target"},
		{"negative rate", func(o *Options) { o.Rate = -1 }, "rate"},
		{"streams without h2", func(o *Options) { o.Streams = 2 }, "needs h2"},
		{"zipf s", func(o *Options) { o.Keys, o.ZipfS = Zipf, -1 }, "zipf exponent"},
		{"percentages", func(o *Options) { o.PurgePct, o.ConditionalPct = 60, 50 }, "at most 100"},
		{"size", func(o *Options) { o.Size = Size{10, 5} }, "size"},
		{"space in query", func(o *Options) { o.Query = "a=b c" }, "invalid query"},
		{"slash in prefix", func(o *Options) { o.Prefix = "a/b" }, "invalid prefix"},
		{"keys", func(o *Options) { o.Keys = "pareto" }, "keys"},
		{"too long", func(o *Options) { o.Duration = 30 * 24 * time.Hour }, "at most"},
		{"stats URL", func(o *Options) { o.OriginStats = "127.0.0.1:8081" }, "origin stats"},
	}
	if err := ok.Validate(); err != nil {
		t.Fatalf("Validate(%+v) = %v", ok, err)
	}
	for _, tt := range tests {
		o := ok
		tt.edit(&o)
		err := o.Validate()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Validate = %v, want an error saying %q", tt.name, err, tt.want)
		}
		if _, runErr := Run(context.Background(), o); runErr == nil {
			t.Errorf("%s: Run accepted what Validate refused", tt.name)
		}
	}
}

// TestProgress: Options.Progress is called once per whole second.
func TestProgress(t *testing.T) {
	srv, _ := startDemo(t)
	var mu sync.Mutex
	var got []Progress
	res := run(t, Options{Target: srv.URL, Connections: 2, Duration: 2500 * time.Millisecond, Progress: func(p Progress) {
		mu.Lock()
		got = append(got, p)
		mu.Unlock()
	}})
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 || got[0].Elapsed != time.Second || got[1].Elapsed != 2*time.Second || got[1].Total != 2500*time.Millisecond {
		t.Fatalf("progress %+v, want seconds 1 and 2 of 2.5s", got)
	}
	if got[1].Requests != res.Seconds[0].Requests+res.Seconds[1].Requests || got[1].Rate <= 0 {
		t.Errorf("progress %+v against seconds %+v", got[1], res.Seconds[:2])
	}
	if line := FormatProgress(got[1]); !strings.Contains(line, "req/s") || !strings.Contains(line, "p99") || !strings.Contains(line, "left") {
		t.Errorf("FormatProgress = %q", line)
	}
	if n := len(res.Seconds); n != 3 || res.Seconds[2].Length >= time.Second {
		t.Errorf("%d seconds, want 2 whole and a part", n)
	}
	var sum int64
	for _, s := range res.Seconds {
		sum += s.Requests
		if s.Hist.TotalCount() != s.Requests-s.Errors {
			t.Errorf("second at %v: histogram holds %d of %d responses", s.Start, s.Hist.TotalCount(), s.Requests)
		}
	}
	if sum != res.Requests {
		t.Errorf("seconds add up to %d requests, the total is %d", sum, res.Requests)
	}
}

// TestSchedule: request i of an open loop is due at i/rate; the warm-up
// holds the requests due before it ends.
func TestSchedule(t *testing.T) {
	for _, tt := range []struct {
		rate   float64
		warmup time.Duration
		want   int64
	}{
		{3, time.Second, 3}, // due at 0, 333ms, 667ms; the fourth at 1s is measured
		{2000, 500 * time.Millisecond, 1000},
		{7, 0, 0},
		{0.5, 3 * time.Second, 2}, // due at 0s and 2s
	} {
		o := Options{Rate: tt.rate, Warmup: tt.warmup}
		if got := o.warmRequests(); got != tt.want {
			t.Errorf("rate %v, warm-up %v: %d warm-up requests, want %d", tt.rate, tt.warmup, got, tt.want)
		}
		if n := tt.want; n > 0 && (o.due(n-1) >= tt.warmup || o.due(n) < tt.warmup) {
			t.Errorf("rate %v: requests %d and %d due at %v and %v, across a warm-up of %v", tt.rate, n-1, n, o.due(n-1), o.due(n), tt.warmup)
		}
	}
}

// TestOpenLoopRequests: an open loop bounded by a request count sends
// exactly that many measured requests after its warm-up.
func TestOpenLoopRequests(t *testing.T) {
	srv, ls := startLog(t, 0)
	res := run(t, Options{Target: srv.URL, Rate: 1000, Requests: 500, Warmup: 200 * time.Millisecond, Connections: 8})
	if res.Requests != 500 || res.Errors != 0 || len(ls.requests()) != 700 {
		t.Errorf("%d measured requests, %d errors, %d sent; want 500, 0, 700 (200 in the warm-up)", res.Requests, res.Errors, len(ls.requests()))
	}
}
