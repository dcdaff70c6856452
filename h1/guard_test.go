package h1

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

const testToken = "test-token-f3a9c1"

var testGuardOptions = GuardOptions{Limits: Limits{MaxURL: 256, MaxFields: 16}, MaxHeadBytes: 1024, Token: testToken}

// guardListener wraps every accepted conn in a Guard.
type guardListener struct {
	net.Listener
	o GuardOptions
}

func (l guardListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return NewGuard(c, l.o), nil
}

// serve runs a real net/http server (HTTP/1.1 and h2c with prior
// knowledge) of h on a loopback listener whose conns are guarded, until
// the test ends; it returns the server's address.
func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var protos http.Protocols
	protos.SetHTTP1(true)
	protos.SetUnencryptedHTTP2(true)
	srv := &http.Server{Handler: h, Protocols: &protos, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(guardListener{l, testGuardOptions})
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return l.Addr().String()
}

// recorder is the handler of the tests: it answers a reject request with
// its status and reason, and any other request with a line saying what it
// read, which it also sends on seen.
type recorder struct{ seen chan string }

func newRecorder() *recorder { return &recorder{seen: make(chan string, 256)} }

func (rc *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if v := r.Header.Get(RejectField); v != "" {
		status, reason, ok := ParseReject(v, testToken)
		if !ok {
			http.Error(w, "forged reject", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Connection", "close")
		http.Error(w, reason, status)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		rc.seen <- fmt.Sprintf("%s %s: body error, bad-chunk %v", r.Method, r.RequestURI, errors.Is(err, ErrBadChunk))
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	line := fmt.Sprintf("%s %s %s %q", r.Proto, r.Method, r.RequestURI, body)
	if v := r.Trailer.Get("X-Trailer"); v != "" {
		line += " trailer " + v
	}
	rc.seen <- line
	io.WriteString(w, line)
}

// drained returns what the recorder saw, once the server is done with the
// connection: call it after the client saw the end of the responses.
func (rc *recorder) drained() []string {
	var got []string
	for {
		select {
		case s := <-rc.seen:
			got = append(got, s)
		default:
			return got
		}
	}
}

// exchange writes raw to a new connection to addr, then reads n responses
// and reports each as "status body". With closes, it then expects the
// server to close the connection.
func exchange(t *testing.T, addr, raw string, n int, closes bool) []string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second)) // a hung server fails, never hangs, the test
	go io.WriteString(c, raw)                       // ends with an error once c closes
	br := bufio.NewReader(c)
	got := readResponses(t, br, n)
	if closes {
		if b, err := br.ReadByte(); err != io.EOF {
			t.Errorf("after %d responses: read %q, %v; want the connection closed", n, b, err)
		}
	}
	return got
}

// readResponses reads n responses from br as "status body".
func readResponses(t *testing.T, br *bufio.Reader, n int) []string {
	t.Helper()
	var got []string
	for range n {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("response %d of %d: %v (got %q)", len(got)+1, n, err, got)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("response %d body: %v", len(got)+1, err)
		}
		got = append(got, fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(body))))
	}
	return got
}

const (
	first = "GET /first HTTP/1.1\r\nHost: a\r\n\r\n"
	after = "GET /after HTTP/1.1\r\nHost: a\r\n\r\n"
)

