package limits

import (
	"fmt"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
	"unsafe"
)

// newWindow builds a Window or fails the test.
func newWindow(t testing.TB, o WindowOptions) *Window {
	t.Helper()
	w, err := NewWindow(o)
	if err != nil {
		t.Fatalf("NewWindow(%+v): %v", o, err)
	}
	return w
}

func TestNewWindow(t *testing.T) {
	tests := []struct {
		name    string
		o       WindowOptions
		wantErr bool
	}{
		{"fixed", WindowOptions{Limit: 10, Window: time.Second, MaxKeys: 1}, false},
		{"sliding", WindowOptions{Limit: 10, Window: time.Minute, Sliding: true, MaxKeys: 1 << 20}, false},
		{"longest window", WindowOptions{Limit: 1, Window: maxWindow, MaxKeys: 1}, false},
		{"zero limit", WindowOptions{Window: time.Second, MaxKeys: 1}, true},
		{"limit past int32", WindowOptions{Limit: 1 << 31, Window: time.Second, MaxKeys: 1}, true},
		{"zero window", WindowOptions{Limit: 1, MaxKeys: 1}, true},
		{"negative window", WindowOptions{Limit: 1, Window: -time.Second, MaxKeys: 1}, true},
		{"window too long to add", WindowOptions{Limit: 1, Window: maxWindow + 1, MaxKeys: 1}, true},
		{"zero max keys", WindowOptions{Limit: 1, Window: time.Second}, true},
		{"max keys past int32", WindowOptions{Limit: 1, Window: time.Second, MaxKeys: 1 << 31}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := NewWindow(tt.o)
			if (err != nil) != tt.wantErr {
				t.Fatalf("NewWindow(%+v) error = %v, want error: %v", tt.o, err, tt.wantErr)
			}
			if err == nil && w.Len() != 0 {
				t.Errorf("Len() = %d on a new window, want 0", w.Len())
			}
		})
	}
}

// windowStep is one or more requests of key, all at the same instant,
// after the fake clock moves on by after.
type windowStep struct {
	after time.Duration
	key   string
	n     int // requests sent; 0 means 1
	ok    bool
	retry time.Duration // retryAfter wanted when !ok
}

