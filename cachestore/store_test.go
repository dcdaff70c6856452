package cachestore

import (
	"bytes"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/cdnnode/cdnnode/coding"
	"github.com/cdnnode/cdnnode/keys"
)

// newStore builds a Store with a real ristretto memory tier, closed with the test.
func newStore(tb testing.TB, o Options) *Store {
	tb.Helper()
	s, err := New(o)
	if err != nil {
		tb.Fatalf("New(%+v): %v", o, err)
	}
	tb.Cleanup(s.Close)
	return s
}

// key builds a Key by hand, so tests choose the hash (and can collide it).
func key(hash uint64, full string) keys.Key { return keys.Key{Hash: hash, Full: full} }

func TestNewRejectsNonPositiveMemory(t *testing.T) {
	for _, n := range []int64{0, -1} {
		if s, err := New(Options{MemoryBytes: n}); err == nil {
			s.Close()
			t.Errorf("New(MemoryBytes: %d) = nil error, want one", n)
		}
	}
}

func TestMaxObjectBytesWithoutDisk(t *testing.T) {
	tests := []struct {
		name      string
		o         Options
		wantLimit int64
	}{
		{"zero means memory size", Options{MemoryBytes: 1 << 20}, 1 << 20},
		{"negative means memory size", Options{MemoryBytes: 1 << 20, MaxMemoryObjectBytes: -5}, 1 << 20},
		{"capped at memory size", Options{MemoryBytes: 1 << 20, MaxMemoryObjectBytes: 2 << 20}, 1 << 20},
		{"kept when smaller", Options{MemoryBytes: 1 << 20, MaxMemoryObjectBytes: 4096}, 4096},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t, tt.o)
			if got := s.MaxObjectBytes(); got != tt.wantLimit {
				t.Errorf("MaxObjectBytes() = %d, want %d", got, tt.wantLimit)
			}
		})
	}
}

func TestPutGetDelete(t *testing.T) {
	s := newStore(t, Options{MemoryBytes: 1 << 20})
	k := keys.New("https", "example.com", "/a", "", keys.Options{})
	if _, ok := s.Get(k); ok {
		t.Fatalf("Get(%s) on an empty store hit", k)
	}
	o := &Object{Status: http.StatusOK, Header: http.Header{"Content-Type": {"text/plain"}}, Body: []byte("hello")}
	if !s.Put(k, o) {
		t.Fatalf("Put(%s) = false, want true", k)
	}
	if o.Key != k.Full {
		t.Errorf("Put set Key = %q, want %q", o.Key, k.Full)
	}
	got, ok := s.Get(k)
	if !ok {
		t.Fatalf("Get(%s) after Put missed", k)
	}
	if got != o {
		t.Errorf("Get(%s) = %p, want the stored object %p", k, got, o)
	}

	s.Delete(k)
	if _, ok := s.Get(k); ok {
		t.Errorf("Get(%s) after Delete hit", k)
	}
	s.Delete(k) // deleting a missing key is harmless
}

func TestPutReplaces(t *testing.T) {
	s := newStore(t, Options{MemoryBytes: 1 << 20})
	k := key(7, "https://example.com/r")
	s.Put(k, &Object{Status: 200, Body: []byte("old")})
	s.Put(k, &Object{Status: 200, Body: []byte("new")})
	got, ok := s.Get(k)
	if !ok || string(got.Body) != "new" {
		t.Fatalf("Get after second Put = %v, %v; want body %q", got, ok, "new")
	}
}

func TestGetCollisionIsMiss(t *testing.T) {
	s := newStore(t, Options{MemoryBytes: 1 << 20})
	stored := key(0xdeadbeef, "https://example.com/stored")
	other := key(0xdeadbeef, "https://example.com/other") // same hash, different key
	if !s.Put(stored, &Object{Status: 200, Body: []byte("x")}) {
		t.Fatal("Put = false")
	}
	if o, ok := s.Get(other); ok {
		t.Errorf("Get(%q) with a colliding hash = %q, want a miss", other.Full, o.Key)
	}
	if _, ok := s.Get(stored); !ok {
		t.Errorf("Get(%q) missed after a colliding lookup", stored.Full)
	}
}

