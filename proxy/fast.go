package proxy

import (
	"bytes"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/cdnnode/cdnnode/cachepolicy"
	"github.com/cdnnode/cdnnode/cachestore"
	"github.com/cdnnode/cdnnode/coding"
	"github.com/cdnnode/cdnnode/h1"
	"github.com/cdnnode/cdnnode/internal/ascii"
	"github.com/cdnnode/cdnnode/keys"
	"github.com/cdnnode/cdnnode/metrics"
)

// Responder returns worker i's fast-path responder: it answers a fresh
// memory hit of a plain HTTP/1.1 GET or HEAD from the request head alone,
// with the bytes the pipeline would send for it but for the order of the
// header fields, and counts it in worker i's metrics as Handler(i) does.
// It declines every other request, cheaply and without a trace, for the
// pipeline to serve. With access logging off, an answer allocates nothing.
// Safe for concurrent use.
func (p *Proxy) Responder(i int) h1.Responder {
	return &responder{p: p, stats: p.metrics.Worker(i)}
}

// responder is the fast path as one worker group serves it.
type responder struct {
	p     *Proxy
	stats *metrics.Worker
}

// maxFastKey bounds the cache key the fast path builds, on the stack: a
// request whose key may be longer goes to the pipeline.
const maxFastKey = 512

// maxAcceptLines is how many Accept-Encoding field lines the fast path
// reads: a request with more goes to the pipeline.
const maxAcceptLines = 4

// Respond answers req when the pipeline would answer it as a fresh hit
// served as stored (see Responder), and declines it otherwise. The checks
// follow the pipeline's order: screen, routing, protect, key, lookup,
// bans, freshness, representation.
func (rs *responder) Respond(req *h1.Request, resp *h1.Response) bool {
	p, head := rs.p, req.Head
	get := string(head.Method()) == http.MethodGet
	if !get && string(head.Method()) != http.MethodHead || head.Version != 1 || head.ContentLength > 0 || head.Chunked {
		return false
	}
	var accept [maxAcceptLines][]byte
	nAccept, ok := plainFields(head, &accept)
	if !ok {
		return false
	}
	target, host := head.Target(), head.Host()
	path, query, ok := splitTarget(target)
	if !ok || host == nil {
		return false
	}
	cs := p.cfg.MatchBytes(host)
	if cs == nil {
		return false
	}
	s := p.sites[cs]
	if !s.cache || !p.admitsPlainly(s.shield, req.Client, path) {
		return false
	}
	if p.inFlight != nil {
		// A per-client cap is keyed by the client's address as a string,
		// which would cost an allocation. The slot is held while the
		// answer is made, not while the engine writes it.
		if p.perClient || p.inFlight.Acquire("") != nil {
			return false
		}
		defer p.inFlight.Release("")
	}
	scheme := "http"
	if req.TLS {
		scheme = "https"
	}
	if len(scheme)+len("://")+len(host)+len(target)+1 > maxFastKey {
		return false
	}
	var buf [maxFastKey]byte
	full := keys.AppendFull(buf[:0], scheme, host, path, query, s.keys)
	obj := p.store.Memory(keys.HashOf(full), full)
	if obj == nil || obj.IsVaryIndex() {
		return false
	}
	now := req.Start // as the pipeline's x.start: the hit needs no second clock read
	if v := p.bans.Check(obj.Key, obj.Tags, obj.Stamp); v.Purged || !v.Stale.IsZero() {
		return false // the pipeline drops or ages it
	}
	if cachepolicy.Reuse(cachepolicy.NewDirectives(), obj.Policy, now) != cachepolicy.Fresh {
		return false
	}
	b := bodyOf(obj)
	rp := stored(b)
	if rp.negotiable {
		rp = rp.negotiate(b, coding.ParseAccept(accept[:nAccept]), false, false)
	}
	if rp.transformed() {
		return false
	}
	wire := obj.Wire(rp.to, func() []byte { return wireHead(obj, rp) })
	if flags := wire[0]; flags&wireServable == 0 || !get && flags&wireSniffed != 0 {
		return false
	}
	out := outcome{cache: metrics.Hit, ttl: obj.Policy.TTL(now)}
	resp.Head = appendHitHead(resp.Head, wire, obj, &out, now)
	rs.stats.MemoryHit()
	var sent int64
	if get {
		resp.Body, sent = obj.Body, int64(len(obj.Body))
		// nil for short bodies; the object's first fast hit copies a long
		// one into the file, once
		resp.File = p.store.BodyFile(obj)
		served(rs.stats, rp, metrics.AsStored, sent)
	}
	dur := p.now().Sub(req.Start)
	rs.stats.Request(out.cache, obj.Status, dur)
	if p.access {
		p.logAccess(access{
			remote: req.Remote.String(), proto: "HTTP/1.1", method: string(head.Method()), host: string(host), uri: string(target),
			status: obj.Status, bytes: sent, dur: dur,
		}, &out)
	}
	return true
}

