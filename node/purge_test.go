package node_test

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cdnnode/cdnnode/internal/testkit"
	"github.com/cdnnode/cdnnode/keys"
	"github.com/cdnnode/cdnnode/purge"
)

// purgeOK sends a PURGE and decodes its result, failing on a transport
// error or an unexpected status.
func purgeOK(t *testing.T, h *harness, path string, hdr map[string]string, wantStatus int) purge.Result {
	t.Helper()
	resp, body, err := h.do("PURGE", path, hdr)
	if err != nil {
		t.Fatalf("PURGE %s: %v", path, err)
	}
	if resp.StatusCode != wantStatus {
		t.Fatalf("PURGE %s: status %d (%s), want %d", path, resp.StatusCode, body, wantStatus)
	}
	var res purge.Result
	if err := json.Unmarshal(body, &res); err != nil {
		t.Fatalf("PURGE %s: body %q: %v", path, body, err)
	}
	return res
}

// cacheOf is the cache part of a GET's Cache-Status.
func cacheOf(t *testing.T, h *harness, path string, hdr map[string]string) string {
	t.Helper()
	resp, _ := mustGet(t, h, path, hdr)
	return resp.Header.Get("Cache-Status")
}

// TestPurgeExactAllVariantsBothTiers proves that an exact purge removes
// every Vary variant of a URL, in memory and on disk (a small object and
// one too large for memory), never reaching the origin, and that the
// next request is a miss.
func TestPurgeExactAllVariantsBothTiers(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "h1", nil, "[cache]", `max_memory_object = "64KiB"`, "[cache.disk]", "path = "+strconv.Quote(t.TempDir()))
	const vary, big = "/obj/v?vary=Accept-Language&cc=max-age%3D600", "/obj/big?size=300000&cc=max-age%3D600"
	for _, lang := range []string{"en", "fr"} {
		stored(t, h, vary, map[string]string{"Accept-Language": lang})
	}
	stored(t, h, big, nil)
	if cs := cacheOf(t, h, vary, map[string]string{"Accept-Language": "fr"}); !strings.HasPrefix(cs, "cdnnode; hit") {
		t.Fatalf("before the purge: %q", cs)
	}
	for _, path := range []string{vary, big} {
		before := h.demo.Stats().Requests
		if res := purgeOK(t, h, path, nil, http.StatusOK); res.Kind != purge.Exact || res.Purged != 1 {
			t.Errorf("PURGE %s = %+v, want exact, purged 1", path, res)
		}
		if h.demo.Stats().Requests != before {
			t.Errorf("PURGE %s reached the origin", path)
		}
	}
	for _, lang := range []string{"en", "fr"} {
		// The first refetch stores a new Vary index, so the second is a
		// vary-miss: neither is a hit.
		if cs := cacheOf(t, h, vary, map[string]string{"Accept-Language": lang}); !hasAll(cs, "fwd=", "stored") {
			t.Errorf("%s variant after the purge: %q, want a miss", lang, cs)
		}
	}
	if cs := cacheOf(t, h, big, nil); !strings.Contains(cs, "fwd=miss") {
		t.Errorf("disk object after the purge: %q, want a miss", cs)
	}
	purgeOK(t, h, "/obj/never-cached", nil, http.StatusNotFound)
	if m := h.adminGet("/metrics"); !hasAll(m, `cdnnode_purges_total{kind="exact",outcome="purged"} 2`, `cdnnode_purges_total{kind="exact",outcome="not-found"} 1`) {
		t.Errorf("/metrics lacks the purges")
	}
}

// TestPurgeSoftServesStaleAndRefetchesOnce proves that a soft purge marks
// the object stale: inside its stale-while-revalidate window it is still
// served at once, and one background fetch replaces it.
func TestPurgeSoftServesStaleAndRefetchesOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "h1", nil)
	const path = "/obj/soft?cc=max-age%3D600%2C%20stale-while-revalidate%3D600"
	stored(t, h, path, nil)
	purgeOK(t, h, path, map[string]string{purge.ModeField: "soft"}, http.StatusOK)
	staleThenRefetched(t, h, path, nil)
}

