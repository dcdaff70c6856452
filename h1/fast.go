package h1

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Responder answers requests on the fast path: without net/http, from the
// head the connection's Guard parsed, with bytes written straight to the
// connection. A Responder answers what it can answer alone and at once
// (a fresh hit in memory) and leaves everything else to net/http.
type Responder interface {
	// Respond answers req by appending a response head to resp.Head and
	// setting resp.Body, and reports true; or it reports false and leaves
	// req, untouched, to net/http (resp is then ignored).
	//
	// The head is the status line and the header fields, each line ending
	// in CRLF, without the empty line that ends the head: the engine adds
	// "Connection: close" when the connection ends after the response,
	// then the empty line. The Responder writes every other field,
	// Content-Length included. The engine writes resp.Body after the head
	// and keeps neither past the write; Body must not change until the
	// next call on the connection.
	//
	// The engine offers only HTTP/1.1 GET and HEAD requests without a body
	// or an Upgrade. Respond runs on the connection's goroutine, one call at
	// a time per connection, and must not block: its answer goes out
	// before the connection reads on.
	Respond(req *Request, resp *Response) bool
}

// Request is a request head offered to a Responder: a view valid only
// during the call.
type Request struct {
	*Head
	TLS    bool       // the connection is TLS: the scheme is https
	Remote net.Addr   // the client: the connection's peer, or the client a PROXY header named
	Client netip.Addr // Remote's IP address: ClientOf(Remote)
	Start  time.Time  // when the engine had the whole head: the request's start for metrics and Date
}