// plainFields reports whether head has none of the fields that make the
// pipeline do more with a request than serve a hit as stored: validators,
// a Range, cache directives, an expectation, an upgrade, credentials, TE,
// the HTTP/1 guard's reject field, or a Connection field that names more
// than close and keep-alive (the pipeline checks nominations). It copies
// the values of the Accept-Encoding field lines into accept and returns
// how many there are; more than fit is a refusal too.
func plainFields(head *h1.Head, accept *[maxAcceptLines][]byte) (int, bool) {
	n, nominated := 0, 0
	for i := range head.NumFields() {
		name, value := head.Field(i)
		switch len(name) { // the fields below, by length
		case 2:
			if ascii.LowerEq(name, "te") {
				return 0, false
			}
		case 5:
			if ascii.LowerEq(name, "range") {
				return 0, false
			}
		case 6:
			if ascii.LowerEq(name, "expect") || ascii.LowerEq(name, "pragma") {
				return 0, false
			}
		case 7:
			if ascii.LowerEq(name, "upgrade") {
				return 0, false
			}
		case 8:
			if ascii.LowerEq(name, "if-match") || ascii.LowerEq(name, "if-range") {
				return 0, false
			}
		case 10:
			if !ascii.LowerEq(name, "connection") {
				continue
			}
			for len(value) > 0 { // each pass takes one list element off value
				tok := value
				value = value[len(value):]
				if i := bytes.IndexByte(tok, ','); i >= 0 {
					tok, value = tok[:i], tok[i+1:]
				}
				switch tok = bytes.Trim(tok, " \t"); {
				case len(tok) == 0:
				case ascii.LowerEq(tok, "close"), ascii.LowerEq(tok, "keep-alive"):
					nominated++
				default:
					return 0, false
				}
			}
			if nominated > 2 {
				return 0, false
			}
		case 13:
			if ascii.LowerEq(name, "cache-control") || ascii.LowerEq(name, "if-none-match") || ascii.LowerEq(name, "authorization") {
				return 0, false
			}
		case 14:
			if ascii.LowerEq(name, "cdnnode-reject") { // h1.RejectField
				return 0, false
			}
		case 15:
			if !ascii.LowerEq(name, "accept-encoding") {
				continue
			}
			if n == len(accept) {
				return 0, false
			}
			accept[n] = value
			n++
		case 17:
			if ascii.LowerEq(name, "if-modified-since") {
				return 0, false
			}
		case 19:
			if ascii.LowerEq(name, "if-unmodified-since") {
				return 0, false
			}
		}
	}
	return n, true
}