// TestWindowAllow drives windows through their edges on the fake clock,
// which starts at 2000-01-01 00:00:00 UTC: a multiple of every window
// length used here, so windows start with each case.
func TestWindowAllow(t *testing.T) {
	fixed := WindowOptions{Limit: 3, Window: 10 * time.Second, MaxKeys: 100}
	sliding := WindowOptions{Limit: 4, Window: 8 * time.Second, Sliding: true, MaxKeys: 100}
	tests := []struct {
		name    string
		o       WindowOptions
		steps   []windowStep
		wantLen int
	}{
		{"fixed: limit per window, refused until the window ends", fixed, []windowStep{
			{after: 3 * time.Second, key: "a", n: 3, ok: true},
			{key: "a", retry: 7 * time.Second}, // windows are aligned, not started by the first request
			{after: 4 * time.Second, key: "a", retry: 3 * time.Second},
			{after: 3 * time.Second, key: "a", n: 3, ok: true},
			{key: "a", retry: 10 * time.Second},
		}, 1},
		{"fixed: a burst across an edge gets twice the limit", fixed, []windowStep{
			{after: 9 * time.Second, key: "a", n: 3, ok: true},
			{key: "a", retry: time.Second},
			{after: time.Second, key: "a", n: 3, ok: true},
			{key: "a", retry: 10 * time.Second},
		}, 1},
		{"fixed: refusals do not push the window back", fixed, []windowStep{
			{key: "a", n: 3, ok: true},
			{key: "a", n: 5, retry: 10 * time.Second},
			{after: 9 * time.Second, key: "a", n: 5, retry: time.Second},
			{after: time.Second, key: "a", n: 3, ok: true},
		}, 1},
		{"fixed: keys are independent", fixed, []windowStep{
			{key: "a", n: 3, ok: true},
			{key: "a", retry: 10 * time.Second},
			{after: 2 * time.Second, key: "b", n: 3, ok: true},
			{key: "b", retry: 8 * time.Second},
			{key: "a", retry: 8 * time.Second},
		}, 2},
		{"fixed: a key evicted when full starts fresh", WindowOptions{Limit: 1, Window: 10 * time.Second, MaxKeys: 2}, []windowStep{
			{key: "a", ok: true},
			{key: "a", retry: 10 * time.Second},
			{key: "b", ok: true},
			{key: "c", ok: true}, // evicts a, the least recently seen
			{key: "a", ok: true}, // fresh; evicts b
			{key: "c", retry: 10 * time.Second},
			{key: "b", ok: true}, // fresh; evicts a, as c was seen since
			{key: "a", ok: true}, // fresh; evicts c
		}, 2},
		{"fixed: a key seen recently is kept when full", WindowOptions{Limit: 1, Window: 10 * time.Second, MaxKeys: 2}, []windowStep{
			{key: "a", ok: true},
			{key: "b", ok: true},
			{key: "a", retry: 10 * time.Second}, // a is now the most recent
			{key: "c", ok: true},                // evicts b
			{key: "a", retry: 10 * time.Second},
			{key: "b", ok: true},
		}, 2},
		{"sliding: no burst across an edge", sliding, []windowStep{
			{after: 7 * time.Second, key: "a", n: 4, ok: true},
			// Next window at 8 s; 4·(8-e)/8 + 1 <= 4 from e = 2 s.
			{key: "a", retry: 3 * time.Second},
			{after: time.Second, key: "a", retry: 2 * time.Second},
			{after: 2 * time.Second, key: "a", ok: true},
			// 4·(8-e)/8 + 1 + 1 <= 4 from e = 4 s.
			{key: "a", retry: 2 * time.Second},
			{after: 2 * time.Second, key: "a", ok: true},
			{key: "a", retry: 2 * time.Second},
			// At 18 s, 2 s into [16 s, 24 s) after 2 requests in [8 s, 16 s):
			// 2·6/8 + 2 <= 4, but not + 3 until e = 4 s.
			{after: 6 * time.Second, key: "a", n: 2, ok: true},
			{key: "a", retry: 2 * time.Second},
		}, 1},
		{"sliding: refused requests do not count", sliding, []windowStep{
			{key: "a", n: 4, ok: true},
			{key: "a", n: 10, retry: 10 * time.Second},
			{after: 10 * time.Second, key: "a", ok: true},
		}, 1},
		{"sliding: a quiet window clears the count", sliding, []windowStep{
			{key: "a", n: 4, ok: true},
			{after: 16 * time.Second, key: "a", n: 4, ok: true},
			{key: "a", retry: 10 * time.Second},
		}, 1},
		{"sliding: limit 1 waits for the window after next", WindowOptions{Limit: 1, Window: 8 * time.Second, Sliding: true, MaxKeys: 1}, []windowStep{
			{key: "a", ok: true},
			{key: "a", retry: 16 * time.Second},
			{after: 8 * time.Second, key: "a", retry: 8 * time.Second},
			{after: 8 * time.Second, key: "a", ok: true},
		}, 1},
		{"sliding: retryAfter exact to the nanosecond", WindowOptions{Limit: 3, Window: 10 * time.Second, Sliding: true, MaxKeys: 1}, []windowStep{
			{after: 9 * time.Second, key: "a", n: 3, ok: true},
			// 3·(10 s-e)/10 s + 1 <= 3 from e = 10 s - floor(20 s/3).
			{key: "a", retry: 4333333334 * time.Nanosecond},
			{after: 4333333333 * time.Nanosecond, key: "a", retry: time.Nanosecond},
			{after: time.Nanosecond, key: "a", ok: true},
		}, 1},
		{"sliding: keys are independent", sliding, []windowStep{
			{key: "a", n: 4, ok: true},
			{key: "b", n: 4, ok: true},
			{key: "a", retry: 10 * time.Second},
			{key: "c", ok: true},
		}, 3},
		{"sliding: a key evicted when full starts fresh", WindowOptions{Limit: 1, Window: 8 * time.Second, Sliding: true, MaxKeys: 1}, []windowStep{
			{key: "a", ok: true},
			{key: "a", retry: 16 * time.Second},
			{key: "b", ok: true}, // evicts a
			{key: "a", ok: true},
			{key: "a", retry: 16 * time.Second},
		}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				w := newWindow(t, tt.o)
				for i, st := range tt.steps {
					time.Sleep(st.after)
					for range max(st.n, 1) {
						ok, retry := w.Allow(st.key, time.Now())
						if ok != st.ok || !ok && retry != st.retry || ok && retry != 0 {
							t.Fatalf("step %d: Allow(%q) = %v, %v; want %v, %v", i, st.key, ok, retry, st.ok, st.retry)
						}
					}
				}
				if got := w.Len(); got != tt.wantLen {
					t.Errorf("Len() = %d, want %d", got, tt.wantLen)
				}
			})
		})
	}
}

// TestWindowRetryAfterIsEnough checks, for many limits and instants, that
// the first request at the retryAfter a refusal gave is allowed and one a
// nanosecond earlier is not.
func TestWindowRetryAfterIsEnough(t *testing.T) {
	for _, sliding := range []bool{false, true} {
		for limit := 1; limit <= 7; limit++ {
			t.Run(fmt.Sprintf("sliding=%v/limit=%d", sliding, limit), func(t *testing.T) {
				const width = 7 * time.Second
				w := newWindow(t, WindowOptions{Limit: limit, Window: width, Sliding: sliding, MaxKeys: 64})
				start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
				for step := range 40 {
					key := fmt.Sprint("k", step)
					now := start.Add(time.Duration(step) * width / 13)
					for range limit {
						if ok, _ := w.Allow(key, now); !ok {
							t.Fatalf("Allow(%q) refused within the first %d requests", key, limit)
						}
					}
					ok, retry := w.Allow(key, now)
					if ok || retry <= 0 {
						t.Fatalf("Allow(%q) past the limit = %v, %v; want false, > 0", key, ok, retry)
					}
					if ok, _ := w.Allow(key, now.Add(retry-1)); ok {
						t.Fatalf("Allow(%q) allowed 1ns before its retryAfter %v", key, retry)
					}
					if ok, _ := w.Allow(key, now.Add(retry)); !ok {
						t.Fatalf("Allow(%q) refused at its retryAfter %v", key, retry)
					}
				}
			})
		}
	}
}

