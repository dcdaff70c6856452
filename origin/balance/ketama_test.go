package balance

import (
	"math"
	"slices"
	"testing"
)

// owners maps each of n test keys to the address of the peer b selects.
func owners(t *testing.T, b *Balancer, n int) []string {
	t.Helper()
	out := make([]string, n)
	for k := range n {
		i, ok := b.Select(keyHash(k), nil)
		if !ok {
			t.Fatalf("Select(key-%d) found no peer", k)
		}
		out[k] = b.Peer(i).Addr
	}
	return out
}

// moved compares two key-to-peer maps: the keys whose peer changed, and
// whether each of them went from or to the peer addr (the one removed or
// added), as consistent hashing promises.
func moved(before, after []string, addr string) (n int, onlyAddr bool) {
	onlyAddr = true
	for k := range before {
		if before[k] != after[k] {
			n++
			if before[k] != addr && after[k] != addr {
				onlyAddr = false
			}
		}
	}
	return n, onlyAddr
}

// TestKetamaStability removes each of five peers in turn and adds it back:
// only the keys of that peer move, at most a quarter of them, and adding
// it back restores the original map exactly.
func TestKetamaStability(t *testing.T) {
	const keys = 10000
	all := testPeers(1, 1, 1, 1, 1)
	full := mustNew(t, Ketama, all)
	base := owners(t, full, keys)
	for r := range all {
		t.Run("remove "+all[r].Addr, func(t *testing.T) {
			removed := all[r].Addr
			rest := slices.Delete(slices.Clone(all), r, r+1)
			less, err := full.Rebuild(rest)
			if err != nil {
				t.Fatalf("Rebuild without %s: %v", removed, err)
			}
			after := owners(t, less, keys)
			n, only := moved(base, after, removed)
			if !only {
				t.Errorf("removing %s moved keys between other peers", removed)
			}
			if want := count(base, removed); n != want {
				t.Errorf("removing %s moved %d keys, want exactly its %d", removed, n, want)
			}
			if n > keys/4 {
				t.Errorf("removing %s moved %d of %d keys, want <= 25%%", removed, n, keys)
			}
			back, err := less.Rebuild(all)
			if err != nil {
				t.Fatalf("Rebuild with %s again: %v", removed, err)
			}
			again := owners(t, back, keys)
			if n, _ := moved(after, again, removed); n != count(again, removed) || n > keys/4 {
				t.Errorf("adding %s back moved %d keys, want exactly the %d it now owns, <= 25%%", removed, n, count(again, removed))
			}
			if !slices.Equal(again, base) {
				t.Errorf("adding %s back did not restore the original map", removed)
			}
		})
	}
	t.Run("add a sixth peer", func(t *testing.T) {
		added := Peer{Addr: "10.0.0.99:80"}
		more, err := full.Rebuild(append(slices.Clone(all), added))
		if err != nil {
			t.Fatalf("Rebuild: %v", err)
		}
		after := owners(t, more, keys)
		n, only := moved(base, after, added.Addr)
		if !only || n != count(after, added.Addr) || n > keys/4 {
			t.Errorf("adding a peer moved %d keys (only to it: %v), want exactly its %d, <= 25%%", n, only, count(after, added.Addr))
		}
	})
	t.Run("list order does not matter", func(t *testing.T) {
		reversed := slices.Clone(all)
		slices.Reverse(reversed)
		if got := owners(t, mustNew(t, Ketama, reversed), keys); !slices.Equal(got, base) {
			t.Error("reordering the peer list changed the key map")
		}
	})
}

func count(owners []string, addr string) int {
	n := 0
	for _, o := range owners {
		if o == addr {
			n++
		}
	}
	return n
}

// TestKetamaDownIsRemoved checks the ring walk past an unhealthy peer: each
// key lands exactly where it would if the peer had been removed, so a peer
// going down and coming back disturbs only its own keys.
func TestKetamaDownIsRemoved(t *testing.T) {
	const keys = 10000
	all := testPeers(1, 2, 1, 1, 3)
	for d := range all {
		t.Run("down "+all[d].Addr, func(t *testing.T) {
			b := mustNew(t, Ketama, all)
			base := owners(t, b, keys)
			b.SetUp(d, false)
			down := owners(t, b, keys)
			removed := mustNew(t, Ketama, slices.Delete(slices.Clone(all), d, d+1))
			if !slices.Equal(down, owners(t, removed, keys)) {
				t.Errorf("with %s down, keys map differently than with it removed", all[d].Addr)
			}
			if n, only := moved(base, down, all[d].Addr); !only || n != count(base, all[d].Addr) {
				t.Errorf("%s going down moved %d keys (only its own: %v), want its %d", all[d].Addr, n, only, count(base, all[d].Addr))
			}
			b.SetUp(d, true)
			if !slices.Equal(owners(t, b, keys), base) {
				t.Errorf("%s coming back did not restore the key map", all[d].Addr)
			}
		})
	}
}

// TestKetamaWeights checks that shares of keys follow weights within five
// percentage points over 100,000 keys.
func TestKetamaWeights(t *testing.T) {
	const keys = 100000
	tests := []struct {
		name    string
		weights []int
	}{
		{"1,1,2", []int{1, 1, 2}},
		{"3,1", []int{3, 1}},
		{"equal five", []int{1, 1, 1, 1, 1}},
		{"1,2,3,4", []int{1, 2, 3, 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := mustNew(t, Ketama, testPeers(tt.weights...))
			got := make([]int, len(tt.weights))
			for k := range keys {
				i, _ := b.Select(keyHash(k), nil)
				got[i]++
			}
			total := 0
			for _, w := range tt.weights {
				total += w
			}
			for i, w := range tt.weights {
				share, want := 100*float64(got[i])/keys, 100*float64(w)/float64(total)
				if math.Abs(share-want) > 5 {
					t.Errorf("peer %d (weight %d) has %.1f%% of keys, want %.1f%% +- 5", i, w, share, want)
				}
				t.Logf("peer %d weight %d: %.2f%% of keys (weight share %.2f%%)", i, w, share, want)
			}
		})
	}
}
