package loadtest

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

func TestReadResponse(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		status    int
		bytes     int64
		class     CacheClass
		close     bool
		kind      ErrorKind // of the error; noError for none
		leftover  string    // what the next response would start with
		noAnswer  bool      // errNoResponse expected
		wantError string
	}{
		{name: "content-length", in: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nCache-Status: cdnnode; hit; ttl=5\r\n\r\nhelloNEXT",
			status: 200, bytes: 5, class: Hit, leftover: "NEXT"},
		{name: "field names in any case, no reason phrase", in: "HTTP/1.1 200\r\ncontent-LENGTH:3\r\nCACHE-STATUS: cdnnode; fwd=miss; stored\r\n\r\nabc",
			status: 200, bytes: 3, class: Miss},
		{name: "chunked with extension and trailer", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\nNEXT",
			status: 200, bytes: 15, class: Other, leftover: "NEXT"},
		{name: "interim responses skipped", in: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
			status: 200, bytes: 2},
		{name: "304 has no body", in: "HTTP/1.1 304 Not Modified\r\nContent-Length: 1024\r\nCache-Status: cdnnode; hit\r\n\r\nNEXT",
			status: 304, class: Hit, leftover: "NEXT"},
		{name: "204 has no body", in: "HTTP/1.1 204 No Content\r\n\r\nNEXT", status: 204, leftover: "NEXT"},
		{name: "connection close", in: "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
			status: 503, close: true},
		{name: "HTTP/1.0 closes", in: "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx", status: 200, bytes: 1, close: true},
		{name: "no length: body to the end", in: "HTTP/1.1 200 OK\r\n\r\nuntil the end", status: 200, bytes: 13, close: true},
		{name: "stale", in: "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nCache-Status: cdnnode; hit; detail=stale-while-revalidate\r\n\r\n", status: 200, class: Stale},
		{name: "nothing at all", in: "", noAnswer: true, kind: ErrRead},
		{name: "cut in the header", in: "HTTP/1.1 200 OK\r\nContent-Len", kind: ErrRead, wantError: "unexpected EOF"},
		{name: "cut in the body", in: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", kind: ErrRead, wantError: "unexpected EOF"},
		{name: "cut in a chunk", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nshort", kind: ErrRead},
		{name: "not HTTP", in: "SSH-2.0-OpenSSH\r\n\r\n", kind: ErrProtocol},
		{name: "status out of range", in: "HTTP/1.1 999 Nine\r\n\r\n", kind: ErrProtocol},
		{name: "101 unasked", in: "HTTP/1.1 101 Switching Protocols\r\n\r\n", kind: ErrProtocol},
		{name: "conflicting lengths", in: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx", kind: ErrProtocol},
		{name: "bad length", in: "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", kind: ErrProtocol},
		{name: "bad chunk size", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", kind: ErrProtocol},
		{name: "chunk longer than said", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n0\r\n\r\n", kind: ErrProtocol},
		{name: "header line without colon", in: "HTTP/1.1 200 OK\r\nnonsense\r\n\r\n", kind: ErrProtocol},
		{name: "header line too long", in: "HTTP/1.1 200 OK\r\nX: " + strings.Repeat("a", readBufSize) + "\r\n\r\n", kind: ErrProtocol},
		{name: "too many header fields", in: "HTTP/1.1 200 OK\r\n" + strings.Repeat("X: 1\r\n", maxHeaderLines+1) + "\r\n", kind: ErrProtocol},
		{name: "too many interim responses", in: strings.Repeat("HTTP/1.1 100 Continue\r\n\r\n", maxInterim+1) + "HTTP/1.1 200 OK\r\n\r\n", kind: ErrProtocol},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			br := bufio.NewReaderSize(strings.NewReader(tt.in), readBufSize)
			var o outcome
			closeAfter, err := readResponse(br, &o)
			if tt.kind != noError {
				if err == nil {
					t.Fatalf("readResponse = %+v, want a %v error", o, tt.kind)
				}
				if k := errorKind(ErrRead, err); k != tt.kind {
					t.Errorf("error %v is a %v error, want %v", err, k, tt.kind)
				}
				if got := errors.Is(err, errNoResponse); got != tt.noAnswer {
					t.Errorf("error %v: errNoResponse %v, want %v", err, got, tt.noAnswer)
				}
				if !strings.Contains(err.Error(), tt.wantError) {
					t.Errorf("error %q, want it to say %q", err, tt.wantError)
				}
				return
			}
			if err != nil {
				t.Fatalf("readResponse: %v", err)
			}
			if o.status != tt.status || o.bytes != tt.bytes || o.class != tt.class || closeAfter != tt.close {
				t.Errorf("got status %d, %d bytes, %v, close %v; want %d, %d, %v, %v", o.status, o.bytes, o.class, closeAfter, tt.status, tt.bytes, tt.class, tt.close)
			}
			if rest, _ := io.ReadAll(br); string(rest) != tt.leftover {
				t.Errorf("left %q unread, want %q", rest, tt.leftover)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		in   string
		want CacheClass
	}{
		{"cdnnode; hit; ttl=113", Hit},
		{"cdnnode; fwd=miss; stored", Miss},
		{"cdnnode; fwd=miss; collapsed", Miss},
		{"cdnnode; fwd=vary-miss; stored", Miss},
		{"cdnnode; fwd=stale; fwd-status=304", Miss},
		{"cdnnode; fwd=bypass; detail=method", Miss},
		{"cdnnode; hit; detail=stale-while-revalidate", Stale},
		{"cdnnode; fwd=stale; fwd-status=503; detail=stale-if-error", Stale},
		{"cdnnode; detail=only-if-cached", Other},
		{"", Other},
		{"hit", Other}, // a cache called "hit" said nothing
		{"OriginCache; fwd=miss, cdnnode; hit", Hit},  // the last member is the client's cache
		{"OriginCache; hit, cdnnode; fwd=miss", Miss}, // ditto
		{"cdnnode;hit;ttl=1", Hit},
	}
	for _, tt := range tests {
		if got := classify([]byte(tt.in)); got != tt.want {
			t.Errorf("classify(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// FuzzReadResponse feeds the HTTP/1.1 parser arbitrary bytes: it must
// neither panic nor claim more body than it was given.
func FuzzReadResponse(f *testing.F) {
	f.Add("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nCache-Status: cdnnode; hit\r\n\r\nhello")          // plain
	f.Add("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\nT: 1\r\n\r\n") // chunked
	f.Add("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 304 Not Modified\r\n\r\n")                           // interim, then no body
	f.Add("HTTP/1.0 200 OK\r\n\r\nto the end")                                                        // no length
	f.Fuzz(func(t *testing.T, in string) {
		br := bufio.NewReaderSize(strings.NewReader(in), readBufSize)
		var o outcome
		if _, err := readResponse(br, &o); err != nil {
			return
		}
		if o.status < 100 || o.status > 599 || o.bytes < 0 || o.bytes > int64(len(in)) {
			t.Fatalf("readResponse(%q) = %+v", in, o)
		}
	})
}

// TestKeepAliveRetry: a server that closes each connection after one
// response without saying so makes every second request find its
// connection closed; the client sends it again on a new connection
// instead of failing it.
func TestKeepAliveRetry(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for range 20 {
			c, err := l.Accept()
			if err != nil {
				return
			}
			br := bufio.NewReader(c)
			for range 64 { // the request's lines
				line, err := br.ReadString('\n')
				if err != nil || line == "\r\n" {
					break
				}
			}
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			c.Close()
		}
	}()
	o := Options{Target: "http://" + l.Addr().String()}
	if err := o.normalize(); err != nil {
		t.Fatal(err)
	}
	tgt, err := newTarget(o.Target, &o)
	if err != nil {
		t.Fatal(err)
	}
	c := newH1(tgt, o.TLS, time.Second)
	defer c.close()
	for i := range 5 {
		res := c.do(context.Background(), request{key: 1, size: 2}, time.Now().Add(5*time.Second))
		if res.kind != noError || res.status != 200 || res.bytes != 2 {
			t.Fatalf("request %d: %+v", i, res)
		}
	}
}
