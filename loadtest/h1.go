package loadtest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"
)

// Limits of the HTTP/1.1 response parser: it reads untrusted bytes.
const (
	readBufSize    = 32 << 10 // also the longest header line
	maxHeaderLines = 256      // fields in a header or trailer section
	maxInterim     = 8        // 1xx responses before the final one
	maxChunks      = 1 << 24  // chunks in one body
	maxChunkSize   = 1 << 40
	userAgent      = "cdnnode-loadtest"
)

// h1 is one keep-alive HTTP/1.1 connection of the generator's own client:
// the request is written from a reused buffer, the response parsed from a
// bufio.Reader and its body discarded, so a request costs no allocation.
// It dials on first use and again after the connection fails or the
// server closes it. Used by one worker goroutine only.
type h1 struct {
	t       *target
	tls     *tls.Config // nil for http targets
	timeout time.Duration
	tail    []byte // " HTTP/1.1\r\nHost: ...\r\n...\r\n\r\n"
	ctail   []byte // tail with If-Modified-Since, for conditionals

	conn   net.Conn // nil until dialed
	stop   func() bool
	br     *bufio.Reader
	buf    []byte
	reused bool // conn has carried a request already
}

func newH1(t *target, tlsConf *tls.Config, timeout time.Duration) *h1 {
	head := " HTTP/1.1\r\nHost: " + t.host + "\r\nUser-Agent: " + userAgent + "\r\n"
	c := &h1{
		t:       t,
		timeout: timeout,
		tail:    []byte(head + "\r\n"),
		ctail:   []byte(head + "If-Modified-Since: " + t.ims + "\r\n\r\n"),
		br:      bufio.NewReaderSize(nil, readBufSize),
		buf:     make([]byte, 0, 512),
	}
	if t.scheme == "https" {
		c.tls = tlsConf.Clone()
		c.tls.NextProtos = []string{"http/1.1"}
		if c.tls.ServerName == "" {
			c.tls.ServerName = hostOnly(t.host)
		}
	}
	return c
}

// hostOnly strips the port from a Host value.
func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}

// dial connects (and, for https, handshakes) within the deadline. Once
// ctx is done, the connection's deadline is moved to the past, so a
// worker blocked in a read returns at once.
func (c *h1) dial(ctx context.Context, deadline time.Time) error {
	d := net.Dialer{Deadline: deadline}
	conn, err := d.DialContext(ctx, "tcp", c.t.addr)
	if err != nil {
		return err
	}
	if c.tls != nil {
		tc := tls.Client(conn, c.tls)
		_ = tc.SetDeadline(deadline)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return err
		}
		conn = tc
	}
	c.conn = conn
	c.stop = context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	c.br.Reset(conn)
	c.reused = false
	return nil
}

func (c *h1) close() {
	if c.conn != nil {
		c.stop()
		c.conn.Close()
		c.conn = nil
	}
}

// do sends rq and reads its response before deadline. A request that
// finds a reused connection closed by the server before any byte of a
// response (an idle keep-alive connection the server dropped) is sent
// once more on a new connection, as browsers and net/http do.
func (c *h1) do(ctx context.Context, rq request, deadline time.Time) outcome {
	for attempt := range 2 {
		if c.conn == nil {
			if err := c.dial(ctx, deadline); err != nil {
				return outcome{kind: ErrConnect, err: err}
			}
		}
		reused := c.reused
		c.reused = true
		c.buf = c.appendRequest(c.buf[:0], rq)
		if err := c.conn.SetDeadline(deadline); err != nil {
			c.close()
			return outcome{kind: ErrWrite, err: err}
		}
		if ctx.Err() != nil { // stopped between dial and the deadline above, which undid dial's interruption
			c.close()
			return outcome{kind: ErrTimeout, err: ctx.Err()}
		}
		if _, err := c.conn.Write(c.buf); err != nil {
			c.close()
			if reused && attempt == 0 && !isTimeout(err) {
				continue
			}
			return outcome{kind: errorKind(ErrWrite, err), err: err}
		}
		var o outcome
		closeAfter, err := readResponse(c.br, &o)
		if err != nil {
			c.close()
			if reused && attempt == 0 && errors.Is(err, errNoResponse) && !isTimeout(err) {
				continue
			}
			return outcome{kind: errorKind(ErrRead, err), err: err}
		}
		if closeAfter {
			c.close()
		}
		if o.status >= 500 {
			o.kind = ErrStatus
		}
		return o
	}
	return outcome{kind: ErrRead, err: errors.New("connection closed twice before a response")}
}

