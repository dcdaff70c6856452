// Package disk owns one shard's disk tier of the cache: records (a full key,
// an opaque metadata blob and a body) stored one file per object, written to
// a temp file and renamed into place, and checksummed so that a damaged
// record is removed rather than served. The caller (package cachestore)
// encodes and decodes the metadata; this package treats it as bytes.
// UpdateMeta replaces a record's metadata without rewriting its body, in a
// small metadata file beside the record and bound to it.
//
// The on-disk format is described in format.go. A Tier keeps an in-memory
// index of its records (size and recency) for its byte budget and stats;
// lookups go by path and never need it.
package disk

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Errors callers branch on. Returned errors wrap them with context; test
// with errors.Is.
var (
	ErrNotFound = errors.New("disk: not found")          // no record, or one whose full key differs (hash collision)
	ErrCorrupt  = errors.New("disk: corrupt record")     // failed checksum/parse: the record (or metadata file) has been removed and counted
	ErrDegraded = errors.New("disk: tier degraded")      // writes disabled after an I/O error; retried in the background
	ErrTooLarge = errors.New("disk: record over budget") // the record cannot fit MaxBytes (or its key/metadata limits)
)

// Options configure a Tier.
type Options struct {
	Dir           string        // this shard's directory; created (MkdirAll) if missing
	MaxBytes      int64         // byte budget for all record and metadata files (>0)
	BlockSize     int           // body checksum block, 1 .. 16 MiB; 0 = 64 KiB
	RetryInterval time.Duration // how often a degraded tier probes the disk again; 0 = 30s
	Logger        *slog.Logger  // nil = discard

	// OnIndex and OnRemove, if set, follow the index: OnIndex gets the
	// metadata (not retained) of each record indexed (committed, or found
	// by the rebuild) and each new metadata an indexed record gets
	// (UpdateMeta, or its own again when a bad metadata file is removed);
	// OnRemove each hash whose record goes (Delete, eviction, corruption),
	// indexed or not. They are called with the index lock held, so they
	// see changes in the order they happen, and must not call the Tier.
	OnIndex  func(hash uint64, meta []byte)
	OnRemove func(hash uint64)
}

// defaultRetry is how often a degraded tier probes by default.
const defaultRetry = 30 * time.Second

// evictSample is how many index entries eviction samples to pick one
// victim, the least recently used of them: exact LRU for tiers of up to
// this many records, approximate beyond, and bounded work per victim.
const evictSample = 32

// Tier is one shard's disk tier. Open, Create, UpdateMeta, Delete and Stats
// are safe for concurrent use; Run is called once, on the tier's own
// goroutine.
//
// MaxBytes bounds the indexed record files and their metadata files:
// Commit, UpdateMeta and EvictOnce remove least recently used records until
// the index fits. Temp files of Writers in progress are outside it (each is
// refused past MaxBytes on its own), and so are records the start-up
// rebuild has not reached yet.
type Tier struct {
	// Set by Open, then read-only.
	dir     string
	max     int64
	block   int64
	retry   time.Duration
	log     *slog.Logger
	onIndex func(hash uint64, meta []byte)
	onRem   func(hash uint64)
	token   string // marks this Tier's temp files, which its rebuild keeps
	tempSeq atomic.Uint64
	clock   atomic.Int64 // recency stamps: starts at the wall clock, +1 per touch
	epoch   int64        // the clock's start: rebuilt records are stamped below it

	writeBufs sync.Pool // *bufio.Writer for Writers
	blockBufs sync.Pool // *[]byte of one block, for partial-block reads

	degraded    atomic.Bool
	rebuilt     atomic.Bool
	evictions   atomic.Uint64
	corrupt     atomic.Uint64
	writeErrors atomic.Uint64

	mu    sync.RWMutex // guards index and bytes (and entries' size and meta), and orders every rename or removal of a record or metadata file against them
	index map[uint64]*entry
	bytes int64 // sum of index sizes
}

// entry is one indexed record.
type entry struct {
	size  int64        // file bytes: the record's and its metadata file's
	meta  int64        // the metadata file's bytes; 0 if there is none
	stamp atomic.Int64 // last commit, UpdateMeta or Open; eviction removes the smallest first
}

