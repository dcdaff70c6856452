package worker

import (
	"sync"
	"sync/atomic"
)

// running counts a worker's handlers in flight, so that Shutdown and Close
// return only once the last has ended: x/net does not wait for an HTTP/2
// connection's handlers before ServeConn returns, nor net/http's Close
// for HTTP/1 ones. Once closed, it refuses handlers that would start.
type running struct {
	n    atomic.Int64 // handlers in flight, plus closedBit once closed
	done chan struct{}
	once sync.Once // closes done
}

const closedBit = 1 << 62

func newRunning() *running { return &running{done: make(chan struct{})} }

// begin counts a handler starting; false, counting nothing, once closed.
func (r *running) begin() bool {
	if r.n.Add(1)&closedBit == 0 {
		return true
	}
	r.end()
	return false
}

// end counts a handler that began ending.
func (r *running) end() {
	if r.n.Add(-1) == closedBit {
		r.once.Do(func() { close(r.done) })
	}
}

// close refuses handlers from now on and returns a channel closed when no
// handler runs any more.
func (r *running) close() <-chan struct{} {
	if r.n.Or(closedBit) == 0 {
		r.once.Do(func() { close(r.done) })
	}
	return r.done
}
