package h1

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cdnnode/cdnnode/internal/testkit"
)

// orderResponder answers every GET with an empty 200 and records the
// targets in the order it answered them.
type orderResponder struct {
	mu      sync.Mutex
	targets []string
}

func (r *orderResponder) Respond(req *Request, resp *Response) bool {
	r.mu.Lock()
	r.targets = append(r.targets, string(req.Target()))
	r.mu.Unlock()
	resp.Head = append(resp.Head, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"...)
	return true
}

func (r *orderResponder) answered() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.targets)
}

// loopServer accepts n loopback connections, each served by ServeFast
// through a Guard with Fast r and Loop l, wrapped by wrap when set; each
// client sends hello, if any, before its connection is accepted. It
// returns the client sides and the ServeFast results, one per connection.
func loopServer(t *testing.T, n int, r Responder, l *Loop, hello string, wrap func(net.Conn) net.Conn) ([]net.Conn, chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	served := make(chan error, n)
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	clients := make([]net.Conn, n)
	for i := range n {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(10 * time.Second))
		clients[i] = c
		if _, err := io.WriteString(c, hello); err != nil {
			t.Fatal(err)
		}
		sc, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		if wrap != nil {
			sc = wrap(sc)
		}
		o := testGuardOptions
		o.Fast, o.Loop = r, l
		g := NewGuard(sc, o)
		t.Cleanup(func() { g.Close() })
		wg.Go(func() { served <- g.ServeFast() })
	}
	return clients, served
}

// startLoop runs a new Loop until the test ends.
func startLoop(t *testing.T) *Loop {
	t.Helper()
	l, err := NewLoop(5 * time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(l.Run)
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
	})
	return l
}

// waiters is how many connections wait in l.
func (l *Loop) waiters() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, c := range l.conns {
		if c.waiting {
			n++
		}
	}
	return n
}

// awaitWaiters fails the test unless n connections wait in l soon.
func awaitWaiters(t *testing.T, l *Loop, n int) {
	t.Helper()
	testkit.WaitFor(t, fmt.Sprintf("%d connections waiting in the loop", n), func() bool { return l.waiters() == n })
}

// TestLoopWakesInArrivalOrder: requests that reach waiting connections in
// some order are answered in that order. Left to the runtime, the
// goroutines of one poll run last-first, and this order is lost.
func TestLoopWakesInArrivalOrder(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1)) // one P, as a pinned worker's core: the order of turns is the order of answers
	l := startLoop(t)
	r := &orderResponder{}
	const n = 8
	clients, _ := loopServer(t, n, r, l, "", nil)
	awaitWaiters(t, l, n)
	order := []int{5, 2, 7, 0, 3, 6, 1, 4}
	var want []string
	for _, i := range order { // each write reaches its socket before the next starts
		target := fmt.Sprintf("/c%d", i)
		want = append(want, target)
		if _, err := io.WriteString(clients[i], "GET "+target+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
	}
	for _, i := range order {
		resp, err := http.ReadResponse(bufio.NewReader(clients[i]), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if got := r.answered(); !slices.Equal(got, want) {
		t.Errorf("answered %q, want the arrival order %q", got, want)
	}
}

// TestLoopNextRequestWaitsItsTurn: a request that reaches a connection
// during its turn (its client was quick) is answered after the requests
// that other connections had received before it. A connection that read
// its socket empty waits in the Loop for its next request, in line, as
// nginx does, rather than reading again at once and jumping the queue
// (which also costs a read that finds nothing, on most responses).
func TestLoopNextRequestWaitsItsTurn(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1)) // one P: the order of turns is the order of answers
	l := startLoop(t)
	first := make(chan net.Conn, 1) // the first client, for the hook
	r := &hookResponder{on: func(target string) {
		if target == "/c0" { // the client's next request comes while its first is answered
			if _, err := io.WriteString(<-first, "GET /c0-next HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
				t.Error(err)
			}
		}
	}}
	const n = 4
	clients, _ := loopServer(t, n, r, l, "", nil)
	first <- clients[0]
	awaitWaiters(t, l, n)
	want := []string{"/c0", "/c1", "/c2", "/c3", "/c0-next"}
	for i := range n {
		if _, err := fmt.Fprintf(clients[i], "GET /c%d HTTP/1.1\r\nHost: x\r\n\r\n", i); err != nil {
			t.Fatal(err)
		}
	}
	readers := make([]*bufio.Reader, n)
	for i, c := range []int{0, 1, 2, 3, 0} {
		if readers[c] == nil {
			readers[c] = bufio.NewReader(clients[c])
		}
		resp, err := http.ReadResponse(readers[c], nil)
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		resp.Body.Close()
	}
	if got := r.answered(); !slices.Equal(got, want) {
		t.Errorf("answered %q, want %q", got, want)
	}
}

