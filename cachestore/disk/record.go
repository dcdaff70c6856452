package disk

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"

	"github.com/cespare/xxhash/v2"
)

// probeSize is how much Open reads at once from each end of a file: the
// header, key and metadata of most records, and the block table and trailer
// of records up to about 500 blocks (32 MiB at 64 KiB blocks), so Open
// usually costs two reads into stack buffers.
const probeSize = 4096

// tableKeep is the largest block table a Record keeps in memory; larger
// tables are verified as a whole by Open and then read entry by entry.
const tableKeep = 4096

// Open returns the record for hash if its full key equals full, after
// verifying its header, key and metadata checksum, its block table checksum
// and its trailer (body blocks are verified as they are read). Its Meta is
// the latest UpdateMeta's, if the metadata file verifies and was written
// for this very record, else the record's own (format.go). It returns
// ErrNotFound if there is no record or it belongs to another key, and
// ErrCorrupt, after removing the file and counting it, if it is damaged.
// Open works before the rebuild has indexed the record, and while the tier
// is degraded. The caller must Close the Record.
func (t *Tier) Open(hash uint64, full string) (*Record, error) {
	path := t.path(hash)
	f, err := os.Open(path)
	if err != nil {
		if notFound(err) {
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("disk: open %s: %w", path, err)
	}
	r, err := t.load(f, hash, full, true)
	if err != nil {
		if errors.Is(err, ErrCorrupt) {
			t.removeCorrupt(hash, f, err)
		}
		f.Close()
		if err == ErrNotFound {
			return nil, err
		}
		return nil, fmt.Errorf("disk: open %s: %w", path, err)
	}
	if t.touch(hash) {
		t.amend(r, full)
	}
	return r, nil
}

// load reads and verifies everything in f but the body blocks, and returns
// the Record, which takes over f. With checkKey, a record whose key is not
// full yields ErrNotFound. Every length comes from decodeHeader, which
// bounds it by the file's real size, so a damaged file cannot make load
// allocate more than about its own size.
func (t *Tier) load(f *os.File, hash uint64, full string, checkKey bool) (*Record, error) {
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, fmt.Errorf("size: %w", err)
	}
	var head [probeSize]byte
	hn := min(size, probeSize)
	if err := readFull(f, head[:hn], 0); err != nil {
		return nil, err
	}
	l, err := decodeHeader(head[:hn], hash, size)
	if err != nil {
		return nil, err
	}

	// Header, key and metadata: front.
	// heapFront is a separate variable so that head, which never outlives
	// load, stays on the stack.
	var front, heapFront []byte
	if km := l.bodyOff(); km <= hn {
		front = head[:km]
	} else {
		heapFront = make([]byte, km)
		copy(heapFront, head[:hn])
		if err := readFull(f, heapFront[hn:], hn); err != nil {
			return nil, err
		}
		front = heapFront
	}

	// Block table and trailer: tail.
	var (
		tailBuf  [probeSize]byte
		table    []byte // the whole table, if it was read in one piece
		trailer  []byte
		tableSum uint64
	)
	tableOff, tailLen := l.tableOff(), size-l.tableOff()
	switch {
	case size <= hn: // the whole file is in head
		table, trailer = head[tableOff:l.trailerOff()], head[l.trailerOff():size]
		tableSum = xxhash.Sum64(table)
	case tailLen <= probeSize:
		if err := readFull(f, tailBuf[:tailLen], tableOff); err != nil {
			return nil, err
		}
		table, trailer = tailBuf[:tailLen-trailerSize], tailBuf[tailLen-trailerSize:tailLen]
		tableSum = xxhash.Sum64(table)
	default: // stream a large table through tailBuf
		var d xxhash.Digest
		d.Reset()
		end := l.trailerOff()
		for off := tableOff; off < end; { // bounded: advances by up to probeSize each time
			n := min(end-off, probeSize)
			if err := readFull(f, tailBuf[:n], off); err != nil {
				return nil, err
			}
			d.Write(tailBuf[:n])
			off += n
		}
		tableSum = d.Sum64()
		if err := readFull(f, tailBuf[:trailerSize], end); err != nil {
			return nil, err
		}
		trailer = tailBuf[:trailerSize]
	}
	switch {
	case [8]byte(trailer[16:24]) != endMagic:
		return nil, fmt.Errorf("%w: bad end magic", ErrCorrupt)
	case binary.LittleEndian.Uint64(trailer[0:]) != xxhash.Sum64(front):
		return nil, fmt.Errorf("%w: header, key or metadata checksum", ErrCorrupt)
	case binary.LittleEndian.Uint64(trailer[8:]) != tableSum:
		return nil, fmt.Errorf("%w: block table checksum", ErrCorrupt)
	}
	if checkKey && string(front[headerSize:headerSize+l.keyLen]) != full {
		return nil, ErrNotFound // a hash collision
	}

	r := &Record{t: t, f: f, hash: hash, l: l, sum: recordSum{
		head:  binary.LittleEndian.Uint64(trailer[0:]),
		table: tableSum,
		body:  l.body,
	}}
	keepTable := table != nil && len(table) <= tableKeep
	if heapFront != nil && !keepTable {
		r.meta = heapFront[l.bodyOff()-l.metaLen:]
		return r, nil
	}
	// One allocation holds the metadata and, when small, the table.
	buf := make([]byte, 0, l.metaLen+int64(len(table)))
	buf = append(buf, front[l.bodyOff()-l.metaLen:]...)
	r.meta = buf[:l.metaLen:l.metaLen]
	if keepTable {
		r.table = append(buf, table...)[l.metaLen:]
	}
	return r, nil
}

