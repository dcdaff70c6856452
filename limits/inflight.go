package limits

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
)

// InFlight's refusals. Both wrap ErrLimited.
var (
	// ErrTotal: the total cap on requests in flight is reached.
	ErrTotal error = inFlightError("in flight: total cap reached")
	// ErrPerKey: the key's cap on requests in flight is reached.
	ErrPerKey error = inFlightError("in flight: per-key cap reached")
)

// inFlightError is a refusal by an InFlight.
type inFlightError string

// Error returns the refusal's text.
func (e inFlightError) Error() string { return string(e) }

// Unwrap returns ErrLimited.
func (e inFlightError) Unwrap() error { return ErrLimited }

// inFlightShardBits is log2 of the number of per-key tables of an InFlight.
const inFlightShardBits = 6

// InFlight caps requests being served at once, per key (a client address)
// and in total. Safe for concurrent use.
//
// Per-key counts live in sharded tables, each with its own lock, whose
// entries go away when their count returns to 0; a table halves when a
// quarter full. Memory thus follows the requests in flight, not the keys
// ever seen. A request of a key already present allocates nothing, nor,
// once the tables have grown to the load, does a new key's.
type InFlight struct {
	perKey int          // 0: no per-key cap and no tables
	total  int64        // 0: no total cap
	n      atomic.Int64 // requests in flight now
	seed   uint64       // scrambles key hashes, see keyHash
	shards []inFlightShard
}

// inFlightShard is one share of an InFlight's keys.
type inFlightShard struct {
	mu   sync.Mutex    // guards keys
	keys keyTable[int] // requests in flight per key, all above 0
	_    [64]byte      // keeps neighbouring shards' locks off one cache line
}

// NewInFlight returns an InFlight allowing perKey requests in flight per
// key and total in all; 0 (or less) means no cap of that kind.
func NewInFlight(perKey, total int) *InFlight {
	f := &InFlight{perKey: max(perKey, 0), total: int64(max(total, 0))}
	if f.perKey > 0 {
		f.seed = rand.Uint64()
		f.shards = make([]inFlightShard, 1<<inFlightShardBits)
	}
	return f
}

// Acquire takes a slot for key. When a cap is reached it returns ErrTotal
// or ErrPerKey, taking nothing; otherwise the caller must call Release
// with the same key once the request ends. Acquire keeps key itself, not
// a copy, while key has requests in flight.
//
// The total is taken first and given back if the key's cap refuses, so
// Total never exceeds its cap but may, for that moment, count a request
// about to be refused: at the cap, a request racing it may then be
// refused too.
func (f *InFlight) Acquire(key string) error {
	if !f.takeTotal() {
		return ErrTotal
	}
	if f.perKey > 0 && !f.acquireKey(key) {
		f.n.Add(-1)
		return ErrPerKey
	}
	return nil
}

// takeTotal counts one more request in flight unless that would pass the
// total cap.
func (f *InFlight) takeTotal() bool {
	if f.total == 0 {
		f.n.Add(1)
		return true
	}
	// Each failed swap means another Acquire or Release moved the count
	// meanwhile, so the loop ends within as many rounds as callers racing.
	for n := f.n.Load(); n < f.total; n = f.n.Load() {
		if f.n.CompareAndSwap(n, n+1) {
			return true
		}
	}
	return false
}

// acquireKey counts one more request of key unless key is at its cap.
func (f *InFlight) acquireKey(key string) bool {
	h := keyHash(f.seed, key)
	s := f.shard(h)
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.keys.find(h, key)
	if i < 0 {
		i = s.keys.add(h, key)
	}
	c := &s.keys.entries[i].val
	if *c >= f.perKey {
		return false
	}
	*c++
	return true
}

// Release gives back a slot Acquire took for key. With a per-key cap, a
// Release for a key with nothing in flight is ignored; without one, an
// unmatched Release makes Total undercount.
func (f *InFlight) Release(key string) {
	if f.perKey > 0 && !f.releaseKey(key) {
		return
	}
	f.n.Add(-1)
}

// releaseKey counts one request of key fewer, removing key at 0, and
// reports whether key had any in flight.
func (f *InFlight) releaseKey(key string) bool {
	h := keyHash(f.seed, key)
	s := f.shard(h)
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.keys.find(h, key)
	if i < 0 {
		return false
	}
	c := &s.keys.entries[i].val
	*c--
	if *c == 0 {
		s.keys.remove(i)
	}
	return true
}

// shard returns the table of keys hashing to h. It picks by the top bits,
// as the table's index uses the bottom ones.
func (f *InFlight) shard(h uint64) *inFlightShard {
	return &f.shards[h>>(64-inFlightShardBits)]
}

// Total reports the requests in flight now, never above the total cap; it
// may briefly count a request about to be refused for its key.
func (f *InFlight) Total() int { return int(f.n.Load()) }
