package disk

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"

	"github.com/cespare/xxhash/v2"
)

// errStaleMeta reports a metadata file that verifies but amends another
// record (or names another key): left behind, never served.
var errStaleMeta = errors.New("disk: metadata file of another record")

// BodyID identifies a record's body by its content: its length, its block
// size and the checksum of its block table. Equal IDs mean equal bodies (up
// to xxhash64 collisions). The zero BodyID matches no record.
type BodyID struct {
	size, block int64
	table       uint64
}

// BodyID identifies r's body.
func (r *Record) BodyID() BodyID {
	return BodyID{size: r.l.body, block: r.l.block, table: r.sum.table}
}

// SumBody is the BodyID a record of this tier holding body would have. It
// hashes the whole body, block by block, without allocating.
func (t *Tier) SumBody(body []byte) BodyID {
	var table xxhash.Digest
	table.Reset()
	var sum [sumSize]byte
	for rest := body; len(rest) > 0; { // bounded: each pass consumes a block
		n := min(int64(len(rest)), t.block)
		binary.LittleEndian.PutUint64(sum[:], xxhash.Sum64(rest[:n]))
		table.Write(sum[:])
		rest = rest[n:]
	}
	return BodyID{size: int64(len(body)), block: t.block, table: table.Sum64()}
}

// UpdateMeta replaces the metadata of the record stored under hash, whose
// full key must be full and whose body must be body (the metadata
// describes it), without rewriting the body: it writes a metadata file
// bound to that record (format.go), which Open then serves in place of the
// record's own metadata. meta is not retained. It returns ErrNotFound if
// there is no such record, if it holds another body (it was replaced since
// body was read: metadata never lands on a body it does not describe), or
// if the record was replaced or deleted while the file was being written
// (the newer change wins); ErrCorrupt, after removing the record, if it is
// damaged; ErrTooLarge if the key is over 64 KiB, meta over 1 MiB, or the
// record and file together would exceed MaxBytes; ErrDegraded as Create
// does. Safe for concurrent use.
func (t *Tier) UpdateMeta(hash uint64, full string, meta []byte, body BodyID) error {
	if t.degraded.Load() {
		return ErrDegraded
	}
	switch {
	case len(full) > maxKeyLen:
		return fmt.Errorf("disk: %d-byte key over %d: %w", len(full), maxKeyLen, ErrTooLarge)
	case len(meta) > maxMetaLen:
		return fmt.Errorf("disk: %d-byte metadata over %d: %w", len(meta), maxMetaLen, ErrTooLarge)
	}
	path := t.path(hash)
	f, err := os.Open(path)
	if err != nil {
		if notFound(err) {
			return ErrNotFound
		}
		return fmt.Errorf("disk: update metadata of %s: %w", path, err)
	}
	defer f.Close()
	r, err := t.load(f, hash, full, true) // r shares f: closed above, not by r
	if err != nil {
		if errors.Is(err, ErrCorrupt) {
			t.removeCorrupt(hash, f, err)
		}
		if err == ErrNotFound {
			return err
		}
		return fmt.Errorf("disk: update metadata of %s: %w", path, err)
	}
	if r.BodyID() != body {
		return ErrNotFound
	}
	size := metaFileSize(len(full), len(meta))
	if r.l.fileSize()+size > t.max {
		return fmt.Errorf("disk: %d-byte metadata file for a %d-byte record over a %d-byte budget: %w",
			size, r.l.fileSize(), t.max, ErrTooLarge)
	}
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("disk: update metadata of %s: %w", path, err)
	}
	tmp := t.tempPath(hash)
	if err := writeNew(tmp, encodeMetaFile(hash, full, meta, r.sum)); err != nil {
		os.Remove(tmp)
		t.degrade(err)
		return fmt.Errorf("%w: write %s: %w", ErrDegraded, tmp, err)
	}
	return t.installMeta(hash, fi, tmp, size, meta)
}

