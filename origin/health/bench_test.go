package health

import (
	"sync/atomic"
	"testing"
	"time"
)

// benchMonitor returns a Monitor of 8 peers with passive checks on a fake
// clock; peer 7 is ejected.
func benchMonitor(b *testing.B) *Monitor {
	peers := []string{"a:80", "b:80", "c:80", "d:80", "e:80", "f:80", "g:80", "h:80"}
	m := mustMonitor(b, targets(Conn{}, peers...), Options{
		Passive: Passive{MaxFails: 5, Window: 100, MinRequests: 20, MaxErrorRate: 0.5, CoolDown: time.Hour},
		Now:     newClock().Now,
	})
	for range 5 {
		m.Report(7, false)
	}
	return m
}

// BenchmarkHealthyBaseline is the floor: one atomic.Bool load per call.
func BenchmarkHealthyBaseline(b *testing.B) {
	up := make([]atomic.Bool, 8)
	up[0].Store(true)
	b.ReportAllocs()
	for b.Loop() {
		if !up[0].Load() {
			b.Fatal("down")
		}
	}
}

func BenchmarkHealthy(b *testing.B) {
	m := benchMonitor(b)
	b.ReportAllocs()
	for b.Loop() {
		if !m.Healthy(0) {
			b.Fatal("up peer unhealthy")
		}
	}
}

// BenchmarkHealthyEjected reads the clock to see the cool-down is not over.
func BenchmarkHealthyEjected(b *testing.B) {
	m := benchMonitor(b)
	b.ReportAllocs()
	for b.Loop() {
		if m.Healthy(7) {
			b.Fatal("ejected peer healthy")
		}
	}
}

func BenchmarkHealthyParallel(b *testing.B) {
	m := benchMonitor(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			m.Healthy(i & 7)
			i++
		}
	})
}

// BenchmarkReport alternates outcomes on one peer: the window and the
// counts move on every call, and nobody is ejected.
func BenchmarkReport(b *testing.B) {
	m := benchMonitor(b)
	b.ReportAllocs()
	ok := false
	for b.Loop() {
		m.Report(0, ok)
		ok = !ok
	}
}

// BenchmarkReportParallel spreads reports over 7 peers, as a pool's
// misses would be.
func BenchmarkReportParallel(b *testing.B) {
	m := benchMonitor(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			m.Report(i%7, i&1 == 0)
			i++
		}
	})
}