func TestVaryIndexRoundTrip(t *testing.T) {
	s := newStore(t, Options{MemoryBytes: 1 << 20})
	primary := keys.New("https", "example.com", "/page", "", keys.Options{})
	fields := []string{"Accept-Language"}
	if !s.Put(primary, &Object{Status: 200, Vary: fields}) {
		t.Fatal("Put(vary index) = false")
	}
	reqH := http.Header{"Accept-Language": {"de"}}
	variant := primary.Variant(fields, reqH)
	if !s.Put(variant, &Object{Status: 200, Body: []byte("Hallo")}) {
		t.Fatal("Put(variant) = false")
	}

	idx, ok := s.Get(primary)
	if !ok {
		t.Fatal("Get(primary) missed")
	}
	if !idx.IsVaryIndex() {
		t.Errorf("IsVaryIndex() on the index = false, want true")
	}
	if !slices.Equal(idx.Vary, fields) {
		t.Errorf("index Vary = %q, want %q", idx.Vary, fields)
	}
	v, ok := s.Get(primary.Variant(idx.Vary, reqH))
	if !ok {
		t.Fatal("Get(variant) via the index missed")
	}
	if v.IsVaryIndex() {
		t.Errorf("IsVaryIndex() on the variant = true, want false")
	}
	if string(v.Body) != "Hallo" {
		t.Errorf("variant body = %q, want %q", v.Body, "Hallo")
	}
	if _, ok := s.Get(primary.Variant(idx.Vary, http.Header{"Accept-Language": {"fr"}})); ok {
		t.Errorf("Get(variant for fr) hit; only de was stored")
	}
}

func TestIsVaryIndex(t *testing.T) {
	tests := []struct {
		name string
		vary []string
		want bool
	}{
		{"nil", nil, false},
		{"empty but non-nil", []string{}, true},
		{"one field", []string{"Accept-Language"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := &Object{Vary: tt.vary}
			if got := o.IsVaryIndex(); got != tt.want {
				t.Errorf("Object{Vary: %#v}.IsVaryIndex() = %v, want %v", tt.vary, got, tt.want)
			}
		})
	}
}

func TestStatsFollowPutsAndDeletes(t *testing.T) {
	s := newStore(t, Options{MemoryBytes: 1 << 20})
	if got := s.Stats(); got != (Stats{}) {
		t.Fatalf("Stats() of a new store = %+v, want zero", got)
	}
	var objs []*Object
	var want Stats
	for i := range 3 {
		k := key(uint64(i+1), fmt.Sprintf("https://example.com/%d", i))
		o := &Object{Status: 200, Body: bytes.Repeat([]byte("b"), 100*(i+1))}
		if !s.Put(k, o) {
			t.Fatalf("Put(%s) = false", k)
		}
		objs = append(objs, o)
		want.Objects++
		want.Bytes += uint64(o.Size()) // Size after Put: Put sets Key
		if got := s.Stats(); got != want {
			t.Fatalf("Stats() after %d puts = %+v, want %+v", i+1, got, want)
		}
	}

	s.Delete(key(2, "https://example.com/1"))
	s.shards[0].mem.Wait() // the freed cost is accounted asynchronously
	want.Objects--
	want.Bytes -= uint64(objs[1].Size())
	if got := s.Stats(); got != want {
		t.Errorf("Stats() after a delete = %+v, want %+v", got, want)
	}
}

func TestEvictionKeepsMemoryBounded(t *testing.T) {
	const memory = 64 << 10
	s := newStore(t, Options{MemoryBytes: memory})
	body := bytes.Repeat([]byte("x"), 4<<10)
	const n = 100
	for i := range n {
		k := key(uint64(i+1), fmt.Sprintf("https://example.com/obj/%d", i))
		s.Put(k, &Object{Status: 200, Header: http.Header{"Content-Type": {"text/plain"}}, Body: body})
		if st := s.Stats(); st.Bytes > memory {
			t.Fatalf("after %d puts Stats().Bytes = %d, want <= %d", i+1, st.Bytes, memory)
		}
	}
	st := s.Stats()
	if st.Evictions == 0 {
		t.Errorf("Stats().Evictions = 0 after %d puts of 4KiB into %d bytes, want > 0", n, memory)
	}
	if st.Objects == 0 || st.Objects >= n {
		t.Errorf("Stats().Objects = %d, want between 1 and %d", st.Objects, n-1)
	}
	if st.Objects > memory/uint64(len(body)) {
		t.Errorf("Stats().Objects = %d, more 4KiB bodies than fit in %d bytes", st.Objects, memory)
	}
	// Every stored object is still whole: Get and the counters agree.
	var hits uint64
	for i := range n {
		if o, ok := s.Get(key(uint64(i+1), fmt.Sprintf("https://example.com/obj/%d", i))); ok {
			hits++
			if !bytes.Equal(o.Body, body) {
				t.Fatalf("object %d body has %d bytes, want %d", i, len(o.Body), len(body))
			}
		}
	}
	if hits != st.Objects {
		t.Errorf("%d objects answer Get, Stats().Objects = %d", hits, st.Objects)
	}
}

