package balance

import "testing"

func FuzzParseAlgorithm(f *testing.F) {
	f.Add("ketama")         // every name parses as itself
	f.Add("least_inflight") // underscore, as in config
	f.Add("Round_Robin")    // case matters
	f.Add("")               // no default here; config picks one
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAlgorithm(s)
		if err != nil {
			return
		}
		if string(a) != s {
			t.Fatalf("ParseAlgorithm(%q) = %q, want the same spelling", s, a)
		}
	})
}

// FuzzNew builds pools from arbitrary algorithm names, weights and ranks:
// New either refuses them or returns a Balancer whose weights are within
// limits and whose Select finds a peer while all are up.
func FuzzNew(f *testing.F) {
	f.Add("ketama", 1, 1, 2, false, uint64(7))          // the weights of the ketama test
	f.Add("weighted", 0, 5, MaxWeight, true, uint64(0)) // default, heavy and a heavy backup
	f.Add("failover", -1, 1, 1, false, uint64(1))       // negative weight is refused
	f.Add("round_robin", 1, MaxWeight+1, 1, true, uint64(2))
	f.Fuzz(func(t *testing.T, algo string, w0, w1, w2 int, backup bool, key uint64) {
		peers := []Peer{{Addr: "a:80", Weight: w0}, {Addr: "b:80", Weight: w1}, {Addr: "c:80", Weight: w2, Backup: backup}}
		b, err := New(Algorithm(algo), peers)
		if err != nil {
			return
		}
		for i := range b.Len() {
			if w := b.Peer(i).Weight; w < 1 || w > MaxWeight {
				t.Fatalf("peer %d weight %d accepted, want 1..%d", i, w, MaxWeight)
			}
		}
		i, ok := b.Select(key, nil)
		if !ok || i < 0 || i >= b.Len() || b.Peer(i).Backup {
			t.Fatalf("Select(%d) = %d, %v with all peers up, want a primary", key, i, ok)
		}
	})
}
