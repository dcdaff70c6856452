package limits

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// benchCases are the limiters benchmarked, from the baseline up; none ever
// makes a caller wait.
var benchCases = []struct {
	name string
	o    Options
}{
	{"in_flight", Options{MaxInFlight: 1024, MaxWait: time.Second, MaxQueue: 1024}},
	{"rate", Options{Rate: 1e12, Burst: 1 << 20, MaxWait: time.Second, MaxQueue: 1024}},
	{"both", Options{MaxInFlight: 1024, Rate: 1e12, Burst: 1 << 20, MaxWait: time.Second, MaxQueue: 1024}},
}

// BenchmarkAcquireRelease measures an uncontended grant and release. The
// baseline is a bare buffered-channel semaphore; nil is a limiter that
// limits nothing.
func BenchmarkAcquireRelease(b *testing.B) {
	b.Run("baseline_chan", func(b *testing.B) {
		sem := make(chan struct{}, 1024)
		b.ReportAllocs()
		for b.Loop() {
			sem <- struct{}{}
			<-sem
		}
	})
	b.Run("nil", func(b *testing.B) {
		var l *Limiter
		benchSerial(b, l)
	})
	for _, bc := range benchCases {
		b.Run(bc.name, func(b *testing.B) {
			benchSerial(b, newLimiter(b, "pool a", bc.o))
		})
	}
	b.Run("chain_both", func(b *testing.B) {
		c := Chain{Pool: newLimiter(b, "pool a", benchCases[2].o), Peer: newLimiter(b, "peer b", benchCases[2].o)}
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			ps, err := c.Acquire(ctx)
			if err != nil {
				b.Fatal(err)
			}
			ps.Release()
		}
	})
}

// benchSerial acquires and releases l in a loop.
func benchSerial(b *testing.B, l *Limiter) {
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		p, err := l.Acquire(ctx)
		if err != nil {
			b.Fatal(err)
		}
		p.Release()
	}
}

// BenchmarkAcquireReleaseParallel measures grants and releases from every
// P at once against one limiter, as a busy pool sees them.
func BenchmarkAcquireReleaseParallel(b *testing.B) {
	b.Run("baseline_chan", func(b *testing.B) {
		sem := make(chan struct{}, 1024)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				sem <- struct{}{}
				<-sem
			}
		})
	})
	for _, bc := range benchCases {
		b.Run(bc.name, func(b *testing.B) {
			l := newLimiter(b, "pool a", bc.o)
			ctx := context.Background()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					p, err := l.Acquire(ctx)
					if err != nil {
						b.Error(err)
						return
					}
					p.Release()
				}
			})
		})
	}
}

// benchClients are the client addresses the Window and InFlight
// benchmarks use, made before timing starts.
var benchClients = func() []string {
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = sprayAddr(i)
	}
	return keys
}()

// benchParallel runs op from every P: with one_key all on benchClients[0],
// with spread each goroutine on its own run of benchClients.
func benchParallel(b *testing.B, spread bool, op func(key string)) {
	var goroutines atomic.Uint32
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		if spread {
			i = int(goroutines.Add(1)) * 64
		}
		for pb.Next() {
			op(benchClients[i%len(benchClients)])
			if spread {
				i++
			}
		}
	})
}

// BenchmarkWindowAllow measures Allow for keys already tracked, from every
// P at once: one_key puts every P on one shard's lock, spread lets them
// use many. The baseline is a plain map of counts under one mutex, no
// windows and no memory bound.
func BenchmarkWindowAllow(b *testing.B) {
	now := time.Date(2026, 1, 1, 0, 0, 30, 0, time.UTC)
	modes := []struct {
		name   string
		spread bool
	}{{"one_key", false}, {"spread", true}}
	for _, m := range modes {
		b.Run("baseline_map/"+m.name, func(b *testing.B) {
			var mu sync.Mutex
			counts := make(map[string]int, len(benchClients))
			for _, k := range benchClients {
				counts[k] = 0
			}
			benchParallel(b, m.spread, func(key string) {
				mu.Lock()
				counts[key]++
				mu.Unlock()
			})
		})
		for _, sliding := range []bool{false, true} {
			name := "fixed/"
			if sliding {
				name = "sliding/"
			}
			b.Run(name+m.name, func(b *testing.B) {
				w := newWindow(b, WindowOptions{Limit: math.MaxInt32, Window: time.Minute, Sliding: sliding, MaxKeys: 65536})
				for _, k := range benchClients {
					w.Allow(k, now)
				}
				benchParallel(b, m.spread, func(key string) { w.Allow(key, now) })
			})
		}
	}
}

// BenchmarkInFlight measures an Acquire and its Release from every P at
// once. With spread, each client has mostly one request in flight, so its
// entry comes and goes every time. The baseline is a map of counts under
// one mutex.
func BenchmarkInFlight(b *testing.B) {
	modes := []struct {
		name   string
		spread bool
	}{{"one_key", false}, {"spread", true}}
	for _, m := range modes {
		b.Run("baseline_map/"+m.name, func(b *testing.B) {
			var mu sync.Mutex
			counts := make(map[string]int)
			benchParallel(b, m.spread, func(key string) {
				mu.Lock()
				counts[key]++
				mu.Unlock()
				mu.Lock()
				if counts[key]--; counts[key] == 0 {
					delete(counts, key)
				}
				mu.Unlock()
			})
		})
		caps := []struct {
			name          string
			perKey, total int
		}{{"total", 0, 1 << 20}, {"per_key", 1 << 20, 0}, {"both", 1 << 20, 1 << 20}}
		for _, c := range caps {
			b.Run(c.name+"/"+m.name, func(b *testing.B) {
				f := NewInFlight(c.perKey, c.total)
				benchParallel(b, m.spread, func(key string) {
					if err := f.Acquire(key); err != nil {
						b.Error(err)
						return
					}
					f.Release(key)
				})
			})
		}
	}
}
