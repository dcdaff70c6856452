package loadtest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"github.com/cdnnode/cdnnode/internal/testnode"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// compare is Compare that ends the test on an error.
func compare(t *testing.T, o Options, b string, n int) *Comparison {
	t.Helper()
	c, err := Compare(context.Background(), o, b, n)
	if err != nil {
		t.Fatalf("Compare: %v", err)
	}
	if testing.Verbose() {
		var out bytes.Buffer
		_ = ReportCompare(&out, c)
		t.Logf("\n%s", out.String())
	}
	return c
}

// figureOf returns c's figure called name.
func figureOf(t *testing.T, c *Comparison, name string) Figure {
	t.Helper()
	for _, f := range c.Figures {
		if f.Name == name {
			return f
		}
	}
	t.Fatalf("no figure %q in %+v", name, c.Figures)
	return Figure{}
}

// medianTook is the median time ls's handler took.
func medianTook(ls *logServer) time.Duration {
	var took []time.Duration
	for _, s := range ls.requests() {
		took = append(took, s.took)
	}
	slices.Sort(took)
	return took[len(took)/2]
}

// TestCompareRatio: A answers in 4ms, B in 12ms. The comparison shows B's
// median latency at the ratio of the servers' own medians, and, in a
// closed loop, throughput at the inverse ratio of the mean latencies; the slices alternate A B A
// B, never overlap, and each server saw requests only during its own.
func TestCompareRatio(t *testing.T) {
	retryOnce(t, func() error {
		srvA, lsA := startLog(t, 4*time.Millisecond)
		srvB, lsB := startLog(t, 12*time.Millisecond)
		c := compare(t, Options{Target: srvA.URL, Connections: 2, Duration: time.Second, Warmup: 100 * time.Millisecond}, srvB.URL, 10)

		if len(c.Slices) != 20 {
			t.Fatalf("%d slices, want 10 per side", len(c.Slices))
		}
		for i, s := range c.Slices {
			if want := string("AB"[i%2]); s.Side != want || s.Index != i/2 {
				t.Fatalf("slice %d is %s%d, want %s%d: not interleaved", i, s.Side, s.Index, want, i/2)
			}
			if i > 0 && s.Start.Before(c.Slices[i-1].End) {
				t.Fatalf("slice %d starts %v before slice %d ends", i, c.Slices[i-1].End.Sub(s.Start), i-1)
			}
			if i%2 == 1 && s.FirstRequest != c.Slices[i-1].FirstRequest {
				t.Errorf("slice B%d starts at request %d, A%d at %d", s.Index, s.FirstRequest, s.Index, c.Slices[i-1].FirstRequest)
			}
		}
		for _, side := range []struct {
			name string
			ls   *logServer
		}{{"A", lsA}, {"B", lsB}} {
			for _, r := range side.ls.requests() {
				if !slices.ContainsFunc(c.Slices, func(s Slice) bool {
					return s.Side == side.name && !r.at.Before(s.Start) && !r.at.After(s.End)
				}) {
					t.Fatalf("server %s saw a request at %v, outside its slices", side.name, r.at)
				}
			}
		}
		for _, res := range []*Result{c.A, c.B} {
			if res.Errors != 0 || !within(res.Elapsed.Seconds(), 1, 0.2) || res.Duration != time.Second || len(res.Seconds) < 10 {
				t.Fatalf("%s: %d errors, measured %v of %v, %d seconds", res.Target, res.Errors, res.Elapsed, res.Duration, len(res.Seconds))
			}
		}

		want := float64(medianTook(lsB)) / float64(medianTook(lsA))
		p50, rps := figureOf(t, c, "latency.p50_ns"), figureOf(t, c, "requests_per_sec")
		// A closed loop's throughput is its connections over its mean
		// latency (Little's law), whatever the machine's noise.
		little := float64(c.A.Latency.Mean) / float64(c.B.Latency.Mean)
		t.Logf("p50 B/A %.3f, req/s B/A %.3f; the servers' medians say %.3f, the mean latencies %.3f", *p50.Ratio, *rps.Ratio, want, 1/little)
		if p50.A != float64(c.A.Latency.P50) || p50.B != float64(c.B.Latency.P50) {
			t.Fatalf("p50 figure %v / %v, results %v / %v", p50.A, p50.B, c.A.Latency.P50, c.B.Latency.P50)
		}
		if c.A.Latency.P50 < medianTook(lsA) || c.B.Latency.P50 < medianTook(lsB) {
			t.Fatalf("p50 %v and %v, below the servers' own medians %v and %v", c.A.Latency.P50, c.B.Latency.P50, medianTook(lsA), medianTook(lsB))
		}
		if !within(*p50.Ratio, want, 0.2) {
			return fmt.Errorf("p50 %v / %v = %.3f, want %.3f ± 20%%", p50.B, p50.A, *p50.Ratio, want)
		}
		if !within(*rps.Ratio, little, 0.15) {
			return fmt.Errorf("req/s B/A %.3f, want the mean latencies' A/B %.3f ± 15%%", *rps.Ratio, little)
		}
		return nil
	})
}