// pathByte holds the bytes url.URL.EscapedPath keeps in a path as they
// are (net/url's validEncoded for paths): alphanumerics, "-._~", the
// sub-delims, ":@/", the brackets and '%'. Built once, never written after.
var pathByte = func() (t [256]bool) {
	for c := range 256 {
		t[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte("-._~!$&'()*+,;=:@/[]%", byte(c)) >= 0
	}
	return t
}()

// splitTarget splits an origin-form request-target into its path and
// query (what follows the first '?', r.URL.RawQuery) and reports whether
// the path is the one r.URL.EscapedPath() gives back, byte for byte: it
// holds only bytes that net/url keeps as they are, and each '%' starts an
// escape.
func splitTarget(t []byte) (path, query []byte, ok bool) {
	if len(t) == 0 || t[0] != '/' {
		return nil, nil, false
	}
	path = t
	if i := bytes.IndexByte(t, '?'); i >= 0 {
		path, query = t[:i], t[i+1:]
	}
	for i, c := range path {
		if !pathByte[c] || c == '%' && (i+2 >= len(path) || !isHex(path[i+1]) || !isHex(path[i+2])) {
			return nil, nil, false
		}
	}
	return path, query, true
}

// isHex reports whether c is a hexadecimal digit.
func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// admitsPlainly reports whether site shield s lets client in with nothing
// more to do for path: its access lists admit the client, which is the
// connection's peer (a trusted proxy's X-Forwarded-For is the pipeline's
// to read; the zero Addr, a peer that is not TCP, is refused), and no auth
// or rate rule covers path (those rules read the unescaped path, so a path
// with an escape and any rule is refused too).
func (p *Proxy) admitsPlainly(s *shield, client netip.Addr, path []byte) bool {
	if !client.IsValid() || contains(p.trusted, client) || !s.admits(client) {
		return false
	}
	if len(s.auth) == 0 && len(s.rates) == 0 {
		return true
	}
	if bytes.IndexByte(path, '%') >= 0 {
		return false
	}
	for i := range s.auth {
		if hasPrefix(path, s.auth[i].prefix) {
			return false
		}
	}
	for i := range s.rates {
		if hasPrefix(path, s.rates[i].prefix) {
			return false
		}
	}
	return true
}

// hasPrefix is strings.HasPrefix for a path of bytes.
func hasPrefix(path []byte, prefix string) bool {
	return len(path) >= len(prefix) && string(path[:len(prefix)]) == prefix
}

// Flags of a head wireHead serialised, in its first byte.
const (
	wireServable = 1 << iota // the fast path may send it
	wireDate                 // the header has no Date: net/http adds one per response
	wireSniffed              // it ends with the Content-Type net/http sniffs from a GET's body
)

// wireHead serialises the head that net/http's server writes for serve's
// answer to a GET of obj in representation rp (served as stored), but for
// the fields that change with each response (Age, Cache-Status and, with
// wireDate, Date): the status line and the fields, as http.Header.Write
// writes them, each line ending in CRLF. The first byte holds the wire
// flags; a head the fast path must not send is that byte alone, without
// wireServable: a status whose response has no body, a header whose
// Content-Length is not the body's, or one with fields net/http's server
// reads when it writes the head (Transfer-Encoding, Connection, trailers).
func wireHead(obj *cachestore.Object, rp rep) []byte {
	hdr := repHeader(obj, rp)
	size := strconv.FormatInt(obj.BodySize(), 10)
	if cl := hdr["Content-Length"]; len(cl) != 1 || cl[0] != size ||
		obj.Status < http.StatusOK || obj.Status > 999 || obj.Status == http.StatusNoContent || obj.Status == http.StatusNotModified {
		return []byte{0}
	}
	fields := make(http.Header, len(hdr))
	for k, vs := range hdr {
		switch {
		case k == "Transfer-Encoding", k == "Connection", strings.HasPrefix(k, http.TrailerPrefix):
			return []byte{0}
		case k != "Age" && k != "Cache-Status": // serve sets both
			fields[k] = vs
		}
	}
	var b bytes.Buffer
	flags := byte(wireServable)
	b.WriteByte(0) // the flags, set below
	if text := http.StatusText(obj.Status); text != "" {
		fmt.Fprintf(&b, "HTTP/1.1 %d %s\r\n", obj.Status, text)
	} else {
		fmt.Fprintf(&b, "HTTP/1.1 %03d status code %d\r\n", obj.Status, obj.Status)
	}
	_ = fields.Write(&b) // a bytes.Buffer never fails
	if _, ok := hdr["Date"]; !ok {
		flags |= wireDate
	}
	if _, ok := hdr["Content-Type"]; !ok && hdr.Get("Content-Encoding") == "" && len(obj.Body) > 0 {
		b.WriteString("Content-Type: " + http.DetectContentType(obj.Body) + "\r\n")
		flags |= wireSniffed
	}
	head := b.Bytes()
	head[0] = flags
	return head
}

// appendHitHead appends to dst the head of a hit on obj, whose serialised
// head is wire (wireHead), at now, with outcome out: as serve sets them,
// Age and Cache-Status, and Date as net/http adds it.
func appendHitHead(dst, wire []byte, obj *cachestore.Object, out *outcome, now time.Time) []byte {
	dst = append(dst, wire[1:]...)
	dst = append(dst, "Age: "...)
	dst = strconv.AppendInt(dst, ageSeconds(obj, now), 10)
	dst = append(dst, "\r\nCache-Status: "...)
	dst = out.appendTo(dst)
	dst = append(dst, "\r\n"...)
	if wire[0]&wireDate != 0 {
		dst = append(dst, "Date: "...)
		dst = now.UTC().AppendFormat(dst, http.TimeFormat)
		dst = append(dst, "\r\n"...)
	}
	return dst
}
