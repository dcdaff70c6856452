package h1

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// hitObject is a cached response as the fast path serves it: the head
// without its empty line, Content-Length included, and the body; file,
// if set, is handed to the engine as Response.File with the body.
type hitObject struct {
	head, body []byte
	file       *os.File
}

func newHitObject(size int) hitObject {
	body := make([]byte, size)
	for i := range body {
		body[i] = 'a' + byte(i%26) // a pattern, so that a misplaced byte shows
	}
	head := fmt.Appendf(nil, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nContent-Type: text/plain\r\n", size)
	return hitObject{head: head, body: body}
}

// hitResponder is the tests' Responder. It answers GET and HEAD of
// "/hitbig..." with its big object and of any other "/hit..." with its
// small one, adding an X-Target field that names the target (so that an
// answer can be matched to its request), and declines everything else.
// An offer the engine promises never to make is a test error.
type hitResponder struct {
	t          testing.TB
	small, big hitObject
	answered   atomic.Int64
}

func newHitResponder(t testing.TB, small, big int) *hitResponder {
	return &hitResponder{t: t, small: newHitObject(small), big: newHitObject(big)}
}

func (r *hitResponder) Respond(req *Request, resp *Response) bool {
	get, head := string(req.Method()) == "GET", string(req.Method()) == "HEAD"
	if req.Version != 1 || req.ContentLength > 0 || req.Chunked || req.Upgrade || !get && !head || req.Remote == nil {
		r.t.Errorf("offered %s %s HTTP/1.%d (Content-Length %d, chunked %v, upgrade %v, from %v), which is net/http's",
			req.Method(), req.Target(), req.Version, req.ContentLength, req.Chunked, req.Upgrade, req.Remote)
	}
	target := req.Target()
	if !hasPrefix(target, "/hit") {
		return false
	}
	obj := r.object(target)
	resp.Head = append(resp.Head, obj.head...)
	resp.Head = append(resp.Head, "X-Target: "...)
	resp.Head = append(resp.Head, target...)
	resp.Head = append(resp.Head, "\r\n"...)
	if get {
		resp.Body, resp.File = obj.body, obj.file
	}
	r.answered.Add(1)
	return true
}

// object is the object that answers target.
func (r *hitResponder) object(target []byte) *hitObject {
	if hasPrefix(target, "/hitbig") {
		return &r.big
	}
	return &r.small
}

func hasPrefix(b []byte, s string) bool { return len(b) >= len(s) && string(b[:len(s)]) == s }

// bodyFile returns an in-memory file (a memfd, as cachestore.Store.BodyFile
// makes) holding content, closed when the test ends.
func bodyFile(tb testing.TB, content []byte) *os.File {
	tb.Helper()
	fd, err := unix.MemfdCreate("h1-test-body", unix.MFD_CLOEXEC)
	if err != nil {
		tb.Fatalf("memfd_create: %v", err)
	}
	f := os.NewFile(uintptr(fd), "h1-test-body")
	tb.Cleanup(func() { f.Close() })
	if _, err := f.Write(content); err != nil {
		tb.Fatalf("writing the body file: %v", err)
	}
	return f
}

// peekedConn wraps a connection as the worker's clientConn does: it
// changes only what is read (through a buffer of its own, as bytes peeked
// at are replayed) and names the connection it writes to in WriteConn.
// Its Write counts the writes that still come through it.
type peekedConn struct {
	net.Conn
	br     *bufio.Reader
	writes atomic.Int64
}

func newPeekedConn(c net.Conn) *peekedConn { return &peekedConn{Conn: c, br: bufio.NewReader(c)} }

func (c *peekedConn) Read(p []byte) (int, error) { return c.br.Read(p) }

func (c *peekedConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

func (c *peekedConn) WriteConn() net.Conn { return c.Conn }

// opaqueConn hides the connection's type and names no WriteConn: the
// engine cannot tell that a socket is under it.
type opaqueConn struct{ net.Conn }

// fastServer is a loopback server run as a worker runs its HTTP/1
// connections with the fast engine (worker.serveH1): each accepted
// connection's Guard serves on the fast path first, and goes to a real
// net/http server only when ServeFast leaves a request pending.
type fastServer struct {
	addr   string
	hits   *hitResponder
	slow   atomic.Int64  // requests net/http's handler answered, reject stand-ins included
	guards chan *Guard   // each connection's Guard, as it is accepted
	served chan error    // each connection's ServeFast result: nil when it went to net/http
	idle   chan struct{} // net/http is done with a request and waits for the next

	mu  sync.Mutex // guards all
	all []*Guard   // closed when the test ends
}

// startFast starts a fastServer whose connections' Guards have options o
// with hits as the Responder, until the test ends.
func startFast(t *testing.T, hits *hitResponder, o GuardOptions) *fastServer {
	t.Helper()
	return startFastWrapped(t, hits, o, nil)
}

// startFastWrapped is startFast with each accepted connection wrapped by
// wrap, if set, before its Guard, as the worker wraps one it peeked at.
func startFastWrapped(t *testing.T, hits *hitResponder, o GuardOptions, wrap func(net.Conn) net.Conn) *fastServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o.Fast = hits
	loop, err := NewLoop(5 * time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	o.Loop = loop // plain connections wait there, as a worker's do
	s := &fastServer{
		addr:   l.Addr().String(),
		hits:   hits,
		guards: make(chan *Guard, 64),
		served: make(chan error, 64),
		idle:   make(chan struct{}, 64),
	}
	ho := newHandoff(l.Addr())
	var protos http.Protocols
	protos.SetHTTP1(true)
	srv := &http.Server{
		Handler:   http.HandlerFunc(s.serveSlow),
		Protocols: &protos,
		ConnState: func(_ net.Conn, st http.ConnState) {
			if st == http.StateIdle {
				select {
				case s.idle <- struct{}{}: // one per request handled, which a test reads
				default: // a test that waits for none: never hold net/http up
				}
			}
		},
	}
	var wg sync.WaitGroup
	var loops sync.WaitGroup
	loops.Go(loop.Run)
	wg.Go(func() { srv.Serve(ho) })
	wg.Go(func() {
		for range 1000 { // more connections than any test makes
			c, err := l.Accept()
			if err != nil {
				return
			}
			if wrap != nil {
				c = wrap(c)
			}
			g := NewGuard(c, o)
			s.mu.Lock()
			s.all = append(s.all, g)
			s.mu.Unlock()
			s.guards <- g
			wg.Go(func() { s.serveConn(g, ho) })
		}
	})
	t.Cleanup(func() {
		l.Close()
		srv.Close()
		ho.Close()
		s.mu.Lock()
		for _, g := range s.all {
			g.Close()
		}
		s.mu.Unlock()
		wg.Wait()
		loop.Close()
		loops.Wait()
	})
	return s
}

// serveConn is the worker's serveH1: the fast path, then net/http.
func (s *fastServer) serveConn(g *Guard, ho *handoff) {
	err := g.ServeFast()
	s.served <- err
	if err != nil {
		g.Close()
		return
	}
	if !ho.hand(g) {
		g.Close()
	}
}

// handoff is the net/http server's listener, as a worker's: serveConn
// hands it the connections the fast path left a request on.
type handoff struct {
	conns chan net.Conn // unbuffered: a connection is handed or closed
	done  chan struct{}
	once  sync.Once
	addr  net.Addr
}

func newHandoff(addr net.Addr) *handoff {
	return &handoff{conns: make(chan net.Conn), done: make(chan struct{}), addr: addr}
}

// hand gives c to the server; false when the listener is closed first.
func (h *handoff) hand(c net.Conn) bool {
	select {
	case h.conns <- c:
		return true
	case <-h.done:
		return false
	}
}

func (h *handoff) Accept() (net.Conn, error) {
	select {
	case c := <-h.conns:
		return c, nil
	case <-h.done:
		return nil, net.ErrClosed
	}
}

func (h *handoff) Close() error {
	h.once.Do(func() { close(h.done) })
	return nil
}

func (h *handoff) Addr() net.Addr { return h.addr }

// serveSlow is net/http's handler: it answers a reject stand-in with its
// status, and any other request with "slow:" and its path.
func (s *fastServer) serveSlow(w http.ResponseWriter, r *http.Request) {
	s.slow.Add(1)
	if r.Header.Get(RejectField) != "" {
		(&recorder{}).ServeHTTP(w, r)
		return
	}
	io.WriteString(w, "slow:"+r.URL.Path)
}

// dial connects to s, with a deadline that fails a hung test; the
// connection closes when the test ends.
func (s *fastServer) dial(t *testing.T) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c, bufio.NewReader(c)
}

// guard returns the Guard of the next connection accepted.
func (s *fastServer) guard(t *testing.T) *Guard {
	t.Helper()
	select {
	case g := <-s.guards:
		return g
	case <-time.After(10 * time.Second):
		t.Fatal("no connection accepted")
		return nil
	}
}

// servedErr returns the result of the next connection's ServeFast.
func (s *fastServer) servedErr(t *testing.T) error {
	t.Helper()
	select {
	case err := <-s.served:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("ServeFast never returned")
		return nil
	}
}

// waitIdle waits until net/http, done with a request, waits for the next:
// its background read of the connection has ended, so the client's next
// request reaches the fast path.
func (s *fastServer) waitIdle(t *testing.T) {
	t.Helper()
	select {
	case <-s.idle:
	case <-time.After(10 * time.Second):
		t.Fatal("net/http never went idle")
	}
}

// answer reads the next response from br, to a request with method, and
// describes it: "fast <target>" for the fast path's to a GET, its body
// checked against the object ("head <target>" to a HEAD: no body, the
// object's Content-Length); "slow <path>" for net/http's handler's; else
// "<status> <body>". " close" is added when it carries Connection: close.
func (s *fastServer) answer(t *testing.T, br *bufio.Reader, method string) string {
	t.Helper()
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		t.Fatalf("reading the answer to a %s: %v", method, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("reading the body of the answer to a %s: %v", method, err)
	}
	var got string
	switch target := resp.Header.Get("X-Target"); {
	case target != "":
		obj := s.hits.object([]byte(target))
		want, kind := obj.body, "fast "
		if method == http.MethodHead {
			want, kind = nil, "head "
		}
		if resp.StatusCode != 200 || resp.ContentLength != int64(len(obj.body)) || !bytes.Equal(body, want) {
			t.Errorf("answer to %s %s: status %d, Content-Length %d, %d-byte body; want 200, %d and %d bytes of the object",
				method, target, resp.StatusCode, resp.ContentLength, len(body), len(obj.body), len(want))
		}
		got = kind + target
	case bytes.HasPrefix(body, []byte("slow:")):
		got = "slow " + string(body[len("slow:"):])
	default:
		got = fmt.Sprintf("%d %s", resp.StatusCode, bytes.TrimSpace(body))
	}
	if resp.Close {
		got += " close"
	}
	return got
}

// fastReq is an HTTP/1.1 request head with the given extra field lines.
func fastReq(method, target string, fields ...string) string {
	return method + " " + target + " HTTP/1.1\r\nHost: a\r\n" + strings.Join(fields, "") + "\r\n"
}

// hitsFrom is n GETs of /hit<from>, /hit<from+1>..., and the answers the
// fast path gives them.
func hitsFrom(from, n int) (raw string, want []string) {
	for i := range n {
		target := "/hit" + strconv.Itoa(from+i)
		raw += fastReq("GET", target)
		want = append(want, "fast "+target)
	}
	return raw, want
}

// fastCase is a conversation on one connection.
type fastCase struct {
	name       string
	small, big int // the sizes of the Responder's objects; 0: 64 bytes, 20 KiB
	steps      []fastStep
	closes     bool // the server closes the connection after the last answer
	file       bool // the big object is answered with a File holding its body
	wrapped    bool // each connection is a peekedConn: the engine writes to its WriteConn
}

// fastStep is what a client sends before it waits, and the answers it waits for.
type fastStep struct {
	send  string
	piece int // write send in pieces of this many bytes; 0: in one write
	// The answers as fastServer.answer describes them; "either <target>"
	// is the fast path's answer or net/http's.
	want []string
}

// TestFastPath holds conversations with a fast server, each on one
// connection: which requests the fast path answers and which go to
// net/http, in order, with the right bodies, however pipelined, however
// large the output, sent from Body or from a File, on the socket or
// through a WriteConn wrapper; whether the connection ends when it should.
func TestFastPath(t *testing.T) {
	hits20, want20 := hitsFrom(0, 20)
	hits40, want40 := hitsFrom(0, 40)
	var keepAlive []fastStep
	for i := range 10 {
		raw, want := hitsFrom(i, 1)
		keepAlive = append(keepAlive, fastStep{send: raw, want: want, piece: i % 4 * 7})
	}
	keepAlive = append(keepAlive, fastStep{send: hits40, want: want40}, fastStep{send: hits20, want: want20, piece: 5})
	hit := func(target string, fields ...string) string { return fastReq("GET", target, fields...) }
	tests := []fastCase{
		{name: "hits keep-alive", steps: keepAlive},
		{name: "hits after a declined request", steps: []fastStep{
			{send: hit("/hit1"), want: []string{"fast /hit1"}},
			{send: hit("/miss1"), want: []string{"slow /miss1"}},
			{send: hit("/hit2") + hit("/hit3"), want: []string{"fast /hit2", "fast /hit3"}},
			{send: hit("/miss2"), want: []string{"slow /miss2"}},
			{send: hit("/hit4"), piece: 3, want: []string{"fast /hit4"}},
		}},
		{name: "declined first", steps: []fastStep{
			{send: hit("/miss"), want: []string{"slow /miss"}},
			{send: hit("/hit"), want: []string{"fast /hit"}},
		}},
		{name: "pipelined hit, miss, hit, hit, miss", steps: []fastStep{
			// Requests buffered behind a declined one go to net/http with it.
			{send: hit("/hit1") + hit("/miss1") + hit("/hit2") + hit("/hit3") + hit("/miss2"),
				want: []string{"fast /hit1", "slow /miss1", "either /hit2", "either /hit3", "slow /miss2"}},
			{send: hit("/hit4"), want: []string{"fast /hit4"}},
		}},
		{name: "pipelined hits, then a miss", steps: []fastStep{
			{send: hits20 + hit("/miss"), want: slices.Concat(want20, []string{"slow /miss"})},
			{send: hit("/hit"), want: []string{"fast /hit"}},
		}},
		{name: "head", big: 20 << 10, steps: []fastStep{
			{send: fastReq("HEAD", "/hit1"), want: []string{"head /hit1"}},
			{send: fastReq("HEAD", "/hitbig"), want: []string{"head /hitbig"}},
			{send: hit("/hit2"), want: []string{"fast /hit2"}},
		}},
		{name: "content-length 0 is offered", steps: []fastStep{
			{send: hit("/hit", "Content-Length: 0\r\n"), want: []string{"fast /hit"}},
		}},
		{name: "http/1.0 is never offered", steps: []fastStep{
			{send: "GET /hit HTTP/1.0\r\n\r\n", want: []string{"slow /hit close"}},
		}, closes: true},
		{name: "http/1.0 keep-alive is never offered", steps: []fastStep{
			{send: "GET /hit1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", want: []string{"slow /hit1"}},
			{send: hit("/hit2"), want: []string{"fast /hit2"}},
		}},
		{name: "a body is never offered", steps: []fastStep{
			{send: hit("/hit1", "Content-Length: 3\r\n") + "abc", want: []string{"slow /hit1"}},
			{send: hit("/hit2", "Transfer-Encoding: chunked\r\n") + "3\r\nabc\r\n0\r\n\r\n", want: []string{"slow /hit2"}},
			{send: hit("/hit3"), want: []string{"fast /hit3"}},
		}},
		{name: "upgrade is never offered", steps: []fastStep{
			{send: hit("/hit", "Connection: Upgrade\r\n", "Upgrade: websocket\r\n"), want: []string{"slow /hit"}},
		}},
		{name: "other methods are never offered", steps: []fastStep{
			{send: fastReq("OPTIONS", "/hit1"), want: []string{"slow /hit1"}},
			{send: fastReq("DELETE", "/hit2"), want: []string{"slow /hit2"}},
			{send: hit("/hit3"), want: []string{"fast /hit3"}},
		}},
		{name: "connection close on a hit", steps: []fastStep{
			{send: hit("/hit1") + hit("/hit2", "Connection: close\r\n") + hit("/hit3"), want: []string{"fast /hit1", "fast /hit2 close"}},
		}, closes: true},
		{name: "connection close on a hit after a miss", steps: []fastStep{
			{send: hit("/miss"), want: []string{"slow /miss"}},
			{send: hit("/hit1", "Connection: close\r\n") + hit("/hit2"), want: []string{"fast /hit1 close"}},
		}, closes: true},
		{name: "body copied, pending output past 64 KiB", big: maxCopiedBody, steps: []fastStep{
			{send: strings.Repeat(hit("/hitbig"), 10), want: slices.Repeat([]string{"fast /hitbig"}, 10)},
		}},
		{name: "small bodies past 64 KiB", small: 5000, steps: []fastStep{{send: hits40, want: want40}}},
		{name: "body past 16 KiB", big: maxCopiedBody + 1, steps: []fastStep{
			{send: hit("/hitbig"), want: []string{"fast /hitbig"}},
		}},
		{name: "big bodies pipelined among small ones", small: 1000, big: 100 << 10, steps: []fastStep{
			{send: hits20 + hit("/hitbig1") + hit("/hit") + hit("/hitbig2") + hit("/hitbig3") + hit("/miss"),
				want: slices.Concat(want20, []string{"fast /hitbig1", "fast /hit", "fast /hitbig2", "fast /hitbig3", "slow /miss"})},
			{send: hit("/hitbig4") + hits20, want: append([]string{"fast /hitbig4"}, want20...)},
		}},
		{name: "big bodies from a file pipelined among small ones and misses", small: 1000, big: 100 << 10, file: true, steps: []fastStep{
			{send: hits20 + hit("/hitbig1") + hit("/hit") + hit("/hitbig2") + hit("/hitbig3") + hit("/miss1"),
				want: slices.Concat(want20, []string{"fast /hitbig1", "fast /hit", "fast /hitbig2", "fast /hitbig3", "slow /miss1"})},
			{send: hit("/hitbig4") + hits20, want: append([]string{"fast /hitbig4"}, want20...)},
			{send: hit("/miss2"), want: []string{"slow /miss2"}},
			{send: hit("/hitbig5") + hit("/hit5"), piece: 9, want: []string{"fast /hitbig5", "fast /hit5"}},
		}},
		{name: "bodies from a file past the socket buffers", big: 4 << 20, file: true, steps: []fastStep{
			{send: strings.Repeat(hit("/hitbig"), 3) + hit("/hit"), want: []string{"fast /hitbig", "fast /hitbig", "fast /hitbig", "fast /hit"}},
		}},
		{name: "body past 16 KiB from a file", big: maxCopiedBody + 1, file: true, steps: []fastStep{
			{send: hit("/hit1") + hit("/hitbig") + hit("/hit2"), want: []string{"fast /hit1", "fast /hitbig", "fast /hit2"}},
		}},
		{name: "16 KiB body with a file, copied", big: maxCopiedBody, file: true, steps: []fastStep{
			{send: strings.Repeat(hit("/hitbig"), 10), want: slices.Repeat([]string{"fast /hitbig"}, 10)},
		}},
		{name: "head with a file", big: 100 << 10, file: true, steps: []fastStep{
			{send: fastReq("HEAD", "/hitbig1"), want: []string{"head /hitbig1"}},
			{send: hit("/hitbig2"), want: []string{"fast /hitbig2"}},
			{send: fastReq("HEAD", "/hitbig3") + hit("/hitbig4") + fastReq("HEAD", "/hitbig5") + hit("/hit6"),
				want: []string{"head /hitbig3", "fast /hitbig4", "head /hitbig5", "fast /hit6"}},
		}},
		{name: "connection close on a hit from a file", big: 100 << 10, file: true, steps: []fastStep{
			{send: hit("/hit1") + hit("/hitbig2", "Connection: close\r\n") + hit("/hit3"), want: []string{"fast /hit1", "fast /hitbig2 close"}},
		}, closes: true},
	}
	// Bodies past maxCopiedBody leave by writev or sendfile on the socket:
	// through a wrapper too, which names it in WriteConn.
	for _, tt := range tests {
		if tt.file || tt.big > maxCopiedBody {
			tt.name, tt.wrapped = tt.name+", wrapped", true
			tests = append(tests, tt)
		}
	}
	// A head refused after hits gets the Guard's reject stand-in, which
	// net/http answers; nothing after it is read.
	for _, bad := range []struct{ name, head, want string }{
		{"bare LF", "GET /hit HTTP/1.1\nHost: a\n\n", "400 bare-lf close"},
		{"cl and te", hit("/hit", "Content-Length: 5\r\n", "Transfer-Encoding: chunked\r\n") + "0\r\n\r\n", "400 cl-and-te close"},
		{"obs-fold", hit("/hit", "X: a\r\n b\r\n"), "400 obs-fold close"},
		{"missing host", "GET /hit HTTP/1.1\r\n\r\n", "400 missing-host close"},
		{"duplicate host", hit("/hit", "Host: b\r\n"), "400 duplicate-host close"},
		{"bad version", "GET /hit HTTP/1.2\r\nHost: a\r\n\r\n", "400 bad-version close"},
		{"url too long", hit("/hit" + strings.Repeat("a", 300)), "414 url-too-long close"},
		{"head too large", hit("/hit", "X: "+strings.Repeat("a", 1100)+"\r\n"), "431 head-too-large close"},
	} {
		tests = append(tests, fastCase{name: "refused after hits: " + bad.name, steps: []fastStep{
			{send: hit("/hit1") + hit("/hit2") + bad.head + hit("/hit3"), want: []string{"fast /hit1", "fast /hit2", bad.want}},
		}, closes: true}, fastCase{name: "refused after a miss: " + bad.name, steps: []fastStep{
			{send: hit("/miss"), want: []string{"slow /miss"}},
			{send: hit("/hit1") + bad.head + hit("/hit2"), want: []string{"fast /hit1", bad.want}},
		}, closes: true})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hits := newHitResponder(t, cmp.Or(tt.small, 64), cmp.Or(tt.big, 20<<10))
			if tt.file {
				hits.big.file = bodyFile(t, hits.big.body)
			}
			var wrap func(net.Conn) net.Conn
			if tt.wrapped {
				wrap = func(c net.Conn) net.Conn { return newPeekedConn(c) }
			}
			s := startFastWrapped(t, hits, testGuardOptions, wrap)
			c, br := s.dial(t)
			var fast, slow int64
			for i, st := range tt.steps {
				for piece := range chunksOf(st.send, cmp.Or(st.piece, len(st.send))) {
					if _, err := io.WriteString(c, piece); err != nil {
						t.Fatalf("step %d: %v", i, err)
					}
				}
				idle := 0 // net/http goes idle after each answer it gave that keeps the connection
				for j, want := range st.want {
					method := http.MethodGet
					if strings.HasPrefix(want, "head ") {
						method = http.MethodHead
					}
					got := s.answer(t, br, method)
					if e, ok := strings.CutPrefix(want, "either "); ok && (got == "fast "+e || got == "slow "+e) {
						want = got
					}
					if got != want {
						t.Fatalf("step %d, answer %d = %q, want %q", i, j, got, want)
					}
					switch {
					case strings.HasPrefix(got, "fast ") || strings.HasPrefix(got, "head "):
						fast++
					case strings.HasPrefix(got, "slow ") && !strings.HasSuffix(got, " close"):
						idle++
						slow++
					default:
						slow++
					}
				}
				for range idle {
					s.waitIdle(t)
				}
			}
			if tt.closes {
				if b, err := br.ReadByte(); err != io.EOF {
					t.Errorf("after the last answer: read %q, %v; want the connection closed", b, err)
				}
			}
			if got := s.hits.answered.Load(); got != fast {
				t.Errorf("the Responder answered %d requests, want %d", got, fast)
			}
			if got := s.slow.Load(); got != slow {
				t.Errorf("net/http's handler answered %d requests, want %d", got, slow)
			}
		})
	}
}