// staleThenRefetched checks an object of the demo origin, filled once and
// then soft-purged inside its stale-while-revalidate window: it is served
// stale at once, one background fetch replaces it, and the origin sees no
// other request for it.
func staleThenRefetched(t *testing.T, h *harness, path string, hdr map[string]string) {
	t.Helper()
	resp, body := mustGet(t, h, path, hdr)
	if cs := resp.Header.Get("Cache-Status"); !hasAll(cs, "cdnnode; hit", "detail=stale-while-revalidate") || body != string(h.originBody(path)) {
		t.Fatalf("%s after a soft purge: %q, want the stale object", path, cs)
	}
	name, _, _ := strings.Cut(path, "?")
	testkit.WaitFor(t, "the background refetch of "+name, func() bool { return h.originCount(name) == 2 })
	testkit.WaitFor(t, "the refreshed "+name, func() bool {
		cs := cacheOf(t, h, path, hdr)
		return strings.HasPrefix(cs, "cdnnode; hit") && !strings.Contains(cs, "detail")
	})
	if got := h.originCount(name); got != 2 {
		t.Errorf("origin requests for %s = %d, want 2: the fill and one refetch", name, got)
	}
}

// TestPurgePrefixAllAndTags proves prefix, whole-site and surrogate-key
// purges, the last over objects spread across the shards.
func TestPurgePrefixAllAndTags(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "h1", nil)
	const cc = "?cc=max-age%3D600"
	paths := []string{"/obj/img/a" + cc, "/obj/img/b" + cc, "/obj/css/c" + cc}
	for _, p := range paths {
		stored(t, h, p, nil)
	}
	purgeOK(t, h, "/obj/img/*", nil, http.StatusOK)
	for i, p := range paths {
		want := "fwd=miss"
		if i == 2 {
			want = "cdnnode; hit"
		}
		if cs := cacheOf(t, h, p, nil); !strings.Contains(cs, want) {
			t.Errorf("%s after the prefix purge: %q, want %q", p, cs, want)
		}
	}
	purgeOK(t, h, "/*", nil, http.StatusOK)
	if cs := cacheOf(t, h, paths[2], nil); !strings.Contains(cs, "fwd=miss") {
		t.Errorf("after purging the site: %q, want a miss", cs)
	}

	// One host, whatever the port, so that the shards the objects fall
	// in are the same on every run.
	const tagHost = "tags.example"
	host := map[string]string{"Host": tagHost}
	var tagged []string
	perShard := make([]int, harnessWorkers)
	for i := range 20 {
		p := "/obj/tagged-" + strconv.Itoa(i) + cc + "&tags=red," + strconv.Itoa(i)
		tagged = append(tagged, p)
		stored(t, h, p, host)
		path, query, _ := strings.Cut(p, "?")
		perShard[keys.New("http", tagHost, path, query, keys.Options{}).Shard(harnessWorkers)]++
	}
	if slices.Contains(perShard, 0) {
		t.Fatalf("tagged objects per shard = %v, want some in every shard", perShard)
	}
	untagged := "/obj/untagged" + cc + "&tags=blue"
	stored(t, h, untagged, host)
	checkTagPurge(t, h, tagHost, "red green", tagged, untagged)
}

// checkTagPurge sends h a tag purge of tags (a TagField value) for host,
// where every path of tagged is stored carrying one of them and untagged is
// stored carrying none: the answer must count len(tagged) objects, each of
// them must then miss, and untagged must still be a hit.
func checkTagPurge(t *testing.T, h *harness, host, tags string, tagged []string, untagged string) {
	t.Helper()
	hdr := map[string]string{"Host": host}
	if res := purgeOK(t, h, "/", map[string]string{"Host": host, purge.TagField: tags}, http.StatusOK); res.Kind != purge.Tag || res.Purged != len(tagged) {
		t.Errorf("tag purge of %q = %+v, want a tag purge counting %d objects", tags, res, len(tagged))
	}
	for _, p := range tagged {
		if cs := cacheOf(t, h, p, hdr); !strings.Contains(cs, "fwd=miss") {
			t.Errorf("%s after the tag purge: %q, want a miss", p, cs)
		}
	}
	if cs := cacheOf(t, h, untagged, hdr); !strings.HasPrefix(cs, "cdnnode; hit") {
		t.Errorf("%s, without the tag: %q, want a hit", untagged, cs)
	}
}