// TestCompareSameRequests: bounded by requests, each side's k-th slice
// sends the same request numbers, so with one connection both servers
// see the very same sequence of requests.
func TestCompareSameRequests(t *testing.T) {
	srvA, lsA := startLog(t, 0)
	srvB, lsB := startLog(t, 0)
	c := compare(t, Options{Target: srvA.URL, Connections: 1, Requests: 400, Keys: Uniform, Objects: 1000, Seed: 11}, srvB.URL, 4)
	if c.A.Requests != 400 || c.B.Requests != 400 || len(c.Slices) != 8 {
		t.Fatalf("%d and %d requests in %d slices, want 400 each in 4 slices a side", c.A.Requests, c.B.Requests, len(c.Slices))
	}
	for _, s := range c.Slices {
		if s.Requests != 100 {
			t.Errorf("slice %s%d: %d requests, want 100", s.Side, s.Index, s.Requests)
		}
	}
	lines := func(ls *logServer) []string {
		var l []string
		for _, r := range ls.requests() {
			l = append(l, r.line)
		}
		return l
	}
	a, b := lines(lsA), lines(lsB)
	if len(a) != 400 || !slices.Equal(a, b) {
		t.Errorf("A saw %d requests, B %d; not the same sequence", len(a), len(b))
	}
	if len(slices.Compact(slices.Sorted(slices.Values(a)))) < 300 {
		t.Errorf("only %d distinct requests of 400 over 1000 uniform keys", len(slices.Compact(slices.Sorted(slices.Values(a)))))
	}
}

// TestCompareReport: the text report puts every figure of both sides on
// one line with B / A, and the JSON carries both results, the slices and
// the figures.
func TestCompareReport(t *testing.T) {
	srv, _ := startDemo(t)
	base := testnode.Fronting(t, srv.Listener.Addr().String())
	o := Options{Target: base, Connections: 2, Requests: 400, Keys: Uniform, Objects: 20, OriginStats: srv.URL + "/__origin/stats", Seed: 3}
	// Against the node (A) and the origin itself (B): A's offload is
	// high, B's none.
	c := compare(t, o, srv.URL, 4)
	var text bytes.Buffer
	if err := ReportCompare(&text, c); err != nil {
		t.Fatal(err)
	}
	for _, re := range []string{
		`(?m)^A +http://127\.0\.0\.1:\d+ over HTTP/1\.1, closed loop, 2 connections, seed 3$`,
		`(?m)^B +http://127\.0\.0\.1:\d+$`,
		`(?m)^workload +uniform over 20 objects of 0B$`,
		`(?m)^slices +4 per side, interleaved A B A B \.\.\.; measured A \S+, B \S+$`,
		`(?m)^ +A +B +B/A$`,
		`(?m)^requests +400 +400 +1\.00$`,
		`(?m)^req/s +\S+ +\S+ +\d+\.\d\d$`,
		`(?m)^latency p99\.9 +\S+ +\S+ +\d+\.\d\d$`,
		`(?m)^errors +0 +0 +-$`,
		`(?m)^hit ratio +\d+\.\d\d% +0\.00% +0\.00$`,
		`(?m)^origin requests +\d+ +400 +\d+\.\d\d$`,
		`(?m)^offload +\d+\.\d\d% +0\.00% +0\.00$`,
		`(?m)^status A  200: 400$`,
	} {
		if !regexp.MustCompile(re).Match(text.Bytes()) {
			t.Errorf("report does not match %s:\n%s", re, text.String())
		}
	}
	if c.B.Origin.Requests != 400 || c.A.Origin.Requests < 20 || c.A.Origin.Requests > 100 {
		t.Errorf("origin requests: A %d, B %d; want 20 to 100 (fills) and 400", c.A.Origin.Requests, c.B.Origin.Requests)
	}

	var js bytes.Buffer
	if err := WriteJSONCompare(&js, c); err != nil {
		t.Fatal(err)
	}
	var back struct {
		A, B    Result
		Slices  []Slice
		Figures []Figure
	}
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.A.Requests != 400 || back.B.Target != srv.URL || len(back.Slices) != 8 || len(back.Figures) != len(c.Figures) {
		t.Errorf("JSON round trip lost something:\n%s", js.String())
	}
	if !strings.Contains(js.String(), `"name": "errors",`) || !strings.Contains(js.String(), `"ratio": null`) {
		t.Errorf("JSON lacks the errors figure with a null ratio")
	}
}