// TestFastFileSource checks where the engine takes a body from when the
// Responder hands it a File as well: from the File when the body is past
// maxCopiedBody and the Guard's connection is a TCP socket or names one in
// WriteConn, else from Body; and that the next answer follows. The test's
// File holds Body's bytes in upper case (the contract forbids a File that
// differs; only this test breaks it) so that the answer shows its source.
func TestFastFileSource(t *testing.T) {
	tests := []struct {
		name   string
		conn   string // "tcp", "peeked" (a peekedConn) or "opaque" (an opaqueConn)
		method string
		size   int
		want   string // "file", "body", or "none" for no body
	}{
		{"tcp, 16 KiB", "tcp", "GET", maxCopiedBody, "body"},
		{"tcp, 16 KiB and a byte", "tcp", "GET", maxCopiedBody + 1, "file"},
		{"tcp, 4 MiB", "tcp", "GET", 4 << 20, "file"},
		{"tcp, head", "tcp", "HEAD", 100 << 10, "none"},
		{"WriteConn, 16 KiB", "peeked", "GET", maxCopiedBody, "body"},
		{"WriteConn, 100 KiB", "peeked", "GET", 100 << 10, "file"},
		{"WriteConn, head", "peeked", "HEAD", 100 << 10, "none"},
		{"no WriteConn, 100 KiB", "opaque", "GET", 100 << 10, "body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hits := newHitResponder(t, 64, tt.size)
			upper := bytes.ToUpper(hits.big.body)
			hits.big.file = bodyFile(t, upper)
			client, server := tcpPair(t)
			var peeked *peekedConn
			switch tt.conn {
			case "peeked":
				peeked = newPeekedConn(server)
				server = peeked
			case "opaque":
				server = opaqueConn{server}
			}
			o := testGuardOptions
			o.Fast = hits
			g := NewGuard(server, o)
			served := make(chan error, 1)
			go func() { served <- g.ServeFast() }()
			client.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.WriteString(client, fastReq(tt.method, "/hitbig")+fastReq("GET", "/hit")); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(client)
			var got string
			for i, method := range []string{tt.method, "GET"} {
				resp, err := http.ReadResponse(br, &http.Request{Method: method})
				if err != nil {
					t.Fatalf("answer %d: %v", i, err)
				}
				body, err := io.ReadAll(resp.Body)
				if err != nil {
					t.Fatalf("answer %d: body: %v", i, err)
				}
				switch {
				case i == 1:
					if !bytes.Equal(body, hits.small.body) {
						t.Errorf("answer to the next request: %d-byte body, want the %d of the small object", len(body), len(hits.small.body))
					}
				case len(body) == 0:
					got = "none"
				case bytes.Equal(body, upper):
					got = "file"
				case bytes.Equal(body, hits.big.body):
					got = "body"
				default:
					t.Fatalf("answer to %s /hitbig: a %d-byte body that is neither the File's nor Body's", tt.method, len(body))
				}
			}
			if got != tt.want {
				t.Errorf("the %d-byte body came from %q, want %q", tt.size, got, tt.want)
			}
			client.Close()
			if err := <-served; err != io.EOF {
				t.Errorf("ServeFast = %v, want io.EOF once the client closes", err)
			}
			if peeked != nil {
				if n := peeked.writes.Load(); n != 0 {
					t.Errorf("%d writes went through the wrapper, want none: the engine writes to WriteConn", n)
				}
			}
		})
	}
}