// TestPurgeDuringFill proves DESIGN invariant 2 for a fill in flight: the
// fill began before the purge, so what it stores is never served after.
func TestPurgeDuringFill(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "h1", nil)
	const path = "/obj/inflight?delay=300ms&cc=max-age%3D600"
	done := make(chan struct{})
	go func() {
		defer close(done)
		if _, _, err := h.do(http.MethodGet, path, nil); err != nil {
			t.Errorf("the slow fill: %v", err)
		}
	}()
	testkit.WaitFor(t, "the fill to reach the origin", func() bool { return h.originCount("/obj/inflight") == 1 })
	purgeOK(t, h, path, nil, http.StatusNotFound) // nothing stored yet
	<-done
	if cs := cacheOf(t, h, path, nil); !strings.Contains(cs, "fwd=miss") {
		t.Errorf("after the purge, the in-flight fill's object was served: %q", cs)
	}
}

// TestPurgeRefused proves that a stranger's PURGE is refused with 401 or
// 403, purges nothing and never reaches the origin, and that the token
// works from any address.
func TestPurgeRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "h1", nil, "[purge]", "allow = []", `token = "s3cret-token"`)
	const path = "/obj/guarded?cc=max-age%3D600"
	stored(t, h, path, nil)
	for _, tc := range []struct {
		auth string
		want int
	}{
		{"", http.StatusUnauthorized},
		{"Bearer wrong", http.StatusForbidden},
	} {
		resp, body, err := h.do("PURGE", path, map[string]string{"Authorization": tc.auth})
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != tc.want || len(body) == 0 {
			t.Errorf("PURGE with %q: %d %q, want %d with a reason", tc.auth, resp.StatusCode, body, tc.want)
		}
	}
	if cs := cacheOf(t, h, path, nil); !strings.HasPrefix(cs, "cdnnode; hit") {
		t.Errorf("after refused purges: %q, want a hit", cs)
	}
	if got := h.originCount("/obj/guarded"); got != 1 {
		t.Errorf("origin requests = %d, want 1: a refused PURGE is never forwarded", got)
	}
	purgeOK(t, h, path, map[string]string{"Authorization": "Bearer s3cret-token"}, http.StatusOK)
	m := h.adminGet("/metrics")
	if got := sumMetric(m, `cdnnode_purges_total{kind="unknown",outcome="refused"}`); got != 2 {
		t.Errorf("refused purges counted = %v, want 2", got)
	}
	// Only a purge that was applied is timed.
	if got := sumMetric(m, "cdnnode_purge_duration_seconds_count"); got != 1 {
		t.Errorf("purges timed = %v, want 1", got)
	}
}

// TestPurgeSurvivesRestart proves that purged objects stay purged when
// the node restarts over the same disk tier, while others are still
// served from it: the ban is saved before the purge answers. The
// requests name one host throughout: the listeners' ports change.
func TestPurgeSurvivesRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	extra := []string{"[cache.disk]", "path = " + strconv.Quote(dir)}
	h := newHarness(t, "h1", nil, extra...)
	host := map[string]string{"Host": "cdn.example"}
	const path, kept = "/obj/restart/x?cc=max-age%3D600", "/obj/kept?cc=max-age%3D600"
	stored(t, h, path, host)
	stored(t, h, kept, host)
	purgeOK(t, h, "/obj/restart/*", host, http.StatusOK)
	h.restart() // a graceful stop applies the queued disk writes first
	if cs := cacheOf(t, h, path, host); !strings.Contains(cs, "fwd=miss") {
		t.Errorf("after a restart: %q, want the purged object to stay purged", cs)
	}
	if cs := cacheOf(t, h, kept, host); !strings.HasPrefix(cs, "cdnnode; hit") {
		t.Errorf("after a restart, an object no purge named: %q, want a hit from disk", cs)
	}
}

