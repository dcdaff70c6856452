package cachestore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/cdnnode/cdnnode/cachestore/disk"
	"github.com/cdnnode/cdnnode/keys"
)

// DiskOptions configure the disk tier; an empty Dir means none.
type DiskOptions struct {
	Dir           string        // parent of the shards' directories
	Bytes         int64         // budget across all shards
	RetryInterval time.Duration // how often a shard whose disk failed tries again
}

// diskQueue is how many write-throughs, refreshes and deletes a shard's
// owner may have pending; a write-through or refresh that finds it full is
// dropped (the object stays in memory only, or the disk keeps the older
// metadata), a delete waits.
const diskQueue = 256

// deleteWait bounds how long a Delete waits for room in the owner's queue
// before deleting from disk itself.
const deleteWait = time.Second

// diskJob is one change the shard owner applies to the disk tier, in the
// order it was asked for.
type diskJob struct {
	k    keys.Key
	op   jobOp
	obj  *Object     // writeJob, refreshJob: its body is in memory; refreshMetaJob: no body
	body disk.BodyID // refreshMetaJob: the body of the record obj's metadata describes
}

// jobOp is what a diskJob does.
type jobOp uint8

const (
	writeJob       jobOp = iota // write obj through, replacing any record
	deleteJob                   // remove the record
	refreshJob                  // give the record holding obj's body obj's metadata; write obj through if there is none
	refreshMetaJob              // give the record holding body obj's metadata, if there is one
)

// diskCounters are the shard's disk-side counters beyond the tier's own.
type diskCounters struct {
	hits    atomic.Uint64 // memory misses the disk tier answered
	misses  atomic.Uint64 // memory misses it could not
	dropped atomic.Uint64 // write-throughs and refreshes dropped for a full queue
	badMeta atomic.Uint64 // records whose metadata did not decode
}

// openDisk opens the shard's disk tier under o.Dir, its records
// catalogued; the directory name carries the shard count, so a node
// restarted with another worker count starts cold rather than looking for
// keys in the wrong shard.
func (sh *Shard) openDisk(shards int, o DiskOptions) (*disk.Tier, error) {
	t, err := disk.Open(disk.Options{
		Dir:           fmt.Sprintf("%s/shard-%d-of-%d", o.Dir, sh.id, shards),
		MaxBytes:      o.Bytes / int64(shards),
		RetryInterval: o.RetryInterval,
		Logger:        sh.log.With("shard", sh.id),
		OnIndex: func(hash uint64, m []byte) {
			// Metadata that does not decode is never served (readDisk
			// removes the record): nothing to catalog.
			if o, err := decodeMeta(m); err == nil {
				sh.cat.diskIn(hash, o.Key, o.Tags, o.Stamp)
			} else {
				sh.cat.diskOut(hash)
			}
		},
		OnRemove: sh.cat.diskOut,
	})
	if err != nil {
		return nil, fmt.Errorf("cachestore: shard %d disk tier: %w", sh.id, err)
	}
	return t, nil
}

// Owners are the loops that own the shard's disk-side state: the disk
// tier's own (rebuild, eviction, recovery) and the one that applies
// write-throughs, refreshes and deletes in order. The caller runs each on
// its own goroutine, pinned, until ctx ends. A memory-only shard has none.
func (sh *Shard) Owners() []func(context.Context) {
	if sh.disk == nil {
		return nil
	}
	return []func(context.Context){sh.disk.Run, sh.applyJobs}
}

// applyJobs writes objects through to disk, refreshes and deletes, in
// queue order. When ctx ends it applies what is already queued, so a
// graceful stop loses no write-through, refresh or delete, then returns.
func (sh *Shard) applyJobs(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			for range len(sh.jobs) {
				sh.apply(<-sh.jobs)
			}
			return
		case j := <-sh.jobs:
			sh.apply(j)
		}
	}
}

