// Package h1 owns the node's strict reading of HTTP/1.x requests: Head, a
// request-head parser that follows RFC 9112 to the letter and refuses the
// inputs that let two parsers disagree on where a request ends (request
// smuggling), and Guard, a net.Conn wrapper that puts that parser in front
// of net/http's own, more lenient one.
//
// A refusal is an *Error with the status to answer and a Reason, a short
// string fit for a metric label:
//
//	400 bad-request-line          the request line is not method SP target SP version
//	400 bad-method                the method is not a token
//	400 bad-target                a request-target of no valid form for its method
//	400 bad-version               a version other than HTTP/1.0 or HTTP/1.1
//	400 bad-field-name            a field line without a colon, or a name that is empty or not a token
//	400 space-before-colon        whitespace between a field name and its colon
//	400 bad-field-value           a control character other than HTAB in a field value
//	400 nul                       a NUL byte anywhere in the head
//	400 bare-cr                   a CR not followed by LF
//	400 bare-lf                   an LF not preceded by CR
//	400 obs-fold                  a line folded onto the previous one (starts with SP or HTAB)
//	400 incomplete-head           the bytes do not end with the head's empty line, or go on after it
//	400 cl-and-te                 both Content-Length and Transfer-Encoding
//	400 duplicate-content-length  Content-Length more than once, even with one value
//	400 bad-content-length        Content-Length not 1*DIGIT, or above 10^18
//	400 bad-transfer-encoding     Transfer-Encoding other than one "chunked"
//	400 te-on-http10              Transfer-Encoding in an HTTP/1.0 request
//	400 missing-host              HTTP/1.1 without Host
//	400 duplicate-host            Host more than once
//	400 bad-host                  a Host that is not host[:port]
//	400 host-mismatch             Host differs from an absolute-form or authority-form target's authority
//	414 url-too-long              the request-target is longer than Limits.MaxURL
//	431 too-many-fields           more field lines than Limits.MaxFields
//	431 head-too-large            (Guard) a head longer than GuardOptions.MaxHeadBytes
//	400 bad-chunk                 (Guard) bad chunked framing in a body; see ErrBadChunk
package h1

import (
	"bytes"
	"strconv"

	"github.com/cdnnode/cdnnode/internal/ascii"
)

// Limits bound a request head. A zero field means no limit.
type Limits struct {
	MaxURL    int // bytes of the request-target; a longer one gets 414
	MaxFields int // field lines; more get 431
}

// Error is a refused request: the status to answer and why.
type Error struct {
	Status int    // 400, 414 or 431
	Reason string // short and fixed, for a metric label; listed in the package doc
}

func (e *Error) Error() string {
	return "h1: " + strconv.Itoa(e.Status) + " " + e.Reason
}

func refuse(reason string) *Error { return &Error{Status: 400, Reason: reason} }

// span is b[start:end] of the head's bytes.
type span struct{ start, end int }

// field is one field line: its name and its value without surrounding OWS.
type field struct{ name, value span }

// Head is one parsed request head, a view into the bytes it was parsed
// from: the slices its methods return alias them, and are valid until those
// bytes change or the Head is parsed again or Reset. A Head is reusable: once
// its field table has grown to a connection's largest head, parsing
// allocates nothing. Not safe for concurrent use.
type Head struct {
	Version       int   // minor version: 0 for HTTP/1.0, 1 for HTTP/1.1
	ContentLength int64 // -1 when the request has no Content-Length
	Chunked       bool  // Transfer-Encoding: chunked (HTTP/1.1 only)
	// Upgrade is set when Connection names "upgrade" and an Upgrade field
	// is present (RFC 9110 §7.8): after this request the connection may
	// carry another protocol.
	Upgrade bool
	// Close is set when the connection ends after this request: Connection
	// names "close", or HTTP/1.0 without "keep-alive" (RFC 9112 §9.3).
	Close bool

	b      []byte
	method span
	target span
	host   span // the authority: the target's when it has one, else Host's
	fields []field
}

// Reset empties h, keeping its field table for the next Parse.
func (h *Head) Reset() {
	*h = Head{ContentLength: -1, fields: h.fields[:0]}
}

// Method is the request method, case-sensitive (RFC 9110 §9.1).
func (h *Head) Method() []byte { return h.at(h.method) }

// Target is the request-target as sent: origin-form ("/p?q"),
// absolute-form ("http://host/p"), authority-form ("host:port", CONNECT
// only) or asterisk-form ("*", OPTIONS only).
func (h *Head) Target() []byte { return h.at(h.target) }