// TestPurgeFanout proves that a purge accepted by one node is applied by
// its peers too, and that a peer that is down is reported: 207, with each
// peer's result.
func TestPurgeFanout(t *testing.T) {
	t.Parallel()
	b := newHarness(t, "h1", nil)
	down := newHarness(t, "h1", nil)
	downAdmin := "http://" + down.node.AdminAddr().String()
	down.stop()
	peers := `peers = [` + strconv.Quote("http://"+b.node.AdminAddr().String()) + `, ` + strconv.Quote(downAdmin) + `]`
	a := newHarness(t, "h1", nil, "[purge]", peers, `peer_timeout = "1s"`, "peer_retries = 1")
	const path = "/obj/fleet?cc=max-age%3D600"
	host := map[string]string{"Host": "fleet.example"} // the fleet's nodes serve the same names
	stored(t, a, path, host)
	stored(t, b, path, host)
	res := purgeOK(t, a, path, host, http.StatusMultiStatus)
	if len(res.Peers) != 2 || res.Peers[0].Error != "" || res.Peers[0].Purged != 1 || res.Peers[1].Error == "" {
		t.Fatalf("peers = %+v, want the first purged and the second failed", res.Peers)
	}
	failures := func() float64 { return sumMetric(a.adminGet("/metrics"), "cdnnode_purge_fanout_failures_total") }
	// One failure for the peer that is down, however many attempts it took.
	if got := failures(); got != 1 {
		t.Errorf("fan-out failures = %v after one purge, want 1", got)
	}
	// Again: nothing is left to purge, which is no failure of the peer.
	res = purgeOK(t, a, path, host, http.StatusMultiStatus)
	if res.Purged != 0 || res.Peers[0].Error != "" || res.Peers[0].Status != http.StatusNotFound {
		t.Errorf("second purge: %+v, want nothing purged and the first peer's 404 counted as done", res)
	}
	if got := failures(); got != 2 {
		t.Errorf("fan-out failures = %v after two purges, want 2", got)
	}
	for name, h := range map[string]*harness{"a": a, "b": b} {
		if cs := cacheOf(t, h, path, host); !strings.Contains(cs, "fwd=miss") {
			t.Errorf("node %s after the fleet purge: %q, want a miss", name, cs)
		}
	}
}

// stored fetches path and waits until it is served from cache: a fill
// commits just after its client has the whole body.
func stored(t *testing.T, h *harness, path string, hdr map[string]string) {
	t.Helper()
	mustGet(t, h, path, hdr)
	testkit.WaitFor(t, path+" to be stored", func() bool { return strings.HasPrefix(cacheOf(t, h, path, hdr), "cdnnode; hit") })
}

// bansLeft is the node's cdnnode_purge_bans gauge.
func bansLeft(h *harness) float64 {
	return sumMetric(h.adminGet("/metrics"), "cdnnode_purge_bans")
}

// TestPurgeSweepExpiresBans proves the purge sweeper: it removes what
// prefix and tag purges name without waiting for requests, keeps a
// soft-purged object stale, and then expires the bans, with every purge
// still holding afterwards and across a restart; and that a tag purge
// counts the objects it names.
func TestPurgeSweepExpiresBans(t *testing.T) {
	t.Parallel()
	extra := []string{"[cache.disk]", "path = " + strconv.Quote(t.TempDir())}
	h := newHarness(t, "h1", nil, extra...)
	host := map[string]string{"Host": "cdn.example"} // the ports change at the restart
	const cc = "?cc=max-age%3D600%2C%20stale-while-revalidate%3D600"
	var gone []string
	for i := range 6 {
		p := "/obj/sweep/tagged-" + strconv.Itoa(i) + cc + "&tags=red"
		if i%2 == 1 {
			p = "/obj/sweep/img/" + strconv.Itoa(i) + cc
		}
		gone = append(gone, p)
		stored(t, h, p, host)
	}
	const soft, kept = "/obj/sweep/soft" + cc, "/obj/sweep/kept" + cc + "&tags=blue"
	stored(t, h, soft, host)
	stored(t, h, kept, host)

	if res := purgeOK(t, h, "/", map[string]string{"Host": "cdn.example", purge.TagField: "red"}, http.StatusOK); res.Purged != 3 {
		t.Errorf("tag purge = %+v, want 3 objects counted", res)
	}
	purgeOK(t, h, "/obj/sweep/img/*", host, http.StatusOK)
	purgeOK(t, h, soft, map[string]string{"Host": "cdn.example", purge.ModeField: "soft"}, http.StatusOK)
	testkit.WaitFor(t, "the bans to expire", func() bool { return bansLeft(h) == 0 })
	// A record whose delete is still queued when the sweeper looks again
	// is deleted, and counted, again.
	if n := sumMetric(h.adminGet("/metrics"), `cdnnode_purged_objects_total{when="sweep"}`); n < float64(len(gone)) {
		t.Errorf("deletions by the sweeper = %v, want at least %d", n, len(gone))
	}

	check := func(when string) {
		t.Helper()
		for _, p := range gone {
			if cs := cacheOf(t, h, p, host); !strings.Contains(cs, "fwd=miss") {
				t.Errorf("%s, %s: %q, want a miss", when, p, cs)
			}
		}
		if cs := cacheOf(t, h, kept, host); !strings.HasPrefix(cs, "cdnnode; hit") {
			t.Errorf("%s, an object no purge named: %q, want a hit", when, cs)
		}
	}
	if cs := cacheOf(t, h, soft, host); !hasAll(cs, "cdnnode; hit", "detail=stale-while-revalidate") {
		t.Errorf("the soft-purged object after its ban expired: %q, want it served stale", cs)
	}
	check("after the bans expired")
	gone = gone[:0]
	for i := range 6 {
		p := "/obj/sweep/again-" + strconv.Itoa(i) + cc + "&tags=red"
		gone = append(gone, p)
		mustGet(t, h, p, host)
	}
	purgeOK(t, h, "/", map[string]string{"Host": "cdn.example", purge.TagField: "red"}, http.StatusOK)
	h.restart()
	testkit.WaitFor(t, "the bans to expire after the restart", func() bool { return bansLeft(h) == 0 })
	check("after a restart")
}