func TestPutRefusesOversizedObject(t *testing.T) {
	s := newStore(t, Options{MemoryBytes: 1 << 20, MaxMemoryObjectBytes: 1024})
	k := key(1, "https://example.com/big")
	if s.Put(k, &Object{Status: 200, Body: make([]byte, 4096)}) {
		t.Errorf("Put of a 4096-byte body with MaxMemoryObjectBytes 1024 and no disk = true, want false")
	}
	if _, ok := s.Get(k); ok {
		t.Errorf("Get after a refused Put hit")
	}
	if got := s.Stats(); got.Objects != 0 {
		t.Errorf("Stats().Objects = %d after a refused Put, want 0", got.Objects)
	}
}

func TestObjectSize(t *testing.T) {
	base := &Object{Status: 200}
	withKey := &Object{Status: 200, Key: "https://example.com/a"}
	withHeader := &Object{Status: 200, Header: http.Header{"Content-Type": {"text/html"}}}
	withBody := &Object{Status: 200, Body: make([]byte, 1000)}
	withTags := &Object{Status: 200, Tags: []string{"product-1", "category-2"}}
	withVary := &Object{Status: 200, Vary: []string{"Accept-Language"}}

	if got := base.Size(); got <= 0 {
		t.Errorf("Size() of an empty object = %d, want > 0 (fixed overhead)", got)
	}
	tests := []struct {
		name     string
		o        *Object
		minGrown int64 // at least this much over the empty object
	}{
		{"key", withKey, int64(len(withKey.Key))},
		{"header", withHeader, int64(len("Content-Type") + len("text/html"))},
		{"body", withBody, 1000},
		{"tags", withTags, int64(len("product-1") + len("category-2"))},
		{"vary", withVary, int64(len("Accept-Language"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, min := tt.o.Size()-base.Size(), tt.minGrown; got < min {
				t.Errorf("Size() grew by %d with a %s, want >= %d", got, tt.name, min)
			}
		})
	}

	// Growth is monotonic in each part.
	more := &Object{Status: 200, Header: http.Header{"Content-Type": {"text/html"}, "Etag": {`"v1"`}}}
	if more.Size() <= withHeader.Size() {
		t.Errorf("Size() with two fields = %d, want > one field's %d", more.Size(), withHeader.Size())
	}
	twoValues := &Object{Status: 200, Header: http.Header{"Content-Type": {"text/html", "text/plain"}}}
	if twoValues.Size() <= withHeader.Size() {
		t.Errorf("Size() with two values = %d, want > one value's %d", twoValues.Size(), withHeader.Size())
	}
	bigger := &Object{Status: 200, Body: make([]byte, 2000)}
	if got, want := bigger.Size()-withBody.Size(), int64(1000); got != want {
		t.Errorf("Size() of a 2000-byte body - 1000-byte body = %d, want %d", got, want)
	}
}

// newWarmStore returns a store holding one object under the key for target.
func newWarmStore(tb testing.TB, target string) (*Store, keys.Key) {
	tb.Helper()
	s := newStore(tb, Options{MemoryBytes: 64 << 20})
	k := keys.New("https", "example.com", target, "", keys.Options{})
	o := &Object{Status: 200, Header: http.Header{"Content-Type": {"text/css"}}, Body: make([]byte, 4096)}
	if !s.Put(k, o) {
		tb.Fatalf("Put(%s) = false", k)
	}
	return s, k
}

func BenchmarkStoreGet(b *testing.B) {
	s, k := newWarmStore(b, "/static/app.css") // real memory tier, one object
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := s.Get(k); !ok {
			b.Fatal("miss on a warmed key")
		}
	}
}

// BenchmarkMapGet is the baseline for BenchmarkStoreGet: a plain map under
// a sync.RWMutex, keyed by the same hash, with the same collision check.
func BenchmarkMapGet(b *testing.B) {
	k := keys.New("https", "example.com", "/static/app.css", "", keys.Options{})
	var mu sync.RWMutex
	m := map[uint64]*Object{k.Hash: {Key: k.Full, Status: 200, Body: make([]byte, 4096)}}
	get := func(k keys.Key) (*Object, bool) {
		mu.RLock()
		o, ok := m[k.Hash]
		mu.RUnlock()
		if !ok || o.Key != k.Full {
			return nil, false
		}
		return o, true
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := get(k); !ok {
			b.Fatal("miss on a warmed key")
		}
	}
}

