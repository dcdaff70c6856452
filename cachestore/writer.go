package cachestore

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/cdnnode/cdnnode/keys"
)

// errClosed reports a Write or Commit on a Writer already committed or
// aborted.
var errClosed = errors.New("cachestore: writer already committed or aborted")

// Writer fills one object while its body streams from the origin. Nothing
// is visible to readers until Commit; Abort (or a Write past the size limit)
// discards it. A Writer is used by one goroutine.
type Writer struct {
	s    *Store
	k    keys.Key
	obj  *Object
	body []byte
	err  error // sticky: ErrTooLarge, or errClosed after Commit/Abort
}

// NewWriter starts filling obj (status, header, policy, tags set by the
// caller; Body is ignored) under k. sizeHint is the expected body length,
// or -1 when unknown; a hint over the limit fails the Writer at once.
func (s *Store) NewWriter(k keys.Key, obj *Object, sizeHint int64) *Writer {
	w := &Writer{s: s, k: k, obj: obj}
	switch {
	case sizeHint > s.maxObject:
		w.err = ErrTooLarge
	case sizeHint > 0:
		w.body = make([]byte, 0, sizeHint)
	}
	return w
}

// Write appends p to the body. Past the size limit it returns ErrTooLarge
// and drops what it had: the caller stops teeing and the stream goes on.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if int64(len(w.body)+len(p)) > w.s.maxObject {
		w.err = ErrTooLarge
		w.body = nil
		return 0, w.err
	}
	w.body = append(w.body, p...)
	return len(p), nil
}

// Err reports why the Writer can no longer commit, or nil.
func (w *Writer) Err() error { return w.err }

// Commit stores the object with the body written so far, setting its
// Content-Length field to the body's length (a chunked origin response
// gets one too); the caller must only commit a body it knows to be complete. It reports false when nothing
// was stored (an earlier error, or the memory tier refused it).
func (w *Writer) Commit() bool {
	if w.err != nil {
		w.Abort()
		return false
	}
	w.obj.Body = w.body
	if w.obj.Header == nil {
		w.obj.Header = make(http.Header, 1)
	}
	w.obj.Header["Content-Length"] = []string{strconv.Itoa(len(w.body))}
	w.body, w.err = nil, errClosed
	return w.s.Put(w.k, w.obj)
}

// Abort discards the object. It is a no-op after Commit, so callers defer it.
func (w *Writer) Abort() {
	w.body = nil
	if w.err == nil {
		w.err = errClosed
	}
}