// appendRequest appends rq's request line and header to b.
func (c *h1) appendRequest(b []byte, rq request) []byte {
	b = append(b, rq.method()...)
	b = append(b, ' ')
	b = c.t.appendTarget(b, rq)
	if rq.kind == conditional {
		return append(b, c.ctail...)
	}
	return append(b, c.tail...)
}

// protocolError is a response that is not valid HTTP/1.1.
type protocolError string

func (e protocolError) Error() string { return "invalid response: " + string(e) }

// errNoResponse marks a connection that ended before any byte of a
// response.
var errNoResponse = errors.New("connection closed before a response")

func isTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }

// errorKind classifies err, which happened in phase.
func errorKind(phase ErrorKind, err error) ErrorKind {
	var pe protocolError
	switch {
	case isTimeout(err):
		return ErrTimeout
	case errors.As(err, &pe):
		return ErrProtocol
	}
	return phase
}

// head is what a response header says about the response.
type head struct {
	status  int
	length  int64 // Content-Length; -1 without one
	chunked bool
	close   bool // the server closes the connection after this response
	class   CacheClass
}

// readResponse reads the final response to a GET or PURGE (after any 1xx
// interim responses) and discards its body, filling o's status, body
// bytes and cache class. closeAfter reports that the connection cannot
// carry another request. Reads are bounded by the connection's deadline
// and the parser's limits.
func readResponse(br *bufio.Reader, o *outcome) (closeAfter bool, err error) {
	var h head
	for n := range maxInterim + 1 {
		if err := readHead(br, &h, n == 0); err != nil {
			return true, err
		}
		if h.status >= 200 {
			break
		}
		if h.status == 101 {
			return true, protocolError("101 Switching Protocols to a request without Upgrade")
		}
		if n == maxInterim {
			return true, protocolError("too many 1xx responses")
		}
	}
	n, err := readBody(br, &h)
	if err != nil {
		return true, err
	}
	*o = outcome{status: h.status, bytes: n, class: h.class}
	return h.close, nil
}

// readHead reads a status line and header section into h. first says it
// is the first read for this request, when a connection closed before any
// byte means errNoResponse.
func readHead(br *bufio.Reader, h *head, first bool) error {
	*h = head{length: -1, class: Other}
	line, err := br.ReadSlice('\n')
	if err != nil {
		if first && len(line) == 0 && !errors.Is(err, bufio.ErrBufferFull) && !isTimeout(err) {
			return fmt.Errorf("%w: %w", errNoResponse, err)
		}
		return lineError(err, "status line")
	}
	// "HTTP/1.1 200 OK": the reason phrase may be empty or missing.
	if len(line) < 13 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' || (line[12] != ' ' && line[12] != '\r' && line[12] != '\n') {
		return protocolError(fmt.Sprintf("status line %q", trimCRLF(line)))
	}
	status, ok := parseDecimal(line[9:12])
	if !ok || status < 100 || status > 599 {
		return protocolError(fmt.Sprintf("status line %q", trimCRLF(line)))
	}
	h.status = int(status)
	h.close = line[7] == '0' // HTTP/1.0: no keep-alive unless asked, and we never ask
	for range maxHeaderLines {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return lineError(err, "header")
		}
		line = trimCRLF(line)
		if len(line) == 0 {
			return nil
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return protocolError(fmt.Sprintf("header line %q", line))
		}
		name, value := line[:colon], bytes.TrimSpace(line[colon+1:])
		switch {
		case fieldIs(name, "content-length"):
			n, ok := parseDecimal(value)
			if !ok || n > maxChunkSize || (h.length >= 0 && n != h.length) {
				return protocolError(fmt.Sprintf("Content-Length %q", value))
			}
			h.length = n
		case fieldIs(name, "transfer-encoding"):
			h.chunked = containsFold(value, "chunked")
		case fieldIs(name, "connection"):
			h.close = h.close || containsFold(value, "close")
		case fieldIs(name, "cache-status"):
			h.class = classify(value)
		}
	}
	return protocolError("too many header fields")
}

