package balance

import (
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/cespare/xxhash/v2"
)

// algorithms lists every Algorithm, for tests that must hold for each.
var algorithms = []Algorithm{Ketama, RoundRobin, Weighted, LeastInflight, Failover}

// testPeers returns primaries with the given weights at 10.0.0.1:80 on.
func testPeers(weights ...int) []Peer {
	ps := make([]Peer, len(weights))
	for i, w := range weights {
		ps[i] = Peer{Addr: fmt.Sprintf("10.0.0.%d:80", i+1), Weight: w}
	}
	return ps
}

// withBackups returns four primaries (0-3) and two backups (4, 5).
func withBackups() []Peer {
	ps := testPeers(1, 2, 1, 3, 1, 2)
	ps[4].Backup, ps[5].Backup = true, true
	return ps
}

func mustNew(tb testing.TB, algo Algorithm, ps []Peer) *Balancer {
	tb.Helper()
	b, err := New(algo, ps)
	if err != nil {
		tb.Fatalf("New(%s): %v", algo, err)
	}
	return b
}

// keyHash is the hash of the n-th test cache key, as keys would make it.
func keyHash(n int) uint64 { return xxhash.Sum64String("key-" + strconv.Itoa(n)) }

func TestParseAlgorithm(t *testing.T) {
	tests := []struct {
		in   string
		want Algorithm
		ok   bool
	}{
		{"ketama", Ketama, true},
		{"round_robin", RoundRobin, true},
		{"weighted", Weighted, true},
		{"least_inflight", LeastInflight, true},
		{"failover", Failover, true},
		{"", "", false},
		{"Ketama", "", false},      // spelling is exact
		{" ketama", "", false},     // no trimming
		{"round-robin", "", false}, // underscore, as in config
		{"least_connections", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseAlgorithm(tt.in)
			if got != tt.want || (err == nil) != tt.ok {
				t.Errorf("ParseAlgorithm(%q) = %q, %v; want %q, ok=%v", tt.in, got, err, tt.want, tt.ok)
			}
		})
	}
}

