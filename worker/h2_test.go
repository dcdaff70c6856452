package worker

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/cdnnode/cdnnode/config"
	"github.com/cdnnode/cdnnode/internal/testkit"
)

// TestMaxConcurrentStreams: the limit is advertised in the server's first
// SETTINGS, and a stream past it is refused while the others run.
func TestMaxConcurrentStreams(t *testing.T) {
	const limit = 3
	f := newFixture(t, func(c *config.Server) { c.MaxConcurrentStreams = limit }, nil)
	h := testkit.DialH2C(t, f.plain)
	if v, ok := h.Settings.Value(http2.SettingMaxConcurrentStreams); !ok || v != limit {
		t.Errorf("SETTINGS_MAX_CONCURRENT_STREAMS = %d (sent: %v), want %d", v, ok, limit)
	}
	for i := range uint32(limit + 1) {
		if err := h.Get(2*i+1, "example.com", "/slow"); err != nil {
			t.Fatal(err)
		}
	}
	over := uint32(2*limit + 1)
	for {
		fr, err := h.Framer.ReadFrame()
		if err != nil {
			t.Fatalf("no RST_STREAM for stream %d past the limit: %v", over, err)
		}
		if rst, ok := fr.(*http2.RSTStreamFrame); ok {
			if rst.StreamID != over || (rst.ErrCode != http2.ErrCodeRefusedStream && rst.ErrCode != http2.ErrCodeProtocol) {
				t.Errorf("RST_STREAM stream %d %v, want stream %d REFUSED_STREAM or PROTOCOL_ERROR", rst.StreamID, rst.ErrCode, over)
			}
			break
		}
	}
	for range limit {
		<-f.entered // the streams within the limit did reach the handler
	}
}

// TestRapidReset: a client opening streams and resetting them at once
// (CVE-2023-39325) has its connection closed, while another connection
// is answered throughout. Handlers that go on after the reset pile up
// until x/net sends GOAWAY ENHANCE_YOUR_CALM; handlers that stop at once,
// flooded in batches the server keeps up with (a PING after each, its
// ACK awaited), are caught by the reset count instead.
func TestRapidReset(t *testing.T) {
	tests := []struct {
		name  string
		path  string
		batch int           // pairs between PINGs; 0: no PING
		want  http2.ErrCode // in the GOAWAY; 0: closed, GOAWAY or not
	}{
		{"handlers going on", "/slow", 0, http2.ErrCodeEnhanceYourCalm},
		{"handlers stopping, paced", "/wait", 5, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, func(c *config.Server) {
				c.Workers = 1 // the flood and the normal requests on one worker
				c.MaxConcurrentStreams = 10
			}, nil)
			client, base := f.client(t, "h2c")
			stop := testkit.Load(2, func() error {
				code, body, err := get(client, base+"/")
				if err == nil && code != http.StatusOK {
					err = errors.New(body)
				}
				return err
			})

			h := testkit.DialH2C(t, f.plain)
			acks := make(chan struct{}, 1)
			type end struct {
				away *http2.GoAwayFrame
				err  error
			}
			ended := make(chan end, 1)
			go func() {
				var away *http2.GoAwayFrame
				for {
					fr, err := h.Framer.ReadFrame()
					if err != nil {
						ended <- end{away, err}
						close(acks)
						return
					}
					switch fr := fr.(type) {
					case *http2.GoAwayFrame:
						away = fr
					case *http2.PingFrame:
						if fr.IsAck() {
							acks <- struct{}{}
						}
					}
				}
			}()
			const pairs = 5000
			n := 0
			for ; n < pairs; n++ {
				id := uint32(2*n + 1)
				if h.Get(id, "example.com", tt.path) != nil || h.Framer.WriteRSTStream(id, http2.ErrCodeCancel) != nil {
					break
				}
				if tt.batch > 0 && n%tt.batch == tt.batch-1 {
					if h.Framer.WritePing(false, [8]byte{}) != nil {
						break
					}
					if _, ok := <-acks; !ok {
						break
					}
				}
			}
			if n == pairs {
				h.Conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			}
			e := <-ended
			switch {
			case isTimeout(e.err):
				t.Fatalf("the flooding connection was still open after %d pairs", n)
			case tt.want != 0 && (e.away == nil || e.away.ErrCode != tt.want):
				t.Errorf("flooding connection ended with GOAWAY %v, want %v", e.away, tt.want)
			}
			t.Logf("closed after %d pairs: GOAWAY %v, %v", n, e.away, e.err)

			if code, _, err := get(client, base+"/"); err != nil || code != http.StatusOK {
				t.Errorf("GET after the flood: %d, %v", code, err)
			}
			sent, failed := stop()
			if sent == 0 || failed != 0 {
				t.Errorf("normal requests during the flood: %d sent, %d failed; want all answered", sent, failed)
			}
		})
	}
}