// TestWindowConcurrent sends requests of a few keys from many goroutines
// at one instant: exactly Limit of each key's get through.
func TestWindowConcurrent(t *testing.T) {
	const (
		goroutines = 16
		rounds     = 200
		keys       = 8
		limit      = 50
	)
	for _, sliding := range []bool{false, true} {
		t.Run(fmt.Sprintf("sliding=%v", sliding), func(t *testing.T) {
			w := newWindow(t, WindowOptions{Limit: limit, Window: time.Minute, Sliding: sliding, MaxKeys: keys})
			now := time.Date(2026, 1, 1, 0, 0, 30, 0, time.UTC)
			var allowed [keys]atomic.Int64
			var wg sync.WaitGroup
			for g := range goroutines {
				wg.Go(func() {
					for r := range rounds {
						k := (g + r) % keys
						if ok, _ := w.Allow(fmt.Sprint("client-", k), now); ok {
							allowed[k].Add(1)
						}
					}
				})
			}
			wg.Wait()
			for k := range allowed {
				if got := allowed[k].Load(); got != limit {
					t.Errorf("key %d: %d allowed, want %d", k, got, limit)
				}
			}
		})
	}
}

// TestWindowAllowNoAlloc checks that a request of a tracked key allocates
// nothing.
func TestWindowAllowNoAlloc(t *testing.T) {
	w := newWindow(t, WindowOptions{Limit: 1 << 30, Window: time.Minute, Sliding: true, MaxKeys: 16})
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	w.Allow("192.0.2.1", now)
	if n := testing.AllocsPerRun(100, func() { w.Allow("192.0.2.1", now) }); n != 0 {
		t.Errorf("Allow of a tracked key: %v allocs, want 0", n)
	}
}

// sprayAddr returns the i-th address of a spray: even i IPv4, odd i IPv6,
// all distinct for i < 1<<32.
func sprayAddr(i int) string {
	if i%2 == 0 {
		return netip.AddrFrom4([4]byte{byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)}).String()
	}
	a := [16]byte{0x20, 0x01, 0x0d, 0xb8, 12: byte(i >> 24), 13: byte(i >> 16), 14: byte(i >> 8), 15: byte(i)}
	return netip.AddrFrom16(a).String()
}

// TestWindowIPSpray sends a million distinct client addresses through a
// Window while a hot client hammers it. The table stays within MaxKeys,
// the heap grows by at most twice MaxKeys entries' worth, and the hot
// client, seen far more often than any shard fills, keeps its count.
//
// An entry's worth: its tableEntry, up to 4 index slots of 4 bytes (the
// index is at most 4 times the entries, at least twice) and its key's
// copy, at most 39 bytes for an IPv6 address: a 48-byte allocation.
func TestWindowIPSpray(t *testing.T) {
	const (
		spray      = 1_000_000
		maxKeys    = 65536
		limit      = 100
		goroutines = 4
		hotEvery   = 64 // spray requests between two of the hot client's
		hot        = "198.51.100.7"
	)
	perEntry := int64(unsafe.Sizeof(tableEntry[counter]{})) + 4*4 + 48
	bound := maxKeys * perEntry * 2

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	w := newWindow(t, WindowOptions{Limit: limit, Window: time.Minute, Sliding: true, MaxKeys: maxKeys})
	now := time.Date(2026, 1, 1, 0, 0, 30, 0, time.UTC)
	var hotAllowed, hotRefused atomic.Int64
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := g; i < spray; i += goroutines {
				if ok, _ := w.Allow(sprayAddr(i), now); !ok {
					t.Errorf("Allow(%q) refused the first request of a new address", sprayAddr(i))
					return
				}
				if i%hotEvery != g {
					continue
				}
				switch ok, retry := w.Allow(hot, now); {
				case ok:
					hotAllowed.Add(1)
				case retry <= 0:
					t.Errorf("hot client refused with retryAfter %v, want > 0", retry)
					return
				default:
					hotRefused.Add(1)
				}
			}
		})
	}
	wg.Wait()

	runtime.GC()
	runtime.ReadMemStats(&after)
	growth := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	n := w.Len()
	runtime.KeepAlive(w)
	t.Logf("%d addresses: Len() = %d, heap growth %d bytes (%.1f per key), bound %d",
		spray, n, growth, float64(growth)/maxKeys, bound)
	if n > maxKeys {
		t.Errorf("Len() = %d after the spray, want at most %d", n, maxKeys)
	}
	if growth > bound {
		t.Errorf("heap grew by %d bytes, want at most %d", growth, bound)
	}
	if got := hotAllowed.Load(); got != limit {
		t.Errorf("hot client allowed %d times during the spray, want %d", got, limit)
	}
	if hotRefused.Load() == 0 {
		t.Error("hot client never refused")
	}
}