// apply carries out one disk job.
func (sh *Shard) apply(j diskJob) {
	if j.op == deleteJob {
		sh.disk.Delete(j.k.Hash)
		return
	}
	m, err := encodeMeta(j.obj)
	if err != nil {
		sh.log.Warn("disk write skipped", "key", j.k.Full, "err", err)
		return
	}
	switch j.op {
	case writeJob:
		sh.write(j.k, m, j.obj.Body)
	case refreshJob:
		// The record may hold another body than obj's, stored by a fill
		// since obj's was read: then obj replaces it whole, as a Put does.
		err := sh.disk.UpdateMeta(j.k.Hash, j.k.Full, m, sh.disk.SumBody(j.obj.Body))
		if errors.Is(err, disk.ErrNotFound) || errors.Is(err, disk.ErrCorrupt) {
			sh.write(j.k, m, j.obj.Body)
		}
	case refreshMetaJob:
		// Nothing to do without the record: a newer fill or delete won.
		_ = sh.disk.UpdateMeta(j.k.Hash, j.k.Full, m, j.body)
	}
}

// write writes a record of metadata m and body through to the disk tier.
func (sh *Shard) write(k keys.Key, m, body []byte) {
	w, err := sh.disk.Create(k.Hash, k.Full, m, int64(len(body)))
	if err != nil {
		return // degraded or over budget: the tier counts and logs it
	}
	defer w.Abort()
	if _, err := w.Write(body); err != nil {
		return
	}
	_ = w.Commit()
}

// queue hands j to the shard's owner without waiting; it reports whether
// it was queued.
func (sh *Shard) queue(j diskJob) bool {
	select {
	case sh.jobs <- j:
		return true
	default:
		sh.counters.dropped.Add(1)
		return false
	}
}

// deleteFromDisk queues a delete behind any pending write-through of the
// same key, so an older copy can't come back after it.
func (sh *Shard) deleteFromDisk(k keys.Key) {
	t := time.NewTimer(deleteWait)
	defer t.Stop()
	select {
	case sh.jobs <- diskJob{k: k, op: deleteJob}:
	case <-t.C:
		sh.disk.Delete(k.Hash)
	}
}

// fromDisk looks k up in the disk tier. An object up to maxMemory is read
// whole, offered to the memory tier (admission decides) and returned with
// its body in memory; a larger one is returned holding its open record, to
// be streamed and then released. Damaged records are misses.
func (sh *Shard) fromDisk(k keys.Key, maxMemory int64) (*Object, bool) {
	obj, ok := sh.readDisk(k, maxMemory)
	if ok {
		sh.counters.hits.Add(1)
	} else {
		sh.counters.misses.Add(1)
	}
	return obj, ok
}

// readDisk is fromDisk without the counting.
func (sh *Shard) readDisk(k keys.Key, maxMemory int64) (*Object, bool) {
	rec, err := sh.disk.Open(k.Hash, k.Full)
	if err != nil {
		if !errors.Is(err, disk.ErrNotFound) && !errors.Is(err, disk.ErrCorrupt) {
			sh.log.Warn("disk lookup failed", "key", k.Full, "err", err)
		}
		return nil, false
	}
	obj, err := decodeMeta(rec.Meta())
	if err == nil && obj.Key != k.Full {
		err = fmt.Errorf("metadata key %q", obj.Key)
	}
	if err != nil {
		_ = rec.Close()
		sh.counters.badMeta.Add(1)
		sh.log.Warn("disk record with bad metadata removed", "key", k.Full, "err", err)
		sh.disk.Delete(k.Hash)
		return nil, false
	}
	if !obj.IsVaryIndex() {
		if obj.Header == nil { // decodeMeta built it: ours to extend
			obj.Header = make(http.Header, 1)
		}
		obj.Header["Content-Length"] = []string{strconv.FormatInt(rec.Size(), 10)}
	}
	if rec.Size() > maxMemory {
		obj.record = rec
		return obj, true
	}
	defer rec.Close()
	body := make([]byte, rec.Size())
	if _, err := io.ReadFull(rec.NewReader(0, rec.Size()), body); err != nil {
		return nil, false // a damaged body: the tier removed and counted it
	}
	obj.Body = body
	// Promotion, if admitted; waiting makes the next request a memory hit
	// and costs little beside the disk read.
	sh.set(k, obj, obj.Size())
	sh.mem.Wait()
	return obj, true
}