// readFull reads len(b) bytes at off; a file shorter than that is corrupt.
func readFull(f *os.File, b []byte, off int64) error {
	n, err := f.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: file ends at %d", ErrCorrupt, off+int64(n))
	}
	return fmt.Errorf("read at %d: %w", off, err)
}

// Record is an open record. Its methods are safe for concurrent use, except
// the last Close (Open's, or one for each Retain), after which none may be
// called. It stays readable if its file is replaced, evicted or deleted
// meanwhile (it holds the open file).
type Record struct {
	t     *Tier
	f     *os.File
	refs  atomic.Int32 // Retains not yet matched by a Close
	hash  uint64
	l     layout
	sum   recordSum // identifies this record for its metadata file
	meta  []byte    // the record's own, or its metadata file's
	table []byte    // the block table when at most tableKeep bytes; else nil, read from f
}

// Meta is the metadata blob: the latest UpdateMeta's for this record, or
// the one it was written with. The caller must not modify it; it stays
// valid after Close.
func (r *Record) Meta() []byte { return r.meta }

// Size is the body length in bytes.
func (r *Record) Size() int64 { return r.l.body }

// Retain adds a reference, for a second user that will Close it too.
func (r *Record) Retain() { r.refs.Add(1) }

// Close drops a reference; the last one releases the file.
func (r *Record) Close() error {
	if r.refs.Add(-1) >= 0 {
		return nil
	}
	return r.f.Close()
}

// ReadAt reads body bytes [off, off+len(p)), reading and verifying only the
// blocks that cover them. It follows io.ReaderAt: fewer than len(p) bytes
// come with io.EOF. On a checksum mismatch it returns 0 and an error
// wrapping ErrCorrupt, and removes the record; p may have been written to.
func (r *Record) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("disk: read record %016x at negative offset %d", r.hash, off)
	}
	if off >= r.l.body {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	n := min(int64(len(p)), r.l.body-off)
	if err := r.read(p[:n], off); err != nil {
		return 0, r.fail(err)
	}
	if n < int64(len(p)) {
		return int(n), io.EOF
	}
	return int(n), nil
}

// read fills p, which lies within the body, with verified bytes from off:
// whole blocks straight into p, a partial block at either end through a
// pooled block buffer. At most three passes.
func (r *Record) read(p []byte, off int64) error {
	bs := r.l.block
	for len(p) > 0 {
		i := off / bs
		start := i * bs
		blen := min(bs, r.l.body-start)
		if off == start && int64(len(p)) >= blen {
			end := off + int64(len(p))
			if end < r.l.body {
				end = end / bs * bs // whole blocks only; a short last block only at the body's end
			}
			if err := r.readBlocks(p[:end-off], i); err != nil {
				return err
			}
			p, off = p[end-off:], end
			continue
		}
		buf := r.t.getBlock(blen)
		err := r.readBlocks((*buf)[:blen], i)
		n := 0
		if err == nil {
			n = copy(p, (*buf)[off-start:blen])
		}
		r.t.putBlock(buf)
		if err != nil {
			return err
		}
		p, off = p[n:], off+int64(n)
	}
	return nil
}

// readBlocks reads body blocks from block first into dst, which must cover
// whole blocks (the last short only at the body's end), and verifies each.
func (r *Record) readBlocks(dst []byte, first int64) error {
	if err := readFull(r.f, dst, r.l.bodyOff()+first*r.l.block); err != nil {
		return err
	}
	var sums [512]byte
	bs := r.l.block
	for i := first; len(dst) > 0; { // bounded: each pass consumes k >= 1 blocks of dst
		k := min(int64(len(sums))/sumSize, (int64(len(dst))+bs-1)/bs)
		if err := r.blockSums(sums[:k*sumSize], i); err != nil {
			return err
		}
		for j := int64(0); j < k; j++ {
			n := min(bs, int64(len(dst)))
			if xxhash.Sum64(dst[:n]) != binary.LittleEndian.Uint64(sums[j*sumSize:]) {
				return fmt.Errorf("%w: body block %d", ErrCorrupt, i+j)
			}
			dst = dst[n:]
		}
		i += k
	}
	return nil
}

