// Package testkit holds the fixtures that tests of several packages
// share: a private certificate authority (ca.go), a loopback address
// nothing listens on, and polling for a condition that becomes true in the
// background. Only tests import it; every helper takes the test and ends
// it with t.Fatal on failure, so call them from the test's own goroutine.
package testkit

import (
	"net"
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