// TestContinuationFlood: a header block that goes on in CONTINUATION
// frames past the header list limit (CVE-2023-45288) makes the server
// close the connection long before it has been sent whole.
func TestContinuationFlood(t *testing.T) {
	f := newFixture(t, func(c *config.Server) { c.MaxHeaderBytes = 4 << 10 }, nil)
	h := testkit.DialH2C(t, f.plain)
	go h.UntilClosed() // reads what the server writes, so that it never blocks
	if err := h.Framer.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: h.Block(testkit.GetFields("example.com", "/")), EndStream: true}); err != nil {
		t.Fatal(err)
	}
	// 16 KiB of fields per frame, 64 MiB in all: far more than the socket
	// buffers between client and server can hold.
	const frames = 4096
	flood := make([]hpack.HeaderField, 16)
	for i := range flood {
		flood[i] = hpack.HeaderField{Name: "x-flood", Value: strings.Repeat("a", 1000), Sensitive: true}
	}
	block := h.Block(flood)
	var err error
	sent := 0
	for ; sent < frames && err == nil; sent++ {
		err = h.Framer.WriteContinuation(1, false, block)
	}
	if err == nil {
		t.Fatalf("all %d CONTINUATION frames (%d MiB) were written: the server read the whole flood", frames, frames*len(block)>>20)
	}
	if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
		t.Fatalf("the server neither read nor closed the connection: %v", err)
	}
	t.Logf("connection closed after %d CONTINUATION frames: %v", sent, err)
}

// isTimeout reports whether err is a deadline passing.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestConnStateClosesLateH2: while the worker drains, an HTTP/2
// connection's first event (its preface just read, no stream open yet)
// closes it, as it may have begun too late for the GOAWAY; its later
// events, which may come with streams open, and HTTP/1 connections' are
// left alone.
func TestConnStateClosesLateH2(t *testing.T) {
	tests := []struct {
		name    string
		h2      bool
		before  bool // an event before the drain began
		closing bool
		state   http.ConnState
		want    bool // closed
	}{
		{"first event while draining", true, false, true, http.StateActive, true},
		{"first event, no drain", true, false, false, http.StateActive, false},
		{"later event while draining", true, true, true, http.StateActive, false},
		{"idle while draining", true, false, true, http.StateIdle, false},
		{"HTTP/1 while draining", false, false, true, http.StateActive, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, peer := net.Pipe()
			defer peer.Close()
			var conn net.Conn = c
			if tt.h2 {
				conn = &h2Conn{Conn: c}
			}
			w := &worker{}
			if tt.before {
				w.connState(conn, http.StateActive)
			}
			w.closing.Store(tt.closing)
			w.connState(conn, tt.state)
			// A closed pipe refuses deadlines.
			if got := c.SetDeadline(time.Time{}) != nil; got != tt.want {
				t.Errorf("closed = %v, want %v", got, tt.want)
			}
		})
	}
}