// writeNew creates path, which must not exist, holding b.
func writeNew(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// installMeta renames the finished temp metadata file, holding meta, into
// place for the record rec under hash, if rec is still that record, and
// accounts for it.
// Under t.mu, as install and removeLocked rename and remove records, so a
// metadata file never lands beside a record it was not written for.
func (t *Tier) installMeta(hash uint64, rec os.FileInfo, tmp string, size int64, meta []byte) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if cur, err := os.Stat(t.path(hash)); err != nil || !os.SameFile(rec, cur) {
		os.Remove(tmp)
		return ErrNotFound // replaced or deleted meanwhile: the later change wins
	}
	if err := os.Rename(tmp, t.metaPath(hash)); err != nil {
		os.Remove(tmp)
		t.degrade(err)
		return fmt.Errorf("%w: rename %s: %w", ErrDegraded, tmp, err)
	}
	if e := t.index[hash]; e != nil {
		t.bytes += size - e.meta
		e.size += size - e.meta
		e.meta = size
		e.stamp.Store(t.clock.Add(1))
		t.onIndex(hash, meta)
	}
	t.evictLocked()
	return nil
}

// amend replaces r's metadata with its metadata file's, if there is one
// and it verifies, names key and amends r exactly. A file that does not is
// removed (if it and r are still current) and r keeps its own metadata.
func (t *Tier) amend(r *Record, key string) {
	path := t.metaPath(r.hash)
	f, err := os.Open(path)
	if err != nil {
		if !notFound(err) {
			t.log.Warn("disk tier: open metadata file", "path", path, "err", err)
		}
		return
	}
	defer f.Close()
	m, err := readMetaFile(f, r.hash)
	if err == nil && (string(m.key) != key || m.rec != r.sum) {
		err = errStaleMeta
	}
	switch {
	case err == nil:
		r.meta = m.meta
	case errors.Is(err, ErrCorrupt) || err == errStaleMeta:
		t.removeBadMeta(r, f, err)
	default:
		t.log.Warn("disk tier: read metadata file", "path", path, "err", err)
	}
}

// readMetaFile reads and decodes the metadata file f of the record under
// hash. It allocates the file's size, bounded first by the largest valid
// file.
func readMetaFile(f *os.File, hash uint64) (metaFile, error) {
	fi, err := f.Stat()
	if err != nil {
		return metaFile{}, fmt.Errorf("size: %w", err)
	}
	if fi.Size() > maxMetaFile {
		return metaFile{}, fmt.Errorf("%w: %d-byte metadata file", ErrCorrupt, fi.Size())
	}
	b := make([]byte, fi.Size())
	if err := readFull(f, b, 0); err != nil {
		return metaFile{}, err
	}
	return decodeMetaFile(b, hash)
}

// removeBadMeta removes the metadata file f of r's hash, if f is still
// that file and r still the record (else the file may belong to a newer
// record), and accounts for it. A damaged file counts as corrupt; a stale
// one (of an older record) does not.
func (t *Tier) removeBadMeta(r *Record, f *os.File, cause error) {
	rfi, err := r.f.Stat()
	if err != nil {
		return
	}
	mfi, err := f.Stat()
	if err != nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	path := t.metaPath(r.hash)
	if cur, err := os.Stat(t.path(r.hash)); err != nil || !os.SameFile(rfi, cur) {
		return
	}
	if cur, err := os.Stat(path); err != nil || !os.SameFile(mfi, cur) {
		return
	}
	t.removeMetaLocked(r.hash)
	if _, ok := t.index[r.hash]; ok {
		t.onIndex(r.hash, r.meta) // amend failed: the record's own
	}
	if errors.Is(cause, ErrCorrupt) {
		t.corrupt.Add(1)
	}
	t.log.Warn("disk tier: removed metadata file", "path", path, "err", cause)
}

// removeMetaLocked removes hash's metadata file and its bytes from the
// index; t.mu must be held.
func (t *Tier) removeMetaLocked(hash uint64) {
	path := t.metaPath(hash)
	if err := os.Remove(path); err != nil && !notFound(err) {
		t.log.Warn("disk tier: remove metadata file", "path", path, "err", err)
	}
	if e := t.index[hash]; e != nil {
		t.bytes -= e.meta
		e.size -= e.meta
		e.meta = 0
	}
}

// removeOrphanMeta removes hash's metadata file if there is no record for
// it, and reports whether it did. Under t.mu, a metadata file without a
// record stays so: installMeta needs the record, and install and
// removeLocked remove the file with theirs.
func (t *Tier) removeOrphanMeta(hash uint64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, err := os.Lstat(t.path(hash)); !notFound(err) {
		return false
	}
	path := t.metaPath(hash)
	if err := os.Remove(path); err != nil {
		if !notFound(err) {
			t.log.Warn("disk tier rebuild: removing metadata file", "path", path, "err", err)
		}
		return false
	}
	return true
}