// lineError turns a failed ReadSlice into the error a request reports.
func lineError(err error, what string) error {
	if errors.Is(err, bufio.ErrBufferFull) {
		return protocolError(what + " longer than 32KiB")
	}
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("reading %s: %w", what, err)
}

// readBody discards the body h announces (RFC 9112 §6.3) and returns its
// length.
func readBody(br *bufio.Reader, h *head) (int64, error) {
	switch {
	case h.status == 204 || h.status == 304:
		return 0, nil
	case h.chunked:
		return readChunked(br)
	case h.length >= 0:
		n, err := br.Discard(int(h.length))
		if err != nil {
			return int64(n), lineError(err, "body")
		}
		return int64(n), nil
	}
	// No length: the body runs to the end of the connection.
	h.close = true
	var total int64
	for range maxChunks {
		n, err := br.Discard(readBufSize)
		total += int64(n)
		if errors.Is(err, io.EOF) {
			return total, nil
		}
		if err != nil {
			return total, fmt.Errorf("reading body: %w", err)
		}
	}
	return total, protocolError("body without length too long")
}

// readChunked discards a chunked body and its trailer section (RFC 9112
// §7.1) and returns the body's length.
func readChunked(br *bufio.Reader) (int64, error) {
	var total int64
	for range maxChunks {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return total, lineError(err, "chunk size")
		}
		size, ok := parseChunkSize(trimCRLF(line))
		if !ok {
			return total, protocolError(fmt.Sprintf("chunk size %q", trimCRLF(line)))
		}
		if size == 0 {
			for range maxHeaderLines {
				line, err := br.ReadSlice('\n')
				if err != nil {
					return total, lineError(err, "trailer")
				}
				if len(trimCRLF(line)) == 0 {
					return total, nil
				}
			}
			return total, protocolError("too many trailer fields")
		}
		n, err := br.Discard(int(size))
		total += int64(n)
		if err != nil {
			return total, lineError(err, "chunk")
		}
		line, err = br.ReadSlice('\n')
		if err != nil {
			return total, lineError(err, "chunk end")
		}
		if len(trimCRLF(line)) != 0 {
			return total, protocolError("chunk longer than its size")
		}
	}
	return total, protocolError("too many chunks")
}

// parseChunkSize parses a chunk-size line: hex digits, then optional
// whitespace and chunk extensions, which are ignored.
func parseChunkSize(line []byte) (int64, bool) {
	var n int64
	i := 0
	for ; i < len(line); i++ {
		d, ok := hexDigit(line[i])
		if !ok {
			break
		}
		n = n<<4 | int64(d)
		if n > maxChunkSize {
			return 0, false
		}
	}
	if i == 0 {
		return 0, false
	}
	if rest := bytes.TrimLeft(line[i:], " \t"); len(rest) > 0 && rest[0] != ';' {
		return 0, false
	}
	return n, true
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c|0x20 >= 'a' && c|0x20 <= 'f':
		return (c | 0x20) - 'a' + 10, true
	}
	return 0, false
}

// parseDecimal parses 1 to 18 ASCII digits.
func parseDecimal(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

func trimCRLF(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r"))
}

// fieldIs reports whether name is the field name lower, which is in lower
// case; a field name's letters, digits and '-' all have bit 0x20 set in
// lower case, so name[i]|0x20 folds the case.
func fieldIs(name []byte, lower string) bool {
	if len(name) != len(lower) {
		return false
	}
	for i := range len(name) {
		if name[i]|0x20 != lower[i] {
			return false
		}
	}
	return true
}

// containsFold reports whether v contains the lower-case word lower, in
// any case.
func containsFold(v []byte, lower string) bool {
	for i := 0; i+len(lower) <= len(v); i++ {
		if fieldIs(v[i:i+len(lower)], lower) {
			return true
		}
	}
	return false
}
