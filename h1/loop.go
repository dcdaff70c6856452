package h1

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// A Loop decides the order in which the fast path serves the plain TCP
// connections of one worker that wait for a request: the order their
// requests came in, as an event loop such as nginx's serves them.
//
// Left to the runtime, each connection's goroutine waits in its own read,
// and the runtime wakes the goroutines of one poll in reverse order (it
// runs the last first). Under load, a connection served first in one
// round is served last in the next, and the spread of response times
// doubles: that was most of the fast path's p99 behind nginx with 100 KiB
// objects. A connection that waits through a Loop instead is in the
// Loop's own epoll set (edge-triggered), and the Loop, one goroutine,
// wakes the waiting connections in the order of its events and lets each
// take its turn (run until it blocks) before it wakes the next. What a
// connection does in its turn is unchanged: the same reads, responses and
// writes, on its own goroutine.
//
// The Loop's goroutine waits for events in the runtime's poller too (the
// epoll descriptor is itself pollable), so nothing blocks a thread.
type Loop struct {
	ep   int      // the epoll descriptor (file's; os.File.Fd would make it blocking)
	file *os.File // ep, for waiting in the runtime's poller
	raw  syscall.RawConn
	tick time.Duration // how often waits are checked against their deadlines

	turn chan struct{} // a woken connection's goroutine has begun its turn

	mu     sync.Mutex // guards the fields below
	conns  map[uint32]*loopConn
	nextID uint32
	closed bool
}

// NewLoop makes a Loop whose waits end within tick past their deadlines
// (tick <= 0: a quarter of a second). Run serves it.
func NewLoop(tick time.Duration) (*Loop, error) {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("h1: loop: %w", os.NewSyscallError("epoll_create1", err))
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("h1: loop: %w", os.NewSyscallError("fcntl", err))
	}
	f := os.NewFile(uintptr(fd), "epoll")
	raw, err := f.SyscallConn()
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("h1: loop: %w", err)
	}
	if tick <= 0 {
		tick = 250 * time.Millisecond
	}
	return &Loop{ep: fd, file: f, raw: raw, tick: tick, turn: make(chan struct{}, 1), conns: make(map[uint32]*loopConn)}, nil
}

// loopEvents is how many events one wait takes.
const loopEvents = 256

// Run wakes waiting connections, in the order their bytes came, until
// Close.
func (l *Loop) Run() {
	var evs [loopEvents]unix.EpollEvent
	check := time.Now().Add(l.tick)
	_ = l.file.SetReadDeadline(check)
	var n int
	var werr error
	poll := func(fd uintptr) bool { // made once: a closure per pass would allocate
		n, werr = unix.EpollWait(int(fd), evs[:], 0)
		return n > 0 || werr != nil && werr != unix.EINTR
	}
	for {
		err := l.raw.Read(poll)
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
		case err != nil: // closed
			return
		case werr != nil:
			n = 0 // EAGAIN, or a wait the next pass repeats
		}
		for _, ev := range evs[:n] {
			l.ready(uint32(ev.Fd))
		}
		if now := time.Now(); !now.Before(check) {
			l.expire(now)
			check = now.Add(l.tick)
			_ = l.file.SetReadDeadline(check)
		}
	}
}

// ready gives connection id its turn if it waits, and returns when the
// turn has begun; a connection that is not waiting reads first when it
// next would.
func (l *Loop) ready(id uint32) {
	l.mu.Lock()
	c := l.conns[id]
	if c == nil {
		l.mu.Unlock()
		return
	}
	if !c.waiting {
		c.pending = true
		l.mu.Unlock()
		return
	}
	c.waiting = false
	l.mu.Unlock()
	c.wake <- wakeReady
	<-l.turn
}

// expire wakes the connections that wait past their deadlines: their next
// read fails with the deadline error.
func (l *Loop) expire(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		if c.waiting && !c.until.IsZero() && !now.Before(c.until) {
			c.waiting = false
			c.wake <- wakeDeadline
		}
	}
}

// Close stops Run and wakes every waiting connection with net.ErrClosed;
// connections that would wait later read as if without a Loop.
func (l *Loop) Close() error {
	l.mu.Lock()
	l.closed = true
	for id, c := range l.conns {
		c.gone = true
		if c.waiting {
			c.waiting = false
			c.wake <- wakeClosed
		}
		delete(l.conns, id)
	}
	l.mu.Unlock()
	return l.file.Close()
}