// blockSums fills dst with the table entries from block i on.
func (r *Record) blockSums(dst []byte, i int64) error {
	if r.table != nil {
		copy(dst, r.table[i*sumSize:])
		return nil
	}
	return readFull(r.f, dst, r.l.tableOff()+i*sumSize)
}

// fail handles a read error: a corrupt record is removed and counted.
func (r *Record) fail(err error) error {
	if errors.Is(err, ErrCorrupt) {
		r.t.removeCorrupt(r.hash, r.f, err)
	}
	return fmt.Errorf("disk: read record %016x: %w", r.hash, err)
}

// getBlock returns a buffer of at least n bytes; putBlock recycles it.
func (t *Tier) getBlock(n int64) *[]byte {
	if n <= t.block {
		if b, ok := t.blockBufs.Get().(*[]byte); ok {
			return b
		}
		b := make([]byte, t.block)
		return &b
	}
	b := make([]byte, n) // a record written with a larger block size
	return &b
}

func (t *Tier) putBlock(b *[]byte) {
	if int64(len(*b)) == t.block {
		t.blockBufs.Put(b)
	}
}

// NewReader streams n body bytes from off, verifying block by block with a
// buffer of one block at most, so that a whole body or a range of a large
// object is served in fixed memory. A range outside the body fails on the
// first Read. A checksum mismatch fails the read with an error wrapping
// ErrCorrupt (and removes the record), before any byte of the bad block is
// returned. The reader implements io.WriterTo, so io.Copy uses no buffer of
// its own. It is not safe for concurrent use; the Record must stay open.
func (r *Record) NewReader(off, n int64) io.Reader {
	rd := &reader{r: r, off: off, end: off + n}
	if off < 0 || n < 0 || off > r.l.body || n > r.l.body-off {
		rd.err = fmt.Errorf("disk: range %d+%d outside record %016x's %d-byte body", off, n, r.hash, r.l.body)
	}
	return rd
}

// reader is NewReader's io.Reader.
type reader struct {
	r        *Record
	off, end int64
	err      error  // sticky
	buf      []byte // one verified block, holding body bytes [bufOff, bufOff+len(buf))
	bufOff   int64
	pooled   *[]byte // buf's storage when it came from the tier's pool
}

// done hands a pooled block buffer back once the range has been delivered.
func (rd *reader) done() {
	if rd.pooled != nil && (rd.off >= rd.end || rd.err != nil) {
		rd.r.t.putBlock(rd.pooled)
		rd.pooled, rd.buf = nil, nil
	}
}

func (rd *reader) Read(p []byte) (int, error) {
	if rd.err != nil {
		return 0, rd.err
	}
	if rd.off >= rd.end {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	p = p[:min(int64(len(p)), rd.end-rd.off)]
	r, bs := rd.r, rd.r.l.block
	start := rd.off / bs * bs
	if rd.off == start && int64(len(p)) >= min(bs, r.l.body-start) {
		// Whole blocks straight into p.
		n := int64(len(p))
		if rd.off+n < r.l.body {
			n = n / bs * bs
		}
		if err := r.read(p[:n], rd.off); err != nil {
			rd.err = r.fail(err)
			return 0, rd.err
		}
		rd.off += n
		rd.done()
		return int(n), nil
	}
	b, err := rd.block()
	if err != nil {
		return 0, err
	}
	n := copy(p, b)
	rd.off += int64(n)
	rd.done()
	return n, nil
}

// block returns the verified bytes of the block holding rd.off, from rd.off
// up to the block's or the range's end.
func (rd *reader) block() ([]byte, error) {
	r, bs := rd.r, rd.r.l.block
	if rd.off < rd.bufOff || rd.off >= rd.bufOff+int64(len(rd.buf)) {
		start := rd.off / bs * bs
		blen := min(bs, r.l.body-start)
		if rd.buf == nil {
			if r.l.body >= bs {
				rd.pooled = r.t.getBlock(bs)
				rd.buf = (*rd.pooled)[:0]
			} else {
				rd.buf = make([]byte, 0, r.l.body)
			}
		}
		rd.buf = rd.buf[:0] // invalid until verified
		if err := r.readBlocks(rd.buf[:blen], start/bs); err != nil {
			rd.err = r.fail(err)
			return nil, rd.err
		}
		rd.buf, rd.bufOff = rd.buf[:blen], start
	}
	return rd.buf[rd.off-rd.bufOff : min(int64(len(rd.buf)), rd.end-rd.bufOff)], nil
}

// WriteTo writes the rest of the range to w, one verified block at a time.
func (rd *reader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for rd.err == nil && rd.off < rd.end { // bounded: each pass advances by a block or fails
		b, err := rd.block()
		if err != nil {
			return total, err
		}
		n, err := w.Write(b)
		rd.off += int64(n)
		total += int64(n)
		if err != nil {
			return total, err
		}
		if n < len(b) {
			return total, io.ErrShortWrite
		}
	}
	rd.done()
	return total, rd.err
}