// TestCommitReportsRefusal: an object whose cost exceeds the whole memory
// tier is refused, and Commit says so rather than claiming a store.
func TestCommitReportsRefusal(t *testing.T) {
	const memory = 64 << 10
	s := newStore(t, Options{MemoryBytes: memory, FillBytes: memory})
	k := key(1, "https://example.com/near")
	w := s.NewWriter(k, newObject(), -1)
	if _, err := w.Write(make([]byte, memory-100)); err != nil {
		t.Fatalf("Write within MaxObjectBytes: %v", err)
	}
	if w.Commit() {
		t.Error("Commit() = true for an object costing more than the memory tier")
	}
	if _, ok := s.Get(k); ok {
		t.Error("refused object is visible")
	}
}

// TestCommitBodyAtLimitWithHeader: MaxObjectBytes bounds the body, so a
// body exactly at the limit is stored even with header fields.
func TestCommitBodyAtLimitWithHeader(t *testing.T) {
	s := newStore(t, Options{MemoryBytes: 1 << 20, MaxMemoryObjectBytes: 1024})
	k := key(1, "https://example.com/lim")
	w := s.NewWriter(k, newObject(), -1)
	if _, err := w.Write(make([]byte, 1024)); err != nil {
		t.Fatal(err)
	}
	if !w.Commit() {
		t.Fatal("Commit() = false for a body exactly at MaxObjectBytes")
	}
	if o, ok := s.Get(k); !ok || len(o.Body) != 1024 {
		t.Errorf("Get = %v, %v; want the 1024-byte body", o, ok)
	}
}

// TestReplacementStaysBounded: replacing a key with a larger object evicts
// others so the memory tier never exceeds its size.
func TestReplacementStaysBounded(t *testing.T) {
	const memory = 64 << 10
	s := newStore(t, Options{MemoryBytes: memory})
	body := bytes.Repeat([]byte("x"), 4<<10)
	for i := range 14 {
		s.Put(key(uint64(i+1), fmt.Sprintf("k%d", i)), &Object{Status: 200, Body: body})
	}
	ok := s.Put(key(1, "k0"), &Object{Status: 200, Body: make([]byte, 60<<10)})
	st := s.Stats()
	if st.Bytes > memory {
		t.Errorf("after replacing with a larger object: %d bytes stored, want at most %d", st.Bytes, memory)
	}
	if o, hit := s.Get(key(1, "k0")); hit != ok || (hit && len(o.Body) != 60<<10) {
		t.Errorf("Put = %v but Get hit = %v", ok, hit)
	}
}

// TestDemand: the count for a key reaches n on the n-th request, then
// starts again; keys count apart; a full table starts again empty.
func TestDemand(t *testing.T) {
	s := newStore(t, Options{MemoryBytes: 1 << 20})
	a, b := keys.New("http", "a", "/x", "", keys.Options{}), keys.New("http", "a", "/y", "", keys.Options{})
	for round := range 2 {
		for i := 1; i <= 3; i++ {
			if got := s.Demand(a, 3); got != (i == 3) {
				t.Fatalf("round %d, request %d: Demand = %v", round, i, got)
			}
		}
	}
	if s.Demand(b, 2) || !s.Demand(b, 2) {
		t.Error("a second key does not count on its own")
	}
	s.Demand(a, 2)
	for i := range maxDemand {
		s.Demand(keys.New("http", "fill", "/"+strconv.Itoa(i), "", keys.Options{}), 1<<30)
	}
	if s.Demand(a, 2) {
		t.Error("a count survived the table filling up")
	}
}

// TestMemory: Memory finds what the memory tier holds by the key's bytes,
// never what only the disk tier holds, and counts nothing.
func TestMemory(t *testing.T) {
	s := tieredStore(t, t.TempDir(), 2)
	small := keys.New("http", "a", "/small", "", keys.Options{})
	fill(t, s, small, []byte("small body"))
	big := keys.New("http", "a", "/big", "", keys.Options{})
	fill(t, s, big, make([]byte, 128<<10)) // past MaxMemoryObjectBytes: disk only
	misses := s.Stats().Misses

	if o := s.Memory(small.Hash, []byte(small.Full)); o == nil || o.Key != small.Full {
		t.Errorf("Memory(%q) = %v, want the stored object", small.Full, o)
	}
	if o := s.Memory(small.Hash, []byte(small.Full+"x")); o != nil {
		t.Errorf("Memory with the hash of %q and another key = %q, want nil", small.Full, o.Key)
	}
	if o := s.Memory(big.Hash, []byte(big.Full)); o != nil {
		t.Errorf("Memory(%q) = %q, want nil: its body is on disk", big.Full, o.Key)
	}
	if got := s.Stats().Misses; got != misses {
		t.Errorf("memory misses %d after Memory, want %d: Memory counts nothing", got, misses)
	}
	o, tier := s.Lookup(big)
	if tier != Disk {
		t.Fatalf("Lookup(%q) tier = %v, want Disk", big.Full, tier)
	}
	o.Release()

	full := []byte(small.Full)
	if n := testing.AllocsPerRun(100, func() { _ = s.Memory(small.Hash, full) }); n != 0 {
		t.Errorf("Memory allocates %v times, want 0", n)
	}
}