// wakeReason is why a waiting connection woke.
type wakeReason uint8

const (
	wakeReady    wakeReason = iota // bytes came: its turn
	wakeDeadline                   // its read deadline passed
	wakeClosed                     // it, or the Loop, closed
)

// loopConn is a connection's place in a Loop.
type loopConn struct {
	l    *Loop
	id   uint32
	wake chan wakeReason // one per wait

	// Guarded by l.mu.
	waiting bool      // its goroutine waits for wake
	pending bool      // bytes came while it was not waiting
	gone    bool      // left the Loop: it waits no more
	until   time.Time // the read deadline of the wait; zero: none
}

// join adds the socket raw to l, or reports false when l is closed or the
// socket cannot join.
func (l *Loop) join(raw syscall.RawConn) *loopConn {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	for l.nextID++; l.conns[l.nextID] != nil; l.nextID++ { // ids are reused only after 2^32 joins
	}
	c := &loopConn{l: l, id: l.nextID, wake: make(chan wakeReason, 1)}
	var err error
	cerr := raw.Control(func(fd uintptr) {
		ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLET, Fd: int32(c.id)}
		err = unix.EpollCtl(l.ep, unix.EPOLL_CTL_ADD, int(fd), &ev)
	})
	if cerr != nil || err != nil {
		return nil
	}
	l.conns[c.id] = c
	return c
}

// wait waits for the connection's turn: until bytes come, or the deadline
// until passes, or the connection closes (net.ErrClosed). A turn begun is
// given back to the Loop at once: the Loop runs again when this goroutine
// next blocks, and wakes the next connection.
func (c *loopConn) wait(until time.Time) error {
	l := c.l
	l.mu.Lock()
	switch {
	case c.gone:
		l.mu.Unlock()
		return net.ErrClosed
	case c.pending:
		c.pending = false
		l.mu.Unlock()
		return nil
	}
	c.waiting, c.until = true, until
	l.mu.Unlock()
	switch <-c.wake {
	case wakeReady:
		l.turn <- struct{}{}
	case wakeClosed:
		return net.ErrClosed
	}
	return nil
}

// leave takes the connection out of the Loop, before its socket closes,
// and wakes its goroutine if it waits.
func (c *loopConn) leave(raw syscall.RawConn) {
	l := c.l
	l.mu.Lock()
	defer l.mu.Unlock()
	if c.gone {
		return
	}
	c.gone = true
	if c.waiting {
		c.waiting = false
		c.wake <- wakeClosed
	}
	if l.conns[c.id] == c {
		delete(l.conns, c.id)
		_ = raw.Control(func(fd uintptr) {
			_ = unix.EpollCtl(l.ep, unix.EPOLL_CTL_DEL, int(fd), nil)
		})
	}
}

// loopRead reads what the socket holds into p without waiting in the
// runtime's poller: when the socket holds nothing, the connection waits in
// its Loop for its turn, up to maxEmptyReads times (each wake should bring
// bytes, an end, or the deadline's error). It waits only once a read has
// left the socket empty, as the Loop's events are edges and bytes already
// there make none: a read that found nothing, or the last read, if it
// returned less than it had room for (the socket held no more; as nginx
// does with edge-triggered epoll). So the connection does not read again
// at once after answering, which would mostly find nothing, and would
// serve a quick client's next request before those that reached other
// connections first.
func (f *fastPath) loopRead(p []byte) (int, error) {
	f.rbuf = p
	defer func() { f.rbuf = nil }()
	for range maxEmptyReads {
		if f.drained {
			f.drained = false
			if err := f.lc.wait(f.until); err != nil {
				return 0, err
			}
		}
		rerr := f.raw.Read(f.readRaw)
		n, err := f.rn, f.rerr
		switch {
		case rerr != nil:
			return 0, rerr // the deadline, or closed
		case err == unix.EINTR:
		case err == unix.EAGAIN:
			f.drained = true
		case err != nil:
			return 0, fmt.Errorf("h1: read: %w", os.NewSyscallError("read", err))
		case n == 0:
			return 0, io.EOF
		default:
			f.drained = n < len(p)
			return n, nil
		}
	}
	return 0, io.ErrNoProgress
}

// readStep reads from the socket fd into rbuf once, without waiting.
func (f *fastPath) readStep(fd uintptr) bool {
	f.rn, f.rerr = rawRead(int(fd), f.rbuf)
	return true
}
