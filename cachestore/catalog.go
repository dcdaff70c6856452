package cachestore

import (
	"context"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/cdnnode/cdnnode/keys"
)

// Entry is what a shard's catalog knows of one stored object: enough for
// a purge to tell whether it names the object.
type Entry struct {
	Key   keys.Key
	Tags  []string  // surrogate keys; of both tiers' copies if they differ
	Stamp time.Time // fetch stamp; the older tier's if they differ
}

// catalog lists every object a shard holds, in either tier, with its key,
// surrogate keys and stamp, and indexes the objects by surrogate key. The
// purge sweep walks it to find what a ban names without a lookup per key
// (Store.Sweep), and a tag purge counts what it names from the index
// (Store.Tagged). The disk tier's rebuild fills it again at start, from
// each record's metadata: the surrogate key index persists with the disk
// tier.
//
// It is exact: the memory tier reports every object handed to it (before
// it is) and every object leaving it, rejected, evicted, deleted or
// replaced, and the disk tier every record it indexes and removes, with
// its index lock held, so that its changes arrive in the order they
// happen. The memory side is a list per key of the objects handed over
// and not yet gone: two handed over at once may be settled by the tier in
// either order, whatever order they were reported in. mu is never held
// while calling into a tier, whose callbacks take it.
type catalog struct {
	mu    sync.Mutex
	items []item                         // dense: a sweep resumes by position between batches
	pos   map[uint64]int                 // hash -> index in items
	tags  map[string]map[uint64]struct{} // surrogate key -> hashes
}

// item is one catalogued key: its memory tier objects and its disk
// record's surrogate keys and stamp, if any.
type item struct {
	hash      uint64
	key       string
	mem       []*Object // handed to the memory tier and not gone; almost always one at most
	onDisk    bool
	diskTags  []string
	diskStamp time.Time
}

func newCatalog() *catalog {
	return &catalog{pos: make(map[uint64]int), tags: make(map[string]map[uint64]struct{})}
}

// entry is what the catalog tells of it: the surrogate keys of every
// copy, and the oldest stamp.
func (it *item) entry() Entry {
	e := Entry{Key: keys.Key{Hash: it.hash, Full: it.key}}
	if it.onDisk {
		e.Tags, e.Stamp = it.diskTags, it.diskStamp
	}
	for i, o := range it.mem {
		if i == 0 && !it.onDisk {
			e.Tags, e.Stamp = o.Tags, o.Stamp
			continue
		}
		e.Tags = unionTags(e.Tags, o.Tags)
		if o.Stamp.Before(e.Stamp) {
			e.Stamp = o.Stamp
		}
	}
	return e
}

// unionTags is a's tags and those of b's not in a; a itself when b adds
// none.
func unionTags(a, b []string) []string {
	u := a
	for _, t := range b {
		if !slices.Contains(a, t) {
			if len(u) == len(a) {
				u = slices.Clip(a)
			}
			u = append(u, t)
		}
	}
	return u
}

// memIn records o entering the memory tier under hash.
func (c *catalog) memIn(hash uint64, o *Object) {
	c.mu.Lock()
	defer c.mu.Unlock()
	it, before := c.item(hash, o.Key)
	it.mem = append(it.mem, o)
	c.settle(it, before)
}

// memOut records o leaving the memory tier under hash.
func (c *catalog) memOut(hash uint64, o *Object) {
	c.mu.Lock()
	defer c.mu.Unlock()
	i, ok := c.pos[hash]
	if !ok {
		return
	}
	it := &c.items[i]
	j := slices.Index(it.mem, o)
	if j < 0 {
		return
	}
	before := it.entry().Tags
	it.mem = slices.Delete(it.mem, j, j+1)
	c.settle(it, before)
}

// diskIn records the disk tier indexing a record of key under hash, or
// giving it new metadata.
func (c *catalog) diskIn(hash uint64, key string, tags []string, stamp time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	it, before := c.item(hash, key)
	it.onDisk, it.diskTags, it.diskStamp = true, tags, stamp
	c.settle(it, before)
}

// diskOut records the disk tier removing the record under hash.
func (c *catalog) diskOut(hash uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	i, ok := c.pos[hash]
	if !ok || !c.items[i].onDisk {
		return
	}
	it := &c.items[i]
	before := it.entry().Tags
	it.onDisk, it.diskTags, it.diskStamp = false, nil, time.Time{}
	c.settle(it, before)
}

// item returns the item for hash, added for key if there is none, and its
// surrogate keys before the change the caller makes; c.mu must be held.
func (c *catalog) item(hash uint64, key string) (*item, []string) {
	if i, ok := c.pos[hash]; ok {
		it := &c.items[i]
		it.key = key // a new object's: the same key but for a hash collision
		return it, it.entry().Tags
	}
	c.pos[hash] = len(c.items)
	c.items = append(c.items, item{hash: hash, key: key})
	return &c.items[len(c.items)-1], nil
}

// settle updates the surrogate key index for it, whose keys were before,
// and drops it once neither tier holds it; c.mu must be held.
func (c *catalog) settle(it *item, before []string) {
	gone := len(it.mem) == 0 && !it.onDisk
	var after []string
	if !gone {
		after = it.entry().Tags
	}
	for _, t := range before {
		if !slices.Contains(after, t) {
			set := c.tags[t]
			delete(set, it.hash)
			if len(set) == 0 {
				delete(c.tags, t)
			}
		}
	}
	for _, t := range after {
		if !slices.Contains(before, t) {
			set := c.tags[t]
			if set == nil {
				set = make(map[uint64]struct{})
				c.tags[t] = set
			}
			set[it.hash] = struct{}{}
		}
	}
	if gone {
		c.remove(it.hash)
	}
}

