package cachestore

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"

	"github.com/cdnnode/cdnnode/cachestore/disk"
	"github.com/cdnnode/cdnnode/keys"
)

// errClosed reports a Write or Commit on a Writer already committed or
// aborted.
var errClosed = errors.New("cachestore: writer already committed or aborted")

// Writer fills one object while its body streams from the origin. A body
// up to the memory limit is buffered and committed to memory (and written
// through to disk by the shard's owner); a larger one spills to a disk
// record as it streams, so memory holds no more than the memory limit of
// it. All fills of a shard together buffer at most its share of
// Options.FillBytes: a fill that finds the budget spent spills to disk at
// once, or without a disk tier stops storing. Nothing is visible to Get
// until Commit; Abort (or a Write past the size limit) discards it.
//
// A Writer is used by one goroutine, except ReadAt, which lets other
// requests read the body along while it is written (from memory, or from
// the disk record being written once it spilled), until Close.
type Writer struct {
	s    *Store
	sh   *Shard
	k    keys.Key
	obj  *Object
	body []byte
	dw   *disk.Writer // set once the body spilled to disk
	n    int64        // body bytes written
	held int64        // bytes reserved from the shard's fill budget
	err  error        // sticky: ErrTooLarge, a disk error, or errClosed after Commit/Abort

	mu     sync.Mutex       // guards the read-along view below
	view   []byte           // the body in memory as ReadAt sees it
	spool  *disk.BodyReader // the body on disk, once spilled
	broken error            // why ReadAt can no longer serve the body
}

// NewWriter starts filling obj (status, header, policy, tags set by the
// caller; Body is ignored) under k. sizeHint is the expected body length,
// or -1 when unknown; a hint over the limit fails the Writer at once.
func (s *Store) NewWriter(k keys.Key, obj *Object, sizeHint int64) *Writer {
	obj.Key = k.Full
	obj.prepare()
	w := &Writer{s: s, sh: s.shard(k), k: k, obj: obj}
	switch {
	case sizeHint > s.maxObject:
		w.err = ErrTooLarge
	case sizeHint > s.maxMemory:
		w.spill(sizeHint)
	case sizeHint > 0 && w.reserve(sizeHint):
		w.body = make([]byte, 0, sizeHint)
	}
	return w
}

// reserve takes n more bytes from the shard's fill budget, or reports that
// it is spent.
func (w *Writer) reserve(n int64) bool {
	if w.sh.filling.Add(n) > w.sh.fillCap {
		w.sh.filling.Add(-n)
		return false
	}
	w.held += n
	return true
}

// release gives the Writer's reservation back.
func (w *Writer) release() {
	w.sh.filling.Add(-w.held)
	w.held = 0
}

// spill moves the body to a new disk record: without a usable disk tier
// the Writer fails with ErrTooLarge.
func (w *Writer) spill(sizeHint int64) {
	if w.sh.disk == nil {
		w.fail(ErrTooLarge)
		return
	}
	m, err := encodeMeta(w.obj)
	if err == nil {
		w.dw, err = w.sh.disk.Create(w.k.Hash, w.k.Full, m, sizeHint)
	}
	if err != nil {
		w.fail(err)
		return
	}
	if _, err := w.dw.Write(w.body); err == nil {
		err = w.dw.Flush()
	}
	if err != nil {
		w.fail(err)
		return
	}
	spool, err := w.dw.OpenBody()
	if err != nil {
		w.fail(err)
		return
	}
	w.mu.Lock()
	w.view, w.spool = nil, spool
	w.mu.Unlock()
	w.body = nil
	w.release()
}

