// Package cachestore owns stored responses: the object format, the memory
// tier (ristretto, cost = bytes) and the writers that fill it.
//
// An Object is immutable once committed: readers share it without locks, and
// a refresh (a 304 from the origin) stores a new Object that shares the body.
// Nothing is servable until a Writer commits a complete body.
package cachestore

import (
	"net/http"

	"github.com/cdnnode/cdnnode/cachepolicy"
)

// Object is one stored response, or a Vary index that names the request
// fields its variants are keyed by. Never modify an Object after it has been
// committed; build a new one.
type Object struct {
	Key    string      // full cache key, compared on lookup to rule out hash collisions
	Status int         // response status code
	Header http.Header // response header as stored: no hop-by-hop, targeted or surrogate fields
	Body   []byte      // the whole body; shared, read-only
	Policy cachepolicy.Entry
	Tags   []string // surrogate keys

	// Targeted holds the response's RFC 9213 targeted fields (nil if none).
	// They are never sent to clients; they are kept so that a 304 which
	// omits them refreshes the object by the same rules that stored it.
	Targeted http.Header

	// Vary is non-nil only on a Vary index stored under a primary key: the
	// request fields (canonical names, sorted) that select a variant, whose
	// objects live under keys.Key.Variant(Vary, request header).
	Vary []string
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
