package proxy

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/cdnnode/cdnnode/cachepolicy"
	"github.com/cdnnode/cdnnode/cachestore"
	"github.com/cdnnode/cdnnode/coding"
	"github.com/cdnnode/cdnnode/keys"
	"github.com/cdnnode/cdnnode/metrics"
)

// body describes a response body the cache holds (or is filling): its
// header as stored, the coding the node applied to it (coding.Identity:
// none), the length it had before that and its stored length; -1 is
// unknown.
type body struct {
	header       http.Header
	coded        coding.Coding
	identitySize int64
	size         int64
}

// bodyOf describes obj's body.
func bodyOf(obj *cachestore.Object) body {
	return body{header: obj.Header, coded: obj.Coding, identitySize: obj.IdentitySize, size: obj.BodySize()}
}

// rep is the representation of a stored body that one client gets
// (RFC 9110 §3.2, §8.4): the coding of the stored bytes, the coding the
// client gets, and what follows for its header.
type rep struct {
	from coding.Coding // coding of the stored bytes
	to   coding.Coding // coding the client gets
	// origin is the coding of the representation the origin sent: the one
	// the stored ETag names.
	origin coding.Coding
	// negotiable: other clients get other codings of this body, so the
	// response varies on Accept-Encoding.
	negotiable bool
	// size is the length of the body the client gets, -1 when unknown until
	// it is sent.
	size int64
	// identitySize is the unencoded length when known, else -1: it tells
	// what sending a coded body saved.
	identitySize int64
}

// choose picks the representation of b for r. The stored coding is sent
// whenever the client accepts it, so a hit transcodes nothing. A body the
// node compressed may also be sent unencoded (decoded on the fly) or in
// gzip (transcoded, or from a stored gzip variant); a Range request gets
// the unencoded representation when its length is known, so that byte
// ranges mean what the client expects. A body the origin encoded is sent
// as is or decoded; one in a coding this node does not know, or marked
// no-transform, is always sent as stored. A request's own no-transform gets
// the representation the origin sent.
func choose(r *http.Request, b body) rep {
	rp := stored(b)
	if !rp.negotiable {
		return rp
	}
	return rp.negotiate(b, coding.ParseAccept(r.Header["Accept-Encoding"]), cachepolicy.NoTransform(r.Header), len(r.Header["Range"]) > 0)
}

// stored is the part of choose that does not depend on the request: the
// representation every client gets of b unless it is negotiable.
func stored(b body) rep {
	rp := rep{from: b.coded, origin: coding.Identity, size: b.size, identitySize: -1}
	if b.coded == coding.Identity {
		from, ok := coding.Of(b.header["Content-Encoding"])
		if !ok || from == coding.Identity || cachepolicy.NoTransform(b.header) {
			rp.to = rp.from
			return rp
		}
		rp.from, rp.origin = from, from
	} else {
		rp.identitySize = b.identitySize
	}
	rp.negotiable = true
	return rp
}

// negotiate is the rest of choose for a negotiable rp of b: the coding a
// client that accepts accept gets, given whether the request carries
// no-transform and a Range.
func (rp rep) negotiate(b body, accept coding.Accept, noTransform, ranged bool) rep {
	switch {
	case noTransform:
		rp.to = rp.origin
	case b.coded != coding.Identity && ranged && b.identitySize >= 0:
		rp.to = coding.Identity
	case accept.Allows(rp.from):
		rp.to = rp.from
	case b.coded != coding.Identity:
		rp.to = accept.Best()
	default:
		rp.to = coding.Identity
	}
	switch {
	case rp.to == rp.from:
	case rp.to == coding.Identity:
		rp.size = rp.identitySize
	default:
		rp.size = -1
	}
	return rp
}

// transformed reports whether the client's body is not the stored bytes.
func (rp rep) transformed() bool { return rp.to != rp.from }

// rangeable reports whether byte ranges of the client's representation can
// be served: its length is known.
func (rp rep) rangeable() bool { return rp.size >= 0 }

// header returns the response header of the representation: stored itself
// when it is the stored representation and does not vary, else a copy
// with Content-Encoding, Content-Length, ETag, Vary and Accept-Ranges
// made true of what the client gets.
func (rp rep) header(stored http.Header) http.Header {
	if !rp.negotiable {
		return stored
	}
	h := stored.Clone()
	addVary(h, "Accept-Encoding")
	if rp.to != rp.origin {
		if etag := coding.ETag(h.Get("Etag"), rp.to); etag != "" {
			h["Etag"] = []string{etag}
		} else {
			delete(h, "Etag")
		}
	}
	if rp.to == coding.Identity {
		delete(h, "Content-Encoding")
	} else {
		h["Content-Encoding"] = []string{rp.to.String()}
	}
	if rp.size >= 0 {
		h["Content-Length"] = []string{strconv.FormatInt(rp.size, 10)}
	} else {
		delete(h, "Content-Length")
		delete(h, "Accept-Ranges")
	}
	return h
}