// Host is the authority the request names, host[:port]: an absolute-form or
// authority-form target's (RFC 9112 §3.2.2), else the Host field's; nil for
// an HTTP/1.0 request that names none.
func (h *Head) Host() []byte {
	if h.host == (span{}) {
		return nil
	}
	return h.at(h.host)
}

// NumFields is the number of field lines.
func (h *Head) NumFields() int { return len(h.fields) }

// Field returns field line i, 0 <= i < NumFields(), in the order sent: its
// name as sent and its value without leading or trailing whitespace.
func (h *Head) Field(i int) (name, value []byte) {
	f := h.fields[i]
	return h.at(f.name), h.at(f.value)
}

// Get returns the value of the first field named name (ASCII
// case-insensitive; name must be lower-case) and whether there is one.
func (h *Head) Get(name string) ([]byte, bool) {
	for _, f := range h.fields {
		if ascii.LowerEq(h.at(f.name), name) {
			return h.at(f.value), true
		}
	}
	return nil, false
}

func (h *Head) at(s span) []byte { return h.b[s.start:s.end:s.end] }

// Parse parses b into h. b must hold exactly one request head: the request
// line, the field lines and the empty line, each ending in CRLF. h then
// views b (see Head). On error, which is always an *Error, h holds nothing
// of use.
func (h *Head) Parse(b []byte, lim Limits) error {
	if err := h.parse(b, lim); err != nil {
		return err
	}
	return nil
}

func (h *Head) parse(b []byte, lim Limits) *Error {
	h.Reset()
	h.b = b
	line, next, err := nextLine(b, 0)
	if err != nil {
		return err
	}
	if err := h.requestLine(line, lim); err != nil {
		return err
	}
	var fr framing
	for next < len(b) { // each pass consumes one line
		start := next
		line, next, err = nextLine(b, start)
		if err != nil {
			return err
		}
		if len(line) == 0 {
			if next != len(b) {
				return refuse("incomplete-head") // bytes after the head are not ours
			}
			return h.finish(&fr)
		}
		if lim.MaxFields > 0 && len(h.fields) >= lim.MaxFields {
			return &Error{Status: 431, Reason: "too-many-fields"}
		}
		if err := h.fieldLine(line, start, &fr); err != nil {
			return err
		}
	}
	return refuse("incomplete-head")
}

// nextLine returns the line of b starting at start without its CRLF, and
// where the next line starts. A line ends at CRLF only (RFC 9112 §2.2: no
// bare LF, no bare CR) and holds no NUL.
func nextLine(b []byte, start int) (line []byte, next int, err *Error) {
	i := bytes.IndexByte(b[start:], '\n')
	if i < 0 {
		return nil, 0, refuse("incomplete-head")
	}
	line = b[start : start+i]
	if len(line) == 0 || line[len(line)-1] != '\r' {
		return nil, 0, refuse("bare-lf")
	}
	line = line[:len(line)-1]
	if bytes.IndexByte(line, '\r') >= 0 {
		return nil, 0, refuse("bare-cr")
	}
	if bytes.IndexByte(line, 0) >= 0 {
		return nil, 0, refuse("nul")
	}
	return line, start + i + 1, nil
}

// requestLine parses method SP request-target SP HTTP-version
// (RFC 9112 §3), which starts b.
func (h *Head) requestLine(line []byte, lim Limits) *Error {
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 <= 0 {
		return refuse("bad-request-line")
	}
	sp2 := bytes.IndexByte(line[sp1+1:], ' ')
	if sp2 <= 0 {
		return refuse("bad-request-line") // no version, or two SPs
	}
	sp2 += sp1 + 1
	method, target, version := line[:sp1], line[sp1+1:sp2], line[sp2+1:]
	if !all(method, isTchar) {
		return refuse("bad-method")
	}
	switch string(version) {
	case "HTTP/1.1":
		h.Version = 1
	case "HTTP/1.0":
		h.Version = 0
	default:
		return refuse("bad-version")
	}
	if lim.MaxURL > 0 && len(target) > lim.MaxURL {
		return &Error{Status: 414, Reason: "url-too-long"}
	}
	h.method = span{0, sp1}
	h.target = span{sp1 + 1, sp2}
	auth, ok := checkTarget(target, method)
	if !ok {
		return refuse("bad-target")
	}
	if auth.end > 0 {
		h.host = span{h.target.start + auth.start, h.target.start + auth.end}
	}
	return nil
}

// framing is what the field lines said so far about the message's framing
// and connection.
type framing struct {
	cl, te, host     bool
	close, keepAlive bool
	upgradeToken     bool // Connection names "upgrade"
	upgradeField     bool // an Upgrade field with a value
	hostField        span
	contentLength    int64
}