// hookResponder is an orderResponder that calls on with each target
// before it answers it.
type hookResponder struct {
	orderResponder
	on func(target string)
}

func (r *hookResponder) Respond(req *Request, resp *Response) bool {
	r.on(string(req.Target()))
	return r.orderResponder.Respond(req, resp)
}

// bufferedConn replays bytes read ahead, as the worker's clientConn does
// after a PROXY header or the h2c sniff, and says how many it holds.
type bufferedConn struct {
	net.Conn
	br *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.br.Read(p) }
func (c *bufferedConn) WriteConn() net.Conn        { return c.Conn }
func (c *bufferedConn) Buffered() int              { return c.br.Buffered() }

// TestLoopJoins: a connection waits in the Loop once what it reads is the
// socket: at once when the Guard wraps the socket, once the bytes it read
// ahead are served when a Buffered wrapper holds some, and never through
// a wrapper that does not say (it waits in its own read, and is served
// all the same).
func TestLoopJoins(t *testing.T) {
	const first = "GET /first HTTP/1.1\r\nHost: x\r\n\r\n"
	for _, tc := range []struct {
		name  string
		wrap  func(net.Conn) net.Conn
		joins bool
	}{
		{"socket", nil, true},
		{"buffered", func(c net.Conn) net.Conn {
			b := &bufferedConn{Conn: c, br: bufio.NewReader(c)}
			if _, err := b.br.Peek(len(first)); err != nil { // the first request, read ahead
				t.Error(err)
			}
			return b
		}, true},
		{"opaque", func(c net.Conn) net.Conn { return opaqueConn{c} }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := startLoop(t)
			r := &orderResponder{}
			clients, _ := loopServer(t, 1, r, l, first, tc.wrap)
			c := clients[0]
			br := bufio.NewReader(c)
			for _, second := range []bool{false, true} {
				if second {
					if _, err := io.WriteString(c, "GET /second HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
						t.Fatal(err)
					}
				}
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
			}
			want := 0
			if tc.joins {
				want = 1
			}
			awaitWaiters(t, l, want)
			if got := r.answered(); !slices.Equal(got, []string{"/first", "/second"}) {
				t.Errorf("answered %q", got)
			}
		})
	}
}

// TestLoopCloseWakes: closing the Loop, or a Guard, wakes the connections
// waiting there, whose ServeFast returns net.ErrClosed at once.
func TestLoopCloseWakes(t *testing.T) {
	l, err := NewLoop(time.Hour) // no deadline checks: only the closes wake
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(l.Run)
	defer wg.Wait()
	_, served := loopServer(t, 3, &orderResponder{}, l, "", nil)
	awaitWaiters(t, l, 3)
	l.Close()
	for range 3 {
		select {
		case err := <-served:
			if !errors.Is(err, net.ErrClosed) {
				t.Errorf("ServeFast = %v, want net.ErrClosed", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a connection still waits in a closed loop")
		}
	}
}
