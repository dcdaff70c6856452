package h1

import (
	"bytes"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// GuardOptions configure a Guard.
type GuardOptions struct {
	Limits // for every request head
	// MaxHeadBytes bounds one request head, request line to empty line; a
	// longer one is refused with 431 "head-too-large". Zero means
	// http.DefaultMaxHeaderBytes.
	MaxHeadBytes int
	// Token authenticates the reject requests a Guard writes (see
	// RejectField): a secret of token characters (RFC 9110 §5.6.2) made
	// once per process, such as crypto/rand.Text().
	Token string

	// Fast, if set, answers requests itself on the fast path: see Responder
	// and Guard.ServeFast. The fields below matter only with it.
	Fast Responder
	TLS  bool // the wrapped conn is a TLS connection (Request.TLS)
	// The fast path's timeouts, as net/http's server applies its own: the
	// wait for a request's first byte (IdleTimeout), then for the rest of
	// its head (HeaderTimeout), and the write of a response
	// (WriteTimeout). Zero is no limit.
	IdleTimeout, HeaderTimeout, WriteTimeout time.Duration
	// Loop, if set, is where the fast path waits for a plain TCP
	// connection's requests (see Loop); without it, or on any other
	// connection, it waits in the connection's read.
	Loop *Loop
}

// Guard is the server side of one HTTP/1.x connection as net/http should
// read it: the client's bytes, each request head checked by Head.Parse
// before any of it passes, and each body's framing followed, so that
// net/http never reads a head this package refuses, nor mistakes a body
// for a request.
//
// In place of a refused head (and everything after it) Read returns a
// synthetic request that net/http parses and hands to the handler:
//
//	GET /.cdnnode/reject HTTP/1.1
//	Host: reject.invalid
//	Cdnnode-Reject: <token> <status> <reason>
//	Connection: close
//
// and io.EOF from then on. The handler answers it with ParseReject's
// status, in order after the responses to the requests before it. Bad
// chunked framing in a body comes from Read as an error wrapping
// ErrBadChunk, as the bytes before it have passed already: net/http's body
// read fails and the connection closes.
//
// After the HTTP/2 connection preface, a CONNECT request or a request with
// Upgrade (Head.Upgrade), Read passes everything through unchecked: the
// connection is not HTTP/1 any more, or will not be if the handler agrees;
// a handler that declines an upgrade must close the connection.
//
// Read must not be called concurrently with itself, which net/http never
// does. Write, Close and the deadline methods are the wrapped conn's. Read
// allocates nothing once its buffer has grown to the connection's largest
// head (at most MaxHeadBytes).
type Guard struct {
	net.Conn
	lim     Limits
	maxHead int
	token   string

	// Used only by Read. buf[o:v] are checked bytes not yet read,
	// buf[v:w] bytes from the conn not yet checked.
	buf     []byte
	o, v, w int
	st      guardState
	head    Head
	scan    int   // stHead: where the search for the head's end resumes, from v
	line    int   // stHead: where the current line starts, from v
	skip    int   // stHead: 2 when an empty line precedes the head
	remain  int64 // stBody: body bytes left
	chunk   chunkParser
	rerr    error  // from the conn, with bytes: returned once they are out
	rej     *Error // the head at v is refused: the reject request goes next
	err     error  // sticky: a chunked-framing error, or io.EOF after a reject

	fast fastPath
}

type guardState uint8

const (
	stStart   guardState = iota // nothing checked yet: maybe the HTTP/2 preface
	stHead                      // a request head
	stBody                      // a Content-Length body, remain bytes left
	stChunked                   // a chunked body
	stPass                      // no longer HTTP/1: everything passes
)

const (
	// RejectField is the field of the synthetic request that stands for a
	// refused head. Its value, "<token> <status> <reason>", is read by
	// ParseReject.
	RejectField = "Cdnnode-Reject"

	rejectStart = "GET /.cdnnode/reject HTTP/1.1\r\nHost: reject.invalid\r\n" + RejectField + ": "
	rejectEnd   = "\r\nConnection: close\r\n\r\n"

	// h2Preface opens an HTTP/2 connection with prior knowledge (RFC 9113
	// §3.4); its first 18 bytes would parse as a head with version HTTP/2.0.
	h2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

	minGuardBuf   = 4 << 10 // a Guard's first buffer
	maxEmptyReads = 100     // reads returning nothing before io.ErrNoProgress, as bufio
)

// NewGuard wraps c, the server side of a new HTTP/1.x (or h2c) connection.
// It panics if o.Token is empty or holds a byte other than a token
// character: a program error.
func NewGuard(c net.Conn, o GuardOptions) *Guard {
	if o.Token == "" || !all([]byte(o.Token), isTchar) {
		panic("h1: GuardOptions.Token must be a non-empty token")
	}
	maxHead := o.MaxHeadBytes
	if maxHead <= 0 {
		maxHead = http.DefaultMaxHeaderBytes
	}
	g := &Guard{
		Conn:    c,
		lim:     o.Limits,
		maxHead: maxHead,
		token:   o.Token,
		buf:     make([]byte, minGuardBuf),
	}
	g.fast.init(g, &o)
	return g
}

// Read reads the client's bytes as described on Guard.
func (g *Guard) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	// net/http reads with a 1-byte buffer in the background while a
	// handler runs, and with its whole buffer when it wants the next
	// request.
	if len(p) > 1 && g.atBoundary() {
		g.fast.after = true // net/http has read a request, and answered it
		if err := g.ServeFast(); err != nil {
			return 0, err
		}
	}
	empty := 0
	// Each pass returns, or grows a partial head in buf (which is refused
	// past maxHead), or counts an empty read, or makes output for the next
	// pass to return.
	for range g.maxHead + maxEmptyReads + 3 {
		if g.o < g.v {
			n := copy(p, g.buf[g.o:g.v])
			g.o += n
			return n, nil
		}
		if g.err != nil {
			return 0, g.err
		}
		if g.rej != nil {
			g.emitReject()
			continue
		}
		if g.v < g.w {
			g.process()
			if g.o < g.v || g.err != nil || g.rej != nil {
				continue
			}
		}
		// All that is buffered, if anything, is the start of a head or of
		// the preface: more is needed.
		if err := g.rerr; err != nil {
			g.rerr = nil
			return 0, err
		}
		if g.v == g.w {
			g.o, g.v, g.w = 0, 0, 0
			if k := g.direct(); k > 0 {
				return g.readDirect(p[:min(int64(len(p)), k)])
			}
		}
		n, err := g.fill()
		if n == 0 {
			if err != nil {
				return 0, err // a partial head never passes
			}
			if empty++; empty == maxEmptyReads {
				return 0, io.ErrNoProgress
			}
		}
		g.rerr = err
	}
	return 0, io.ErrNoProgress
}

