package cachestore

import (
	"os"
	"runtime"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// MinBodyFile is the shortest body BodyFile keeps a file of: below it, a
// copy into the socket costs less than a sendfile call besides a write.
const MinBodyFile = 32 << 10

// bodyFiles bounds the bytes of all body files a Store keeps: they are
// memory besides the memory tier's.
type bodyFiles struct {
	max  int64
	used atomic.Int64
}

// fileMemo is an Object's body file, made once (see Store.BodyFile).
type fileMemo struct {
	file   atomic.Pointer[os.File]
	tried  atomic.Bool // made or failed: not tried again
	making atomic.Bool
}

// BodyFile returns a sealed, read-only in-memory file (memfd) holding o's
// body at offset 0, so that the body can go to a socket with sendfile,
// without a copy through user space; nil when o's body is shorter than
// MinBodyFile or not in memory, when o holds no memo, when the store's
// budget for such files (a quarter of the memory tier) is spent, or when
// the file cannot be made, or while another call is making it. The file
// is made by the first call that finds none, and shared by the later ones; its memory is returned when
// neither o nor any caller holds it any more (the file's own cleanup
// closes it). A caller must keep the *os.File while it sends from it.
// Safe for concurrent use.
func (s *Store) BodyFile(o *Object) *os.File {
	if o.memo == nil || o.record != nil || len(o.Body) < MinBodyFile {
		return nil
	}
	m := &o.memo.file
	if f := m.file.Load(); f != nil || m.tried.Load() || !m.making.CompareAndSwap(false, true) {
		return f
	}
	defer m.making.Store(false)
	n := int64(len(o.Body))
	if s.files.used.Add(n) > s.files.max {
		s.files.used.Add(-n)
		return nil // tried again later: the budget may have room then
	}
	f, err := memfd(o.Body)
	m.tried.Store(true)
	if err != nil {
		s.files.used.Add(-n)
		return nil
	}
	runtime.AddCleanup(f, func(n int64) { s.files.used.Add(-n) }, n)
	m.file.Store(f)
	return f
}

// memfd returns a sealed memfd holding b.
func memfd(b []byte) (*os.File, error) {
	fd, err := unix.MemfdCreate("cdnnode-body", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "cdnnode-body")
	for off := 0; off < len(b); { // each pass writes some of the rest
		n, err := unix.Pwrite(fd, b[off:], int64(off))
		if err != nil {
			_ = f.Close()
			return nil, err
		}
		off += n
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SEAL|unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_WRITE); err != nil {
		_ = f.Close()
		return nil, err
	}
	return f, nil
}