// addVary adds field to h's Vary unless it is there already or Vary is "*".
func addVary(h http.Header, field string) {
	for _, line := range h["Vary"] {
		for elem := range strings.SplitSeq(line, ",") {
			if elem = strings.Trim(elem, " \t"); elem == "*" || strings.EqualFold(elem, field) {
				return
			}
		}
	}
	h["Vary"] = append(h["Vary"][:len(h["Vary"]):len(h["Vary"])], field)
}

// conversion names how a representation's body is made, for the metrics.
func (rp rep) conversion() metrics.Conversion {
	switch {
	case !rp.transformed():
		return metrics.AsStored
	case rp.from == coding.Identity:
		return metrics.Encoded
	case rp.to == coding.Identity:
		return metrics.Decoded
	}
	return metrics.Transcoded
}

// level is the compression level the site's configuration gives coding c.
func (p *Proxy) level(c coding.Coding) int {
	if c == coding.Gzip {
		return p.gzipLevel
	}
	return p.zstdLevel
}

// window passes on the n bytes that follow the first skip bytes written to
// it and then reports errWindowFull, which ends the copy into it.
type window struct {
	w       io.Writer
	skip, n int64
}

var errWindowFull = errors.New("proxy: range written")

func (r *window) Write(p []byte) (int, error) {
	written := len(p)
	if r.skip > 0 {
		k := min(r.skip, int64(len(p)))
		r.skip -= k
		p = p[k:]
	}
	if int64(len(p)) > r.n {
		p = p[:r.n]
	}
	if len(p) > 0 {
		if _, err := r.w.Write(p); err != nil {
			return 0, err
		}
		r.n -= int64(len(p))
	}
	if r.n == 0 {
		return written, errWindowFull
	}
	return written, nil
}

// writeRep sends n bytes from off of the representation rp of obj's body
// (n < 0: all of it). A client that went away just ends the response; a
// stored body that is damaged or does not decode aborts it, so the client
// sees an incomplete transfer rather than bad bytes. It returns the bytes
// of the representation sent and whether all of them were.
func (p *Proxy) writeRep(w io.Writer, obj *cachestore.Object, rp rep, off, n int64) (int64, bool) {
	if !rp.transformed() {
		if n < 0 {
			n = obj.BodySize() - off
		}
		return n, writeBody(w, obj, off, n)
	}
	dst := &coding.CountWriter{W: w}
	var out io.Writer = dst
	if off > 0 || n >= 0 {
		out = &window{w: dst, skip: off, n: n}
	}
	sent, err := coding.Transcode(out, obj.BodyReader(0, obj.BodySize()), rp.from, rp.to, p.level(rp.to))
	switch {
	case err == nil || errors.Is(err, errWindowFull):
		return sent, true
	case dst.Err != nil:
		return sent, false
	}
	p.log.Warn("stored body does not decode", "key", obj.Key, "coding", rp.from.String(), "err", err)
	panic(http.ErrAbortHandler)
}

// served counts a body sent in representation rp, of sent bytes, in the
// worker's metrics.
func served(stats *metrics.Worker, rp rep, how metrics.Conversion, sent int64) {
	stats.Served(rp.to, how)
	if rp.to != coding.Identity && rp.identitySize >= 0 {
		stats.Saved(metrics.SavedWire, rp.identitySize-sent)
	}
}

// codedVariant returns the node's stored gzip transcode of obj, a body
// the node compressed in zstd that obj's key holds, if one is stored for
// this very object (same stamp and response time: a refresh or a new
// response outdates it) and no ban names it; the caller releases it.
func (p *Proxy) codedVariant(obj *cachestore.Object, stats *metrics.Worker) (keys.Key, *cachestore.Object) {
	k := keys.Of(obj.Key).Coded(coding.Gzip)
	v, ok := p.find(k, stats)
	if !ok {
		return k, nil
	}
	if !v.Stamp.Equal(obj.Stamp) || !v.Policy.ResponseTime.Equal(obj.Policy.ResponseTime) || v.Coding != coding.Gzip {
		v.Release()
		return k, nil
	}
	return k, v
}