// TestCompareProgress: progress of a comparison names its side and
// counts the whole comparison's time, once per second of a slice, or once
// per slice that ends a second after the last progress for short slices.
func TestCompareProgress(t *testing.T) {
	t.Run("short slices", func(t *testing.T) {
		srvA, _ := startLog(t, 0)
		srvB, _ := startLog(t, 0)
		var got []Progress
		compare(t, Options{Target: srvA.URL, Connections: 1, Duration: 2 * time.Second, Progress: func(p Progress) { got = append(got, p) }}, srvB.URL, 10)
		// 4s of 200ms slices: a report about every second.
		if len(got) < 3 || len(got) > 5 {
			t.Fatalf("%d progress calls in 4s of 200ms slices, want about 4: %+v", len(got), got)
		}
		for i, p := range got {
			// A second apart, less the unmeasured time between slices.
			if p.Side == "" || p.Total != 4*time.Second || p.Rate == 0 || p.Requests == 0 || i > 0 && p.Elapsed-got[i-1].Elapsed < 800*time.Millisecond {
				t.Errorf("progress %d: %+v", i, p)
			}
		}
	})

	srvA, _ := startLog(t, 0)
	srvB, _ := startLog(t, 0)
	var got []Progress
	// 2s slices: their seconds.
	c := compare(t, Options{Target: srvA.URL, Connections: 1, Duration: 4 * time.Second, Progress: func(p Progress) { got = append(got, p) }}, srvB.URL, 2)
	if len(got) != 8 {
		t.Fatalf("%d progress calls, want one per second of 2 × 2 slices of 2s: %+v", len(got), got)
	}
	for i, p := range got {
		if want := string("AB"[i/2%2]); p.Side != want || p.Total != 8*time.Second || p.Elapsed < time.Duration(i+1)*time.Second || p.Elapsed > time.Duration(i+1)*time.Second+200*time.Millisecond {
			t.Errorf("progress %d: %+v; want side %s, %ds of 8s", i, p, want, i+1)
		}
	}
	if last := got[len(got)-1]; last.Requests < c.B.Requests*9/10 {
		t.Errorf("B's last progress counts %d requests of %d", last.Requests, c.B.Requests)
	}
}

