package balance

import (
	"fmt"
	"sync/atomic"
	"testing"
)

// benchPeers is a 16-peer pool with weights 1 to 4.
func benchPeers(n int) []Peer {
	ps := make([]Peer, n)
	for i := range ps {
		ps[i] = Peer{Addr: fmt.Sprintf("10.0.%d.%d:80", i/250, i%250+1), Weight: i%4 + 1}
	}
	return ps
}

// benchKeys are cache-key hashes to spread ketama lookups over the ring.
func benchKeys() []uint64 {
	keys := make([]uint64, 1024)
	for n := range keys {
		keys[n] = keyHash(n)
	}
	return keys
}

// BenchmarkSelect measures one selection among 16 healthy peers; "retry"
// excludes the peer of the first attempt and has one peer down, as a
// second attempt would. The baseline is the round robin of origin.Pool
// before this package: an atomic add and a modulo.
func BenchmarkSelect(b *testing.B) {
	keys := benchKeys()
	b.Run("baseline", func(b *testing.B) {
		var next atomic.Uint64
		peers := benchPeers(16)
		b.ReportAllocs()
		for b.Loop() {
			_ = peers[(next.Add(1)-1)%uint64(len(peers))]
		}
	})
	for _, algo := range algorithms {
		bal := mustNew(b, algo, benchPeers(16))
		b.Run(string(algo), func(b *testing.B) {
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				n++
				if _, ok := bal.Select(keys[n%len(keys)], nil); !ok {
					b.Fatal("no peer with all up")
				}
			}
		})
		b.Run(string(algo)+"/retry", func(b *testing.B) {
			bal.SetUp(3, false)
			defer bal.SetUp(3, true)
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				n++
				key := keys[n%len(keys)]
				first, _ := bal.Select(key, nil)
				if _, ok := bal.Select(key, func(i int) bool { return i == first }); !ok {
					b.Fatal("no second peer")
				}
			}
		})
	}
}

// BenchmarkSelectParallel measures selection plus Begin/Done from every
// core at once, where the shared counters contend.
func BenchmarkSelectParallel(b *testing.B) {
	keys := benchKeys()
	for _, algo := range algorithms {
		bal := mustNew(b, algo, benchPeers(16))
		b.Run(string(algo), func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				n := 0
				for pb.Next() {
					n++
					i, _ := bal.Select(keys[n%len(keys)], nil)
					bal.Begin(i)
					bal.Done(i)
				}
			})
		})
	}
}

// BenchmarkNew measures building a Balancer for 100 peers (weights 1 to 4,
// so 40,000 ring points for ketama), the cost of a membership change.
func BenchmarkNew(b *testing.B) {
	peers := benchPeers(100)
	for _, algo := range algorithms {
		b.Run(string(algo), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := New(algo, peers); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