// TestGuardRejects sends a good request, a bad one and a good one
// pipelined: the first is answered, the bad one gets its status and the
// connection closes; the handler never sees the last two.
func TestGuardRejects(t *testing.T) {
	rc := newRecorder()
	addr := serve(t, rc)
	long := strings.Repeat("a", 300)
	tests := []struct {
		name, bad, want string
		open            bool // bad never ends: nothing follows
	}{
		{"cl-and-te", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "400 cl-and-te", false},
		{"te-and-cl", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", "400 cl-and-te", false},
		{"duplicate content-length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx", "400 duplicate-content-length", false},
		{"invalid content-length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 1\r\n\r\nx", "400 bad-content-length", false},
		{"te on http/1.0", "POST / HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "400 te-on-http10", false},
		{"te not chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "400 bad-transfer-encoding", false},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", "400 obs-fold", false},
		{"bare LF", "GET / HTTP/1.1\nHost: a\n\n", "400 bare-lf", false},
		{"bare CR", "GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", "400 bare-cr", false},
		{"NUL", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x00\r\n\r\n", "400 nul", false},
		{"space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", "400 space-before-colon", false},
		{"missing host", "GET / HTTP/1.1\r\n\r\n", "400 missing-host", false},
		{"duplicate host", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "400 duplicate-host", false},
		{"absolute-form to another host", "GET http://b/ HTTP/1.1\r\nHost: a\r\n\r\n", "400 host-mismatch", false},
		{"bad version", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", "400 bad-version", false},
		{"two empty lines first", "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", "400 bad-request-line", false},
		{"url too long", "GET /" + long + " HTTP/1.1\r\nHost: a\r\n\r\n", "414 url-too-long", false},
		{"too many fields", "GET / HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("X: y\r\n", 16) + "\r\n", "431 too-many-fields", false},
		{"head too large", "GET / HTTP/1.1\r\nHost: a\r\nX: " + strings.Repeat(long, 4) + "\r\n\r\n", "431 head-too-large", false},
		{"head without end", "GET / HTTP/1.1\r\nHost: a\r\nX: " + strings.Repeat(long, 4), "431 head-too-large", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := first + tt.bad
			if !tt.open {
				raw += after
			}
			got := exchange(t, addr, raw, 2, true)
			if want := []string{"200 HTTP/1.1 GET /first \"\"", tt.want}; strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("responses = %q, want %q", got, want)
			}
			if seen := rc.drained(); len(seen) != 1 {
				t.Errorf("handler saw %q, want only /first", seen)
			}
		})
	}
}

// TestGuardSmuggling hides a request in a body that only one reading of
// the framing would see as a body: the hidden request never reaches the
// handler, nor does the request carrying it.
func TestGuardSmuggling(t *testing.T) {
	rc := newRecorder()
	addr := serve(t, rc)
	hidden := "GET /admin HTTP/1.1\r\nHost: a\r\n\r\n"
	tests := []struct{ name, raw, want string }{
		{ // net/http drops Content-Length and reads the chunked body, then /admin
			"cl-and-te",
			"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: " + fmt.Sprint(5+len(hidden)) + "\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + hidden,
			"400 cl-and-te",
		},
		{ // net/http ignores Transfer-Encoding on HTTP/1.0: the chunked body becomes a request
			"te on http/1.0",
			"POST /x HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n" + fmt.Sprintf("%x", len(hidden)) + "\r\n" + hidden + "\r\n0\r\n\r\n",
			"400 te-on-http10",
		},
		{ // net/http unfolds the line: Content-Length is read differently behind a folding proxy
			"obs-fold",
			"POST /x HTTP/1.1\r\nHost: a\r\nX: y\r\n Content-Length: 1\r\nContent-Length: 0\r\n\r\n" + hidden,
			"400 obs-fold",
		},
		{ // net/http ends lines at a bare LF, some proxies do not
			"bare LF",
			"POST /x HTTP/1.1\r\nHost: a\r\nX: y\nContent-Length: " + fmt.Sprint(len(hidden)) + "\r\n\r\n" + hidden,
			"400 bare-lf",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := exchange(t, addr, tt.raw, 1, true); got[0] != tt.want {
				t.Errorf("response %q, want %q", got[0], tt.want)
			}
			if seen := rc.drained(); len(seen) != 0 {
				t.Errorf("handler saw %q, want nothing", seen)
			}
		})
	}
}

// keepAliveRequests is a connection's worth of requests of every framing,
// and the recorder lines they make.
func keepAliveRequests(n int) (reqs, want []string) {
	for i := range n {
		body := strings.Repeat(fmt.Sprint(i%10), i*37%500)
		switch i % 4 {
		case 0:
			reqs = append(reqs, fmt.Sprintf("GET /g%d HTTP/1.1\r\nHost: a\r\nUser-Agent: t\r\n\r\n", i))
			want = append(want, fmt.Sprintf("HTTP/1.1 GET /g%d %q", i, ""))
		case 1:
			reqs = append(reqs, fmt.Sprintf("POST /cl%d HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n%s", i, len(body), body))
			want = append(want, fmt.Sprintf("HTTP/1.1 POST /cl%d %q", i, body))
		case 2:
			half := len(body) / 2
			reqs = append(reqs, fmt.Sprintf("POST /ch%d HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"+
				"%x;name=val;q=\"quoted \\\" ; x\"\r\n%s\r\n%X;  solo ;b = \"v\"\r\n%s\r\n0\r\n\r\n", i, half, body[:half], len(body)-half, body[half:]))
			want = append(want, fmt.Sprintf("HTTP/1.1 POST /ch%d %q", i, body))
		case 3:
			reqs = append(reqs, fmt.Sprintf("PUT /tr%d HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTrailer: X-Trailer\r\n\r\n"+
				"%x\r\n%s\r\n0;last\r\nX-Trailer: t%d\r\n\r\n", i, len(body)+1, body+"!", i))
			want = append(want, fmt.Sprintf("HTTP/1.1 PUT /tr%d %q trailer t%d", i, body+"!", i))
		}
	}
	return reqs, want
}

// TestGuardKeepAlive sends many requests with bodies of every framing on
// one connection: pipelined in one write, then one at a time in small
// pieces so that heads and chunk lines straddle reads.
func TestGuardKeepAlive(t *testing.T) {
	rc := newRecorder()
	addr := serve(t, rc)
	reqs, want := keepAliveRequests(62) // ends with a POST

	t.Run("pipelined", func(t *testing.T) {
		raw := strings.Join(reqs, "") + "\r\n" + after // a CRLF after a POST is ignored
		got := exchange(t, addr, raw, len(reqs)+1, false)
		for i, line := range append(want, "HTTP/1.1 GET /after \"\"") {
			if got[i] != "200 "+line {
				t.Fatalf("response %d = %q, want %q", i, got[i], "200 "+line)
			}
		}
		if seen := rc.drained(); len(seen) != len(reqs)+1 {
			t.Errorf("handler saw %d requests, want %d", len(seen), len(reqs)+1)
		}
	})

	t.Run("in pieces", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		br := bufio.NewReader(c)
		for i, req := range reqs {
			for piece := range chunksOf(req, 1+i%7) {
				if _, err := io.WriteString(c, piece); err != nil {
					t.Fatal(err)
				}
			}
			if got := readResponses(t, br, 1)[0]; got != "200 "+want[i] {
				t.Fatalf("response %d = %q, want %q", i, got, "200 "+want[i])
			}
		}
	})
}

// chunksOf cuts s into pieces of n bytes, the last one shorter.
func chunksOf(s string, n int) func(func(string) bool) {
	return func(yield func(string) bool) {
		for len(s) > 0 { // s shrinks each pass
			k := min(n, len(s))
			if !yield(s[:k]) {
				return
			}
			s = s[k:]
		}
	}
}

// TestGuardBadChunk breaks the chunked framing of a body after some of it
// has passed: the handler's body read fails with ErrBadChunk.
func TestGuardBadChunk(t *testing.T) {
	rc := newRecorder()
	addr := serve(t, rc)
	// In the trailer section net/http peeks for its end and, stopped by
	// the Guard's error, reports one of its own.
	const trailer = true
	tests := []struct {
		name, chunks string
		inTrailer    bool
	}{
		{"size not hex", "5\r\nhello\r\nzz\r\nab\r\n0\r\n\r\n", false},
		{"size too long", "5\r\nhello\r\n" + strings.Repeat("0", 16) + "1\r\nx\r\n0\r\n\r\n", false},
		{"space after size", "5\r\nhello\r\n1 \r\nx\r\n0\r\n\r\n", false},
		{"space before extension", "5\r\nhello\r\n1 ;a\r\nx\r\n0\r\n\r\n", false},
		{"space after extension", "5\r\nhello\r\n1;a \r\nx\r\n0\r\n\r\n", false},
		{"bare LF after size", "5\r\nhello\r\n1\nx\r\n0\r\n\r\n", false},
		{"data longer than size", "5\r\nhello!\r\n0\r\n\r\n", false},
		{"bare LF after data", "5\r\nhello\n0\r\n\r\n", false},
		{"bad extension", "5\r\nhello\r\n1;=x\r\nx\r\n0\r\n\r\n", false},
		{"CR in quoted extension", "5\r\nhello\r\n1;a=\"x\ry\"\r\nx\r\n0\r\n\r\n", false},
		{"NUL in extension", "5\r\nhello\r\n1;a\x00\r\nx\r\n0\r\n\r\n", false},
		{"folded trailer", "5\r\nhello\r\n0\r\nX-T: a\r\n b\r\n\r\n", trailer},
		{"trailer space before colon", "5\r\nhello\r\n0\r\nX-T : a\r\n\r\n", trailer},
		{"bare LF in trailers", "5\r\nhello\r\n0\r\nX-T: a\n\r\n", trailer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := "POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + tt.chunks + after
			if got := exchange(t, addr, raw, 1, true); got[0] != "400 bad body" {
				t.Errorf("response %q, want \"400 bad body\"", got[0])
			}
			want := fmt.Sprintf("POST /c: body error, bad-chunk %v", !tt.inTrailer)
			if seen := rc.drained(); len(seen) != 1 || seen[0] != want {
				t.Errorf("handler saw %q, want %q", seen, want)
			}
		})
	}
}