// TestFastShortFile hands the engine a File shorter than the body it
// stands for: what the File holds goes out after the answers before it,
// and then the connection ends, so that the client sees a body cut short,
// never a whole one, and no answer after it.
func TestFastShortFile(t *testing.T) {
	const size = 100 << 10
	for _, tt := range []struct {
		name string
		n    int // bytes the File holds
	}{
		{"empty", 0},
		{"half", size / 2},
		{"a byte short", size - 1},
	} {
		for _, wrapped := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s, wrapped %v", tt.name, wrapped), func(t *testing.T) {
				hits := newHitResponder(t, 64, size)
				hits.big.file = bodyFile(t, hits.big.body[:tt.n])
				var wrap func(net.Conn) net.Conn
				if wrapped {
					wrap = func(c net.Conn) net.Conn { return newPeekedConn(c) }
				}
				s := startFastWrapped(t, hits, testGuardOptions, wrap)
				c, br := s.dial(t)
				if _, err := io.WriteString(c, fastReq("GET", "/hit1")+fastReq("GET", "/hitbig")+fastReq("GET", "/hit2")); err != nil {
					t.Fatal(err)
				}
				if got := s.answer(t, br, http.MethodGet); got != "fast /hit1" {
					t.Fatalf("first answer = %q, want %q", got, "fast /hit1")
				}
				resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
				if err != nil {
					t.Fatalf("reading the answer to /hitbig: %v", err)
				}
				if resp.ContentLength != size {
					t.Errorf("answer to /hitbig: Content-Length %d, want %d", resp.ContentLength, size)
				}
				body, err := io.ReadAll(resp.Body)
				if !errors.Is(err, io.ErrUnexpectedEOF) || !bytes.Equal(body, hits.big.body[:tt.n]) {
					t.Errorf("body of /hitbig: %d bytes (the File's: %v), %v; want the File's %d, then %v",
						len(body), bytes.Equal(body, hits.big.body[:tt.n]), err, tt.n, io.ErrUnexpectedEOF)
				}
				if b, err := br.ReadByte(); err != io.EOF {
					t.Errorf("after the short body: read %q, %v; want the connection closed", b, err)
				}
				if err := s.servedErr(t); !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Errorf("ServeFast = %v, want an error wrapping %v", err, io.ErrUnexpectedEOF)
				}
			})
		}
	}
}

