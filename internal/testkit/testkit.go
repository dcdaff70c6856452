// Package testkit holds the fixtures that tests of several packages
// share: a private certificate authority (ca.go), a raw HTTP/2 client that
// sends frames as a test writes them (h2.go), a loopback address nothing
// listens on, polling for a condition that becomes true in the
// background, a bounded load of calls running while a test acts, ASCII
// case folding, and reading and checking an HTML page (html.go). Only
// tests import it; every helper takes the test and ends it with t.Fatal on
// failure (CheckSelfContained reports each fault with t.Errorf instead),
// so call them from the test's own goroutine.
package testkit

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// FreeAddr returns a 127.0.0.1 host:port that nothing listens on when it
// returns: dialing it is refused, and a server the test starts may listen
// on it. The port was just released by the kernel, so another process
// could take it meanwhile, a race tests accept.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// WaitFor polls cond every 10ms for at most 5s, for what a test cannot
// be signalled about (a background fill, a health change, a metric), and
// ends the test with "timed out waiting for " + what if cond never holds.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for range 500 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// loadCalls bounds each Load goroutine's calls, should stop never come.
const loadCalls = 100_000

// Load calls fn in a loop on n goroutines until stop is called (or each
// has made loadCalls calls); stop waits for them and returns how many calls
// were made and how many of them failed.
func Load(n int, fn func() error) (stop func() (sent, failed int64)) {
	done := make(chan struct{})
	var s, f atomic.Int64
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for range loadCalls {
				select {
				case <-done:
					return
				default:
				}
				s.Add(1)
				if fn() != nil {
					f.Add(1)
				}
			}
		})
	}
	return func() (int64, int64) {
		close(done)
		wg.Wait()
		return s.Load(), f.Load()
	}
}

// ASCIIUpper upper-cases ASCII letters only, leaving other bytes alone: the
// case folding of HTTP tokens, which strings.ToUpper exceeds.
func ASCIIUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - ('a' - 'A')
		}
	}
	return string(b)
}
