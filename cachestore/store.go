package cachestore

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/dgraph-io/ristretto/v2"

	"github.com/cdnnode/cdnnode/keys"
)

// ErrTooLarge reports an object larger than the store's MaxObjectBytes.
var ErrTooLarge = errors.New("cachestore: object larger than the memory tier accepts")

// Options size a Store.
type Options struct {
	Shards         int   // number of shards, one per worker group; 0 means 1
	MemoryBytes    int64 // memory tier capacity across all shards, in bytes of Object.Size
	MaxObjectBytes int64 // largest object a Writer accepts; 0 means one shard's memory
}

// Store is the cache: a fixed set of shards, each owning the keys whose hash
// maps to it. Any goroutine reaches any shard directly; no lock is shared by
// all shards. Safe for concurrent use.
type Store struct {
	shards    []*Shard
	maxObject int64
}

// Shard is one shard's memory tier. Its counters are its own.
type Shard struct {
	id        int
	mem       *ristretto.Cache[uint64, *Object]
	evictions atomic.Uint64 // objects pushed out by capacity, not by Delete
}

// assumedObjectBytes sizes ristretto's admission counters: about ten
// counters per object of this average size fit the capacity.
const assumedObjectBytes = 4 << 10

// New builds a Store, splitting the memory budget evenly across shards.
// Close it to stop ristretto's goroutines.
func New(o Options) (*Store, error) {
	if o.Shards <= 0 {
		o.Shards = 1
	}
	if o.MemoryBytes <= 0 {
		return nil, fmt.Errorf("cachestore: memory size %d must be positive", o.MemoryBytes)
	}
	perShard := o.MemoryBytes / int64(o.Shards)
	if o.MaxObjectBytes <= 0 || o.MaxObjectBytes > perShard {
		o.MaxObjectBytes = perShard
	}
	s := &Store{shards: make([]*Shard, o.Shards), maxObject: o.MaxObjectBytes}
	for i := range s.shards {
		sh, err := newShard(i, perShard)
		if err != nil {
			s.Close()
			return nil, err
		}
		s.shards[i] = sh
	}
	return s, nil
}

func newShard(id int, memory int64) (*Shard, error) {
	sh := &Shard{id: id}
	mem, err := ristretto.NewCache(&ristretto.Config[uint64, *Object]{
		NumCounters:        max(memory/assumedObjectBytes*10, 1000),
		MaxCost:            memory,
		BufferItems:        64,
		Metrics:            true,
		IgnoreInternalCost: true,
		KeyToHash:          func(h uint64) (uint64, uint64) { return h, 0 },
		OnEvict:            func(*ristretto.Item[*Object]) { sh.evictions.Add(1) },
	})
	if err != nil {
		return nil, fmt.Errorf("cachestore: shard %d memory tier: %w", id, err)
	}
	sh.mem = mem
	return sh, nil
}

// Close releases every shard; the Store must not be used afterwards.
func (s *Store) Close() {
	for _, sh := range s.shards {
		if sh != nil {
			sh.mem.Close()
		}
	}
}

// Shards are the store's shards, indexed as keys.Key.Shard numbers them.
func (s *Store) Shards() []*Shard { return s.shards }

// Run is the shard owner's loop: the work on the shard's own state that no
// request does inline. It returns when ctx ends.
func (sh *Shard) Run(ctx context.Context) { <-ctx.Done() }

// shard is the shard that owns k.
func (s *Store) shard(k keys.Key) *Shard { return s.shards[k.Shard(len(s.shards))] }

// MaxObjectBytes is the largest body a Writer accepts.
func (s *Store) MaxObjectBytes() int64 { return s.maxObject }

// Get returns the object stored under k. A hash match whose full key differs
// (a collision) is a miss.
func (s *Store) Get(k keys.Key) (*Object, bool) {
	o, ok := s.shard(k).mem.Get(k.Hash)
	if !ok || o.Key != k.Full {
		return nil, false
	}
	return o, true
}

// Put stores a complete object under k, replacing what was there, and
// waits until it is visible to Get, so the next request sees it. It reports
// false if the object was not stored: a body over MaxObjectBytes, a total
// cost over the shard's memory, or refused by the tier's admission policy.
func (s *Store) Put(k keys.Key, o *Object) bool {
	o.Key = k.Full
	mem := s.shard(k).mem
	size := o.Size()
	if int64(len(o.Body)) > s.maxObject || size > mem.MaxCost() {
		return false
	}
	// A replacement goes through admission and eviction as a new item:
	// ristretto's in-place update would change the cost without evicting
	// anything, letting memory grow past its bound.
	mem.Del(k.Hash)
	mem.Set(k.Hash, o, size)
	mem.Wait()
	// GetTTL sees whether it was admitted without counting a lookup.
	_, ok := mem.GetTTL(k.Hash)
	return ok
}

// Delete removes whatever is stored under k.
func (s *Store) Delete(k keys.Key) {
	mem := s.shard(k).mem
	mem.Del(k.Hash)
	mem.Wait()
}

// Stats are a memory tier's counters.
type Stats struct {
	Objects   uint64 // objects stored now
	Bytes     uint64 // their total cost
	Evictions uint64 // objects evicted for capacity since start
	Hits      uint64 // lookups that found an object
	Misses    uint64 // lookups that found none
	Rejected  uint64 // objects the admission policy turned away
}

// Stats reads one shard's counters.
func (sh *Shard) Stats() Stats {
	m := sh.mem.Metrics
	return Stats{
		Objects:   m.KeysAdded() - m.KeysEvicted(),
		Bytes:     m.CostAdded() - m.CostEvicted(),
		Evictions: sh.evictions.Load(),
		Hits:      m.Hits(),
		Misses:    m.Misses(),
		Rejected:  m.SetsRejected(),
	}
}

// Stats sums every shard's counters.
func (s *Store) Stats() Stats {
	var t Stats
	for _, sh := range s.shards {
		st := sh.Stats()
		t.Objects += st.Objects
		t.Bytes += st.Bytes
		t.Evictions += st.Evictions
		t.Hits += st.Hits
		t.Misses += st.Misses
		t.Rejected += st.Rejected
	}
	return t
}