// CloseWrite shuts the wrapped conn's write side when it has one, as
// net/http does to let a last response reach the client before it closes;
// otherwise it returns an error wrapping errors.ErrUnsupported.
func (g *Guard) CloseWrite() error {
	if cw, ok := g.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return fmt.Errorf("h1: %T has no CloseWrite: %w", g.Conn, errors.ErrUnsupported)
}

// direct is how many bytes the conn may read straight into the caller's
// buffer, as they need no checking: the rest of a Content-Length body or of
// a chunk's data, or anything once untracked; 0 when they need checking.
func (g *Guard) direct() int64 {
	switch g.st {
	case stBody:
		return g.remain
	case stChunked:
		return g.chunk.dataLeft()
	case stPass:
		return 1 << 62
	}
	return 0
}

// readDirect reads from the conn into q, len(q) <= direct().
func (g *Guard) readDirect(q []byte) (int, error) {
	n, err := g.Conn.Read(q)
	switch g.st {
	case stBody:
		if g.remain -= int64(n); g.remain == 0 {
			g.st = stHead
		}
	case stChunked:
		g.chunk.skip(n)
	}
	return n, err
}

// fill reads from the conn into buf after the partial head it holds (if
// any), making room first (see room).
func (g *Guard) fill() (int, error) {
	g.room()
	n, err := g.Conn.Read(g.buf[g.w:])
	g.w += n
	return n, err
}

// room makes room in buf after the partial head it holds, if it is full,
// by moving the head to the front or growing buf up to maxHead.
func (g *Guard) room() {
	if g.w == len(g.buf) {
		if g.v > 0 {
			g.w = copy(g.buf, g.buf[g.v:g.w])
			g.o, g.v = 0, 0
		}
		if g.w == len(g.buf) { // below maxHead, or process would have refused it
			nb := make([]byte, min(2*len(g.buf), max(g.maxHead, minGuardBuf)))
			copy(nb, g.buf[:g.w])
			g.buf = nb
		}
	}
}

