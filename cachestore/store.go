package cachestore

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/cespare/xxhash/v2"
	"github.com/dgraph-io/ristretto/v2"

	"github.com/cdnnode/cdnnode/cachestore/disk"
	"github.com/cdnnode/cdnnode/keys"
	"github.com/cdnnode/cdnnode/metrics"
)

// ErrTooLarge reports an object larger than the store accepts.
var ErrTooLarge = errors.New("cachestore: object larger than the cache accepts")

// Options size a Store.
type Options struct {
	Shards               int   // number of shards, one per worker group; 0 means 1
	MemoryBytes          int64 // memory tier capacity across all shards, in bytes of Object.Size
	MaxMemoryObjectBytes int64 // largest body kept in memory; 0 means one shard's memory
	MaxObjectBytes       int64 // largest body stored at all, on disk past MaxMemoryObjectBytes; without a disk tier, MaxMemoryObjectBytes
	FillBytes            int64 // memory all in-flight fills may buffer, across shards; 0 means MemoryBytes/8
	Disk                 DiskOptions
	Logger               *slog.Logger // nil discards
}

// Store is the cache: a fixed set of shards, each owning the keys whose hash
// maps to it. Any goroutine reaches any shard directly; no lock is shared by
// all shards. Safe for concurrent use.
type Store struct {
	shards    []*Shard
	maxMemory int64 // largest body in memory
	maxObject int64 // largest body stored
	files     bodyFiles
}

// Shard is one shard: its memory tier, its disk tier if any, and its own
// counters.
type Shard struct {
	id  int
	log *slog.Logger
	mem *ristretto.Cache[uint64, *Object]

	// Counted off the hit path, so a hit writes no shared cache line: sets
	// and misses by the requests that fill or miss, the rest by ristretto's
	// own goroutine. Memory hits are counted per worker by the caller.
	sets      atomic.Uint64 // objects handed to the memory tier
	exits     atomic.Uint64 // objects that left it: evicted, rejected or deleted
	evictions atomic.Uint64 // objects evicted for capacity
	rejected  atomic.Uint64 // objects the admission policy turned away
	misses    atomic.Uint64 // memory lookups that found nothing

	cat *catalog // every object of either tier, by key and surrogate key

	fillCap  int64        // bytes this shard's in-flight fills may buffer
	filling  atomic.Int64 // bytes they buffer now
	disk     *disk.Tier   // nil without a disk tier
	jobs     chan diskJob // write-throughs and deletes for the owner, in order
	counters diskCounters

	demandMu sync.Mutex
	demand   map[uint64]int // requests for a transcode of the object at a key (Store.Demand)
}

// maxDemand bounds a shard's demand table; a full table starts again empty.
const maxDemand = 4096

// Demand counts one more request for a transcode of the object stored
// under k and reports whether the count reached n, which starts it again
// at zero: the caller should store the transcode. The counts live in a
// small table per shard, not in the object, so that objects held only on
// disk (a new Object per lookup) count too. Safe for concurrent use.
func (s *Store) Demand(k keys.Key, n int) bool {
	sh := s.shard(k)
	sh.demandMu.Lock()
	defer sh.demandMu.Unlock()
	if sh.demand == nil || len(sh.demand) >= maxDemand {
		sh.demand = make(map[uint64]int)
	}
	sh.demand[k.Hash]++
	if sh.demand[k.Hash] < n {
		return false
	}
	delete(sh.demand, k.Hash)
	return true
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
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	perShard := o.MemoryBytes / int64(o.Shards)
	if o.MaxMemoryObjectBytes <= 0 || o.MaxMemoryObjectBytes > perShard {
		o.MaxMemoryObjectBytes = perShard
	}
	if o.Disk.Dir == "" || o.MaxObjectBytes < o.MaxMemoryObjectBytes {
		o.MaxObjectBytes = o.MaxMemoryObjectBytes
	}
	if o.FillBytes <= 0 {
		o.FillBytes = o.MemoryBytes / 8
	}
	s := &Store{shards: make([]*Shard, o.Shards), maxMemory: o.MaxMemoryObjectBytes, maxObject: o.MaxObjectBytes}
	s.files.max = o.MemoryBytes / 4
	for i := range s.shards {
		sh, err := newShard(i, perShard, o.Logger)
		if err == nil {
			sh.fillCap = o.FillBytes / int64(o.Shards)
		}
		if err == nil && o.Disk.Dir != "" {
			sh.disk, err = sh.openDisk(o.Shards, o.Disk)
			sh.jobs = make(chan diskJob, diskQueue)
		}
		if err != nil {
			s.Close()
			return nil, err
		}
		s.shards[i] = sh
	}
	return s, nil
}