// TestPurgeCacheTag proves that tags also come from an origin's Cache-Tag
// field (comma-separated), are never shown to clients, and purge.
func TestPurgeCacheTag(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "h1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=600")
		w.Header().Set("Cache-Tag", "product-7, listing")
		w.Write([]byte("tagged " + r.URL.Path))
	}))
	for _, p := range []string{"/a", "/b"} {
		resp, _ := mustGet(t, h, p, nil)
		if resp.Header.Get("Cache-Tag") != "" || resp.Header.Get("Surrogate-Key") != "" {
			t.Errorf("GET %s showed the client its tags: %v", p, resp.Header)
		}
		stored(t, h, p, nil)
	}
	if res := purgeOK(t, h, "/", map[string]string{purge.TagField: "listing"}, http.StatusOK); res.Purged != 2 {
		t.Errorf("purge of a Cache-Tag tag = %+v, want 2 objects counted", res)
	}
	for _, p := range []string{"/a", "/b"} {
		if cs := cacheOf(t, h, p, nil); !strings.Contains(cs, "fwd=miss") {
			t.Errorf("%s after its tag was purged: %q, want a miss", p, cs)
		}
	}
}

// harnessWorkers is the number of workers, so of cache shards, of a
// harness's node (newHarness).
const harnessWorkers = 2

