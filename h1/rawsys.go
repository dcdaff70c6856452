package h1

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// The fast path's socket calls never block: its sockets are nonblocking,
// and the files it sends are in memory (memfd). So they are made without
// telling the runtime a system call has begun (RawSyscall): the goroutine
// keeps its P, as it does while it computes. Told, the runtime's monitor
// takes the P of a call it sees last over 20 µs (a sendfile of 100 KiB
// does) when another goroutine is runnable (in a Loop's turn the Loop is)
// or no other P is idle, and hands it to another thread; on a worker
// pinned to one CPU the two threads then take turns on it, and the call,
// its connection and the handed-over goroutine each lose milliseconds. A
// sendfile call sends at most maxRawSendfile bytes, so that no call holds
// the P for long.

// maxRawSendfile is the most one rawSendfile call sends.
const maxRawSendfile = 1 << 20

// rawRead is read(2) on fd into p.
func rawRead(fd int, p []byte) (int, error) {
	var ptr unsafe.Pointer
	if len(p) > 0 {
		ptr = unsafe.Pointer(&p[0])
	}
	n, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(ptr), uintptr(len(p)))
	return int(n), errnoErr(e)
}

// rawSendMore is send(2) on fd of p with MSG_MORE.
func rawSendMore(fd int, p []byte) (int, error) {
	var ptr unsafe.Pointer
	if len(p) > 0 {
		ptr = unsafe.Pointer(&p[0])
	}
	n, _, e := unix.RawSyscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(ptr), uintptr(len(p)), unix.MSG_MORE, 0, 0)
	return int(n), errnoErr(e)
}

// rawSendfile is sendfile(2) of up to count bytes (at most maxRawSendfile)
// of in from *off to out.
func rawSendfile(out, in int, off *int64, count int) (int, error) {
	count = min(count, maxRawSendfile)
	n, _, e := unix.RawSyscall6(unix.SYS_SENDFILE, uintptr(out), uintptr(in), uintptr(unsafe.Pointer(off)), uintptr(count), 0, 0)
	return int(n), errnoErr(e)
}

// errnoErr is e as an error, nil for 0.
func errnoErr(e unix.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}