// TestGuardH2C checks that a connection opening with the HTTP/2 preface
// passes through: requests and bodies over h2c reach the handler.
func TestGuardH2C(t *testing.T) {
	rc := newRecorder()
	addr := serve(t, rc)
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	client := &http.Client{Transport: &http.Transport{Protocols: &protos}, Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	for i := range 3 {
		resp, err := client.Post(fmt.Sprintf("http://%s/h2/%d", addr, i), "text/plain", strings.NewReader("body"))
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := fmt.Sprintf("HTTP/2.0 POST /h2/%d %q", i, "body"); err != nil || string(body) != want {
			t.Errorf("response %q, %v; want %q", body, err, want)
		}
	}
}

// echo hijacks an Upgrade or CONNECT request, accepts it and echoes what
// follows until the client closes its side.
func echo(w http.ResponseWriter, r *http.Request) {
	c, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	defer c.Close()
	if r.Method == http.MethodConnect {
		io.WriteString(c, "HTTP/1.1 200 OK\r\n\r\n")
	} else {
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
	}
	io.Copy(c, brw)
}

// TestGuardPassesUpgrades checks that after an accepted Upgrade or CONNECT
// the other protocol's bytes pass untouched, even what would be a refused
// head.
func TestGuardPassesUpgrades(t *testing.T) {
	addr := serve(t, http.HandlerFunc(echo))
	payload := "GET / HTTP/1.1\nHost: a\nContent-Length: 1\r\nContent-Length: 1\n\n\x00\xff" + strings.Repeat("x", 5000)
	tests := []struct{ name, head, status string }{
		{"upgrade", "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n", "101"},
		{"connect", "CONNECT b.example:443 HTTP/1.1\r\nHost: b.example:443\r\n\r\n", "200"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			go func() {
				io.WriteString(c, tt.head+payload)
				c.(*net.TCPConn).CloseWrite()
			}()
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(resp.StatusCode); got != tt.status {
				t.Fatalf("status %s, want %s", got, tt.status)
			}
			rest, err := io.ReadAll(br)
			if err != nil || string(rest) != payload {
				t.Errorf("echoed %d bytes (%v), want the %d bytes sent", len(rest), err, len(payload))
			}
		})
	}
}

