package limits

import (
	"context"
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
