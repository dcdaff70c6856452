package disk

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"os"

	"github.com/cespare/xxhash/v2"
)

// errClosed reports use of a Writer after Commit or Abort.
var errClosed = errors.New("disk: writer already committed or aborted")

// writeBufSize is each Writer's write buffer; larger writes bypass it.
const writeBufSize = 32 << 10

// Writer streams one record's body into a temp file. Nothing is visible to
// Open until Commit. Not safe for concurrent use.
type Writer struct {
	t       *Tier
	hash    uint64
	keyMeta []byte // key then metadata, copied: the header checksum needs them at Commit
	keyLen  int64
	tmp     string
	f       *os.File      // nil once finished
	bw      *bufio.Writer // pooled; nil once finished
	err     error         // sticky

	body   int64         // body bytes written
	block  xxhash.Digest // the current block's running sum
	filled int64         // bytes in the current block
	table  []byte        // finished block sums

	scratch [headerSize]byte // placeholder header, then the trailer: a field, as bufio would move a local to the heap
}

// Create starts writing the record for key (hash = the key's 64-bit hash,
// full = the full key text) with metadata meta, which Create copies.
// sizeHint is the body length if known, or -1. It returns ErrDegraded if
// writes are disabled (or fail now), and ErrTooLarge if the key is over
// 64 KiB, the metadata over 1 MiB, or a record with a sizeHint-byte body
// would exceed MaxBytes (with an unknown size, if even an empty body would).
// The caller must Commit or Abort the Writer.
func (t *Tier) Create(hash uint64, full string, meta []byte, sizeHint int64) (*Writer, error) {
	if t.degraded.Load() {
		return nil, ErrDegraded
	}
	switch {
	case len(full) > maxKeyLen:
		return nil, fmt.Errorf("disk: %d-byte key over %d: %w", len(full), maxKeyLen, ErrTooLarge)
	case len(meta) > maxMetaLen:
		return nil, fmt.Errorf("disk: %d-byte metadata over %d: %w", len(meta), maxMetaLen, ErrTooLarge)
	case sizeHint > t.max || recordSize(int64(len(full)), int64(len(meta)), max(sizeHint, 0), t.block) > t.max:
		return nil, fmt.Errorf("disk: %d-byte body over a %d-byte budget: %w", sizeHint, t.max, ErrTooLarge)
	}
	tmp := t.tempPath(hash)
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, os.ErrNotExist) { // first record in this subdirectory, or Dir was removed
		if err = os.MkdirAll(t.subdir(hash), 0o755); err == nil {
			f, err = os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		}
	}
	if err != nil {
		t.degrade(err)
		return nil, fmt.Errorf("%w: create %s: %w", ErrDegraded, tmp, err)
	}
	w := &Writer{t: t, hash: hash, tmp: tmp, f: f, keyLen: int64(len(full))}
	w.keyMeta = make([]byte, 0, len(full)+len(meta))
	w.keyMeta = append(append(w.keyMeta, full...), meta...)
	if sizeHint > 0 {
		w.table = make([]byte, 0, (sizeHint+t.block-1)/t.block*sumSize)
	}
	w.block.Reset()
	if bw, ok := t.writeBufs.Get().(*bufio.Writer); ok {
		bw.Reset(f)
		w.bw = bw
	} else {
		w.bw = bufio.NewWriterSize(f, writeBufSize)
	}
	w.bw.Write(w.scratch[:]) // zeros: a placeholder, never valid; Commit writes the header last
	if _, err := w.bw.Write(w.keyMeta); err != nil {
		w.failIO("write", err)
		return nil, w.err
	}
	return w, nil
}

// Write appends p to the body. An I/O error degrades the tier; past the
// budget it fails with ErrTooLarge. Either way the temp file is removed at
// once and every later call fails: the caller stops storing, and the
// client's stream goes on.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	body := w.body + int64(len(p))
	if recordSize(w.keyLen, int64(len(w.keyMeta))-w.keyLen, body, w.t.block) > w.t.max {
		w.finish(fmt.Errorf("disk: body past %d bytes over a %d-byte budget: %w", body, w.t.max, ErrTooLarge))
		return 0, w.err
	}
	n, err := w.bw.Write(p)
	if err != nil {
		w.failIO("write", err)
		return n, w.err
	}
	w.body = body
	bs := w.t.block
	for len(p) > 0 { // bounded: each pass consumes up to a block of p
		c := min(bs-w.filled, int64(len(p)))
		w.block.Write(p[:c])
		w.filled += c
		p = p[c:]
		if w.filled == bs {
			w.endBlock()
		}
	}
	return n, nil
}