// TestGuardDeadlines checks that a read deadline reaches the conn and that
// the Guard, after the timeout, carries on with the partial head it holds:
// net/http relies on both to abort and resume its background read.
func TestGuardDeadlines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		client, server := net.Pipe()
		defer client.Close()
		g := NewGuard(server, testGuardOptions)
		defer g.Close()
		go io.WriteString(client, "GET / HTTP/1.1\r\nHo")
		g.SetReadDeadline(time.Now().Add(time.Second))
		buf := make([]byte, 64)
		if n, err := g.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Read of a partial head past the deadline = %q, %v; want a timeout", buf[:n], err)
		}
		g.SetReadDeadline(time.Time{})
		go io.WriteString(client, "st: a\r\n\r\n")
		want := "GET / HTTP/1.1\r\nHost: a\r\n\r\n"
		if _, err := io.ReadFull(g, buf[:len(want)]); err != nil || string(buf[:len(want)]) != want {
			t.Errorf("Read after the timeout = %q, %v; want %q", buf[:len(want)], err, want)
		}
	})
}

// tcpPair returns the two ends of a loopback TCP connection, closed when
// the test ends.
func tcpPair(t testing.TB) (client, server net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	client, err = net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		client.Close()
		server.Close()
	})
	return client, server
}

func TestParseReject(t *testing.T) {
	tests := []struct {
		value  string
		status int
		reason string
		ok     bool
	}{
		{testToken + " 400 cl-and-te", 400, "cl-and-te", true},
		{testToken + " 431 head-too-large", 431, "head-too-large", true},
		{"wrong-token 400 cl-and-te", 0, "", false},
		{testToken + "x 400 cl-and-te", 0, "", false},
		{testToken + " 200 fine", 0, "", false},
		{testToken + " abc nul", 0, "", false},
		{testToken + " 400 ", 0, "", false},
		{testToken + " 400", 0, "", false},
		{"", 0, "", false},
	}
	for _, tt := range tests {
		status, reason, ok := ParseReject(tt.value, testToken)
		if status != tt.status || reason != tt.reason || ok != tt.ok {
			t.Errorf("ParseReject(%q) = %d, %q, %v; want %d, %q, %v", tt.value, status, reason, ok, tt.status, tt.reason, tt.ok)
		}
	}
	if _, _, ok := ParseReject(" 400 x", ""); ok {
		t.Error("ParseReject with an empty token accepted a value")
	}
}