// Write adds p to the body. Past the size limit, or when the disk fails,
// it returns an error and drops what it had: the caller stops teeing and
// the stream goes on.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.n+int64(len(p)) > w.s.maxObject {
		w.fail(ErrTooLarge)
		return 0, w.err
	}
	if w.dw == nil {
		grow := int64(len(w.body)+len(p)) - w.held
		if w.n+int64(len(p)) > w.s.maxMemory || (grow > 0 && !w.reserve(grow)) {
			w.spill(-1)
			if w.err != nil {
				return 0, w.err
			}
		}
	}
	w.n += int64(len(p))
	if w.dw != nil {
		_, err := w.dw.Write(p)
		if err == nil {
			err = w.dw.Flush() // readers along read the file
		}
		if err != nil {
			w.fail(err)
			return 0, w.err
		}
		return len(p), nil
	}
	w.mu.Lock()
	w.body = append(w.body, p...)
	w.view = w.body
	w.mu.Unlock()
	return len(p), nil
}

// fail makes err sticky and discards the body.
func (w *Writer) fail(err error) {
	w.err = err
	w.breakView(err)
	w.body = nil
	w.release()
	if w.dw != nil {
		w.dw.Abort()
	}
}

// Err reports why the Writer can no longer commit, or nil.
func (w *Writer) Err() error { return w.err }

// Commit stores the object with the body written so far, setting its
// Content-Length field to the body's length (a chunked origin response
// gets one too); the caller must only commit a body it knows to be
// complete. It reports false when nothing was stored.
func (w *Writer) Commit() bool {
	if w.err != nil {
		w.Abort()
		return false
	}
	w.err = errClosed
	if w.dw != nil {
		if err := w.dw.Commit(); err != nil {
			return false
		}
		// The disk record is now the object: drop an older copy in memory.
		w.sh.mem.Del(w.k.Hash)
		w.sh.mem.Wait()
		return true
	}
	w.obj.Body = w.body
	w.release()
	if w.obj.Header == nil {
		w.obj.Header = make(http.Header, 1)
	}
	w.obj.Header["Content-Length"] = []string{strconv.Itoa(len(w.body))}
	w.body = nil
	return w.s.Put(w.k, w.obj)
}

// Abort discards the object. It is a no-op after Commit, so callers defer it.
func (w *Writer) Abort() {
	if w.err == nil {
		w.err = errClosed
		w.breakView(ErrAborted)
	}
	w.body = nil
	w.release()
	if w.dw != nil {
		w.dw.Abort()
	}
}

// ErrAborted is what ReadAt reports once the fill was abandoned.
var ErrAborted = errors.New("cachestore: fill aborted")

// breakView makes ReadAt fail with err from now on.
func (w *Writer) breakView(err error) {
	w.mu.Lock()
	if w.broken == nil {
		w.broken = err
	}
	w.view = nil
	w.mu.Unlock()
}

// ReadAt copies body bytes from off into p, as far as they have been
// written; the caller asks only for bytes it knows were written (Written,
// as last reported by the writer). Safe for concurrent use with the
// Writer's other methods. After Commit the committed body stays readable
// until Close; after a failure ReadAt reports why.
func (w *Writer) ReadAt(p []byte, off int64) (int, error) {
	w.mu.Lock()
	view, spool, broken := w.view, w.spool, w.broken
	if broken == nil && spool == nil {
		n := 0
		if off < int64(len(view)) {
			n = copy(p, view[off:])
		}
		w.mu.Unlock()
		return n, nil
	}
	w.mu.Unlock()
	if broken != nil {
		return 0, fmt.Errorf("cachestore: reading along %s: %w", w.k.Full, broken)
	}
	n, err := spool.ReadAt(p, off)
	if err != nil {
		return n, fmt.Errorf("cachestore: reading along %s: %w", w.k.Full, err)
	}
	return n, nil
}

// Written is the number of body bytes written so far.
func (w *Writer) Written() int64 { return w.n }

// Close releases what ReadAt reads from once no reader needs it: the
// disk record's file, if the body spilled.
func (w *Writer) Close() {
	w.mu.Lock()
	spool := w.spool
	w.spool, w.view = nil, nil
	if w.broken == nil {
		w.broken = errClosed
	}
	w.mu.Unlock()
	if spool != nil {
		_ = spool.Close()
	}
}
