// Package cachestore owns stored responses: the object format, the memory
// tier (ristretto, cost = bytes) and the writers that fill it.
//
// An Object is immutable once committed: readers share it without locks, and
// a refresh (a 304 from the origin) stores a new Object that shares the body
// (Store.Refresh), which on disk replaces only the record's metadata.
// Nothing is servable until a Writer commits a complete body.
package cachestore

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/cdnnode/cdnnode/cachepolicy"
	"github.com/cdnnode/cdnnode/cachestore/disk"
	"github.com/cdnnode/cdnnode/coding"
)

// Object is one stored response, or a Vary index that names the request
// fields its variants are keyed by. Never modify an Object after it has been
// committed; build a new one.
type Object struct {
	Key    string // full cache key, compared on lookup to rule out hash collisions
	Status int    // response status code
	// Header is the response header as the origin sent it, less hop-by-hop,
	// targeted and surrogate fields, with Content-Length set to the stored
	// body's length at commit. With Coding set it describes the origin's
	// unencoded representation, whose length is IdentitySize.
	Header http.Header
	Body   []byte // the whole body when it is in memory; shared, read-only. Use BodySize and WriteBody.
	Policy cachepolicy.Entry
	Tags   []string // surrogate keys
	// Stamp is when the fetch that stored the object began: a purge
	// accepted after it names this object (purge.Bans.Check), even if the
	// fetch was still in flight then.
	Stamp time.Time

	// Targeted holds the response's RFC 9213 targeted fields (nil if none).
	// They are never sent to clients; they are kept so that a 304 which
	// omits them refreshes the object by the same rules that stored it.
	Targeted http.Header

	// Coding is the content coding the node applied to the body when it
	// stored it (coding.Identity: none, the body is as the origin sent it,
	// in the coding Header's Content-Encoding names). IdentitySize is the
	// body's length before the node coded it, -1 when unknown.
	Coding       coding.Coding
	IdentitySize int64

	// Vary is non-nil only on a Vary index stored under a primary key: the
	// request fields (canonical names, sorted) that select a variant, whose
	// objects live under keys.Key.Variant(Vary, request header).
	Vary []string

	// record holds the body of an object too large for memory, open for
	// this one request; nil when Body holds it.
	record *disk.Record

	// memo holds what is built from Header once and shared (Derived,
	// Wire): a new one for each object a Writer, the disk tier or
	// Refreshed makes; nil on an Object built otherwise.
	memo *memo
}

// numCodings is how many content codings coding.Coding names.
const numCodings = int(coding.Br) + 1

// memo is an Object's memoised derivations of its header, one slot per
// coding of the body.
type memo struct {
	derived [numCodings]atomic.Pointer[derivedHeader]
	wire    [numCodings]atomic.Pointer[[]byte]
	file    fileMemo // the body in a file (Store.BodyFile)
}

// derivedHeader is a header built from an Object's for one coding and
// body length.
type derivedHeader struct {
	size int64
	h    http.Header
}

// Derived returns the response header for the body in coding c of length
// size (-1: unknown), built by build from o's Header the first time it is
// asked for (again if size changed) and shared afterwards: callers must
// not modify it. An Object that holds no memo (see prepare) runs build
// every time. Safe for concurrent use.
func (o *Object) Derived(c coding.Coding, size int64, build func() http.Header) http.Header {
	if o.memo == nil || int(c) >= numCodings {
		return build()
	}
	slot := &o.memo.derived[c]
	if d := slot.Load(); d != nil && d.size == size {
		return d.h
	}
	h := build()
	slot.Store(&derivedHeader{size: size, h: h})
	return h
}

// Wire returns the bytes build makes of o's response for the body in
// coding c (a serialised head), built the first time they are asked for
// and shared afterwards: callers must not modify them. What the bytes hold
// is the caller's affair; the memo only keeps them for as long as o lives:
// a copy Refreshed makes, with a new header, starts without them. An
// Object that holds no memo (see prepare) runs build every time. Safe for
// concurrent use; build may run more than once when calls race.
func (o *Object) Wire(c coding.Coding, build func() []byte) []byte {
	if o.memo == nil || int(c) >= numCodings {
		return build()
	}
	slot := &o.memo.wire[c]
	if b := slot.Load(); b != nil {
		return *b
	}
	b := build()
	slot.Store(&b)
	return b
}

// prepare gives o a memo of its own, empty: o's header is new.
func (o *Object) prepare() {
	o.memo = new(memo)
}

// BodySize is the length of the body, wherever it is.
func (o *Object) BodySize() int64 {
	if o.record != nil {
		return o.record.Size()
	}
	return int64(len(o.Body))
}

// WriteBody writes n body bytes from off to w: from memory, or streamed
// from disk reading only the blocks that hold them. A disk body that fails
// its checksum stops with an error before any bad byte is written (the
// record is removed); the caller must abort the response.
func (o *Object) WriteBody(w io.Writer, off, n int64) error {
	if o.record == nil {
		_, err := w.Write(o.Body[off : off+n])
		return err
	}
	// The disk reader writes verified blocks straight to w (io.WriterTo):
	// no buffer of our own.
	if _, err := io.Copy(w, o.record.NewReader(off, n)); err != nil {
		return fmt.Errorf("cachestore: body of %s: %w", o.Key, err)
	}
	return nil
}

// BodyReader reads n body bytes from off, from memory or streamed from disk
// (verified block by block: a disk body that fails its checksum ends the
// read with an error wrapping disk.ErrCorrupt).
func (o *Object) BodyReader(off, n int64) io.Reader {
	if o.record == nil {
		return bytes.NewReader(o.Body[off : off+n])
	}
	return o.record.NewReader(off, n)
}

// Retain adds a use of o's disk body, for a second user that will Release
// o too. A no-op for objects in memory.
func (o *Object) Retain() {
	if o.record != nil {
		o.record.Retain()
	}
}

// Release ends the caller's use of an object from Get (or of a Retain):
// the last one closes a disk body. A no-op for objects in memory and for
// nil.
func (o *Object) Release() {
	if o != nil && o.record != nil {
		_ = o.record.Close()
	}
}

// Refreshed returns a copy of o with a new header, targeted fields and
// reuse state (after a 304), sharing o's body wherever it is; store it
// with Store.Refresh. The copy holds its own use of a disk body: Release
// it as well as o.
func (o *Object) Refreshed(h http.Header, targeted http.Header, p cachepolicy.Entry) *Object {
	c := *o
	c.Header, c.Targeted, c.Policy = h, targeted, p
	c.prepare()
	c.Retain()
	return &c
}

// headerOverhead approximates the bytes a header field costs beyond its text.
const headerOverhead = 32

// objectOverhead approximates the fixed bytes of an Object and its bookkeeping.
const objectOverhead = 256

// Size is the object's cost in the memory tier, in bytes: body, key and an
// estimate of the header, so that many small objects still count.
func (o *Object) Size() int64 {
	n := int64(objectOverhead+len(o.Key)+len(o.Body)) + headerSize(o.Header) + headerSize(o.Targeted)
	for _, t := range o.Tags {
		n += int64(len(t) + headerOverhead)
	}
	for _, f := range o.Vary {
		n += int64(len(f) + headerOverhead)
	}
	return n
}

// headerSize approximates the bytes h occupies.
func headerSize(h http.Header) int64 {
	var n int64
	for k, vs := range h {
		n += int64(len(k) + headerOverhead)
		for _, v := range vs {
			n += int64(len(v))
		}
	}
	return n
}

// IsVaryIndex reports whether o points at variants rather than holding a body.
func (o *Object) IsVaryIndex() bool { return o.Vary != nil }
