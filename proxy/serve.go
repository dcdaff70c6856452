package proxy

import (
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strconv"
	"time"

	"github.com/cdnnode/cdnnode/cachepolicy"
	"github.com/cdnnode/cdnnode/cachestore"
	"github.com/cdnnode/cdnnode/cachestore/disk"
	"github.com/cdnnode/cdnnode/coding"
	"github.com/cdnnode/cdnnode/keys"
	"github.com/cdnnode/cdnnode/metrics"
)

// notModifiedFields are the stored fields a 304 from cache carries
// (RFC 9110 §15.4.5).
var notModifiedFields = [...]string{"Cache-Control", "Content-Location", "Date", "Etag", "Expires", "Last-Modified", "Vary", "Via"}

// serve answers r from the stored object: the whole response, 304 for a
// satisfied conditional, 206 or 416 for a Range, headers only for HEAD, in
// the representation the client gets (choose). This is the one place
// where a stored object becomes response bytes.
func (p *Proxy) serve(w http.ResponseWriter, r *http.Request, x *exchange, obj *cachestore.Object, now time.Time) {
	if x.out.cache == metrics.Hit {
		x.out.ttl = obj.Policy.TTL(now)
	}
	rp := choose(r, bodyOf(obj))
	src, how := obj, rp.conversion()
	var variant keys.Key // where a gzip transcode of obj would be stored
	if rp.to == coding.Gzip && obj.Coding == coding.Zstd {
		k, v := p.codedVariant(obj, x.stats)
		if v != nil {
			defer v.Release()
			src, how = v, metrics.Variant
			rp.from, rp.size = coding.Gzip, v.BodySize()
		}
		variant = k
	}
	hdr := repHeader(obj, rp)
	h := w.Header()
	// One backing array for the two per-response values.
	x.vals = [2]string{strconv.FormatInt(ageSeconds(obj, now), 10), x.out.String()}
	age, status := x.vals[0:1:1], x.vals[1:2:2]

	if cachepolicy.NotModified(r.Header, hdr) {
		for _, f := range notModifiedFields {
			if vs, ok := hdr[f]; ok {
				h[f] = vs
			}
		}
		h["Age"], h["Cache-Status"] = age, status
		w.WriteHeader(http.StatusNotModified)
		return
	}
	for k, vs := range hdr {
		h[k] = vs
	}
	h["Age"], h["Cache-Status"] = age, status

	size := rp.size
	if rng := r.Header["Range"]; len(rng) > 0 && rng[0] != "" && obj.Status == http.StatusOK && rp.rangeable() && cachepolicy.IfRange(r.Header, hdr) {
		ranges, err := cachepolicy.ParseRange(rng[0], size)
		switch {
		case errors.Is(err, cachepolicy.ErrUnsatisfiable):
			h.Del("Content-Length")
			h.Set("Content-Range", "bytes */"+strconv.FormatInt(size, 10))
			w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
			return
		case err == nil && len(ranges) == 1:
			rg := ranges[0]
			h.Set("Content-Range", rg.ContentRange(size))
			h.Set("Content-Length", strconv.FormatInt(rg.Length, 10))
			w.WriteHeader(http.StatusPartialContent)
			if r.Method != http.MethodHead {
				_, _ = p.writeRep(w, src, rp, rg.Start, rg.Length)
				x.stats.Served(rp.to, how)
			}
			return
		case err == nil:
			p.serveMultipart(w, r, src, rp, ranges)
			x.stats.Served(rp.to, how)
			return
		}
		// An invalid Range is ignored: the whole representation follows.
	}
	// The representation's header says its length when it is known.
	w.WriteHeader(obj.Status)
	if r.Method == http.MethodHead {
		return
	}
	if how == metrics.Transcoded && variant.Full != "" && p.gzipAfter > 0 && p.store.Demand(variant, p.gzipAfter) {
		p.storeVariant(w, x, obj, rp, variant)
		return
	}
	sent, _ := p.writeRep(w, src, rp, 0, -1)
	served(x.stats, rp, how, sent)
}

// repHeader is the stored header of obj as the client of representation
// rp gets it (rep.header), memoised on obj: shared, never to be modified.
func repHeader(obj *cachestore.Object, rp rep) http.Header {
	if !rp.negotiable {
		return obj.Header
	}
	return obj.Derived(rp.to, rp.size, func() http.Header { return rp.header(obj.Header) })
}