// adminPurge sends body to the admin listener's POST /purge from the
// local address from, such as "127.0.0.2", with the fields hdr, and
// returns the status and the answer.
func adminPurge(t *testing.T, h *harness, from, body string, hdr map[string]string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+h.node.AdminAddr().String()+"/purge", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c := &http.Client{Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("POST /purge %s from %s: %v", body, from, err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("POST /purge %s: reading the answer: %v", body, err)
	}
	return resp.StatusCode, answer
}

// TestPurgeAdminAPI proves the admin listener's POST /purge end to end:
// strangers are refused (401 without a token, 403 with a wrong one) and
// malformed bodies get 400, all counted and none purging anything; an
// allowed address needs no token, any other the token; and a soft tag
// purge leaves the objects served stale within stale-while-revalidate,
// each refetched once.
func TestPurgeAdminAPI(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "h1", nil, "[purge]", `allow = ["127.0.0.2"]`, `token = "s3cret-token"`)
	const cc = "?cc=max-age%3D600%2C%20stale-while-revalidate%3D600"
	var tagged []string
	for i := range 4 {
		p := "/obj/api/tagged-" + strconv.Itoa(i) + cc + "&tags=api"
		tagged = append(tagged, p)
		stored(t, h, p, nil)
	}
	const other = "/obj/api/other" + cc + "&tags=other"
	stored(t, h, other, nil)
	fresh := func(when string) {
		t.Helper()
		for _, p := range append(slices.Clone(tagged), other) {
			if cs := cacheOf(t, h, p, nil); !strings.HasPrefix(cs, "cdnnode; hit") || strings.Contains(cs, "detail") {
				t.Errorf("%s, %s: %q, want a fresh hit", when, p, cs)
			}
		}
	}

	const soft = `{"tags":["api"],"soft":true}`
	refused := []struct {
		name, from, auth string
		want             int
	}{
		{"stranger without a token", "127.0.0.1", "", http.StatusUnauthorized},
		{"stranger with another scheme", "127.0.0.1", "Basic czNjcmV0LXRva2Vu", http.StatusUnauthorized},
		{"stranger with a wrong token", "127.0.0.1", "Bearer wrong", http.StatusForbidden},
	}
	for _, tt := range refused {
		status, answer := adminPurge(t, h, tt.from, soft, map[string]string{"Authorization": tt.auth})
		if status != tt.want || len(answer) == 0 {
			t.Errorf("%s: %d %q, want %d with a reason", tt.name, status, answer, tt.want)
		}
	}
	malformed := []struct{ name, body string }{
		{"empty", ""},
		{"cut short", `{"tags":["api"]`},
		{"unknown field", `{"tags":["api"],"hard":true}`},
		{"two targets", `{"tags":["api"],"all":"example.com"}`},
		{"no target", `{"soft":true}`},
		{"tag with a space", `{"tags":["api other"]}`},
	}
	for _, tt := range malformed {
		status, answer := adminPurge(t, h, "127.0.0.2", tt.body, nil)
		var e struct{ Error string }
		if status != http.StatusBadRequest || json.Unmarshal(answer, &e) != nil || e.Error == "" {
			t.Errorf("%s body %q: %d %q, want 400 with an error", tt.name, tt.body, status, answer)
		}
	}
	fresh("after the refused and malformed purges")
	m := h.adminGet("/metrics")
	if got := sumMetric(m, `cdnnode_purges_total{kind="unknown",outcome="refused"}`); got != float64(len(refused)) {
		t.Errorf("refused purges counted = %v, want %d", got, len(refused))
	}
	if got := sumMetric(m, `cdnnode_purges_total{kind="unknown",outcome="invalid"}`); got != float64(len(malformed)) {
		t.Errorf("invalid purges counted = %v, want %d", got, len(malformed))
	}

	// An allowed address needs no token.
	status, answer := adminPurge(t, h, "127.0.0.2", `{"tags":["absent"]}`, nil)
	if status != http.StatusOK {
		t.Fatalf("tag purge from an allowed address: %d %q, want 200", status, answer)
	}
	fresh("after a purge of a tag no object carries")

	status, answer = adminPurge(t, h, "127.0.0.1", soft, map[string]string{"Authorization": "Bearer s3cret-token"})
	var res purge.Result
	if status != http.StatusOK || json.Unmarshal(answer, &res) != nil {
		t.Fatalf("soft tag purge with the token: %d %q, want 200 with a result", status, answer)
	}
	if want := (purge.Result{Kind: purge.Tag, Soft: true, Purged: len(tagged)}); !reflect.DeepEqual(res, want) {
		t.Errorf("soft tag purge = %+v, want %+v", res, want)
	}
	for _, p := range tagged {
		staleThenRefetched(t, h, p, nil)
	}
	if cs := cacheOf(t, h, other, nil); !strings.HasPrefix(cs, "cdnnode; hit") || strings.Contains(cs, "detail") || h.originCount("/obj/api/other") != 1 {
		t.Errorf("an object without the tag after the soft purge: %q, want a fresh hit", cs)
	}
}