// remove drops hash's item, moving the last item into its place; c.mu
// must be held.
func (c *catalog) remove(hash uint64) {
	i := c.pos[hash]
	last := len(c.items) - 1
	if i != last {
		c.items[i] = c.items[last]
		c.pos[c.items[i].hash] = i
	}
	c.items[last] = item{} // release the object
	c.items = c.items[:last]
	delete(c.pos, hash)
}

// len is the number of catalogued objects.
func (c *catalog) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.items)
}

// tagBatch is how many objects of a tag a count of several tags copies
// per hold of the lock.
const tagBatch = 1024

// tagged counts the objects carrying any of tags, each once. One tag costs
// a look at its set, whatever its size; several are copied out of the
// index tagBatch objects per hold of the lock (appendTagged) and
// de-duplicated without it, so a tag on a million objects keeps fills and
// promotions waiting a batch at most. Objects stored or dropped meanwhile
// may or may not count.
func (c *catalog) tagged(tags []string) int {
	if len(tags) == 1 {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.tags[tags[0]])
	}
	var hashes []uint64
	for _, t := range tags {
		hashes = c.appendTagged(hashes, t)
	}
	slices.Sort(hashes)
	return len(slices.Compact(hashes))
}

// appendTagged appends to dst the hashes of the objects carrying tag,
// letting go of the lock after every tagBatch of them. The set may change
// while the lock is free, as a map may in the body of a range over it
// (Go spec, "For statements with range clause"): the range goes on,
// yielding each object present throughout once, none removed before it
// is reached, and maybe those added meanwhile (or, removed and added
// again, twice: tagged de-duplicates). It only ever reads the set with
// the lock held.
func (c *catalog) appendTagged(dst []uint64, tag string) []uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for h := range c.tags[tag] { // bounded: a map range visits each slot once
		dst = append(dst, h)
		if n++; n%tagBatch == 0 {
			c.mu.Unlock()
			runtime.Gosched() // a fill waiting for the lock takes it now
			c.mu.Lock()
		}
	}
	return dst
}

// sweepBatch is how many items a sweep looks at per hold of the lock.
const sweepBatch = 256

// sweep calls fn, without the lock held, with each object catalogued when
// sweep began, and still, whose stamp is not after before. It walks the
// items from the last to the first, a batch per hold of the lock: an item
// removed meanwhile moves the last one, already passed, into its place,
// so each object present throughout is seen at least once. It stops early,
// with ctx's error, if ctx ends.
func (c *catalog) sweep(ctx context.Context, before time.Time, fn func(Entry)) error {
	c.mu.Lock()
	i := len(c.items)
	c.mu.Unlock()
	batch := make([]Entry, 0, sweepBatch)
	for i > 0 { // bounded: i falls by at least one per batch
		if err := ctx.Err(); err != nil {
			return err
		}
		batch = batch[:0]
		c.mu.Lock()
		i = min(i, len(c.items))
		for end := max(i-sweepBatch, 0); i > end; {
			i--
			if e := c.items[i].entry(); !e.Stamp.After(before) {
				batch = append(batch, e)
			}
		}
		c.mu.Unlock()
		for _, e := range batch {
			fn(e)
		}
	}
	return nil
}

// Sweep calls fn, without any lock held, with every object of either
// tier, in every shard, whose stamp is not after before and which was
// stored when Sweep reached its shard and is still (objects stored since
// may be included). It walks each shard's catalog in batches, holding only
// that shard's catalog lock, and never for more than a batch: lookups take
// no part, and fills and evictions wait a batch at most. It stops early,
// with ctx's error, if ctx ends.
func (s *Store) Sweep(ctx context.Context, before time.Time, fn func(Entry)) error {
	for _, sh := range s.shards {
		if err := sh.cat.sweep(ctx, before, fn); err != nil {
			return err
		}
	}
	return nil
}

// Tagged counts the objects, in either tier and every shard, carrying any
// of tags as a surrogate key. One tag costs a map length per shard;
// several are copied from each shard's index a batch per hold of its
// catalog lock, so fills and promotions wait a batch at most.
func (s *Store) Tagged(tags []string) int {
	n := 0
	for _, sh := range s.shards {
		n += sh.cat.tagged(tags)
	}
	return n
}

// Catalogued counts the objects in either tier, every shard.
func (s *Store) Catalogued() int {
	n := 0
	for _, sh := range s.shards {
		n += sh.cat.len()
	}
	return n
}

// Ready reports whether the catalog lists every object: every shard's
// disk tier has finished its start-up rebuild. Before that a record not
// rebuilt yet can still be looked up but is not catalogued.
func (s *Store) Ready() bool {
	for _, sh := range s.shards {
		if sh.disk != nil && !sh.disk.Stats().Rebuilt {
			return false
		}
	}
	return true
}

// Peek returns the object stored under k as Lookup does, for background
// work: it counts no lookup, and a disk object stays on disk, not
// promoted, with its record open whatever its size. The caller must
// Release it.
func (s *Store) Peek(k keys.Key) (*Object, bool) {
	sh := s.shard(k)
	if o, ok := sh.mem.Get(k.Hash); ok && o.Key == k.Full {
		return o, true
	}
	if sh.disk == nil {
		return nil, false
	}
	return sh.readDisk(k, -1)
}