func FuzzGuard(f *testing.F) {
	keepAlive, _ := keepAliveRequests(8)
	f.Add([]byte(strings.Join(keepAlive, "")), uint16(4096), uint16(511))                                  // every framing, pipelined
	f.Add([]byte(strings.Join(keepAlive, "")), uint16(1), uint16(0))                                       // one byte at a time
	f.Add([]byte(first+"\r\n"+first), uint16(7), uint16(3))                                                // an empty line between requests
	f.Add([]byte(first+"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n"+after), uint16(100), uint16(100)) // a refused head between good ones
	f.Add([]byte("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"+after), uint16(64), uint16(64))
	f.Add([]byte("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;a=\"b\"\r\nabc\r\n0\r\nT: v\r\n\r\n"+after), uint16(5), uint16(9))
	f.Add([]byte("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n"+after), uint16(64), uint16(64)) // bad chunking
	f.Add([]byte(h2Preface+"\x00\x00\x00\x04\x00\x00\x00\x00\x00"), uint16(10), uint16(30))                                      // h2c
	f.Add([]byte("GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: x\r\n\r\n\x00\n\r"), uint16(64), uint16(64))      // upgrade
	f.Add([]byte("GET / HTTP/1.1\r\nHost: a\r\nX: "+strings.Repeat("y", 300)+"\r\n\r\n"), uint16(64), uint16(64))                // head too large
	f.Fuzz(func(t *testing.T, in []byte, readSize, writeSize uint16) {
		client, server := net.Pipe()
		g := NewGuard(server, GuardOptions{Limits: Limits{MaxURL: 64, MaxFields: 8}, MaxHeadBytes: 256, Token: testToken})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for piece := range chunksOf(string(in), int(writeSize%512)+1) {
				if _, err := io.WriteString(client, piece); err != nil {
					return
				}
			}
			client.Close()
		}()
		var out []byte
		buf := make([]byte, int(readSize%4096)+1)
		for range len(in) + 200 { // every Read returns a byte or an error; a reject is < 200 bytes
			n, err := g.Read(buf)
			out = append(out, buf[:n]...)
			if err != nil {
				break
			}
		}
		g.Close()
		<-done

		// What passed is a prefix of the input, then maybe a reject
		// request in place of the rest.
		if bytes.HasPrefix(in, out) {
			return
		}
		i := bytes.LastIndex(out, []byte(rejectStart))
		if i < 0 || !bytes.HasPrefix(in, out[:i]) {
			t.Fatalf("input %q\ngave %q: neither a prefix of it nor one with a reject request", in, out)
		}
		value, ok := bytes.CutSuffix(out[i+len(rejectStart):], []byte(rejectEnd))
		if _, _, valid := ParseReject(string(value), testToken); !ok || !valid || len(in) == i {
			t.Fatalf("input %q\ngave a bad reject request %q", in, out[i:])
		}
	})
}
