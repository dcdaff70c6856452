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
	"github.com/cdnnode/cdnnode/metrics"
)

// notModifiedFields are the stored fields a 304 from cache carries
// (RFC 9110 §15.4.5).
var notModifiedFields = [...]string{"Cache-Control", "Content-Location", "Date", "ETag", "Expires", "Last-Modified", "Vary", "Via"}

// serve answers r from the stored object: the whole response, 304 for a
// satisfied conditional, 206 or 416 for a Range, headers only for HEAD.
// This is the one place where a stored object becomes response bytes.
func (p *Proxy) serve(w http.ResponseWriter, r *http.Request, x *exchange, obj *cachestore.Object, now time.Time) {
	if x.out.cache == metrics.Hit {
		x.out.ttl = obj.Policy.TTL(now)
	}
	h := w.Header()
	// One backing array for the two per-response values.
	x.vals = [2]string{strconv.FormatInt(int64(obj.Policy.Age(now)/time.Second), 10), x.out.String()}
	age, status := x.vals[0:1:1], x.vals[1:2:2]

	if cachepolicy.NotModified(r.Header, obj.Header) {
		for _, f := range notModifiedFields {
			if vs, ok := obj.Header[f]; ok {
				h[f] = vs
			}
		}
		h["Age"], h["Cache-Status"] = age, status
		w.WriteHeader(http.StatusNotModified)
		return
	}
	for k, vs := range obj.Header {
		h[k] = vs
	}
	h["Age"], h["Cache-Status"] = age, status

	size := obj.BodySize()
	if rng := r.Header["Range"]; len(rng) > 0 && rng[0] != "" && obj.Status == http.StatusOK && cachepolicy.IfRange(r.Header, obj.Header) {
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
				writeBody(w, obj, rg.Start, rg.Length)
			}
			return
		case err == nil:
			serveMultipart(w, r, obj, ranges)
			return
		}
		// An invalid Range is ignored: the whole representation follows.
	}
	// The stored header carries Content-Length (set at commit).
	w.WriteHeader(obj.Status)
	if r.Method != http.MethodHead {
		writeBody(w, obj, 0, size)
	}
}

// writeBody sends n body bytes from off. A client that went away just ends
// the response; a stored body that fails its checks aborts it, so the
// client sees an incomplete transfer rather than bad bytes.
func writeBody(w http.ResponseWriter, obj *cachestore.Object, off, n int64) {
	if err := obj.WriteBody(w, off, n); errors.Is(err, disk.ErrCorrupt) {
		panic(http.ErrAbortHandler)
	}
}

// serveMultipart answers several ranges as multipart/byteranges
// (RFC 9110 §14.6).
func serveMultipart(w http.ResponseWriter, r *http.Request, obj *cachestore.Object, ranges []cachepolicy.ByteRange) {
	size := obj.BodySize()
	ctype := obj.Header.Get("Content-Type")
	h := w.Header()
	// Measure the body first, without reading it, so the response keeps a
	// Content-Length.
	cw := &countWriter{}
	mw := multipart.NewWriter(cw)
	boundary := mw.Boundary()
	_ = writeParts(mw, ctype, size, ranges, func(_ io.Writer, rg cachepolicy.ByteRange) error {
		cw.n += rg.Length
		return nil
	})
	h.Set("Content-Type", "multipart/byteranges; boundary="+boundary)
	h.Set("Content-Length", strconv.FormatInt(cw.n, 10))
	w.WriteHeader(http.StatusPartialContent)
	if r.Method == http.MethodHead {
		return
	}
	mw = multipart.NewWriter(w)
	if err := mw.SetBoundary(boundary); err != nil {
		panic(fmt.Sprintf("multipart boundary %q rejected: %v", boundary, err))
	}
	err := writeParts(mw, ctype, size, ranges, func(part io.Writer, rg cachepolicy.ByteRange) error {
		return obj.WriteBody(part, rg.Start, rg.Length)
	})
	if errors.Is(err, disk.ErrCorrupt) {
		panic(http.ErrAbortHandler)
	}
}

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

// countWriter counts bytes written and discards them.
type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}