// TestWire: the serialised head is built once per object and coding, and
// a refreshed copy, whose header is new, builds its own.
func TestWire(t *testing.T) {
	s := newStore(t, Options{MemoryBytes: 1 << 20})
	k := keys.New("http", "a", "/w", "", keys.Options{})
	fill(t, s, k, []byte("body"))
	o, ok := s.Get(k)
	if !ok {
		t.Fatal("miss after fill")
	}
	builds := 0
	build := func(v string) func() []byte {
		return func() []byte { builds++; return []byte(v) }
	}
	for range 3 {
		if got := o.Wire(coding.Identity, build("v1")); string(got) != "v1" {
			t.Errorf("Wire(identity) = %q, want v1", got)
		}
	}
	if got := o.Wire(coding.Zstd, build("z1")); string(got) != "z1" {
		t.Errorf("Wire(zstd) = %q, want z1: each coding has its own", got)
	}
	if builds != 2 {
		t.Errorf("%d builds for two codings, want 2", builds)
	}
	c := o.Refreshed(http.Header{"Content-Type": {"text/html"}}, nil, o.Policy)
	defer c.Release()
	if got := c.Wire(coding.Identity, build("v2")); string(got) != "v2" {
		t.Errorf("Wire of a refreshed copy = %q, want v2, built anew", got)
	}
	if got := o.Wire(coding.Identity, build("v3")); string(got) != "v1" {
		t.Errorf("Wire of the original after a refresh = %q, want v1", got)
	}
	unprepared := &Object{Status: 200, Body: []byte("x")}
	for _, want := range []string{"u1", "u2"} {
		if got := unprepared.Wire(coding.Identity, build(want)); string(got) != want {
			t.Errorf("Wire of an object no Writer made = %q, want %q: built every time", got, want)
		}
	}
}

// TestReplacementStaysVisible: while a key is replaced by an object no
// larger than the one stored (a Refresh after a 304 or a soft purge, or a
// Put of a same-size fill), a reader of the memory tier always finds one
// of the two: the key is never missing in between. A regression test: a
// replacement used to delete the key, then set it anew, and a lookup in
// that window missed, and went to an origin that might be down instead of
// serving the stale object.
func TestReplacementStaysVisible(t *testing.T) {
	tests := []struct {
		name    string
		replace func(*Store, keys.Key, *Object) bool
	}{
		{"Refresh", (*Store).Refresh},
		{"Put", (*Store).Put},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t, Options{MemoryBytes: 1 << 20})
			k := keys.New("https", "example.com", "/v", "", keys.Options{})
			version := func(i int) *Object {
				return &Object{Status: http.StatusOK, Header: http.Header{"X-Version": {fmt.Sprintf("%04d", i)}}, Body: []byte("same body")}
			}
			if !s.Put(k, version(0)) {
				t.Fatal("first Put refused")
			}
			full := []byte(k.Full)
			for round := 1; round <= 100; round++ {
				var (
					done   sync.WaitGroup
					stop   = make(chan struct{})
					missed int
				)
				done.Go(func() {
					for range 1_000_000 {
						select {
						case <-stop:
							return
						default:
						}
						if s.Memory(k.Hash, full) == nil {
							missed++
						}
					}
				})
				ok := tt.replace(s, k, version(round))
				close(stop)
				done.Wait()
				if !ok || missed > 0 {
					t.Fatalf("round %d: replacement stored: %v; the key was missing from memory %d times during it", round, ok, missed)
				}
				if got := s.Memory(k.Hash, full); got == nil || got.Header.Get("X-Version") != fmt.Sprintf("%04d", round) {
					t.Fatalf("round %d: after the replacement memory holds %v, want version %d", round, got, round)
				}
			}
		})
	}
}