// TestPurgeTagAfterRestart proves a tag purge of objects a restarted node
// knows only from its disk tier, some of them too large for memory ever:
// the answer counts them all and the next requests are misses.
func TestPurgeTagAfterRestart(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "h1", nil, "[cache]", `max_memory_object = "64KiB"`, "[cache.disk]", "path = "+strconv.Quote(t.TempDir()))
	host := map[string]string{"Host": "cdn.example"} // the ports change at the restart
	const cc = "&cc=max-age%3D600"
	var tagged []string
	for i := range 3 {
		n := strconv.Itoa(i)
		tagged = append(tagged, "/obj/rt/small-"+n+"?tags=old"+cc, "/obj/rt/big-"+n+"?size=100000&tags=old"+cc)
	}
	const kept = "/obj/rt/kept?tags=new" + cc
	for _, p := range append(slices.Clone(tagged), kept) {
		stored(t, h, p, host)
	}
	h.restart() // a graceful stop applies the queued disk writes first
	// The disk tier's index, and with it the surrogate key index, is
	// rebuilt in the background: a purge counts what it has indexed.
	testkit.WaitFor(t, "the disk tier's rebuild", func() bool {
		return sumMetric(h.adminGet("/metrics"), "cdnnode_disk_objects") == float64(len(tagged)+1)
	})
	checkTagPurge(t, h, "cdn.example", "old", tagged, kept)
}

// TestPurgeSoftTag proves a soft surrogate-key purge on the traffic
// listener: it counts the objects carrying the key, across the shards,
// each then served stale within stale-while-revalidate and refetched once,
// while others stay fresh.
func TestPurgeSoftTag(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "h1", nil)
	const cc = "?cc=max-age%3D600%2C%20stale-while-revalidate%3D600"
	var tagged []string
	for i := range 6 {
		p := "/obj/soft-tag/" + strconv.Itoa(i) + cc + "&tags=red,n" + strconv.Itoa(i)
		tagged = append(tagged, p)
		stored(t, h, p, nil)
	}
	const other = "/obj/soft-tag/other" + cc + "&tags=blue"
	stored(t, h, other, nil)
	res := purgeOK(t, h, "/", map[string]string{purge.TagField: "red", purge.ModeField: "soft"}, http.StatusOK)
	if want := (purge.Result{Kind: purge.Tag, Soft: true, Purged: len(tagged)}); !reflect.DeepEqual(res, want) {
		t.Errorf("soft tag purge = %+v, want %+v", res, want)
	}
	for _, p := range tagged {
		staleThenRefetched(t, h, p, nil)
	}
	if cs := cacheOf(t, h, other, nil); !strings.HasPrefix(cs, "cdnnode; hit") || strings.Contains(cs, "detail") {
		t.Errorf("an object without the tag: %q, want a fresh hit", cs)
	}
}

// TestPurgeSoftStaleIfError proves that a soft-purged object still stands
// in for an origin that fails or is down, within its stale-if-error
// window, whether the purge named its URL or its surrogate key.
func TestPurgeSoftStaleIfError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		purge string            // the PURGE's target
		hdr   map[string]string // its fields
		fail  string            // "503" or "down"
	}{
		{"exact, origin 5xx", "/sie", map[string]string{purge.ModeField: "soft"}, "503"},
		{"exact, origin down", "/sie", map[string]string{purge.ModeField: "soft"}, "down"},
		{"tag, origin 5xx", "/", map[string]string{purge.TagField: "sie", purge.ModeField: "soft"}, "503"},
		{"tag, origin down", "/", map[string]string{purge.TagField: "sie", purge.ModeField: "soft"}, "down"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var failing atomic.Bool
			h := newHarness(t, "h1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if failing.Load() {
					http.Error(w, "origin error", http.StatusServiceUnavailable)
					return
				}
				w.Header().Set("Cache-Control", "max-age=600, stale-if-error=600")
				w.Header().Set("Surrogate-Key", "sie")
				_, _ = io.WriteString(w, "body of "+r.URL.Path)
			}))
			stored(t, h, "/sie", nil)
			purgeOK(t, h, tt.purge, tt.hdr, http.StatusOK)
			if tt.fail == "down" {
				h.origin.Close()
			} else {
				failing.Store(true)
			}
			resp, body := mustGet(t, h, "/sie", nil)
			if cs := resp.Header.Get("Cache-Status"); resp.StatusCode != http.StatusOK || body != "body of /sie" || !hasAll(cs, "fwd=stale", "detail=stale-if-error") {
				t.Errorf("after a soft purge, origin %s: %d %q %q, want the stale object", tt.fail, resp.StatusCode, cs, body)
			}
		})
	}
}
