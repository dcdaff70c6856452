package limits

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// keys reports the keys f's tables hold and the entries they have room
// for.
func (f *InFlight) keys() (n, capacity int) {
	for i := range f.shards {
		s := &f.shards[i]
		s.mu.Lock()
		n += len(s.keys.entries)
		capacity += cap(s.keys.entries)
		s.mu.Unlock()
	}
	return n, capacity
}

func TestInFlightErrors(t *testing.T) {
	for _, err := range []error{ErrTotal, ErrPerKey} {
		if !errors.Is(err, ErrLimited) {
			t.Errorf("errors.Is(%v, ErrLimited) = false, want true", err)
		}
	}
	if errors.Is(ErrTotal, ErrPerKey) || errors.Is(ErrPerKey, ErrTotal) {
		t.Error("ErrTotal and ErrPerKey match each other")
	}
}

// inFlightOp acquires (or, with release set, releases) a slot for key.
type inFlightOp struct {
	release bool
	key     string
	want    error // Acquire's result
}

func TestInFlightAcquire(t *testing.T) {
	tests := []struct {
		name          string
		perKey, total int
		ops           []inFlightOp
		wantTotal     int
		wantKeys      int
	}{
		{"no caps", 0, 0, []inFlightOp{
			{key: "a"}, {key: "a"}, {key: "b"},
		}, 3, 0},
		{"per-key cap", 2, 0, []inFlightOp{
			{key: "a"}, {key: "a"}, {key: "a", want: ErrPerKey},
			{key: "b"}, {key: "b"}, {key: "b", want: ErrPerKey},
			{release: true, key: "a"}, {key: "a"}, {key: "a", want: ErrPerKey},
		}, 4, 2},
		{"total cap", 0, 3, []inFlightOp{
			{key: "a"}, {key: "b"}, {key: "c"}, {key: "d", want: ErrTotal},
			{release: true, key: "b"}, {key: "d"}, {key: "a", want: ErrTotal},
		}, 3, 0},
		{"both caps", 2, 3, []inFlightOp{
			{key: "a"}, {key: "a"}, {key: "a", want: ErrPerKey},
			{key: "b"}, {key: "b", want: ErrTotal}, {key: "a", want: ErrTotal},
			{release: true, key: "a"}, {key: "b"},
		}, 3, 2},
		{"a key goes away at 0", 1, 0, []inFlightOp{
			{key: "a"}, {key: "b"}, {release: true, key: "a"}, {release: true, key: "b"},
		}, 0, 0},
		{"a release for a key not in flight is ignored", 1, 0, []inFlightOp{
			{key: "a"}, {release: true, key: "b"}, {release: true, key: "a"}, {release: true, key: "a"},
			{key: "a"},
		}, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := NewInFlight(tt.perKey, tt.total)
			for i, op := range tt.ops {
				if op.release {
					f.Release(op.key)
					continue
				}
				before := f.Total()
				err := f.Acquire(op.key)
				if !errors.Is(err, op.want) {
					t.Fatalf("op %d: Acquire(%q) = %v, want %v", i, op.key, err, op.want)
				}
				if err != nil && f.Total() != before {
					t.Fatalf("op %d: refused Acquire(%q) moved Total from %d to %d", i, op.key, before, f.Total())
				}
			}
			if got := f.Total(); got != tt.wantTotal {
				t.Errorf("Total() = %d, want %d", got, tt.wantTotal)
			}
			if got, _ := f.keys(); got != tt.wantKeys {
				t.Errorf("keys held = %d, want %d", got, tt.wantKeys)
			}
		})
	}
}

// TestInFlightConcurrent runs many goroutines over a few keys and checks
// that neither cap is ever exceeded and that everything is given back.
func TestInFlightConcurrent(t *testing.T) {
	const (
		goroutines = 32
		rounds     = 200
		keys       = 4
		perKey     = 3
		total      = 8
	)
	f := NewInFlight(perKey, total)
	var cur [keys]atomic.Int64
	var keyPeak [keys]peak
	var totalPeak peak
	var granted, refused atomic.Int64
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for r := range rounds {
				k := (g + r) % keys
				key := fmt.Sprint("10.0.0.", k)
				if err := f.Acquire(key); err != nil {
					if !errors.Is(err, ErrLimited) {
						t.Errorf("Acquire(%q) = %v, want nil or an ErrLimited", key, err)
						return
					}
					refused.Add(1)
					continue
				}
				granted.Add(1)
				keyPeak[k].see(cur[k].Add(1))
				totalPeak.see(int64(f.Total()))
				runtime.Gosched() // hold the slot while others try
				cur[k].Add(-1)
				f.Release(key)
			}
		})
	}
	wg.Wait()
	for k := range keyPeak {
		if got := keyPeak[k].v.Load(); got > perKey {
			t.Errorf("key %d: peak in flight %d, want at most %d", k, got, perKey)
		}
	}
	if got := totalPeak.v.Load(); got > total {
		t.Errorf("peak total in flight %d, want at most %d", got, total)
	}
	if granted.Load()+refused.Load() != goroutines*rounds || granted.Load() == 0 {
		t.Errorf("granted %d, refused %d, want a sum of %d with some granted",
			granted.Load(), refused.Load(), goroutines*rounds)
	}
	if n, _ := f.keys(); f.Total() != 0 || n != 0 {
		t.Errorf("Total() = %d, keys held = %d at rest, want 0, 0", f.Total(), n)
	}
}

// TestInFlightMemoryFollowsLoad holds many keys at once, then releases
// them all: the tables shrink back to their smallest.
func TestInFlightMemoryFollowsLoad(t *testing.T) {
	const clients = 20000
	f := NewInFlight(1, 0)
	keys := make([]string, clients)
	for i := range keys {
		keys[i] = sprayAddr(i)
		if err := f.Acquire(keys[i]); err != nil {
			t.Fatalf("Acquire(%q): %v", keys[i], err)
		}
	}
	n, grown := f.keys()
	if n != clients || grown < clients {
		t.Fatalf("keys held = %d, room for %d, want %d, at least as many", n, grown, clients)
	}
	for _, k := range keys {
		f.Release(k)
	}
	n, shrunk := f.keys()
	if limit := len(f.shards) * minTableCap; n != 0 || shrunk > limit {
		t.Errorf("keys held = %d, room for %d after releasing all, want 0, at most %d", n, shrunk, limit)
	}
	t.Logf("room for %d entries with %d keys in flight, %d with none", grown, clients, shrunk)
}

// TestInFlightNoAlloc checks that a request's Acquire and Release allocate
// nothing, for a key already present or not.
func TestInFlightNoAlloc(t *testing.T) {
	f := NewInFlight(4, 100)
	if err := f.Acquire("192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, key string }{
		{"key present", "192.0.2.1"},
		{"key new", "192.0.2.2"},
	}
	for _, tt := range tests {
		n := testing.AllocsPerRun(100, func() {
			if err := f.Acquire(tt.key); err != nil {
				t.Fatal(err)
			}
			f.Release(tt.key)
		})
		if n != 0 {
			t.Errorf("%s: Acquire and Release: %v allocs, want 0", tt.name, n)
		}
	}
}
