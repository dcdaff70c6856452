package demoorigin

import (
	"encoding/json"
	"maps"
	"net/http"
	"strconv"
	"sync"
	"testing"
)

func TestRoutes(t *testing.T) {
	tests := []struct {
		name, method, target string
		want                 int
		wantLocation         string
	}{
		{name: "root", method: "GET", target: "/", want: 404},
		{name: "obj without name", method: "GET", target: "/obj/", want: 404},
		{name: "other path", method: "GET", target: "/static/a", want: 404},
		{name: "unknown admin path", method: "GET", target: "/__origin/nope", want: 404},
		{name: "post", method: "POST", target: "/obj/a", want: 204},
		{name: "put with location", method: "PUT", target: "/obj/a?location=/obj/b", want: 204, wantLocation: "/obj/b"},
		{name: "delete", method: "DELETE", target: "/obj/a", want: 204},
		{name: "patch", method: "PATCH", target: "/obj/a", want: 204},
		{name: "options", method: "OPTIONS", target: "/obj/a", want: 405},
		{name: "stats by post", method: "POST", target: "/__origin/stats", want: 405},
		{name: "reset by get", method: "GET", target: "/__origin/reset", want: 405},
	}
	_, ts := newOrigin(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, _ := fetch(t, ts, tt.method, tt.target, nil)
			if got := resp.StatusCode; got != tt.want {
				t.Errorf("%s %s: status %d, want %d", tt.method, tt.target, got, tt.want)
			}
			if got := resp.Header.Get("Location"); got != tt.wantLocation {
				t.Errorf("%s %s: Location %q, want %q", tt.method, tt.target, got, tt.wantLocation)
			}
		})
	}
}

// statsOf fetches and decodes /__origin/stats.
func statsOf(t *testing.T, ts interface{ Client() *http.Client }, url string) Stats {
	t.Helper()
	resp, err := ts.Client().Get(url + "/__origin/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if got, want := resp.Header.Get("Content-Type"), "application/json"; got != want {
		t.Errorf("stats Content-Type = %q, want %q", got, want)
	}
	var s Stats
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatalf("stats: %v", err)
	}
	return s
}

func TestStatsAndReset(t *testing.T) {
	s, ts := newOrigin(t)
	get(t, ts, "/obj/a")
	get(t, ts, "/obj/a?size=1")
	fetch(t, ts, http.MethodHead, "/obj/b", nil)
	get(t, ts, "/nope")
	resp, _ := get(t, ts, "/obj/a?size=bad")
	if got, want := resp.Header.Get("X-Origin-Request"), "5"; got != want {
		t.Errorf("fifth request: X-Origin-Request %q, want %q", got, want)
	}
	want := Stats{Requests: 5, ByPath: map[string]int64{"/obj/a": 3, "/obj/b": 1, "/nope": 1}}
	got := statsOf(t, ts, ts.URL)
	if got.Requests != want.Requests || !maps.Equal(got.ByPath, want.ByPath) {
		t.Errorf("stats = %+v, want %+v", got, want)
	}
	if direct := s.Stats(); direct.Requests != 5 || !maps.Equal(direct.ByPath, want.ByPath) {
		t.Errorf("Stats() = %+v, want %+v", direct, want)
	}

	resp, _ = fetch(t, ts, http.MethodPost, "/__origin/reset", nil)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("reset: status %d, want 204", resp.StatusCode)
	}
	if got := statsOf(t, ts, ts.URL); got.Requests != 0 || len(got.ByPath) != 0 || got.ByPath == nil {
		t.Errorf("stats after reset = %+v, want zero with an empty map", got)
	}
	resp, _ = get(t, ts, "/obj/c")
	if got, want := resp.Header.Get("X-Origin-Request"), "6"; got != want {
		t.Errorf("first request after reset: X-Origin-Request %q, want %q (never reset)", got, want)
	}
	if got := s.Stats(); got.Requests != 1 || got.ByPath["/obj/c"] != 1 {
		t.Errorf("Stats() after reset and one request = %+v", got)
	}
}

func TestStatsConcurrent(t *testing.T) {
	s, ts := newOrigin(t)
	const workers, each = 8, 10
	var wg sync.WaitGroup
	seqs := make(chan int, workers*each)
	for w := range workers {
		wg.Go(func() {
			for range each {
				resp, _ := get(t, ts, "/obj/w"+strconv.Itoa(w)+"?size=16")
				n, _ := strconv.Atoi(resp.Header.Get("X-Origin-Request"))
				seqs <- n
			}
		})
	}
	wg.Wait()
	close(seqs)
	seen := map[int]bool{}
	for n := range seqs {
		if n < 1 || n > workers*each || seen[n] {
			t.Errorf("X-Origin-Request %d repeated or out of range", n)
		}
		seen[n] = true
	}
	st := s.Stats()
	if st.Requests != workers*each {
		t.Errorf("Requests = %d, want %d", st.Requests, workers*each)
	}
	for w := range workers {
		if got := st.ByPath["/obj/w"+strconv.Itoa(w)]; got != each {
			t.Errorf("ByPath[/obj/w%d] = %d, want %d", w, got, each)
		}
	}
}

func TestStatsBounded(t *testing.T) {
	s := New(nil)
	for i := range maxPaths + 10 {
		s.record("/p" + strconv.Itoa(i))
	}
	st := s.Stats()
	if got, want := len(st.ByPath), maxPaths+1; got != want {
		t.Errorf("len(ByPath) = %d, want %d", got, want)
	}
	if got, want := st.ByPath[otherPath], int64(10); got != want {
		t.Errorf("ByPath[%q] = %d, want %d", otherPath, got, want)
	}
	s.record("/p0") // a path already counted keeps its own entry
	if got := s.Stats().ByPath["/p0"]; got != 2 {
		t.Errorf("ByPath[/p0] = %d, want 2", got)
	}
}