// TestFastWriteTimeout: a client that stops reading a long body is cut off
// at the write timeout, whether the body leaves by writev or by sendfile.
func TestFastWriteTimeout(t *testing.T) {
	for _, file := range []bool{false, true} {
		t.Run(fmt.Sprintf("file %v", file), func(t *testing.T) {
			hits := newHitResponder(t, 64, 16<<20) // past what the socket buffers hold
			if file {
				hits.big.file = bodyFile(t, hits.big.body)
			}
			o := testGuardOptions
			o.WriteTimeout = 200 * time.Millisecond
			s := startFast(t, hits, o)
			c, _ := s.dial(t)
			if _, err := io.WriteString(c, fastReq("GET", "/hitbig")); err != nil {
				t.Fatal(err)
			}
			if err := s.servedErr(t); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("ServeFast = %v, want a write timeout", err)
			}
		})
	}
}

// TestFastTimeouts checks that the Guard's timeouts close a connection
// that goes quiet, between requests or within a head, whether the fast
// path serves it alone or from within net/http's reads.
func TestFastTimeouts(t *testing.T) {
	const d = 200 * time.Millisecond
	hit, miss := fastReq("GET", "/hit"), fastReq("GET", "/miss")
	half := "GET /hit HTTP/1.1\r\nHo"
	tests := []struct {
		name         string
		idle, header time.Duration
		send         []string // each sent once the answer to the one before has come
		half         bool     // then half a head
		handed       bool     // the connection went to net/http
	}{
		{name: "quiet from the start", header: d},
		{name: "half a head first", header: d, half: true},
		{name: "idle after a hit", idle: d, send: []string{hit}},
		{name: "half a head after a hit", header: d, send: []string{hit}, half: true},
		{name: "idle after a miss", idle: d, send: []string{hit, miss}, handed: true},
		{name: "half a head after a miss", header: d, send: []string{miss, hit}, half: true, handed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := testGuardOptions
			o.IdleTimeout, o.HeaderTimeout = tt.idle, tt.header
			s := startFast(t, newHitResponder(t, 64, 0), o)
			c, br := s.dial(t)
			for _, req := range tt.send {
				if _, err := io.WriteString(c, req); err != nil {
					t.Fatal(err)
				}
				if got := s.answer(t, br, http.MethodGet); strings.HasPrefix(got, "slow ") {
					s.waitIdle(t)
				}
			}
			if tt.half {
				if _, err := io.WriteString(c, half); err != nil {
					t.Fatal(err)
				}
			}
			if b, err := br.ReadByte(); err != io.EOF {
				t.Errorf("read %q, %v; want the connection closed by the server", b, err)
			}
			err := s.servedErr(t)
			switch {
			case tt.handed && err != nil:
				t.Errorf("ServeFast = %v, want nil: the connection goes to net/http", err)
			case !tt.handed && !errors.Is(err, os.ErrDeadlineExceeded):
				t.Errorf("ServeFast = %v, want a timeout", err)
			}
		})
	}
}