// Open prepares the tier. It fails only for invalid options; an unusable
// directory (cannot be created or written) leaves the tier degraded, not an
// error, and Run's probe clears that once the directory works.
func Open(o Options) (*Tier, error) {
	switch {
	case o.Dir == "":
		return nil, errors.New("disk: no directory")
	case o.MaxBytes <= 0:
		return nil, fmt.Errorf("disk: budget %d must be positive", o.MaxBytes)
	case o.BlockSize < 0 || o.BlockSize > maxBlock:
		return nil, fmt.Errorf("disk: block size %d outside 1 .. %d", o.BlockSize, maxBlock)
	case o.RetryInterval < 0:
		return nil, fmt.Errorf("disk: negative retry interval %v", o.RetryInterval)
	}
	var tok [8]byte
	if _, err := rand.Read(tok[:]); err != nil {
		return nil, fmt.Errorf("disk: temp file token: %w", err)
	}
	t := &Tier{
		dir:     filepath.Clean(o.Dir),
		max:     o.MaxBytes,
		block:   int64(o.BlockSize),
		retry:   o.RetryInterval,
		log:     o.Logger,
		token:   hex.EncodeToString(tok[:]),
		onIndex: func(uint64, []byte) {},
		onRem:   func(uint64) {},
		index:   make(map[uint64]*entry),
	}
	if t.block == 0 {
		t.block = defaultBlock
	}
	if t.retry == 0 {
		t.retry = defaultRetry
	}
	if t.log == nil {
		t.log = slog.New(slog.DiscardHandler)
	}
	if o.OnIndex != nil {
		t.onIndex = o.OnIndex
	}
	if o.OnRemove != nil {
		t.onRem = o.OnRemove
	}
	t.epoch = time.Now().UnixNano()
	t.clock.Store(t.epoch)
	t.ProbeOnce() // degraded on failure; Run retries
	return t, nil
}

// Run is the tier's owner loop, until ctx ends: it first rebuilds the index
// (RebuildOnce), then every RetryInterval evicts if over budget (EvictOnce)
// and probes the disk if degraded (ProbeOnce). Commit evicts by itself, so
// the periodic round only catches up after the rebuild.
func (t *Tier) Run(ctx context.Context) {
	if err := t.RebuildOnce(ctx); err != nil {
		return // ctx ended
	}
	t.EvictOnce()
	tick := time.NewTicker(t.retry)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if t.degraded.Load() {
			t.ProbeOnce()
		}
		t.EvictOnce()
	}
}

// ProbeOnce checks that the tier can write: it creates Dir if missing, then
// writes and removes a small file there. Failure marks the tier degraded;
// success clears that. It returns the failure, wrapping ErrDegraded.
func (t *Tier) ProbeOnce() error {
	name := filepath.Join(t.dir, "probe."+t.token+"-"+strconv.FormatUint(t.tempSeq.Add(1), 10)+".tmp")
	err := os.MkdirAll(t.dir, 0o755)
	if err == nil {
		err = os.WriteFile(name, []byte("cdnnode disk probe\n"), 0o644)
	}
	if err == nil {
		err = os.Remove(name)
	}
	if err != nil {
		t.degrade(err)
		return fmt.Errorf("%w: probe %s: %w", ErrDegraded, t.dir, err)
	}
	if t.degraded.CompareAndSwap(true, false) {
		t.log.Info("disk tier writable again", "dir", t.dir)
	}
	return nil
}

// degrade records a write error and disables writes until a probe succeeds.
func (t *Tier) degrade(err error) {
	t.writeErrors.Add(1)
	if t.degraded.CompareAndSwap(false, true) {
		t.log.Warn("disk tier degraded: writes disabled until a probe succeeds",
			"dir", t.dir, "err", err, "retry", t.retry)
	}
}

// EvictOnce removes least recently used records until the index is within
// MaxBytes.
func (t *Tier) EvictOnce() {
	t.mu.Lock()
	t.evictLocked()
	t.mu.Unlock()
}

// evictLocked evicts until within budget; t.mu must be held. Each victim is
// the least recently used of up to evictSample entries, and each round
// removes one entry, so the loop ends within len(index) rounds.
func (t *Tier) evictLocked() {
	for rounds := len(t.index); t.bytes > t.max && rounds > 0; rounds-- {
		var (
			victim uint64
			oldest *entry
			seen   int
		)
		for h, e := range t.index { // map order is random: a fresh sample each round
			if oldest == nil || e.stamp.Load() < oldest.stamp.Load() {
				victim, oldest = h, e
			}
			if seen++; seen == evictSample {
				break
			}
		}
		if oldest == nil {
			return
		}
		t.removeLocked(victim)
		t.evictions.Add(1)
	}
}

// removeLocked deletes the record file for hash, its metadata file and its
// index entry; t.mu must be held. A file that will not go is logged and
// dropped from the index all the same, so the budget loop always
// progresses.
func (t *Tier) removeLocked(hash uint64) {
	t.removeMetaLocked(hash)
	path := t.path(hash)
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.log.Warn("disk tier: remove record", "path", path, "err", err)
	}
	if e, ok := t.index[hash]; ok {
		t.bytes -= e.size
		delete(t.index, hash)
	}
	t.onRem(hash)
}