// ClientOf is Request.Client for remote: its IP address (IPv4-mapped ones
// unmapped) when it is a TCP address, else the zero Addr. The engine works
// it out once per connection; the worker admits clients by it.
func ClientOf(remote net.Addr) netip.Addr {
	if tcp, ok := remote.(*net.TCPAddr); ok {
		return tcp.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

// Response is a Responder's answer; see Responder.Respond.
type Response struct {
	Head []byte // handed over empty, with room the connection keeps between requests
	Body []byte
	// File, if set, holds Body's bytes from offset 0 and does not change:
	// on a plain TCP connection the engine sends them from there with
	// sendfile, without copying them through user space. Its bytes are in
	// memory (a memfd, say): reading them never waits for a disk, as the
	// engine's calls do not let the runtime hand its thread's P to another
	// (see rawsys.go).
	File *os.File
}

// Output sizes of the fast path.
const (
	// maxCopiedBody is the largest body copied behind its head into the
	// output buffer; a longer one goes out from where it is: by sendfile
	// from its Response.File, or in the same writev as the output.
	maxCopiedBody = 16 << 10
	// maxPending is how much output pipelined requests pile up before it
	// is written, although more requests are buffered.
	maxPending = 64 << 10
	// closeGrace is how long Close lets a response being written finish
	// before the connection goes.
	closeGrace = time.Second
)

// fastPath is a Guard's fast path: the Responder, and the state it keeps
// between requests.
type fastPath struct {
	g     *Guard
	r     Responder // nil: no fast path
	req   Request
	resp  Response
	out   []byte      // responses not yet written
	iov   [2][]byte   // backing of bufs
	bufs  net.Buffers // out and a long body, for one writev
	timed bool        // the read deadline is the header's: a head has begun
	// after: a request has been answered on the connection, so the wait
	// for the next is idle time; the first request's head is timed from
	// the start, as net/http times it.
	after bool

	idle, header, write time.Duration
	w                   net.Conn // where responses are written (see WriteConn)

	// sendfile: the socket under w when it is TCP, and the state of one
	// response's transfer, which sendStep advances.
	raw     syscall.RawConn
	step    func(fd uintptr) bool // sendStep, bound once
	file    int                   // fd of the body's file
	off     int64                 // next byte of the file to send
	left    int                   // bytes of it still to send
	head    []byte                // what of out is still to send first
	stepErr error

	active bool // within ServeFast: complete heads are offered

	// The Loop the connection waits in for requests, its place there
	// (set, under mu, by the first wait), and the read deadline of the
	// wait.
	loop  *Loop
	lc    *loopConn
	until time.Time
	// loopRead's read: into rbuf, by readRaw (bound once), rn bytes or rerr.
	rbuf    []byte
	rn      int
	rerr    error
	readRaw func(fd uintptr) bool
	drained bool // the last read left the socket empty: wait before the next

	mu      sync.Mutex // guards the fields below, which Close reads
	busy    bool       // responses are being made or written
	closing bool       // Close came while busy: close when done
	closed  bool
}

func (f *fastPath) init(g *Guard, o *GuardOptions) {
	f.g, f.r = g, o.Fast
	remote := g.Conn.RemoteAddr()
	f.req = Request{Head: &g.head, TLS: o.TLS, Remote: remote, Client: ClientOf(remote)}
	f.idle, f.header, f.write = o.IdleTimeout, o.HeaderTimeout, o.WriteTimeout
	f.w = g.Conn
	if wc, ok := g.Conn.(WriteConn); ok {
		f.w = wc.WriteConn()
	}
	if tc, ok := f.w.(*net.TCPConn); ok && f.r != nil {
		if raw, err := tc.SyscallConn(); err == nil {
			f.raw, f.step, f.readRaw, f.loop = raw, f.sendStep, f.readStep, o.Loop
		}
	}
}

// Buffered is a connection wrapper that reads what it holds first, then
// the connection it writes to (WriteConn), such as one that replays bytes
// peeked at: Buffered reports how many bytes it still holds. Once it holds
// none, the fast path may read the socket directly, and wait in a Loop.
type Buffered interface {
	WriteConn
	Buffered() int
}

// fill reads more of the client's bytes into the Guard's buffer: through
// the Loop, when the connection reads its socket directly and may wait
// there; otherwise with the Guard's own read.
func (f *fastPath) fill() (int, error) {
	g := f.g
	if !f.looped() {
		return g.fill()
	}
	g.room()
	n, err := f.loopRead(g.buf[g.w:])
	g.w += n
	return n, err
}

// looped reports whether the connection waits in its Loop, joining it the
// first time it can: when what is read is the socket itself, or a
// Buffered wrapper of it that holds nothing.
func (f *fastPath) looped() bool {
	if f.lc != nil || f.loop == nil {
		return f.lc != nil
	}
	c := f.g.Conn
	if b, ok := c.(Buffered); ok && b.WriteConn() == f.w && b.Buffered() == 0 {
		c = f.w
	}
	if c != f.w {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.closed && !f.closing {
		f.lc = f.loop.join(f.raw)
	}
	f.loop = nil // joined, or never will
	return f.lc != nil
}

// closeConn closes the connection, taking it out of its Loop first. The
// caller holds mu.
func (f *fastPath) closeConn() error {
	if f.lc != nil {
		f.lc.leave(f.raw)
	}
	return f.g.Conn.Close()
}

// WriteConn is a connection wrapper that changes only what is read, such
// as one that first replays bytes peeked at: its writes go to WriteConn()
// unchanged. The fast path writes there, so that a head and a long body
// leave in one writev, which net.Buffers does only on the socket itself.
type WriteConn interface {
	WriteConn() net.Conn
}

// atBoundary reports whether the client's next bytes begin a request
// that nothing has read yet: the fast path may answer it.
func (g *Guard) atBoundary() bool {
	return g.fast.r != nil && (g.st == stHead || g.st == stStart) && g.o == g.v && g.rej == nil && g.err == nil
}

// ServeFast answers the client's requests on the fast path for as long as
// the Responder takes them. It returns nil when a request is left for
// net/http (Read returns it next), and an error when the connection is
// done: the client closed it or went quiet past a timeout, a response
// ended it (io.EOF), or writing failed. Without a Responder it returns
// nil at once. Read calls it whenever net/http asks for a new request;
// call it before the first Read, so that a connection of hits never
// reaches net/http.
func (g *Guard) ServeFast() error {
	if !g.atBoundary() {
		return nil
	}
	f := &g.fast
	f.active = true
	err := g.serveFast()
	f.active = false
	if ferr := f.flush(); err == nil {
		err = ferr
	}
	if err != nil && g.err == nil {
		g.err = err // net/http must not read on
	}
	return err
}

// serveFast is ServeFast's loop: each pass answers the buffered heads it
// can, or reads more of the client's bytes.
func (g *Guard) serveFast() error {
	f := &g.fast
	empty := 0
	for {
		if g.v < g.w {
			g.process()
			switch {
			case g.o < g.v || g.rej != nil:
				return nil // net/http's turn; then an error, if any, as Read gives it
			case g.err != nil:
				return g.err
			case g.st != stHead:
				return nil
			}
		}
		if err := g.rerr; err != nil {
			g.rerr = nil
			return err
		}
		if err := f.flush(); err != nil {
			return err
		}
		if g.v == g.w {
			g.o, g.v, g.w = 0, 0, 0
		}
		f.deadline(g.v < g.w)
		n, err := f.fill()
		switch {
		case n > 0:
			empty = 0
		case err == nil:
			if empty++; empty == maxEmptyReads {
				return io.ErrNoProgress
			}
		}
		g.rerr = err
	}
}

// deadline sets the read deadline for the next read: after a request, the
// idle timeout from now while no byte of the next has come; the header
// timeout from now once one has (or from the start, for the connection's
// first request), kept until the head is whole.
func (f *fastPath) deadline(begun bool) {
	var d time.Duration
	switch {
	case !begun && f.after:
		d, f.timed = f.idle, false
	case f.timed:
		return
	default:
		d, f.timed = f.header, true
	}
	var t time.Time
	if d > 0 {
		t = time.Now().Add(d)
	}
	f.until = t
	_ = f.g.Conn.SetReadDeadline(t)
}

// offer offers the head just parsed to the Responder, if the fast path is
// serving and the head is a request it may take, and reports whether the
// Responder answered it.
func (f *fastPath) offer() bool {
	g, h := f.g, &f.g.head
	if !f.active || g.o != g.v || h.Version != 1 || h.Upgrade || h.Chunked || h.ContentLength > 0 {
		return false
	}
	if m := h.Method(); string(m) != "GET" && string(m) != "HEAD" {
		return false
	}
	if !f.begin() {
		return false
	}
	f.timed, f.after = false, true
	f.req.Start = time.Now()
	f.resp = Response{Head: f.resp.Head[:0]}
	if !f.r.Respond(&f.req, &f.resp) {
		if len(f.out) == 0 && f.done() {
			g.err = net.ErrClosed // Close came during the call
			return true           // the request ends with the connection
		}
		return false
	}
	f.out = append(f.out, f.resp.Head...)
	if h.Close {
		f.out = append(f.out, "Connection: close\r\n"...)
		g.err = io.EOF // nothing after this request is read
	}
	f.out = append(f.out, "\r\n"...)
	var err error
	switch body := f.resp.Body; {
	case f.resp.File != nil && f.raw != nil && len(body) > maxCopiedBody:
		err = f.sendFile(f.resp.File, len(body))
	case len(body) > maxCopiedBody:
		err = f.send(body)
	case len(f.out)+len(body) > maxPending:
		f.out = append(f.out, body...)
		err = f.send(nil)
	default:
		f.out = append(f.out, body...)
	}
	f.resp.Body, f.resp.File = nil, nil // out, or copied: hold neither
	if err != nil {
		g.err = err // the connection is done
	}
	return true
}

// begin marks the fast path busy, unless the Guard is closed.
func (f *fastPath) begin() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed || f.closing {
		return false
	}
	f.busy = true
	return true
}

// flush writes the pending output, if any.
func (f *fastPath) flush() error {
	if len(f.out) == 0 {
		return nil
	}
	return f.send(nil)
}

// send writes the pending output and then body, in one writev where the
// conn allows, and ends the busy spell: if Close came meanwhile, the conn
// closes now.
func (f *fastPath) send(body []byte) error {
	if f.write > 0 {
		_ = f.g.Conn.SetWriteDeadline(time.Now().Add(f.write))
	}
	f.bufs = append(f.iov[:0], f.out)
	if len(body) > 0 {
		f.bufs = append(f.bufs, body)
	}
	_, err := f.bufs.WriteTo(f.w)
	f.out = f.out[:0]
	clear(f.iov[:]) // hold no body past the write
	if f.done() {
		return net.ErrClosed
	}
	if err != nil {
		return fmt.Errorf("h1: write response: %w", err)
	}
	return nil
}

// sendFile writes the pending output and then n bytes of file from
// offset 0: the output with MSG_MORE, so that the kernel sends it with the
// file's first bytes, then the file by sendfile, both on the socket
// directly, waiting for it to drain as its writes do and under its write
// deadline. Like send, it ends the busy spell.
func (f *fastPath) sendFile(file *os.File, n int) error {
	if f.write > 0 {
		_ = f.g.Conn.SetWriteDeadline(time.Now().Add(f.write))
	}
	f.head, f.file, f.off, f.left, f.stepErr = f.out, int(file.Fd()), 0, n, nil
	err := f.raw.Write(f.step)
	if err == nil {
		err = f.stepErr
	}
	runtime.KeepAlive(file) // its fd is used until here
	f.out, f.head = f.out[:0], nil
	if f.done() {
		return net.ErrClosed
	}
	if err != nil {
		return fmt.Errorf("h1: sendfile response: %w", err)
	}
	return nil
}

// sendStep sends what sendFile set up on the socket fd until it is all
// out (true), an error (true, stepErr), or the socket is full (false:
// RawConn.Write waits until it drains, then calls again).
func (f *fastPath) sendStep(fd uintptr) bool {
	for len(f.head) > 0 || f.left > 0 { // each pass sends some of the head, then of the file
		head := len(f.head) > 0
		var n int
		var err error
		if head {
			n, err = rawSendMore(int(fd), f.head)
		} else {
			n, err = rawSendfile(int(fd), f.file, &f.off, f.left)
		}
		switch {
		case err == unix.EAGAIN:
			return false
		case err == unix.EINTR:
			continue
		case err != nil:
			f.stepErr = err
			return true
		case head:
			f.head = f.head[n:]
		case n == 0:
			f.stepErr = io.ErrUnexpectedEOF // the file is shorter than said
			return true
		default:
			f.left -= n
		}
	}
	return true
}

// done ends a busy spell. If Close came meanwhile, it closes the conn and
// reports true: the connection is done.
func (f *fastPath) done() (closed bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.busy = false
	if f.closing && !f.closed {
		f.closed = true
		_ = f.closeConn()
	}
	return f.closing
}

// Close closes the connection; one whose fast path is writing responses
// closes once they are out, within a second.
func (g *Guard) Close() error {
	f := &g.fast
	f.mu.Lock()
	if f.busy && !f.closed {
		f.closing = true
		f.mu.Unlock()
		return g.Conn.SetWriteDeadline(time.Now().Add(closeGrace))
	}
	f.closed = true
	defer f.mu.Unlock()
	return f.closeConn()
}