// TestSeveralTargets: requests take turns over several base URLs, over
// HTTP/1.1 and h2, closed and open loop.
func TestSeveralTargets(t *testing.T) {
	tests := []struct {
		name  string
		h2    bool
		o     Options
		slack int // how far from an even share a server's count may be
	}{
		{"closed loop", false, Options{Connections: 4, Requests: 900}, 4},
		{"open loop", false, Options{Connections: 4, Rate: 2000, Requests: 900}, 0},
		{"h2", true, Options{Connections: 2, Streams: 2, Rate: 2000, Requests: 900, H2: true}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var urls []string
			var logs []*logServer
			pool := x509.NewCertPool()
			for range 3 {
				ls := &logServer{}
				srv := httptest.NewUnstartedServer(ls)
				if tt.h2 {
					srv.EnableHTTP2 = true
					srv.StartTLS()
					pool.AddCert(srv.Certificate())
				} else {
					srv.Start()
				}
				t.Cleanup(srv.Close)
				urls = append(urls, srv.URL)
				logs = append(logs, ls)
			}
			o := tt.o
			o.Target = strings.Join(urls, ",")
			o.TLS = &tls.Config{RootCAs: pool}
			res := run(t, o)
			if res.Requests != 900 || res.Errors != 0 {
				t.Fatalf("%d requests, %d errors %v", res.Requests, res.Errors, res.ErrorSamples)
			}
			total := 0
			for i, ls := range logs {
				n := len(ls.requests())
				total += n
				if n < 300-tt.slack || n > 300+tt.slack {
					t.Errorf("server %d saw %d requests, want 300 ± %d", i, n, tt.slack)
				}
			}
			if total != 900 {
				t.Errorf("the servers saw %d requests, want 900", total)
			}
			var text bytes.Buffer
			_ = Report(&text, res)
			if want := strings.Join(urls, ", ") + " (round-robin) over "; !strings.Contains(text.String(), want) {
				t.Errorf("report does not name the targets %q:\n%s", want, text.String())
			}
		})
	}
}

// TestSeveralTargetsRefused: every target must be valid and reachable.
func TestSeveralTargetsRefused(t *testing.T) {
	srv, _ := startLog(t, 0)
	if err := (Options{Target: srv.URL + ",ftp://x"}).Validate(); err == nil || !strings.Contains(err.Error(), `invalid target "ftp://x"`) {
		t.Errorf("Validate with an ftp target: %v", err)
	}
	if _, err := Run(context.Background(), Options{Target: srv.URL + ",http://127.0.0.1:1", Connections: 1, Requests: 10}); err == nil || !strings.Contains(err.Error(), "connect to 127.0.0.1:1") {
		t.Errorf("Run with an unreachable second target: %v", err)
	}
}

// TestCompareLimits: no more slices than requests; a duration too short
// to share still ends every slice; bad slices and a bad B are refused.
func TestCompareLimits(t *testing.T) {
	srv, _ := startLog(t, 0)
	c := compare(t, Options{Target: srv.URL, Connections: 1, Requests: 3}, srv.URL, 10)
	if len(c.Slices) != 6 || c.A.Requests != 3 || c.B.Requests != 3 {
		t.Errorf("3 requests in %d slices (%d and %d requests), want 3 slices of one a side", len(c.Slices), c.A.Requests, c.B.Requests)
	}
	c = compare(t, Options{Target: srv.URL, Connections: 1, Duration: 5}, srv.URL, 10)
	if len(c.Slices) != 20 {
		t.Errorf("5ns in %d slices, want 10 a side", len(c.Slices))
	}
	for _, tt := range []struct {
		b      string
		slices int
		err    string
	}{
		{srv.URL, -1, "slices -1"},
		{srv.URL, MaxSlices + 1, "slices 10001"},
		{"ftp://x", 2, `B: invalid target "ftp://x"`},
		{"http://127.0.0.1:1", 2, "B: connect to 127.0.0.1:1"},
	} {
		if _, err := Compare(context.Background(), Options{Target: srv.URL, Connections: 1, Requests: 10}, tt.b, tt.slices); err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("Compare(B %s, %d slices) = %v, want an error saying %q", tt.b, tt.slices, err, tt.err)
		}
	}
}

// TestCompareInterrupt: cancelling a comparison ends it early, with what
// was measured, marked interrupted.
func TestCompareInterrupt(t *testing.T) {
	srv, _ := startLog(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	c, err := Compare(ctx, Options{Target: srv.URL, Connections: 1, Duration: time.Minute}, srv.URL, 2)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 10*time.Second || !c.A.Interrupted || !c.B.Interrupted || len(c.Slices) != 1 || c.A.Requests == 0 || c.B.Requests != 0 {
		t.Errorf("after %v: %d slices, A %d requests (interrupted %v), B %d (%v)", took, len(c.Slices), c.A.Requests, c.A.Interrupted, c.B.Requests, c.B.Interrupted)
	}
	var text bytes.Buffer
	if err := ReportCompare(&text, c); err != nil || !strings.Contains(text.String(), "(interrupted)") {
		t.Errorf("report: %v\n%s", err, text.String())
	}
}