// TestFastCloseIdle closes the Guard of an idle connection: it closes at
// once, whether the fast path waits for the next request alone or from
// within net/http's read.
func TestFastCloseIdle(t *testing.T) {
	for _, handed := range []bool{false, true} {
		t.Run(fmt.Sprintf("handed %v", handed), func(t *testing.T) {
			s := startFast(t, newHitResponder(t, 64, 0), testGuardOptions)
			c, br := s.dial(t)
			g := s.guard(t)
			reqs := []string{fastReq("GET", "/hit1")}
			if handed {
				reqs = append(reqs, fastReq("GET", "/miss"), fastReq("GET", "/hit2"))
			}
			for _, req := range reqs {
				if _, err := io.WriteString(c, req); err != nil {
					t.Fatal(err)
				}
				if got := s.answer(t, br, http.MethodGet); strings.HasPrefix(got, "slow ") {
					s.waitIdle(t)
				}
			}
			if err := g.Close(); err != nil {
				t.Errorf("Close = %v", err)
			}
			if b, err := br.ReadByte(); err != io.EOF {
				t.Errorf("after Close: read %q, %v; want the connection closed", b, err)
			}
			err := s.servedErr(t)
			switch {
			case handed && err != nil:
				t.Errorf("ServeFast = %v, want nil: the connection went to net/http", err)
			case !handed && !errors.Is(err, net.ErrClosed):
				t.Errorf("ServeFast = %v, want %v", err, net.ErrClosed)
			}
		})
	}
}

