package loadtest

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/cdnnode/cdnnode/internal/testnode"
)

// TestReportAndJSON: the text report has each figure's line, and the JSON
// carries the same numbers plus a histogram other HdrHistogram tools read.
func TestReportAndJSON(t *testing.T) {
	srv, _ := startDemo(t)
	base := testnode.Fronting(t, srv.Listener.Addr().String())
	res := run(t, Options{Target: base, Connections: 2, Requests: 300, Keys: Zipf, Objects: 30, Size: DefaultSize(), PurgePct: 5, ConditionalPct: 5, OriginStats: srv.URL + "/__origin/stats", Seed: 9})

	var text bytes.Buffer
	if err := Report(&text, res); err != nil {
		t.Fatal(err)
	}
	for _, re := range []string{
		`(?m)^target +http://127\.0\.0\.1:\d+ over HTTP/1\.1, closed loop, 2 connections, seed 9$`,
		`(?m)^workload +zipf \(s=1\) over 30 objects of 1KiB, 5% PURGE, 5% conditional$`,
		`(?m)^requests +300, [\d.]+ req/s, 0 errors$`,
		`(?m)^latency +p50 \S+ +p90 \S+ +p99 \S+ +p99\.9 \S+ +max \S+ +\(mean \S+\)$`,
		`(?m)^status +200: \d+`,
		`(?m)^cache +hit ratio \d+\.\d\d% by requests, \d+\.\d\d% by bytes \(hit \d+, stale 0, miss \d+, other 0\)$`,
		`(?m)^mix +\d+ PURGE, \d+ conditional, \d+ answered 304$`,
		`(?m)^origin +\d+ requests, offload \d+\.\d\d%$`,
	} {
		if !regexp.MustCompile(re).Match(text.Bytes()) {
			t.Errorf("report does not match %s:\n%s", re, text.String())
		}
	}

	var js bytes.Buffer
	if err := WriteJSON(&js, res); err != nil {
		t.Fatal(err)
	}
	var back Result
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.Requests != 300 || back.Seed != 9 || back.Latency != res.Latency || back.Cache != res.Cache || *back.Origin != *res.Origin || len(back.Seconds) != len(res.Seconds) {
		t.Errorf("JSON round trip changed the result:\n%s", js.String())
	}
	h, err := hdr.Decode([]byte(back.HistogramV2))
	if err != nil || h.TotalCount() != res.Responses || time.Duration(h.ValueAtQuantile(50))*time.Microsecond != res.Latency.P50 {
		t.Errorf("histogram_v2: %v, %d values; want %d responses, p50 %v", err, h.TotalCount(), res.Responses, res.Latency.P50)
	}
	for _, field := range []string{`"p99_ns"`, `"hit_ratio"`, `"offload"`, `"seconds"`, `"requests_per_sec"`, `"status"`} {
		if !strings.Contains(js.String(), field) {
			t.Errorf("JSON lacks %s", field)
		}
	}
}

// TestReportErrors: runs whose every request failed (see TestErrorKinds)
// report their bytes and rate, the errors by kind and, for kinds that
// have one, the first error's message.
func TestReportErrors(t *testing.T) {
	srv, _ := startDemo(t)
	for _, tt := range []struct {
		name, query string
		want        []string
	}{
		{"5xx", "status=503", []string{
			`(?m)^requests +20, [\d.]+ req/s, 20 errors$`,
			`(?m)^bytes +19\.5KiB, [\d.]+(B|KiB|MiB|GiB)/s$`, // 20 bodies of 1000 bytes
			`(?m)^status +503: 20$`,
			`(?m)^errors +status>=500: 20$`,
		}},
		{"cut body", "abort=100", []string{
			`(?m)^requests +20, [\d.]+ req/s, 20 errors$`,
			`(?m)^bytes +0B, 0B/s$`, // a cut body is no response: its bytes do not count
			`(?m)^status +none$`,
			`(?m)^errors +read: 20$`,
			`(?m)^ +first read error: \S.*$`,
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := run(t, Options{Target: srv.URL, Query: tt.query, Size: Size{1000, 1000}, Connections: 2, Requests: 20})
			var text bytes.Buffer
			if err := Report(&text, res); err != nil {
				t.Fatal(err)
			}
			for _, re := range tt.want {
				if !regexp.MustCompile(re).Match(text.Bytes()) {
					t.Errorf("report does not match %s:\n%s", re, text.String())
				}
			}
		})
	}
}

func TestFormatProgress(t *testing.T) {
	for _, tt := range []struct {
		p    Progress
		want string
	}{
		{Progress{Elapsed: 3 * time.Second, Total: 10 * time.Second, Rate: 1234.5, Errors: 2, P99: 1234567 * time.Nanosecond}, "    3s       1234 req/s       2 errors  p99 1.23ms  (7s left)"},
		{Progress{Elapsed: time.Second, Rate: 100, Left: 500, P99: 20 * time.Millisecond}, "    1s        100 req/s       0 errors  p99 20ms  (5s left)"},
		{Progress{Elapsed: time.Second, Rate: 50.25}, "    1s      50.25 req/s       0 errors  p99 0s"},
	} {
		if got := FormatProgress(tt.p); got != tt.want {
			t.Errorf("FormatProgress(%+v) = %q, want %q", tt.p, got, tt.want)
		}
	}
}
