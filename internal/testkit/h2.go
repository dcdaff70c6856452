package testkit

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// H2 is an h2c connection driven frame by frame, as an attacker would:
// tests write any frame, valid or not, through Framer and read the
// server's frames back. Not safe for concurrent use, except that one
// goroutine may read (Answer, UntilClosed, Framer.ReadFrame) while
// another writes, as http2.Framer allows.
type H2 struct {
	// Conn is the TCP connection; reads and writes on it fail 30s after
	// the dial unless the test sets other deadlines.
	Conn net.Conn
	// Framer reads and writes frames on Conn. HEADERS it reads come
	// decoded, as *http2.MetaHeadersFrame.
	Framer *http2.Framer
	// Settings is the server's first SETTINGS frame.
	Settings *http2.SettingsFrame

	buf bytes.Buffer   // Block's output
	enc *hpack.Encoder // writes to buf; its table lives as long as the connection
}

// DialH2C opens an h2c connection with prior knowledge to addr: it sends
// the preface and empty SETTINGS, reads the server's SETTINGS (kept in
// Settings) and acknowledges them. The connection closes when the test
// ends; every read and write on it fails after 30s, so no test waits
// forever.
func DialH2C(t testing.TB, addr string) *H2 {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	h := &H2{Conn: c, Framer: http2.NewFramer(c, c)}
	h.Framer.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	h.enc = hpack.NewEncoder(&h.buf)
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	if err := h.Framer.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	f, err := h.Framer.ReadFrame()
	if err != nil {
		t.Fatal(err)
	}
	sf, ok := f.(*http2.SettingsFrame)
	if !ok || sf.IsAck() {
		t.Fatalf("first frame from the server: %v, want SETTINGS", f)
	}
	h.Settings = sf
	if err := h.Framer.WriteSettingsAck(); err != nil {
		t.Fatal(err)
	}
	return h
}

// GetFields returns the fields of an http GET of path from authority,
// pseudo-fields first, then extra.
func GetFields(authority, path string, extra ...hpack.HeaderField) []hpack.HeaderField {
	return append([]hpack.HeaderField{
		{Name: ":method", Value: "GET"},
		{Name: ":scheme", Value: "http"},
		{Name: ":authority", Value: authority},
		{Name: ":path", Value: path},
	}, extra...)
}

// Block encodes fields as one header block, with the connection's HPACK
// encoder: blocks must be sent in the order they were made. The caller
// owns the returned slice.
func (h *H2) Block(fields []hpack.HeaderField) []byte {
	h.buf.Reset()
	for _, f := range fields {
		_ = h.enc.WriteField(f) // writes to a bytes.Buffer: no error
	}
	return bytes.Clone(h.buf.Bytes())
}

// Send opens stream id with fields in one HEADERS frame and, unless body
// is nil, sends body in one DATA frame; either way the stream ends.
func (h *H2) Send(id uint32, fields []hpack.HeaderField, body []byte) error {
	err := h.Framer.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: h.Block(fields), EndHeaders: true, EndStream: body == nil})
	if err != nil || body == nil {
		return err
	}
	return h.Framer.WriteData(id, true, body)
}

// Get opens stream id with a GET of path from authority and no body.
func (h *H2) Get(id uint32, authority, path string) error {
	return h.Send(id, GetFields(authority, path), nil)
}

// ErrGoAway is Answer's error when the server sends GOAWAY.
var ErrGoAway = errors.New("GOAWAY")

// answerFrames bounds the frames Answer reads.
const answerFrames = 1000

// Answer reads frames until stream id gets its response head, and
// returns its status, or 0 when the stream is reset instead. A GOAWAY
// (wrapping ErrGoAway), the connection ending or answerFrames other
// frames first is an error.
func (h *H2) Answer(id uint32) (int, error) {
	for range answerFrames {
		f, err := h.Framer.ReadFrame()
		if err != nil {
			return 0, fmt.Errorf("connection ended: %w", err)
		}
		switch f := f.(type) {
		case *http2.MetaHeadersFrame:
			if f.StreamID == id {
				status, err := strconv.Atoi(f.PseudoValue("status"))
				if err != nil {
					return 0, fmt.Errorf("stream %d: :status: %w", id, err)
				}
				return status, nil
			}
		case *http2.RSTStreamFrame:
			if f.StreamID == id {
				return 0, nil
			}
		case *http2.GoAwayFrame:
			return 0, fmt.Errorf("%w %v", ErrGoAway, f.ErrCode)
		}
	}
	return 0, fmt.Errorf("stream %d: no answer in %d frames", id, answerFrames)
}

// UntilClosed reads frames until the connection ends, and returns the
// last GOAWAY the server sent, if any, and the error that ended the
// reading, at the latest when Conn's read deadline passes. Run in its own
// goroutine, it keeps the server's writes flowing while the test floods
// the connection.
func (h *H2) UntilClosed() (*http2.GoAwayFrame, error) {
	var away *http2.GoAwayFrame
	for {
		f, err := h.Framer.ReadFrame()
		if err != nil {
			return away, err
		}
		if g, ok := f.(*http2.GoAwayFrame); ok {
			away = g
		}
	}
}
