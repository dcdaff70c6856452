package node_test

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestAgeGrows proves Age is computed per RFC 9111 §4.2.3 on every hit: it
// starts from the origin's Age and grows with time in cache.
func TestAgeGrows(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "h1", nil)
	path := "/obj/age-grows?age=5"
	if _, _, err := h.do("GET", path, nil); err != nil {
		t.Fatal(err)
	}
	resp, _, err := h.do("GET", path, nil)
	if err != nil {
		t.Fatal(err)
	}
	first, _ := strconv.Atoi(resp.Header.Get("Age"))
	if first < 5 {
		t.Fatalf("Age = %q on the first hit, want at least the origin's 5", resp.Header.Get("Age"))
	}
	time.Sleep(1100 * time.Millisecond) // Age has whole-second resolution
	resp, _, err = h.do("GET", path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if later, _ := strconv.Atoi(resp.Header.Get("Age")); later <= first {
		t.Errorf("Age went from %d to %d a second later, want it to grow", first, later)
	}
}

// TestAbortedBodyNotStored proves that a response whose origin connection
// dies mid-body reaches the client as an aborted transfer, not a short 200,
// and is never stored.
func TestAbortedBodyNotStored(t *testing.T) {
	t.Parallel()
	for _, proto := range protocols {
		t.Run(proto, func(t *testing.T) {
			h := newHarness(t, proto, nil)
			path := "/obj/aborted?size=100000&abort=5000"
			for i := range 2 {
				resp, body, err := h.do("GET", path, nil)
				if err == nil {
					t.Fatalf("request %d: read %d bytes with status %d and no error, want an aborted transfer", i, len(body), resp.StatusCode)
				}
			}
			if got := h.originCount("/obj/aborted"); got != 2 {
				t.Errorf("origin saw %d requests, want 2: the truncated body must not be served from cache", got)
			}
			if m := h.adminGet("/metrics"); !strings.Contains(m, `cdnnode_origin_errors_total{kind="body",peer="http://`+h.origin.Listener.Addr().String()+`",pool="demo"} 2`) {
				t.Errorf("the two failed bodies are not counted in /metrics")
			}
		})
	}
}

// TestOriginFailures proves the error statuses: connect failure 502,
// timeout 504, each with a short body and a Cache-Status detail.
func TestOriginFailures(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "h1", nil)
	resp, body, err := h.do("GET", "/obj/slow?delay=3s", nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 504 || !strings.Contains(resp.Header.Get("Cache-Status"), "detail=origin-timeout") || len(body) == 0 {
		t.Errorf("slow origin: %d %q %q, want 504 with detail=origin-timeout and a body", resp.StatusCode, resp.Header.Get("Cache-Status"), body)
	}
	h.origin.Close()
	resp, body, err = h.do("GET", "/obj/down", nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 502 || !strings.Contains(resp.Header.Get("Cache-Status"), "detail=origin-connect") || len(body) == 0 {
		t.Errorf("origin down: %d %q %q, want 502 with detail=origin-connect and a body", resp.StatusCode, resp.Header.Get("Cache-Status"), body)
	}
}

// TestAdmin proves the admin listener's endpoints and that metrics follow
// the traffic.
func TestAdmin(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "h1", nil)
	for range 3 {
		if _, _, err := h.do("GET", "/obj/metered", nil); err != nil {
			t.Fatal(err)
		}
	}
	m := h.adminGet("/metrics")
	for _, want := range []string{
		`cdnnode_requests_total{cache="hit",code="200"} 2`,
		`cdnnode_requests_total{cache="miss",code="200"} 1`,
		`cdnnode_origin_requests_total{peer="http://` + h.origin.Listener.Addr().String() + `",pool="demo"} 1`,
		`cdnnode_origin_connections_total{peer="http://` + h.origin.Listener.Addr().String() + `",pool="demo",reused="false"} 1`,
		`cdnnode_origin_peer_up{peer="http://` + h.origin.Listener.Addr().String() + `",pool="demo"} 1`,
		`cdnnode_request_duration_seconds_bucket{cache="hit",le="+Inf"} 2`,
		`cdnnode_cache_evictions_total{shard="1"} 0`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	for name, want := range map[string]float64{"cdnnode_cache_objects": 1, "cdnnode_cache_hits_total": 2, "cdnnode_cache_misses_total": 1} {
		if got := sumMetric(m, name); got != want {
			t.Errorf("%s summed over shards or workers = %v, want %v", name, got, want)
		}
	}
	if got := h.adminGet("/healthz"); got != "ok\n" {
		t.Errorf("/healthz = %q", got)
	}
	if got := h.adminGet("/debug/pprof/"); !strings.Contains(got, "goroutine") {
		t.Errorf("/debug/pprof/ does not list profiles")
	}
}

// TestWorkersShareTraffic proves that with 2 workers the kernel spreads
// connections over both workers' reuseport listeners.
func TestWorkersShareTraffic(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "h1", nil)
	for range 40 {
		h.client.CloseIdleConnections() // a new connection each time
		if _, _, err := h.do("GET", "/obj/spread", nil); err != nil {
			t.Fatal(err)
		}
	}
	m := h.adminGet("/metrics")
	for _, w := range []string{"0", "1"} {
		name := `cdnnode_worker_connections_accepted_total{worker="` + w + `"}`
		if got := sumMetric(m, name); got == 0 {
			t.Errorf("worker %s accepted no connection of 40", w)
		}
	}
	if got := sumMetric(m, "cdnnode_worker_connections_accepted_total"); got != 40 {
		t.Errorf("connections accepted = %v, want 40", got)
	}
}

// sumMetric adds every sample in a Prometheus text exposition whose series
// starts with name (a bare name sums over all its label sets).
func sumMetric(exposition, name string) float64 {
	var sum float64
	for line := range strings.SplitSeq(exposition, "\n") {
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		if rest == "" || (rest[0] != ' ' && rest[0] != '{' && !strings.HasSuffix(name, "}")) {
			continue
		}
		fields := strings.Fields(line)
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		if err == nil {
			sum += v
		}
	}
	return sum
}

// TestRequestPolicy covers requests the node refuses or routes before the
// cache is consulted.
func TestRequestPolicy(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "h1", nil)
	tests := []struct {
		name   string
		header map[string]string
		status int
	}{
		{"Connection nominating Host", map[string]string{"Connection": "close, Host"}, 400},
		{"Connection nominating X-Forwarded-For", map[string]string{"Connection": "X-Forwarded-For"}, 400},
		{"ten nominations", map[string]string{"Connection": "a,b,c,d,e,f,g,h,i,j"}, 400},
		{"harmless nomination", map[string]string{"Connection": "X-Custom", "X-Custom": "1"}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, _, err := h.do("GET", "/obj/request-policy", tt.header)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.status)
			}
		})
	}
}
