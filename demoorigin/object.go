package demoorigin

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cespare/xxhash/v2"
)

// serveObject answers GET or HEAD /obj/<name>. The body is size bytes of
// printable ASCII determined by name (and the Vary value); the query chooses
// the rest:
//
//	size=N        body bytes (default 1024, at most 1 GiB; invalid: 400)
//	type=T        Content-Type (default text/plain; charset=utf-8)
//	cc=V          Cache-Control (default "public, max-age=60"; cc= sends none)
//	cdncc=V       CDN-Cache-Control (RFC 9213)
//	delay=D       wait D (Go duration, at most 60s) before the headers
//	status=N      status 100-599 but 101 (default 200); a 1xx is sent as an
//	              interim response before a 200
//	etag=1        strong ETag "<hex xxhash(name, size[, vary value])>";
//	              If-None-Match answered with 304 (RFC 9110 §13.1.2)
//	lm=1          Last-Modified 2026-01-01T00:00:00Z; If-Modified-Since
//	              answered with 304 (RFC 9110 §13.1.3)
//	lastmod=DATE  Last-Modified DATE instead, with the same 304s
//	vary=F        Vary: F; the request's F goes back in X-Vary-Value and
//	              seeds the body, so each value gets different bytes
//	tags=a,b      Surrogate-Key: a b
//	chunked=1     no Content-Length; the body is flushed in chunks
//	expires=V, age=V, location=V, clocation=V
//	              Expires, Age, Location, Content-Location sent verbatim
//	setcookie=1   a Set-Cookie field
//	abort=N       full Content-Length, then N body bytes, then the
//	              connection (HTTP/1) or stream (HTTP/2) is killed
//
// Conditionals are evaluated only for a 200, If-None-Match before
// If-Modified-Since (RFC 9110 §13.2.2). A 204 or 304 asked for by status
// has no body and no Content-Length.
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
	tag := etag(name, p.size, p.vary != "", varyValue)
	setHeaders(w.Header(), p, tag, varyValue)

	status := p.status
	if status >= 100 && status < 200 {
		w.WriteHeader(status) // interim; the final response follows
		status = http.StatusOK
	}
	if status == http.StatusOK && notModified(r.Header, p, tag) {
		w.Header().Del("Content-Type")
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if status == http.StatusNoContent || status == http.StatusNotModified {
		w.WriteHeader(status)
		return
	}
	if !p.chunked {
		w.Header().Set("Content-Length", strconv.FormatInt(p.size, 10))
	}
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	g := newBodyGen(name, p.vary != "", varyValue)
	if p.hasAbort {
		s.abort(w, r, &g, p.abort)
		return
	}
	if err := s.writeBody(w, &g, p.size, p.chunked); err != nil {
		s.log.Debug("demo origin body", "uri", r.RequestURI, "err", err)
	}
}

// setHeaders sets the object's response fields chosen by p.
func setHeaders(h http.Header, p params, tag, varyValue string) {
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
	if p.vary != "" {
		h.Set("Vary", p.vary)
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

// etag is the object's strong entity tag (RFC 9110 §8.8.3): its bytes depend
// on name, size and the Vary value, so the tag does too.
func etag(name string, size int64, varies bool, varyValue string) string {
	var d xxhash.Digest
	d.Reset()
	_, _ = d.WriteString(name)
	_, _ = d.WriteString("\x00")
	_, _ = d.WriteString(strconv.FormatInt(size, 10))
	if varies {
		_, _ = d.WriteString("\x00")
		_, _ = d.WriteString(varyValue)
	}
	return fmt.Sprintf(`"%016x"`, d.Sum64())
}

// notModified reports whether a GET or HEAD's conditional fields let a 304
// stand for the 200 (RFC 9110 §13.2.2): If-None-Match decides when present
// and ETags are on; otherwise If-Modified-Since against Last-Modified.
func notModified(h http.Header, p params, tag string) bool {
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

// writeBody streams size bytes of g to w, flushing after every chunk when
// chunked so the client sees a chunked transfer.
func (s *Server) writeBody(w http.ResponseWriter, g *bodyGen, size int64, chunked bool) error {
	bp := s.bufs.Get().(*[]byte)
	defer s.bufs.Put(bp)
	buf := *bp
	if chunked {
		buf = buf[:8<<10] // smaller chunks, so even modest bodies arrive in several
	}
	rc := http.NewResponseController(w)
	for left := size; left > 0; {
		n := min(int64(len(buf)), left)
		g.fill(buf[:n])
		if _, err := w.Write(buf[:n]); err != nil {
			return fmt.Errorf("write body: %w", err)
		}
		left -= n
		if chunked {
			if err := rc.Flush(); err != nil {
				return fmt.Errorf("flush body: %w", err)
			}
		}
	}
	return nil
}

// abort sends the first n bytes of the body promised by Content-Length and
// then kills the exchange: for HTTP/1 it hijacks and closes the connection;
// for HTTP/2 (or when hijacking fails) it panics with http.ErrAbortHandler,
// which resets the stream. Either way the client sees a truncated body.
func (s *Server) abort(w http.ResponseWriter, r *http.Request, g *bodyGen, n int64) {
	err := s.writeBody(w, g, n, false)
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