func newShard(id int, memory int64, log *slog.Logger) (*Shard, error) {
	sh := &Shard{id: id, log: log, cat: newCatalog()}
	mem, err := ristretto.NewCache(&ristretto.Config[uint64, *Object]{
		NumCounters:        max(memory/assumedObjectBytes*10, 1000),
		MaxCost:            memory,
		BufferItems:        64,
		IgnoreInternalCost: true,
		KeyToHash:          func(h uint64) (uint64, uint64) { return h, 0 },
		OnEvict:            func(*ristretto.Item[*Object]) { sh.evictions.Add(1) },
		OnReject:           func(*ristretto.Item[*Object]) { sh.rejected.Add(1) },
		OnExit: func(o *Object) {
			if o != nil {
				sh.exits.Add(1)
				sh.cat.memOut(xxhash.Sum64String(o.Key), o)
			}
		},
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

// shard is the shard that owns k.
func (s *Store) shard(k keys.Key) *Shard { return s.shards[k.Shard(len(s.shards))] }

// MaxObjectBytes is the largest body the store keeps, in memory or on disk.
func (s *Store) MaxObjectBytes() int64 { return s.maxObject }

// Tier says where Lookup found an object.
type Tier uint8

// The tiers.
const (
	Missed Tier = iota // in neither tier
	Memory
	Disk
)

// Lookup returns the object stored under k and the tier it came from:
// memory, or else the disk tier (a memory hit never touches the disk nor
// writes a counter). A hash match whose full key differs (a collision) is
// a miss. The caller must Release the object when done with it.
func (s *Store) Lookup(k keys.Key) (*Object, Tier) {
	sh := s.shard(k)
	if o := fromMemory(sh, k.Hash, k.Full); o != nil {
		return o, Memory
	}
	sh.misses.Add(1)
	if sh.disk == nil {
		return nil, Missed
	}
	if o, ok := sh.fromDisk(k, s.maxMemory); ok {
		return o, Disk
	}
	return nil, Missed
}

// Memory returns the object the memory tier holds under the key whose
// Hash is hash and Full is full (keys.AppendFull, keys.HashOf), or nil.
// Unlike Lookup it never reads the disk tier and counts nothing, not even
// a miss: it serves a caller that goes on to Lookup when it cannot use
// what it finds. The object's body is in memory (Release is a no-op).
// Memory does not allocate. Safe for concurrent use.
func (s *Store) Memory(hash uint64, full []byte) *Object {
	return fromMemory(s.shard(keys.Key{Hash: hash}), hash, full)
}

// fromMemory returns the object sh's memory tier holds under hash if its
// key is full, else nil (a miss, or a hash collision).
func fromMemory[S ~string | ~[]byte](sh *Shard, hash uint64, full S) *Object {
	if o, ok := sh.mem.Get(hash); ok && o.Key == string(full) && o.record == nil {
		return o
	}
	return nil
}

// Get is Lookup without the tier.
func (s *Store) Get(k keys.Key) (*Object, bool) {
	o, t := s.Lookup(k)
	return o, t != Missed
}

// Put stores a complete in-memory object under k, replacing what was
// there, waits until it is visible to Get, and queues it for the disk tier.
// It reports false if the object was stored nowhere: a body over the memory
// limit, a cost over the shard's memory or refused by its admission policy,
// and no room in the disk queue. An object whose body is on disk is not
// stored again: after a 304, use Refresh.
func (s *Store) Put(k keys.Key, o *Object) bool {
	if o.record != nil {
		return false
	}
	o.Key = k.Full
	sh := s.shard(k)
	inMemory := sh.putMemory(k, o, s.maxMemory)
	onDisk := sh.disk != nil && sh.queue(diskJob{k: k, op: writeJob, obj: o})
	return inMemory || onDisk
}

// Refresh stores o, built by Object.Refreshed after a 304 to a
// revalidation, under k: the stored response keeps its body and gets o's
// header fields and freshness (RFC 9111 §4.3.4). A body in memory goes to
// the memory tier as with Put. On disk only the metadata is replaced,
// without rewriting the body, by the shard's owner in queue order with
// write-throughs and deletes of k, and only on a record holding o's body:
// if there is none (removed, or replaced by another body since), an o with
// its body in memory is written through whole, and one whose body is on
// disk is dropped (the newer record stands). An o whose body is on disk
// never enters the memory tier, and the queued job does not hold its
// record: the caller still Releases o. It reports false if o was stored
// nowhere: refused by memory, as Put, and no room in the disk queue.
func (s *Store) Refresh(k keys.Key, o *Object) bool {
	o.Key = k.Full
	sh := s.shard(k)
	if o.record == nil {
		inMemory := sh.putMemory(k, o, s.maxMemory)
		onDisk := sh.disk != nil && sh.queue(diskJob{k: k, op: refreshJob, obj: o})
		return inMemory || onDisk
	}
	meta := *o // a record comes from the shard's disk tier: sh.disk is set
	meta.record = nil
	return sh.queue(diskJob{k: k, op: refreshMetaJob, obj: &meta, body: o.record.BodyID()})
}

// putMemory stores o in the shard's memory tier and reports whether it was
// admitted.
func (sh *Shard) putMemory(k keys.Key, o *Object, maxMemory int64) bool {
	mem := sh.mem
	size := o.Size()
	if int64(len(o.Body)) > maxMemory || size > mem.MaxCost() {
		return false
	}
	// A replacement no larger than what it replaces is updated in place, so
	// that a lookup never misses the key in between (deleting it first would
	// leave it missing until the new item is admitted). A larger one goes
	// through admission and eviction as a new item: ristretto's in-place
	// update changes the cost without evicting anything, which would let
	// memory grow past its bound. (Get counts an access of the key, as the
	// store it makes is one.)
	if old, ok := mem.Get(k.Hash); !ok || old.Size() < size {
		mem.Del(k.Hash)
	}
	sh.set(k, o, size)
	mem.Wait()
	// GetTTL sees whether it was admitted without counting a lookup.
	_, ok := mem.GetTTL(k.Hash)
	return ok
}

// set hands o to the memory tier, counting and cataloguing it.
func (sh *Shard) set(k keys.Key, o *Object, size int64) {
	sh.cat.memIn(k.Hash, o) // first: the tier may reject it at once
	if !sh.mem.Set(k.Hash, o, size) {
		sh.cat.memOut(k.Hash, o) // dropped, with no callback
		return
	}
	sh.sets.Add(1)
}

// Delete removes whatever is stored under k, in memory at once and on
// disk after any write-through of it still queued. (A Put racing with it
// may land either side of it; one that returned before it never lands
// after: Put waits for the memory tier.)
func (s *Store) Delete(k keys.Key) {
	sh := s.shard(k)
	sh.mem.Del(k.Hash)
	if sh.disk != nil {
		sh.deleteFromDisk(k)
	}
}

// Stats are a shard's counters (or all shards', summed), in the form the
// metrics package exports them.
type Stats = metrics.CacheStats

// Stats reads one shard's counters.
func (sh *Shard) Stats() Stats {
	// Exits are counted after sets, so read them first: never negative.
	exits := sh.exits.Load()
	st := Stats{
		Objects:   sh.sets.Load() - exits,
		Bytes:     uint64(sh.mem.MaxCost() - sh.mem.RemainingCost()),
		Evictions: sh.evictions.Load(),
		Misses:    sh.misses.Load(),
		Rejected:  sh.rejected.Load(),
	}
	if sh.disk != nil {
		d := sh.disk.Stats()
		st.DiskObjects, st.DiskBytes = uint64(d.Objects), uint64(d.Bytes)
		st.DiskEvictions, st.DiskWriteErrors = d.Evictions, d.WriteErrors
		st.DiskCorrupt = d.Corrupt + sh.counters.badMeta.Load()
		st.DiskDropped = sh.counters.dropped.Load()
		st.DiskHits, st.DiskMisses = sh.counters.hits.Load(), sh.counters.misses.Load()
		if d.Degraded {
			st.DiskDegraded = 1
		}
	}
	return st
}

// Stats sums every shard's counters.
func (s *Store) Stats() Stats {
	var t Stats
	for _, sh := range s.shards {
		st := sh.Stats()
		t.Objects += st.Objects
		t.Bytes += st.Bytes
		t.Evictions += st.Evictions
		t.Misses += st.Misses
		t.Rejected += st.Rejected
		t.DiskHits += st.DiskHits
		t.DiskMisses += st.DiskMisses
		t.DiskObjects += st.DiskObjects
		t.DiskBytes += st.DiskBytes
		t.DiskEvictions += st.DiskEvictions
		t.DiskCorrupt += st.DiskCorrupt
		t.DiskWriteErrors += st.DiskWriteErrors
		t.DiskDropped += st.DiskDropped
		t.DiskDegraded += st.DiskDegraded
	}
	return t
}
