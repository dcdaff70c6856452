package cachestore

import (
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/dgraph-io/ristretto/v2"

	"github.com/cdnnode/cdnnode/keys"
)

// ErrTooLarge reports an object larger than the store's MaxObjectBytes.
var ErrTooLarge = errors.New("cachestore: object larger than max_object_size")

// Options size a Store.
type Options struct {
	MemoryBytes    int64 // memory tier capacity, in bytes of Object.Size
	MaxObjectBytes int64 // largest object a Writer accepts; 0 means MemoryBytes
}

// Store is the memory tier. Safe for concurrent use.
type Store struct {
	mem       *ristretto.Cache[uint64, *Object]
	maxObject int64
	evictions atomic.Uint64 // objects pushed out by capacity, not by Delete
}

// assumedObjectBytes sizes ristretto's admission counters: about ten
// counters per object of this average size fit the capacity.
const assumedObjectBytes = 4 << 10

// New builds a Store. Close it to stop ristretto's goroutines.
func New(o Options) (*Store, error) {
	if o.MemoryBytes <= 0 {
		return nil, fmt.Errorf("cachestore: memory size %d must be positive", o.MemoryBytes)
	}
	if o.MaxObjectBytes <= 0 || o.MaxObjectBytes > o.MemoryBytes {
		o.MaxObjectBytes = o.MemoryBytes
	}
	s := &Store{maxObject: o.MaxObjectBytes}
	counters := max(o.MemoryBytes/assumedObjectBytes*10, 1000)
	mem, err := ristretto.NewCache(&ristretto.Config[uint64, *Object]{
		NumCounters:        counters,
		MaxCost:            o.MemoryBytes,
		BufferItems:        64,
		Metrics:            true,
		IgnoreInternalCost: true,
		KeyToHash:          func(h uint64) (uint64, uint64) { return h, 0 },
		OnEvict:            func(*ristretto.Item[*Object]) { s.evictions.Add(1) },
	})
	if err != nil {
		return nil, fmt.Errorf("cachestore: memory tier: %w", err)
	}
	s.mem = mem
	return s, nil
}

// Close releases the memory tier; the Store must not be used afterwards.
func (s *Store) Close() { s.mem.Close() }

// MaxObjectBytes is the largest body a Writer accepts.
func (s *Store) MaxObjectBytes() int64 { return s.maxObject }

// Get returns the object stored under k. A hash match whose full key differs
// (a collision) is a miss.
func (s *Store) Get(k keys.Key) (*Object, bool) {
	o, ok := s.mem.Get(k.Hash)
	if !ok || o.Key != k.Full {
		return nil, false
	}
	return o, true
}

// Put stores a complete object under k, replacing what was there, and
// waits until it is visible to Get, so the next request sees it. It reports
// false if the object was not stored: a body over MaxObjectBytes, a total
// cost over the memory tier, or refused by the tier's admission policy.
func (s *Store) Put(k keys.Key, o *Object) bool {
	o.Key = k.Full
	size := o.Size()
	if int64(len(o.Body)) > s.maxObject || size > s.mem.MaxCost() {
		return false
	}
	// A replacement goes through admission and eviction as a new item:
	// ristretto's in-place update would change the cost without evicting
	// anything, letting memory grow past its bound.
	s.mem.Del(k.Hash)
	s.mem.Set(k.Hash, o, size)
	s.mem.Wait()
	got, ok := s.mem.Get(k.Hash)
	return ok && got == o
}

// Delete removes whatever is stored under k.
func (s *Store) Delete(k keys.Key) {
	s.mem.Del(k.Hash)
	s.mem.Wait()
}

// Stats are the memory tier's counters.
type Stats struct {
	Objects   uint64 // objects stored now
	Bytes     uint64 // their total cost
	Evictions uint64 // objects evicted for capacity since start
}

// Stats reads the memory tier's counters.
func (s *Store) Stats() Stats {
	m := s.mem.Metrics
	return Stats{
		Objects:   m.KeysAdded() - m.KeysEvicted(),
		Bytes:     m.CostAdded() - m.CostEvicted(),
		Evictions: s.evictions.Load(),
	}
}