// TestFastCloseDuringTraffic closes Guards while their clients pipeline
// hits, some with bodies sent by writev or, from a File, by sendfile:
// every connection closes, and under -race nothing races.
func TestFastCloseDuringTraffic(t *testing.T) {
	for _, file := range []bool{false, true} {
		t.Run(fmt.Sprintf("file %v", file), func(t *testing.T) { closeDuringTraffic(t, file) })
	}
}

// closeDuringTraffic is TestFastCloseDuringTraffic, with the big bodies
// from a File if file is set.
func closeDuringTraffic(t *testing.T, file bool) {
	hits := newHitResponder(t, 1000, 40<<10)
	if file {
		hits.big.file = bodyFile(t, hits.big.body)
	}
	s := startFast(t, hits, testGuardOptions)
	burst := []byte(strings.Repeat(fastReq("GET", "/hit")+fastReq("GET", "/hitbig"), 4))
	const conns = 8
	errOpen := errors.New("still open after a million reads")
	type client struct {
		g       *Guard
		reading chan struct{} // closed once answers come
		ended   chan error    // the read error that ended the client
	}
	var wg sync.WaitGroup
	clients := make([]client, conns)
	for i := range clients {
		c, _ := s.dial(t)
		cl := client{g: s.guard(t), reading: make(chan struct{}), ended: make(chan error, 1)}
		clients[i] = cl
		wg.Go(func() {
			for range 10_000 { // until the server closes the connection
				if _, err := c.Write(burst); err != nil {
					return
				}
			}
		})
		wg.Go(func() {
			buf := make([]byte, 64<<10)
			for i := range 1 << 20 { // until the server closes the connection
				_, err := c.Read(buf)
				if i == 0 {
					close(cl.reading)
				}
				if err != nil {
					cl.ended <- err
					return
				}
			}
			cl.ended <- errOpen
		})
	}
	var closers sync.WaitGroup
	for _, cl := range clients {
		<-cl.reading
		closers.Go(func() { cl.g.Close() })
	}
	closers.Wait()
	for i, cl := range clients {
		if err := <-cl.ended; errors.Is(err, os.ErrDeadlineExceeded) || err == errOpen {
			t.Errorf("client %d: %v; want the connection closed", i, err)
		}
	}
	wg.Wait()
}