// process checks the buffered bytes, moving v past those that may pass. It
// stops early at a partial head, a refused head (rej) or bad chunked
// framing (err).
func (g *Guard) process() {
	for g.v < g.w && g.rej == nil && g.err == nil { // each pass moves v, or leaves stStart
		switch g.st {
		case stStart:
			if !g.preface() {
				return
			}
		case stHead:
			if !g.nextHead() {
				return
			}
		case stBody:
			n := min(g.remain, int64(g.w-g.v))
			g.v += int(n)
			if g.remain -= n; g.remain == 0 {
				g.st = stHead
			}
		case stChunked:
			n, err := g.chunk.feed(g.buf[g.v:g.w])
			g.v += n
			switch {
			case err != nil:
				g.err = err
			case g.chunk.done():
				g.st = stHead
			}
		case stPass:
			g.v = g.w
		}
	}
}

// preface decides whether the connection opens with the HTTP/2 preface,
// and reports false while the bytes so far leave it open.
func (g *Guard) preface() bool {
	b := g.buf[g.v:g.w]
	n := min(len(b), len(h2Preface))
	switch {
	case string(b[:n]) != h2Preface[:n]:
		g.st = stHead
	case n < len(h2Preface):
		return false
	default:
		g.st = stPass
	}
	return true
}

// nextHead looks for the end of the head at v, the first empty line as
// net/http reads lines (ending in LF, with or without CR, so that a head
// with bare LFs ends where net/http would end it and is refused whole).
// Once found, the head is parsed, and passes or is refused; nextHead
// reports whether v moved.
func (g *Guard) nextHead() bool {
	b := g.buf[g.v:g.w]
	if g.scan == 0 && b[0] == '\r' {
		// One empty line before a request line is ignored (RFC 9112 §2.2),
		// and passes: net/http drops it after a POST, which is when old
		// clients send it, and refuses the request otherwise.
		if len(b) < 2 {
			return false
		}
		if b[1] == '\n' {
			g.skip, g.scan, g.line = 2, 2, 2
		}
	}
	end := -1
	for g.scan < len(b) { // each pass moves scan
		i := bytes.IndexByte(b[g.scan:], '\n')
		if i < 0 {
			g.scan = len(b)
			break
		}
		i += g.scan
		if n := i - g.line; n == 0 || n == 1 && b[g.line] == '\r' {
			end = i + 1
			break
		}
		g.line, g.scan = i+1, i+1
	}
	switch {
	case end < 0 && len(b) < g.maxHead:
		return false
	case end < 0 || end > g.maxHead:
		g.rej = &Error{Status: 431, Reason: "head-too-large"}
		return false
	}
	if err := g.head.parse(b[g.skip:end], g.lim); err != nil {
		g.rej = err
		return false
	}
	if g.fast.offer() {
		g.v += end
		g.o = g.v // answered: nothing of it passes
		g.scan, g.line, g.skip = 0, 0, 0
		return true
	}
	g.v += end
	g.scan, g.line, g.skip = 0, 0, 0
	switch {
	case g.head.Upgrade || string(g.head.Method()) == "CONNECT":
		g.st = stPass
	case g.head.Chunked:
		g.st = stChunked
		g.chunk.reset(g.maxHead, g.lim.MaxFields)
	case g.head.ContentLength > 0:
		g.st, g.remain = stBody, g.head.ContentLength
	}
	return true
}

// emitReject replaces the refused head and all after it with the reject
// request, after which Read returns io.EOF.
func (g *Guard) emitReject() {
	b := append(g.buf[:0], rejectStart...)
	b = append(b, g.token...)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(g.rej.Status), 10)
	b = append(b, ' ')
	b = append(b, g.rej.Reason...)
	b = append(b, rejectEnd...)
	g.buf = b[:cap(b)]
	g.o, g.v, g.w = 0, len(b), len(b)
	g.rej, g.err = nil, io.EOF
}

// ParseReject reads the value of a RejectField: ok is false unless it
// carries token, compared in constant time so that a client cannot find it
// out by timing forged fields, then a 4xx status and a reason.
func ParseReject(value, token string) (status int, reason string, ok bool) {
	tok, rest, ok1 := strings.Cut(value, " ")
	st, reason, ok2 := strings.Cut(rest, " ")
	if !ok1 || !ok2 || token == "" || subtle.ConstantTimeCompare([]byte(tok), []byte(token)) != 1 {
		return 0, "", false
	}
	status, err := strconv.Atoi(st)
	if err != nil || status < 400 || status > 499 || reason == "" {
		return 0, "", false
	}
	return status, reason, true
}
