package limits

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestChain(t *testing.T) {
	t.Run("peer refuses: pool slot released", func(t *testing.T) {
		pool := newLimiter(t, "pool a", Options{MaxInFlight: 1})
		peer := newLimiter(t, "peer b", Options{MaxInFlight: 1})
		busy := mustAcquire(t, peer)
		_, err := Chain{Pool: pool, Peer: peer}.Acquire(context.Background())
		wantLimited(t, err, "peer b", ReasonInFlight)
		if got := pool.InFlight(); got != 0 {
			t.Errorf("pool InFlight() = %d after the peer refused, want 0", got)
		}
		p := mustAcquire(t, pool) // the pool's only slot is free again
		p.Release()
		busy.Release()
	})

	t.Run("pool refuses: peer untouched", func(t *testing.T) {
		pool := newLimiter(t, "pool a", Options{MaxInFlight: 1})
		peer := newLimiter(t, "peer b", Options{MaxInFlight: 1})
		busy := mustAcquire(t, pool)
		_, err := Chain{Pool: pool, Peer: peer}.Acquire(context.Background())
		wantLimited(t, err, "pool a", ReasonInFlight)
		if peer.InFlight() != 0 || peer.Acquired() != 0 {
			t.Errorf("peer InFlight() = %d, Acquired() = %d, want 0, 0", peer.InFlight(), peer.Acquired())
		}
		busy.Release()
	})

	t.Run("both granted, released once", func(t *testing.T) {
		pool := newLimiter(t, "pool a", Options{MaxInFlight: 2})
		peer := newLimiter(t, "peer b", Options{MaxInFlight: 1})
		ps, err := Chain{Pool: pool, Peer: peer}.Acquire(context.Background())
		if err != nil {
			t.Fatalf("Chain.Acquire: %v", err)
		}
		if pool.InFlight() != 1 || peer.InFlight() != 1 {
			t.Errorf("in flight: pool %d, peer %d, want 1, 1", pool.InFlight(), peer.InFlight())
		}
		ps.Release()
		ps.Release()
		if pool.InFlight() != 0 || peer.InFlight() != 0 || pool.BadReleases()+peer.BadReleases() != 0 {
			t.Errorf("after release: pool %d, peer %d in flight, %d bad releases, want 0, 0, 0",
				pool.InFlight(), peer.InFlight(), pool.BadReleases()+peer.BadReleases())
		}
	})

	t.Run("nil limiters", func(t *testing.T) {
		ps, err := Chain{}.Acquire(context.Background())
		if err != nil {
			t.Fatalf("Chain{}.Acquire: %v", err)
		}
		ps.Release()
	})
}

// TestChainConcurrent runs 64 goroutines through a pool shared by two
// peers and checks that neither the pool nor any peer exceeds its cap.
func TestChainConcurrent(t *testing.T) {
	const (
		goroutines = 64
		rounds     = 50
		poolMax    = 3
		peerMax    = 2
	)
	opts := func(n int) Options {
		return Options{MaxInFlight: n, MaxWait: 30 * time.Second, MaxQueue: goroutines}
	}
	pool := newLimiter(t, "pool a", opts(poolMax))
	peers := [2]*Limiter{newLimiter(t, "peer 0", opts(peerMax)), newLimiter(t, "peer 1", opts(peerMax))}
	var poolCur atomic.Int64
	var peerCur [2]atomic.Int64
	var poolTop, peerTop peak
	var wg sync.WaitGroup
	for i := range goroutines {
		wg.Go(func() {
			peer := i % 2
			c := Chain{Pool: pool, Peer: peers[peer]}
			for range rounds {
				ps, err := c.Acquire(context.Background())
				if err != nil {
					t.Errorf("Chain.Acquire: %v", err)
					return
				}
				poolTop.see(poolCur.Add(1))
				peerTop.see(peerCur[peer].Add(1))
				peerCur[peer].Add(-1)
				poolCur.Add(-1)
				ps.Release()
			}
		})
	}
	wg.Wait()
	if got := poolTop.v.Load(); got > poolMax {
		t.Errorf("pool peak in flight = %d, want at most %d", got, poolMax)
	}
	if got := peerTop.v.Load(); got > peerMax {
		t.Errorf("peer peak in flight = %d, want at most %d", got, peerMax)
	}
	if pool.InFlight() != 0 || peers[0].InFlight() != 0 || peers[1].InFlight() != 0 {
		t.Error("permits still held after every goroutine released")
	}
}