// ageSeconds is the value of the Age field obj is sent with at now
// (RFC 9111 §5.1).
func ageSeconds(obj *cachestore.Object, now time.Time) int64 {
	return int64(obj.Policy.Age(now) / time.Second)
}

// storeVariant sends obj's body transcoded as rp says (zstd to gzip) and
// stores the transcode under k as a variant of its own, sharing obj's
// header, reuse state, tags and stamp, so later gzip clients get it as
// stored. If the transfer or the store fails, the demand counts again.
func (p *Proxy) storeVariant(w io.Writer, x *exchange, obj *cachestore.Object, rp rep, k keys.Key) {
	v := &cachestore.Object{
		Status: obj.Status, Header: obj.Header.Clone(), Policy: obj.Policy, Tags: obj.Tags, Stamp: obj.Stamp,
		Targeted: obj.Targeted, Coding: rp.to, IdentitySize: obj.IdentitySize,
	}
	wr := p.store.NewWriter(k, v, -1)
	defer wr.Close()
	defer wr.Abort()
	sent, ok := p.writeRep(&tee{w: w, wr: wr}, obj, rp, 0, -1)
	served(x.stats, rp, metrics.Transcoded, sent)
	if !ok || !wr.Commit() {
		return // a later request tries again
	}
	p.settleFill(k, v.Tags, v.Stamp)
}

// tee writes to a client and, while it can, into a cache writer: a store
// that fails stops storing, never the client's response.
type tee struct {
	w  io.Writer
	wr *cachestore.Writer
}

func (t *tee) Write(p []byte) (int, error) {
	if t.wr.Err() == nil {
		_, _ = t.wr.Write(p)
	}
	return t.w.Write(p)
}

// writeBody sends n body bytes from off and reports whether all of them
// went. A client that went away just ends the response; a stored body that
// fails its checks aborts it, so the client sees an incomplete transfer
// rather than bad bytes.
func writeBody(w io.Writer, obj *cachestore.Object, off, n int64) bool {
	err := obj.WriteBody(w, off, n)
	if errors.Is(err, disk.ErrCorrupt) {
		panic(http.ErrAbortHandler)
	}
	return err == nil
}

// serveMultipart answers several ranges of representation rp of obj as
// multipart/byteranges (RFC 9110 §14.6).
func (p *Proxy) serveMultipart(w http.ResponseWriter, r *http.Request, obj *cachestore.Object, rp rep, ranges []cachepolicy.ByteRange) {
	size := rp.size
	ctype := obj.Header.Get("Content-Type")
	h := w.Header()
	// Measure the body first, without reading it, so the response keeps a
	// Content-Length.
	cw := &coding.CountWriter{W: io.Discard}
	mw := multipart.NewWriter(cw)
	boundary := mw.Boundary()
	_ = writeParts(mw, ctype, size, ranges, func(_ io.Writer, rg cachepolicy.ByteRange) error {
		cw.N += rg.Length
		return nil
	})
	h.Set("Content-Type", "multipart/byteranges; boundary="+boundary)
	h.Set("Content-Length", strconv.FormatInt(cw.N, 10))
	w.WriteHeader(http.StatusPartialContent)
	if r.Method == http.MethodHead {
		return
	}
	mw = multipart.NewWriter(w)
	if err := mw.SetBoundary(boundary); err != nil {
		panic(fmt.Sprintf("multipart boundary %q rejected: %v", boundary, err))
	}
	// A body decoded on the fly is decoded again for each part.
	_ = writeParts(mw, ctype, size, ranges, func(part io.Writer, rg cachepolicy.ByteRange) error {
		if _, ok := p.writeRep(part, obj, rp, rg.Start, rg.Length); !ok {
			return errClientGone
		}
		return nil
	})
}

// errClientGone ends a multipart response whose client went away.
var errClientGone = errors.New("proxy: client went away")

// writeParts writes one part per range, its bytes written by body, and the
// closing delimiter.
func writeParts(mw *multipart.Writer, ctype string, size int64, ranges []cachepolicy.ByteRange, body func(io.Writer, cachepolicy.ByteRange) error) error {
	for _, rg := range ranges {
		ph := textproto.MIMEHeader{"Content-Range": {rg.ContentRange(size)}}
		if ctype != "" {
			ph["Content-Type"] = []string{ctype}
		}
		part, err := mw.CreatePart(ph)
		if err != nil {
			return err
		}
		if err := body(part, rg); err != nil {
			return err
		}
	}
	return mw.Close()
}