func TestNewRejects(t *testing.T) {
	heavy := make([]Peer, 5)
	for i := range heavy {
		heavy[i] = Peer{Addr: strconv.Itoa(i), Weight: MaxWeight}
	}
	tests := []struct {
		name  string
		algo  Algorithm
		peers []Peer
	}{
		{"unknown algorithm", "random", testPeers(1)},
		{"no peers", Ketama, nil},
		{"empty address", RoundRobin, []Peer{{Addr: ""}}},
		{"duplicate address", RoundRobin, []Peer{{Addr: "a:80"}, {Addr: "a:80", Backup: true}}},
		{"negative weight", Weighted, testPeers(1, -1)},
		{"weight above max", Weighted, testPeers(MaxWeight + 1)},
		{"total weight above max", Ketama, heavy},
		{"only backups", Failover, []Peer{{Addr: "a:80", Backup: true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if b, err := New(tt.algo, tt.peers); err == nil {
				t.Errorf("New(%s, %v) = %p, nil; want an error", tt.algo, tt.peers, b)
			}
		})
	}
}

func TestNewNormalisesWeight(t *testing.T) {
	b := mustNew(t, Weighted, testPeers(0, 7))
	if got := b.Peer(0).Weight; got != 1 {
		t.Errorf("Peer(0).Weight = %d, want 1 for weight 0", got)
	}
	if got := b.Peer(1).Weight; got != 7 {
		t.Errorf("Peer(1).Weight = %d, want 7", got)
	}
}

func TestPeerStateFillsCacheLine(t *testing.T) {
	if got := unsafe.Sizeof(peerState{}); got != 64 {
		t.Errorf("sizeof(peerState) = %d, want 64", got)
	}
}

// TestSelectSkipsUnhealthy checks, for every algorithm, that Select picks
// only healthy peers, backups only when every primary is down, and none
// when all are down.
func TestSelectSkipsUnhealthy(t *testing.T) {
	tests := []struct {
		name string
		down []int
		want []int // the peers Select may return; empty: ok=false
	}{
		{"all up", nil, []int{0, 1, 2, 3}},
		{"two primaries down", []int{1, 3}, []int{0, 2}},
		{"one primary left", []int{0, 1, 3}, []int{2}},
		{"all primaries down", []int{0, 1, 2, 3}, []int{4, 5}},
		{"one backup left", []int{0, 1, 2, 3, 4}, []int{5}},
		{"backup down, primary up", []int{4, 5}, []int{0, 1, 2, 3}},
		{"all down", []int{0, 1, 2, 3, 4, 5}, nil},
	}
	for _, algo := range algorithms {
		for _, tt := range tests {
			t.Run(string(algo)+"/"+tt.name, func(t *testing.T) {
				b := mustNew(t, algo, withBackups())
				for _, i := range tt.down {
					b.SetUp(i, false)
				}
				seen := map[int]int{}
				for n := range 400 {
					i, ok := b.Select(keyHash(n), nil)
					if ok != (len(tt.want) > 0) {
						t.Fatalf("Select(key-%d) ok = %v, want %v", n, ok, len(tt.want) > 0)
					}
					if ok && !slices.Contains(tt.want, i) {
						t.Fatalf("Select(key-%d) = %d, want one of %v", n, i, tt.want)
					}
					seen[i]++
				}
				if len(tt.want) == 0 {
					return
				}
				if algo == Failover {
					// Always the first qualifying peer in configured order.
					if seen[tt.want[0]] != 400 {
						t.Errorf("failover picks = %v, want all 400 on %d", seen, tt.want[0])
					}
					return
				}
				for _, i := range tt.want {
					if seen[i] == 0 {
						t.Errorf("peer %d never picked in 400 selections: %v", i, seen)
					}
				}
			})
		}
	}
}

// TestBackupsAndBack walks a pool through losing its primaries and getting
// one back: backups serve only in between.
func TestBackupsAndBack(t *testing.T) {
	for _, algo := range algorithms {
		t.Run(string(algo), func(t *testing.T) {
			b := mustNew(t, algo, withBackups())
			steps := []struct {
				name string
				set  map[int]bool
				want []int
			}{
				{"primaries down", map[int]bool{0: false, 1: false, 2: false, 3: false}, []int{4, 5}},
				{"backups down too", map[int]bool{4: false, 5: false}, nil},
				{"a backup recovers", map[int]bool{5: true}, []int{5}},
				{"a primary recovers", map[int]bool{2: true}, []int{2}},
				{"all recover", map[int]bool{0: true, 1: true, 3: true, 4: true}, []int{0, 1, 2, 3}},
			}
			for _, st := range steps {
				for i, up := range st.set {
					if !b.SetUp(i, up) {
						t.Fatalf("%s: SetUp(%d, %v) reported no change", st.name, i, up)
					}
				}
				for n := range 100 {
					i, ok := b.Select(keyHash(n), nil)
					if ok != (len(st.want) > 0) || (ok && !slices.Contains(st.want, i)) {
						t.Fatalf("%s: Select(key-%d) = %d, %v; want one of %v", st.name, n, i, ok, st.want)
					}
				}
			}
			if b.SetUp(0, true) {
				t.Error("SetUp(0, true) on an up peer reported a change")
			}
		})
	}
}

// TestSelectExcludeRetries retries as a proxy does, excluding the peers
// tried: each attempt reaches a new healthy peer, primaries first, until
// none is left; exclude is asked about each peer at most once per Select.
func TestSelectExcludeRetries(t *testing.T) {
	for _, algo := range algorithms {
		t.Run(string(algo), func(t *testing.T) {
			b := mustNew(t, algo, withBackups())
			b.SetUp(1, false)
			for n := range 50 {
				key := keyHash(n)
				first, _ := b.Select(key, nil)
				var tried []int
				calls := 0
				exclude := func(i int) bool { calls++; return slices.Contains(tried, i) }
				for range b.Len() + 1 {
					calls = 0
					i, ok := b.Select(key, exclude)
					if calls > b.Len() {
						t.Fatalf("key-%d: one Select called exclude %d times, want <= %d", n, calls, b.Len())
					}
					if !ok {
						break
					}
					if slices.Contains(tried, i) {
						t.Fatalf("key-%d: retry returned %d again after %v", n, i, tried)
					}
					tried = append(tried, i)
				}
				if !slices.Equal(sorted(tried[:3]), []int{0, 2, 3}) || !slices.Equal(sorted(tried[3:]), []int{4, 5}) {
					t.Fatalf("key-%d: attempts %v, want the healthy primaries 0, 2, 3 then the backups 4, 5", n, tried)
				}
				if algo == Ketama && tried[0] != first {
					t.Fatalf("key-%d: first attempt %d, want the key's peer %d", n, tried[0], first)
				}
			}
		})
	}
}

func sorted(s []int) []int { return slices.Sorted(slices.Values(s)) }

// TestRotationShares checks the exact shares of the rotating algorithms
// over whole cycles, and the interleaving of the weighted schedule.
func TestRotationShares(t *testing.T) {
	tests := []struct {
		name    string
		algo    Algorithm
		weights []int
		picks   int
		want    []int // picks per peer
	}{
		{"round robin ignores weights", RoundRobin, []int{1, 2, 3}, 300, []int{100, 100, 100}},
		{"weighted 1,2,3", Weighted, []int{1, 2, 3}, 600, []int{100, 200, 300}},
		{"weighted 5,1,1", Weighted, []int{5, 1, 1}, 70, []int{50, 10, 10}},
		{"weighted equal", Weighted, []int{2, 2, 2, 2}, 80, []int{20, 20, 20, 20}},
		{"least inflight idle rotates", LeastInflight, []int{1, 1, 1}, 30, []int{10, 10, 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := mustNew(t, tt.algo, testPeers(tt.weights...))
			got := make([]int, len(tt.weights))
			for range tt.picks {
				i, ok := b.Select(0, nil)
				if !ok {
					t.Fatal("Select found no peer with all up")
				}
				got[i]++
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("picks per peer = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestWeightedIsSmooth(t *testing.T) {
	b := mustNew(t, Weighted, testPeers(5, 1, 1))
	var got []int
	for range 7 {
		i, _ := b.Select(0, nil)
		got = append(got, i)
	}
	if want := []int{0, 0, 1, 0, 2, 0, 0}; !slices.Equal(got, want) {
		t.Errorf("weighted 5,1,1 order = %v, want nginx's %v", got, want)
	}
}

func TestLeastInflight(t *testing.T) {
	tests := []struct {
		name     string
		weights  []int
		inflight []int
		want     []int // peers Select may return
	}{
		{"idle peer", []int{1, 1, 1}, []int{3, 1, 0}, []int{2}},
		{"fewest", []int{1, 1, 1}, []int{2, 1, 4}, []int{1}},
		{"tie", []int{1, 1, 1}, []int{2, 1, 1}, []int{1, 2}},
		{"per unit of weight", []int{1, 2}, []int{1, 1}, []int{1}},
		{"weighted tie", []int{1, 2}, []int{1, 2}, []int{0, 1}},
		{"heavy but busy", []int{1, 4}, []int{1, 5}, []int{0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := mustNew(t, LeastInflight, testPeers(tt.weights...))
			for i, n := range tt.inflight {
				for range n {
					b.Begin(i)
				}
			}
			seen := map[int]bool{}
			for range 10 {
				i, _ := b.Select(0, nil)
				if !slices.Contains(tt.want, i) {
					t.Fatalf("Select = %d with in flight %v, want one of %v", i, tt.inflight, tt.want)
				}
				seen[i] = true
			}
			if len(seen) != len(tt.want) {
				t.Errorf("picked %v over 10 selections, want ties shared among %v", seen, tt.want)
			}
		})
	}
}

// TestLeastInflightConcurrent runs selections, Begin/Done and health flips
// together; the race detector checks the hot path, and every count must
// return to zero.
func TestLeastInflightConcurrent(t *testing.T) {
	b := mustNew(t, LeastInflight, testPeers(1, 1, 2, 1))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for n := range 2000 {
				i, ok := b.Select(uint64(n), nil)
				if !ok {
					t.Error("Select found no peer while three are always up")
					return
				}
				b.Begin(i)
				if b.Inflight(i) < 1 {
					t.Errorf("Inflight(%d) < 1 inside a request", i)
				}
				b.Done(i)
			}
		})
	}
	wg.Go(func() {
		for n := range 1000 {
			b.SetUp(0, n%2 == 0)
		}
	})
	wg.Wait()
	for i := range b.Len() {
		if got := b.Inflight(i); got != 0 {
			t.Errorf("Inflight(%d) = %d after all requests were done, want 0", i, got)
		}
	}
}

func TestRebuildSharesState(t *testing.T) {
	old := mustNew(t, LeastInflight, testPeers(1, 1, 1))
	old.SetUp(1, false)
	old.Begin(2)
	ps := testPeers(1, 1, 1, 1)
	ps[0], ps[2] = ps[2], ps[0] // 10.0.0.3 is now index 0
	nb, err := old.Rebuild(ps)
	if err != nil {
		t.Fatalf("Rebuild: %v", err)
	}
	if nb.Algorithm() != LeastInflight {
		t.Errorf("Rebuild algorithm = %s, want %s", nb.Algorithm(), LeastInflight)
	}
	if nb.Up(1) {
		t.Error("10.0.0.2 is up after Rebuild, want it still down")
	}
	if got := nb.Inflight(0); got != 1 {
		t.Errorf("Inflight of 10.0.0.3 after Rebuild = %d, want 1", got)
	}
	if !nb.Up(3) || nb.Inflight(3) != 0 {
		t.Errorf("new peer 10.0.0.4: up %v, in flight %d; want up and idle", nb.Up(3), nb.Inflight(3))
	}
	old.Done(2) // a request begun before the swap ends after it
	if got := nb.Inflight(0); got != 0 {
		t.Errorf("Inflight of 10.0.0.3 after Done on the old balancer = %d, want 0", got)
	}
	nb.SetUp(1, true)
	if !old.Up(1) {
		t.Error("recovery recorded on the new balancer not seen by the old one")
	}
	if _, err := old.Rebuild(nil); err == nil {
		t.Error("Rebuild(nil) succeeded, want an error")
	}
}

// TestSwapWhileSelecting swaps snapshots through an atomic.Pointer while
// requests select, begin and finish on whichever snapshot they loaded.
func TestSwapWhileSelecting(t *testing.T) {
	lists := [][]Peer{testPeers(1, 1, 1, 1, 1), testPeers(1, 1, 1)}
	first := mustNew(t, LeastInflight, lists[0])
	var cur atomic.Pointer[Balancer]
	cur.Store(first)
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for n := 0; n < 100000 && !stop.Load(); n++ {
				b := cur.Load()
				i, ok := b.Select(keyHash(n), nil)
				if !ok || i >= b.Len() {
					t.Errorf("Select = %d, %v on a snapshot of %d peers", i, ok, b.Len())
					return
				}
				b.Begin(i)
				b.Done(i)
			}
		})
	}
	for n := range 100 {
		nb, err := cur.Load().Rebuild(lists[n%2])
		if err != nil {
			t.Fatalf("Rebuild: %v", err)
		}
		cur.Store(nb)
	}
	stop.Store(true)
	wg.Wait()
	b := cur.Load()
	for i := range b.Len() {
		if got := b.Inflight(i); got != 0 {
			t.Errorf("Inflight(%d) = %d after every request ended, want 0", i, got)
		}
	}
}

func TestSelectDoesNotAllocate(t *testing.T) {
	for _, algo := range algorithms {
		t.Run(string(algo), func(t *testing.T) {
			b := mustNew(t, algo, withBackups())
			b.SetUp(0, false)
			keys := make([]uint64, 128)
			for n := range keys {
				keys[n] = keyHash(n)
			}
			tried, n := 0, 0
			allocs := testing.AllocsPerRun(100, func() {
				n++
				tried = n % b.Len()
				b.Select(keys[n%len(keys)], func(i int) bool { return i == tried })
			})
			if allocs != 0 {
				t.Errorf("Select allocates %v times per call, want 0", allocs)
			}
		})
	}
}