// endBlock appends the current block's sum to the table.
func (w *Writer) endBlock() {
	w.table = binary.LittleEndian.AppendUint64(w.table, w.block.Sum64())
	w.block.Reset()
	w.filled = 0
}

// Commit completes the record (block table, trailer, header), renames it
// into place atomically, replacing any older record for the same hash,
// indexes it and evicts other records if over budget. Only then is it
// visible to Open. It returns the Writer's earlier error if any; an I/O
// error degrades the tier. The caller must only commit a complete body.
func (w *Writer) Commit() error {
	if w.err != nil {
		return w.err
	}
	if w.filled > 0 {
		w.endBlock()
	}
	l := layout{
		hash:    w.hash,
		keyLen:  w.keyLen,
		metaLen: int64(len(w.keyMeta)) - w.keyLen,
		body:    w.body,
		block:   w.t.block,
	}
	var hdr [headerSize]byte
	l.encode(hdr[:])
	var d xxhash.Digest
	d.Reset()
	d.Write(hdr[:])
	d.Write(w.keyMeta)
	trailer := w.scratch[:trailerSize]
	binary.LittleEndian.PutUint64(trailer[0:], d.Sum64())
	binary.LittleEndian.PutUint64(trailer[8:], xxhash.Sum64(w.table))
	copy(trailer[16:], endMagic[:])

	w.bw.Write(w.table)
	w.bw.Write(trailer)
	if err := w.bw.Flush(); err != nil {
		return w.failIO("write", err)
	}
	if _, err := w.f.WriteAt(hdr[:], 0); err != nil {
		return w.failIO("write header", err)
	}
	f := w.f
	w.f = nil // closed below either way
	w.recycle()
	if err := f.Close(); err != nil {
		os.Remove(w.tmp)
		return w.failIO("close", err)
	}
	if err := w.t.install(w.hash, w.tmp, l.fileSize(), w.keyMeta[w.keyLen:]); err != nil {
		os.Remove(w.tmp)
		return w.failIO("rename", err)
	}
	w.err = errClosed
	return nil
}

// Abort discards the record and removes its temp file. It is a no-op after
// Commit, so callers defer it.
func (w *Writer) Abort() {
	if w.err == nil {
		w.finish(errClosed)
	}
}

// failIO degrades the tier for an I/O error, discards the record and
// returns the Writer's new sticky error.
func (w *Writer) failIO(op string, err error) error {
	w.t.degrade(err)
	w.finish(fmt.Errorf("%w: %s %s: %w", ErrDegraded, op, w.tmp, err))
	return w.err
}

// finish ends the Writer with err: it closes and removes the temp file, if
// still open, and returns the buffer to the pool.
func (w *Writer) finish(err error) {
	w.err = err
	if w.f != nil {
		w.f.Close()
		os.Remove(w.tmp)
		w.f = nil
	}
	w.recycle()
	w.table, w.keyMeta = nil, nil
}

// recycle returns the write buffer to the tier's pool.
func (w *Writer) recycle() {
	if w.bw != nil {
		w.bw.Reset(nil)
		w.t.writeBufs.Put(w.bw)
		w.bw = nil
	}
}

// Flush writes the buffered body bytes to the temp file, so that a
// BodyReader sees every byte written so far.
func (w *Writer) Flush() error {
	if w.err != nil {
		return w.err
	}
	if err := w.bw.Flush(); err != nil {
		return w.failIO("write", err)
	}
	return nil
}

// OpenBody opens the body being written for reading along, as far as it
// has been flushed. It stays readable after Commit, Abort or eviction of
// the record (it holds the file open); Close it.
func (w *Writer) OpenBody() (*BodyReader, error) {
	if w.err != nil {
		return nil, w.err
	}
	f, err := os.Open(w.tmp)
	if err != nil {
		return nil, fmt.Errorf("disk: open %s for reading along: %w", w.tmp, err)
	}
	return &BodyReader{f: f, off: headerSize + int64(len(w.keyMeta))}, nil
}

// BodyReader reads the body of a record being written. Safe for
// concurrent use.
type BodyReader struct {
	f   *os.File
	off int64 // the body's offset in the file
}

// ReadAt reads body bytes from off; the caller reads only flushed bytes.
func (b *BodyReader) ReadAt(p []byte, off int64) (int, error) {
	n, err := b.f.ReadAt(p, b.off+off)
	if err != nil && n == len(p) {
		err = nil
	}
	return n, err
}

// Close releases the file.
func (b *BodyReader) Close() error { return b.f.Close() }