// BenchmarkFastHit is one loopback connection on which the benchmark's
// goroutine, the client, writes a browser's GET of a hit and reads the
// exact bytes of its answer, once per op: a 1 KiB hit answered by the
// fast path, and as the baseline by net/http with a handler writing the
// same bytes; a 100 KiB hit answered by the fast path from Body (one
// writev) and from a File (sendfile). Allocations count both sides.
func BenchmarkFastHit(b *testing.B) {
	const target = "/hit/app.3f9a1c.js?v=12"
	hits := newHitResponder(b, 1<<10, 100<<10)
	withFile := newHitResponder(b, 1<<10, 100<<10)
	withFile.big.file = bodyFile(b, withFile.big.body)
	// exchange is a browser's GET of target and hits' answer to it.
	exchange := func(hits *hitResponder, target string) (req, want []byte) {
		obj := hits.object([]byte(target))
		req = []byte(strings.Replace(browserGet, "/assets/app.3f9a1c.js?v=12", target, 1))
		return req, slices.Concat(obj.head, []byte("X-Target: "+target+"\r\n\r\n"), obj.body)
	}
	fast := func(hits *hitResponder, target string) func(b *testing.B) {
		return func(b *testing.B) {
			req, want := exchange(hits, target)
			client, server := tcpPair(b)
			g := NewGuard(server, GuardOptions{Limits: benchLimits, MaxHeadBytes: 64 << 10, Token: testToken, Fast: hits})
			served := make(chan error, 1)
			go func() { served <- g.ServeFast() }()
			benchHit(b, client, req, want)
			client.Close()
			if err := <-served; err != io.EOF {
				b.Errorf("ServeFast = %v, want io.EOF once the client closes", err)
			}
		}
	}
	b.Run("fast", fast(hits, target))
	b.Run("fast-100KiB", fast(hits, "/hitbig/app.3f9a1c.js?v=12"))
	b.Run("fast-100KiB-file", fast(withFile, "/hitbig/app.3f9a1c.js?v=12"))
	b.Run("net-http", func(b *testing.B) {
		req, want := exchange(hits, target)
		obj := hits.small
		client, server := tcpPair(b)
		ho := newHandoff(server.LocalAddr())
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			h["Date"] = nil // the fast answer has none
			h.Set("Content-Length", strconv.Itoa(len(obj.body)))
			h.Set("Content-Type", "text/plain")
			h.Set("X-Target", r.RequestURI)
			w.Write(obj.body)
		})}
		done := make(chan struct{})
		go func() {
			defer close(done)
			srv.Serve(ho)
		}()
		if !ho.hand(server) {
			b.Fatal("the server took no connection")
		}
		benchHit(b, client, req, want)
		srv.Close()
		<-done
	})
}