// Delete removes the record for hash and its metadata file (purge,
// invalidation). Records already open stay readable. A Writer for hash that
// commits later still installs its record: invalidating fills in flight is
// the caller's job.
func (t *Tier) Delete(hash uint64) {
	t.mu.Lock()
	t.removeLocked(hash)
	t.mu.Unlock()
}

// removeCorrupt removes the record file for hash if it is still the file f
// (not a newer record renamed over it meanwhile), and counts it.
func (t *Tier) removeCorrupt(hash uint64, f *os.File, cause error) {
	fi, err := f.Stat()
	if err != nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	path := t.path(hash)
	cur, err := os.Stat(path)
	if err != nil || !os.SameFile(fi, cur) {
		return // already removed or replaced
	}
	t.removeLocked(hash)
	t.corrupt.Add(1)
	t.log.Warn("disk tier: removed corrupt record", "path", path, "err", cause)
}

// install renames the finished temp file into place as the record for hash,
// whose metadata is meta, indexes it and evicts if over budget, all under t.mu so that the index
// always matches the files eviction and Delete remove. The older record's
// metadata file goes first: a crash in between leaves the older record
// with its own metadata, never the new one with the older file.
func (t *Tier) install(hash uint64, tmp string, size int64, meta []byte) error {
	path := t.path(hash)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.removeMetaLocked(hash)
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if old, ok := t.index[hash]; ok {
		t.bytes -= old.size
	}
	e := &entry{size: size}
	e.stamp.Store(t.clock.Add(1))
	t.index[hash] = e
	t.bytes += size
	t.onIndex(hash, meta)
	t.evictLocked()
	return nil
}

// touch marks the record for hash as just used, if it is indexed, and
// reports whether it may have a metadata file. An indexed record's entry
// knows (install removes the file, installMeta and the rebuild count it),
// so most Opens do not look for one; a stray file beside an indexed record
// is never served, and the next rebuild removes it.
func (t *Tier) touch(hash uint64) (mayHaveMeta bool) {
	t.mu.RLock()
	e := t.index[hash]
	mayHaveMeta = e == nil || e.meta > 0
	t.mu.RUnlock()
	if e != nil {
		e.stamp.Store(t.clock.Add(1))
	}
	return mayHaveMeta
}

// Stats are a tier's counters.
type Stats struct {
	Objects, Bytes     int64  // indexed records; their record and metadata file bytes
	Evictions, Corrupt uint64 // records evicted for budget; records and metadata files found damaged and removed
	WriteErrors        uint64 // I/O errors on the write path (each one degrades the tier)
	Degraded           bool   // writes are disabled until a probe succeeds
	Rebuilt            bool   // the start-up index rebuild has finished
}

// Stats reads the tier's counters. Until Rebuilt, Objects and Bytes count
// only the records indexed so far.
func (t *Tier) Stats() Stats {
	t.mu.RLock()
	s := Stats{Objects: int64(len(t.index)), Bytes: t.bytes}
	t.mu.RUnlock()
	s.Evictions = t.evictions.Load()
	s.Corrupt = t.corrupt.Load()
	s.WriteErrors = t.writeErrors.Load()
	s.Degraded = t.degraded.Load()
	s.Rebuilt = t.rebuilt.Load()
	return s
}

// path is the record file for hash: Dir/<hh>/<16 hex digits>.
func (t *Tier) path(hash uint64) string {
	var buf [256]byte
	b := append(buf[:0], t.dir...)
	b = append(b, '/', hexDigits[hash>>60], hexDigits[(hash>>56)&0xf], '/')
	return string(appendHash(b, hash))
}

// metaPath is the metadata file for hash: its record's path and ".meta".
func (t *Tier) metaPath(hash uint64) string {
	var buf [256]byte
	b := append(buf[:0], t.dir...)
	b = append(b, '/', hexDigits[hash>>60], hexDigits[(hash>>56)&0xf], '/')
	b = appendHash(b, hash)
	return string(append(b, metaSuffix...))
}

// subdir is the directory holding hash's record.
func (t *Tier) subdir(hash uint64) string {
	return t.dir + "/" + string([]byte{hexDigits[hash>>60], hexDigits[(hash>>56)&0xf]})
}

// tempPath is a fresh temp file name for a record of hash, unique within
// the process and marked with this Tier's token.
func (t *Tier) tempPath(hash uint64) string {
	var buf [256]byte
	b := append(buf[:0], t.dir...)
	b = append(b, '/', hexDigits[hash>>60], hexDigits[(hash>>56)&0xf], '/')
	b = appendHash(b, hash)
	b = append(b, '.')
	b = append(b, t.token...)
	b = append(b, '-')
	b = strconv.AppendUint(b, t.tempSeq.Add(1), 10)
	b = append(b, ".tmp"...)
	return string(b)
}

// notFound reports errors meaning "no such record": the file or a directory
// on its path is missing, or the path runs through a regular file.
func notFound(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}