// fieldLine parses one field line, at b[start:], into h.fields, checking
// the fields that frame the message as they come.
func (h *Head) fieldLine(line []byte, start int, fr *framing) *Error {
	if line[0] == ' ' || line[0] == '\t' {
		return refuse("obs-fold") // RFC 9112 §5.2
	}
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 {
		return refuse("bad-field-name")
	}
	name := line[:colon]
	if c := name[len(name)-1]; c == ' ' || c == '\t' {
		return refuse("space-before-colon") // RFC 9112 §5.1
	}
	if !all(name, isTchar) {
		return refuse("bad-field-name")
	}
	raw := line[colon+1:]
	if !all(raw, isValue) {
		return refuse("bad-field-value")
	}
	value := bytes.Trim(raw, " \t") // OWS, RFC 9110 §5.5
	vstart := start + colon + 1 + len(raw) - len(bytes.TrimLeft(raw, " \t"))
	f := field{name: span{start, start + colon}, value: span{vstart, vstart + len(value)}}
	h.fields = append(h.fields, f)
	return h.frame(name, value, f.value, fr)
}

// frame takes note of a field that bears on framing, routing or the
// connection (RFC 9112 §6, §9; RFC 9110 §7.2, §7.6.1, §7.8).
func (h *Head) frame(name, value []byte, at span, fr *framing) *Error {
	switch len(name) {
	case len("host"):
		if !ascii.LowerEq(name, "host") {
			return nil
		}
		if fr.host {
			return refuse("duplicate-host")
		}
		if !checkAuthority(value, false) {
			return refuse("bad-host")
		}
		fr.host, fr.hostField = true, at
	case len("upgrade"):
		if ascii.LowerEq(name, "upgrade") && len(value) > 0 {
			fr.upgradeField = true
		}
	case len("connection"):
		if ascii.LowerEq(name, "connection") {
			connectionTokens(value, fr)
		}
	case len("content-length"):
		if !ascii.LowerEq(name, "content-length") {
			return nil
		}
		if fr.cl {
			return refuse("duplicate-content-length")
		}
		if fr.te {
			return refuse("cl-and-te")
		}
		n, ok := parseContentLength(value)
		if !ok {
			return refuse("bad-content-length")
		}
		fr.cl, fr.contentLength = true, n
	case len("transfer-encoding"):
		if !ascii.LowerEq(name, "transfer-encoding") {
			return nil
		}
		if h.Version == 0 {
			return refuse("te-on-http10") // RFC 9112 §6.1: the body would be misread
		}
		if fr.cl {
			return refuse("cl-and-te")
		}
		if fr.te || !ascii.LowerEq(value, "chunked") {
			return refuse("bad-transfer-encoding")
		}
		fr.te = true
	}
	return nil
}

// maxContentLength bounds Content-Length: larger values are refused rather
// than risk overflow anywhere downstream.
const maxContentLength = 1e18

// parseContentLength parses 1*DIGIT up to maxContentLength (RFC 9110 §8.6):
// no sign, no list, no whitespace inside.
func parseContentLength(v []byte) (int64, bool) {
	if len(v) == 0 {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := int64(c - '0')
		if n > (maxContentLength-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// connectionTokens notes the Connection options the head cares about
// (RFC 9110 §7.6.1): a comma-separated list of tokens.
func connectionTokens(v []byte, fr *framing) {
	for len(v) > 0 { // each pass consumes one element
		tok := v
		if i := bytes.IndexByte(v, ','); i >= 0 {
			tok, v = v[:i], v[i+1:]
		} else {
			v = nil
		}
		tok = bytes.Trim(tok, " \t")
		switch {
		case ascii.LowerEq(tok, "close"):
			fr.close = true
		case ascii.LowerEq(tok, "keep-alive"):
			fr.keepAlive = true
		case ascii.LowerEq(tok, "upgrade"):
			fr.upgradeToken = true
		}
	}
}

// finish applies the rules that need the whole head.
func (h *Head) finish(fr *framing) *Error {
	switch {
	case fr.host && h.host != (span{}):
		if !foldEq(h.at(fr.hostField), h.at(h.host)) {
			return refuse("host-mismatch") // RFC 9112 §3.2: a client sends the target's authority
		}
	case fr.host:
		h.host = fr.hostField
	case h.Version == 1:
		return refuse("missing-host") // RFC 9112 §3.2
	}
	if fr.cl {
		h.ContentLength = fr.contentLength
	}
	h.Chunked = fr.te
	h.Upgrade = fr.upgradeToken && fr.upgradeField
	h.Close = fr.close || h.Version == 0 && !fr.keepAlive
	return nil
}