// benchHit writes req to c and reads the answer, want, once per op, after
// one exchange that warms both sides up.
func benchHit(b *testing.B, c net.Conn, req, want []byte) {
	got := make([]byte, len(want))
	roundTrip := func() {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, got); err != nil {
			b.Fatal(err)
		}
	}
	roundTrip()
	if !bytes.Equal(got, want) {
		b.Fatalf("answer %q, want %q", got, want)
	}
	b.SetBytes(int64(len(want)))
	b.ReportAllocs()
	for b.Loop() {
		roundTrip()
	}
	if !bytes.Equal(got, want) {
		b.Fatalf("last answer %q, want %q", got, want)
	}
}

// gateResponder declines every request, holding each Respond call until
// released, so that a Close lands during the call.
type gateResponder struct{ entered, release chan struct{} }

func (r *gateResponder) Respond(*Request, *Response) bool {
	r.entered <- struct{}{}
	<-r.release
	return false
}

// TestFastCloseDuringDecline closes the Guard while the Responder is
// declining the connection's first request: the connection must close
// once the fast path is done with it, and the request go nowhere.
func TestFastCloseDuringDecline(t *testing.T) {
	gate := &gateResponder{entered: make(chan struct{}), release: make(chan struct{})}
	o := testGuardOptions
	o.Fast = gate
	client, server := tcpPair(t)
	g := NewGuard(server, o)
	served := make(chan error, 1)
	go func() { served <- g.ServeFast() }()
	if _, err := io.WriteString(client, fastReq("GET", "/miss")); err != nil {
		t.Fatal(err)
	}
	<-gate.entered
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	close(gate.release)
	var handled atomic.Int64
	if err := <-served; err == nil { // as serveH1 does: the request goes to net/http
		ho := newHandoff(server.LocalAddr())
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			handled.Add(1)
			_, _ = io.WriteString(w, "slow")
		})}
		go func() { _ = srv.Serve(ho) }()
		defer srv.Close()
		ho.hand(g)
	}
	_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 512)
	if n, err := client.Read(buf); err != io.EOF {
		t.Errorf("after Close: read %q, %v; want the connection closed", buf[:n], err)
	}
	if n := handled.Load(); n != 0 {
		t.Errorf("net/http handled %d requests after Close, want none", n)
	}
}
