package worker

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cdnnode/cdnnode/config"
	"github.com/cdnnode/cdnnode/internal/testkit"
)

// TestGuard: the h1 guard stands between every HTTP/1 connection, plain or
// TLS, and net/http: a request it rejects reaches the handler as the
// rejection, with the Group's token, and is answered with its status.
func TestGuard(t *testing.T) {
	f := newFixture(t, func(c *config.Server) { c.MaxHeaderCount = 5 }, nil)
	tests := []struct {
		name   string
		req    string
		status int
		reason string
	}{
		{"CL and TE", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "cl-and-te"},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n", 400, "obs-fold"},
		{"URL too long", "GET /" + strings.Repeat("a", 2<<10) + " HTTP/1.1\r\nHost: a\r\n\r\n", 414, "url-too-long"},
		{"too many fields", "GET / HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("X-A: b\r\n", 5) + "\r\n", 431, "too-many-fields"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, overTLS := range []bool{false, true} {
				resp, body := f.raw(t, overTLS, tt.req)
				if resp.StatusCode != tt.status || !strings.Contains(body, "rejected: "+tt.reason) {
					t.Errorf("TLS %v: %d %q, want %d with rejected: %s", overTLS, resp.StatusCode, body, tt.status, tt.reason)
				}
			}
		})
	}
	resp, body := f.raw(t, true, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	if resp.StatusCode != http.StatusOK || !strings.HasSuffix(body, "tls=true") {
		t.Errorf("valid request over TLS: %d %q, want 200 with tls=true", resp.StatusCode, body)
	}
}

// raw writes req on a new HTTP/1 connection to the fixture and reads the
// response.
func (f *fixture) raw(t *testing.T, overTLS bool, req string) (*http.Response, string) {
	t.Helper()
	var c net.Conn
	var err error
	if overTLS {
		c, err = tls.Dial("tcp", f.tls, &tls.Config{RootCAs: f.ca.Pool(), NextProtos: []string{"http/1.1"}})
	} else {
		c, err = net.Dial("tcp", f.plain)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading the response to %q: %v", req, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// TestSlowloris: a connection sending its head a byte every 100ms is
// closed once the header timeout passes, while other clients are answered
// throughout.
func TestSlowloris(t *testing.T) {
	const timeout = 500 * time.Millisecond
	f := newFixture(t, func(c *config.Server) { c.ReadHeaderTimeout = config.Duration(timeout) }, nil)
	client, base := f.client(t, "h1")
	stop := testkit.Load(2, func() error {
		code, body, err := get(client, base+"/")
		if err == nil && code != http.StatusOK {
			err = errors.New(body)
		}
		return err
	})

	c, err := net.Dial("tcp", f.plain)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: example.com\r\nX-Slow: "); err != nil {
		t.Fatal(err)
	}
	closed := make(chan struct{})
	go func() {
		io.Copy(io.Discard, c)
		close(closed)
	}()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	giveUp := time.NewTimer(timeout + 10*time.Second) // the timeout, and slack for a loaded machine
	defer giveUp.Stop()
	for done := false; !done; {
		select {
		case <-closed:
			done = true
		case <-giveUp.C:
			t.Fatalf("slowloris connection still open %v after it began; the header timeout is %v", timeout+10*time.Second, timeout)
		case <-tick.C:
			c.Write([]byte("a")) // fails once the server has closed: the reader sees it
		}
	}
	sent, failed := stop()
	if sent == 0 || failed != 0 {
		t.Errorf("normal requests during the slowloris: %d sent, %d failed; want all answered", sent, failed)
	}
}
