package demoorigin

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cespare/xxhash/v2"
)

// serveObject answers GET or HEAD /obj/<name>. The body is size bytes
// determined by name, the Vary value and the body kind; the query chooses
// the rest:
//
//	size=N        body bytes (default 1024, at most 1 GiB; invalid: 400)
//	body=K        what the bytes are: random (default), printable ASCII noise
//	              that hardly compresses; text, English-like prose; json, a
//	              JSON array of records, valid at any size from 2 bytes, the
//	              length of [] (smaller: 400)
//	type=T        Content-Type (default text/plain; charset=utf-8, or
//	              application/json for body=json)
//	ce=C          the body in content coding C: gzip, zstd or br whatever
//	              the request accepts, as a misconfigured or pre-compressing
//	              origin sends it; or auto, the coding Accept-Encoding
//	              prefers (br, zstd, gzip or identity; see negotiate), with
//	              Vary: Accept-Encoding. An encoded body is streamed without
//	              Content-Length (chunked in HTTP/1.1), at each library's
//	              default level (gzip 6, zstd 3, brotli 6)
//	cc=V          Cache-Control (default "public, max-age=60"; cc= sends none)
//	cdncc=V       CDN-Cache-Control (RFC 9213)
//	delay=D       wait D (Go duration, at most 60s) before the headers
//	status=N      status 100-599 but 101 (default 200); a 1xx is sent as an
//	              interim response before a 200
//	etag=1        strong ETag "<hex xxhash(name, size[, vary value][, body])>",
//	              with "-<coding>" appended inside the quotes when encoded;
//	              If-None-Match answered with 304 (RFC 9110 §13.1.2) when it
//	              matches the representation chosen
//	lm=1          Last-Modified 2026-01-01T00:00:00Z; If-Modified-Since
//	              answered with 304 (RFC 9110 §13.1.3)
//	lastmod=DATE  Last-Modified DATE instead, with the same 304s
//	vary=F        Vary: F; the request's F goes back in X-Vary-Value and
//	              seeds the body, so each value gets different bytes
//	tags=a,b      Surrogate-Key: a b
//	chunked=1     no Content-Length; the body is flushed in chunks (after
//	              the encoder when ce is given)
//	expires=V, age=V, location=V, clocation=V
//	              Expires, Age, Location, Content-Location sent verbatim
//	setcookie=1   a Set-Cookie field
//	abort=N       the headers (Content-Length too, unless ce or chunked),
//	              then N body bytes, then the connection (HTTP/1) or stream
//	              (HTTP/2) is killed. With ce, N counts identity bytes, all
//	              flushed through the encoder, so the client decodes exactly
//	              N before the break
//
// Conditionals are evaluated only for a 200, If-None-Match before
// If-Modified-Since (RFC 9110 §13.2.2). A 204 or 304 asked for by status
// has no body, no Content-Length and no Content-Encoding. HEAD answers with
// the fields GET would.
func (s *Server) serveObject(w http.ResponseWriter, r *http.Request, name string) {
	p, err := parseParams(r.URL.RawQuery)
	if err != nil {
		http.Error(w, fmt.Sprintf("demo origin: %v", err), http.StatusBadRequest)
		return
	}
	if p.delay > 0 {
		t := time.NewTimer(p.delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	varyValue := ""
	if p.vary != "" {
		varyValue = strings.Join(r.Header.Values(p.vary), ", ")
	}
	c := p.coding(r.Header.Values("Accept-Encoding"))
	tag := etag(name, &p, varyValue, c)
	h := w.Header()
	setHeaders(h, &p, tag, varyValue)

	status := p.status
	if status >= 100 && status < 200 {
		w.WriteHeader(status) // interim; the final response follows
		status = http.StatusOK
	}
	if status == http.StatusOK && notModified(r.Header, &p, tag) {
		h.Del("Content-Type")
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if status == http.StatusNoContent || status == http.StatusNotModified {
		w.WriteHeader(status)
		return
	}
	switch {
	case c != identity:
		h.Set("Content-Encoding", c.String())
	case !p.chunked:
		h.Set("Content-Length", strconv.FormatInt(p.size, 10))
	}
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	b := newBody(p.body, bodySeed(name, p.vary != "", varyValue), p.size)
	if p.hasAbort {
		s.abort(w, r, b, p.abort, c)
		return
	}
	if err := s.writeBody(w, b, p.size, c, p.chunked); err != nil {
		s.log.Debug("demo origin body", "uri", r.RequestURI, "err", err)
	}
}

// setHeaders sets the object's response fields chosen by p.
func setHeaders(h http.Header, p *params, tag, varyValue string) {
	h.Set("Content-Type", p.ctype)
	if p.cc != "" {
		h.Set("Cache-Control", p.cc)
	}
	if p.etag {
		h.Set("ETag", tag)
	}
	if !p.lastMod.IsZero() {
		h.Set("Last-Modified", p.lastMod.UTC().Format(http.TimeFormat))
	}
	switch {
	case p.ceAuto && p.vary != "" && p.vary != "Accept-Encoding":
		h.Set("Vary", p.vary+", Accept-Encoding")
	case p.ceAuto:
		h.Set("Vary", "Accept-Encoding")
	case p.vary != "":
		h.Set("Vary", p.vary)
	}
	if p.vary != "" {
		h.Set("X-Vary-Value", varyValue)
	}
	if len(p.tags) > 0 {
		h.Set("Surrogate-Key", strings.Join(p.tags, " "))
	}
	if p.setCook {
		h.Set("Set-Cookie", setCookieVal)
	}
	for _, f := range p.raw {
		h.Set(f.name, f.value)
	}
}

// etag is the strong entity tag (RFC 9110 §8.8.3) of the representation of
// object name that p and the Vary value select, in coding c: the identity
// bytes depend on name, size, the Vary value and the body kind, so the hash
// does (the kind only when not random, which keeps the tags from before
// there were kinds); an encoding's bytes differ again, so it is appended.
func etag(name string, p *params, varyValue string, c coding) string {
	var d xxhash.Digest
	d.Reset()
	_, _ = d.WriteString(name)
	_, _ = d.WriteString("\x00")
	_, _ = d.WriteString(strconv.FormatInt(p.size, 10))
	if p.vary != "" {
		_, _ = d.WriteString("\x00")
		_, _ = d.WriteString(varyValue)
	}
	if p.body != bodyRandom {
		_, _ = d.WriteString("\x00body=")
		_, _ = d.WriteString(p.body.String())
	}
	if c != identity {
		return fmt.Sprintf(`"%016x-%s"`, d.Sum64(), c)
	}
	return fmt.Sprintf(`"%016x"`, d.Sum64())
}

// notModified reports whether a GET or HEAD's conditional fields let a 304
// stand for the 200 (RFC 9110 §13.2.2): If-None-Match decides when present
// and ETags are on; otherwise If-Modified-Since against Last-Modified.
func notModified(h http.Header, p *params, tag string) bool {
	if inm := h.Values("If-None-Match"); len(inm) > 0 {
		return p.etag && etagMatch(strings.Join(inm, ","), tag)
	}
	ims := h.Get("If-Modified-Since")
	if ims == "" || p.lastMod.IsZero() {
		return false
	}
	t, err := http.ParseTime(ims)
	if err != nil {
		return false // an invalid date is ignored (RFC 9110 §13.1.3)
	}
	return !p.lastMod.Truncate(time.Second).After(t)
}

// etagMatch reports whether If-None-Match list matches tag by weak
// comparison (RFC 9110 §13.1.2, §8.8.3.2). "*" matches any tag.
func etagMatch(list, tag string) bool {
	opaque := strings.TrimPrefix(tag, "W/")
	for range len(list) + 1 { // every round consumes at least one byte
		list = strings.TrimLeft(list, " \t,")
		if list == "" {
			return false
		}
		if list[0] == '*' {
			return true
		}
		list = strings.TrimPrefix(list, "W/")
		if !strings.HasPrefix(list, `"`) {
			// Not an entity-tag: skip to the next member.
			i := strings.IndexByte(list, ',')
			if i < 0 {
				return false
			}
			list = list[i:]
			continue
		}
		end := strings.IndexByte(list[1:], '"')
		if end < 0 {
			return false
		}
		if list[:end+2] == opaque {
			return true
		}
		list = list[end+2:]
	}
	return false
}

// writeBody streams n bytes of b to w, encoded with c, flushing after every
// chunk when chunked so the client sees a chunked transfer.
func (s *Server) writeBody(w http.ResponseWriter, b filler, n int64, c coding, chunked bool) error {
	rc := http.NewResponseController(w)
	var flush func() error
	if c == identity {
		if chunked {
			flush = rc.Flush
		}
		return s.copyBody(w, b, n, flush)
	}
	// Sending the header first keeps net/http from holding back a short
	// body to give it a Content-Length.
	if err := rc.Flush(); err != nil {
		return fmt.Errorf("flush header: %w", err)
	}
	e, err := s.encoder(c, w)
	if err != nil {
		return err
	}
	defer s.putEncoder(c, e)
	if chunked {
		flush = func() error {
			if err := e.Flush(); err != nil {
				return fmt.Errorf("%s: %w", c, err)
			}
			return rc.Flush()
		}
	}
	if err := s.copyBody(e, b, n, flush); err != nil {
		return err
	}
	if err := e.Close(); err != nil {
		return fmt.Errorf("end %s stream: %w", c, err)
	}
	return nil
}

// writePrefix writes the first n bytes of b to w, encoded with c. An
// encoder is flushed, so the client can decode all n bytes, but its stream
// is left unfinished.
func (s *Server) writePrefix(w io.Writer, b filler, n int64, c coding) error {
	if c == identity {
		return s.copyBody(w, b, n, nil)
	}
	e, err := s.encoder(c, w)
	if err != nil {
		return err
	}
	defer s.putEncoder(c, e)
	if err := s.copyBody(e, b, n, nil); err != nil {
		return err
	}
	if err := e.Flush(); err != nil {
		return fmt.Errorf("flush %s: %w", c, err)
	}
	return nil
}

// copyBody writes n bytes of b to dst a chunk at a time. When flush is not
// nil it is called after every chunk, and chunks are smaller, so that even
// modest bodies arrive in several.
func (s *Server) copyBody(dst io.Writer, b filler, n int64, flush func() error) error {
	bp := s.bufs.Get().(*[]byte)
	defer s.bufs.Put(bp)
	buf := *bp
	if flush != nil {
		buf = buf[:8<<10]
	}
	for left := n; left > 0; {
		k := min(int64(len(buf)), left)
		b.fill(buf[:k])
		if _, err := dst.Write(buf[:k]); err != nil {
			return fmt.Errorf("write body: %w", err)
		}
		left -= k
		if flush != nil {
			if err := flush(); err != nil {
				return fmt.Errorf("flush body: %w", err)
			}
		}
	}
	return nil
}

// abort sends the first n bytes of the body, encoded with c, and then kills
// the exchange: for HTTP/1 it hijacks and closes the connection; for HTTP/2
// (or when hijacking fails) it panics with http.ErrAbortHandler, which
// resets the stream. Either way the client sees a truncated body.
func (s *Server) abort(w http.ResponseWriter, r *http.Request, b filler, n int64, c coding) {
	err := s.writePrefix(w, b, n, c)
	rc := http.NewResponseController(w)
	if err == nil {
		err = rc.Flush()
	}
	if r.ProtoMajor == 1 && err == nil {
		conn, _, herr := rc.Hijack()
		if herr == nil {
			s.log.Debug("demo origin abort", "uri", r.RequestURI, "sent", n)
			_ = conn.Close()
			return
		}
		err = herr
	}
	if err != nil && !errors.Is(err, http.ErrNotSupported) {
		s.log.Debug("demo origin abort", "uri", r.RequestURI, "err", err)
	}
	panic(http.ErrAbortHandler)
}
