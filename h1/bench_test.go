package h1

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
)

// browserGet is a typical browser request head, about 400 bytes.
const browserGet = "GET /assets/app.3f9a1c.js?v=12 HTTP/1.1\r\n" +
	"Host: www.example.com\r\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n" +
	"Accept: */*\r\n" +
	"Accept-Language: en-US,en;q=0.5\r\n" +
	"Accept-Encoding: gzip, deflate, br, zstd\r\n" +
	"Referer: https://www.example.com/\r\n" +
	"Connection: keep-alive\r\n" +
	"Sec-Fetch-Dest: script\r\n" +
	"Sec-Fetch-Mode: no-cors\r\n" +
	"Sec-Fetch-Site: same-origin\r\n" +
	"If-None-Match: \"3f9a1c\"\r\n" +
	"\r\n"

var benchLimits = Limits{MaxURL: 8 << 10, MaxFields: 100}

// BenchmarkParseHead parses a browser's GET head, beside net/http's
// ReadRequest of the same bytes as the baseline.
func BenchmarkParseHead(b *testing.B) {
	head := []byte(browserGet)
	b.Run("h1", func(b *testing.B) {
		var h Head
		b.SetBytes(int64(len(head)))
		b.ReportAllocs()
		for b.Loop() {
			if err := h.Parse(head, benchLimits); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("net-http", func(b *testing.B) {
		r := bytes.NewReader(head)
		br := bufio.NewReader(r)
		b.SetBytes(int64(len(head)))
		b.ReportAllocs()
		for b.Loop() {
			r.Reset(head)
			br.Reset(r)
			if _, err := http.ReadRequest(br); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkGuard reads a batch of three requests (a GET, a 1 KiB
// Content-Length POST, a 1 KiB chunked POST) per op from a loopback TCP
// connection, through a Guard and, as the baseline, straight from the conn.
func BenchmarkGuard(b *testing.B) {
	body := strings.Repeat("b", 1024)
	batch := []byte(browserGet +
		"POST /api HTTP/1.1\r\nHost: www.example.com\r\nContent-Length: 1024\r\n\r\n" + body +
		"POST /up HTTP/1.1\r\nHost: www.example.com\r\nTransfer-Encoding: chunked\r\n\r\n200;x=y\r\n" + body[:512] + "\r\n200\r\n" + body[512:] + "\r\n0\r\n\r\n")
	for _, guarded := range []bool{false, true} {
		name := "conn"
		if guarded {
			name = "guard"
		}
		b.Run(name, func(b *testing.B) {
			client, server := tcpPair(b)
			var r io.Reader = server
			if guarded {
				r = NewGuard(server, GuardOptions{Limits: benchLimits, MaxHeadBytes: 64 << 10, Token: testToken})
			}
			done := make(chan error, 1)
			go func() {
				var err error
				for i := 0; i <= b.N && err == nil; i++ { // one batch warms the Guard up
					_, err = client.Write(batch)
				}
				done <- err
			}()
			buf := make([]byte, len(batch))
			if _, err := io.ReadFull(r, buf); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := io.ReadFull(r, buf); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if err := <-done; err != nil {
				b.Fatal(err)
			}
			if !bytes.Equal(buf, batch) {
				b.Fatal("the batch changed on its way")
			}
		})
	}
}
