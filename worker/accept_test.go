package worker

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"strings"
	"testing"

	"golang.org/x/net/http2"
)

// FuzzSniffPreface: the sniffer calls a connection HTTP/2 exactly when it
// starts with the client preface, and consumes nothing either way.
func FuzzSniffPreface(f *testing.F) {
	f.Add([]byte(http2.ClientPreface + "\x00\x00\x00\x04")) // preface, then SETTINGS
	f.Add([]byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n"))      // HTTP/1
	f.Add([]byte("GET / HTTP/1.0\r\n\r\n"))                 // HTTP/1 shorter than the preface
	f.Add([]byte("PRI * HTTP/2.0\r\n\r\nSN\r\n\r"))         // preface one byte short, then EOF
	f.Add([]byte("PRI * HTTP/1.1\r\n\r\n"))                 // a PRI request that is not the preface
	f.Add([]byte{})                                         // EOF at once
	f.Fuzz(func(t *testing.T, in []byte) {
		br := bufio.NewReaderSize(bytes.NewReader(in), peekBufSize)
		h2, err := sniffPreface(br)
		starts := bytes.HasPrefix(in, []byte(http2.ClientPreface))
		switch {
		case err != nil:
			if !bytes.HasPrefix([]byte(http2.ClientPreface), in) {
				t.Fatalf("error %v on %q, which is not a prefix of the preface", err, in)
			}
		case h2 != starts:
			t.Fatalf("sniffPreface(%q) = %v, want %v", in, h2, starts)
		}
		if rest, _ := io.ReadAll(br); !bytes.Equal(rest, in) {
			t.Fatalf("sniffPreface consumed input: %q left of %q", rest, in)
		}
	})
}

// FuzzReadProxyHeader: whatever a peer sends, a header is either refused
// or names a TCP client (the peer for LOCAL), and what followed it is left
// to read.
func FuzzReadProxyHeader(f *testing.F) {
	f.Add("any", []byte("PROXY TCP4 203.0.113.7 10.0.0.1 4242 80\r\nGET / HTTP/1.1\r\n"))                             // v1
	f.Add("v1", []byte("PROXY TCP6 2001:db8::1 ::1 4242 443\r\n"))                                                    // v1, IPv6
	f.Add("v1", []byte("PROXY UNKNOWN\r\n"))                                                                          // v1 without addresses
	f.Add("v2", []byte("\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c\xcb\x00\x71\x07\x0a\x00\x00\x01\x10\x92\x00\x50rest")) // v2 TCP4
	f.Add("v2", []byte("\r\n\r\n\x00\r\nQUIT\n\x20\x00\x00\x00"))                                                     // v2 LOCAL
	f.Add("v2", []byte("\r\n\r\n\x00\r\nQUIT\n\x21\x12\x00\x0c\xcb\x00\x71\x07\x0a\x00\x00\x01\x10\x92\x00\x50"))     // v2 UDP4
	f.Add("any", []byte("PROXY TCP4 203.0.113.7\r\n"))                                                                // truncated
	f.Add("any", []byte("GET / HTTP/1.1\r\n\r\n"))                                                                    // no header
	peer := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}
	f.Fuzz(func(t *testing.T, mode string, in []byte) {
		br := bufio.NewReaderSize(bytes.NewReader(in), peekBufSize)
		client, err := readProxyHeader(br, mode, peer)
		if err != nil {
			return
		}
		if _, ok := client.(*net.TCPAddr); !ok {
			t.Fatalf("client %#v from %q is not a TCP address", client, in)
		}
		rest, _ := io.ReadAll(br)
		if !bytes.HasSuffix(in, rest) || (len(rest) == len(in) && len(in) > 0) {
			t.Fatalf("after the header of %q, %q is left: not what followed it", in, rest)
		}
		if strings.HasPrefix(string(in), "PROXY ") && mode == "v2" {
			t.Fatalf("a v1 header was accepted where v2 is expected: %q", in)
		}
	})
}
