package disk

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/cespare/xxhash/v2"
)

const (
	fuzzHash = 0x5eed00000000f022
	fuzzKey  = "https://example.com/fuzz"
)

// FuzzRecord places arbitrary bytes at a record's path; with reseal, the
// header and table checksums are recomputed first, so that the fuzzer gets
// past them to the lengths and body blocks. Open, ReadAt and
// NewReader must never panic, must allocate no more than a few times the
// file's size, and may return only data that a separate, plain decoder of
// the format (refDecode) finds verified.
func FuzzRecord(f *testing.F) {
	seedTier := newTier(f, Options{BlockSize: 16})
	put(f, seedTier, fuzzHash, fuzzKey, []byte("meta"), pattern(50, 3))
	valid, err := os.ReadFile(seedTier.path(fuzzHash))
	if err != nil {
		f.Fatal(err)
	}
	edit := func(fn func(b []byte) []byte) []byte { return fn(bytes.Clone(valid)) }
	l := recordLayout(fuzzKey, []byte("meta"), 50, 16)

	f.Add(valid, false)                                                               // a good record: 4 blocks, the last short
	f.Add(edit(func(b []byte) []byte { b[l.bodyOff()+20]++; return b }), false)       // bad body block 1
	f.Add(edit(func(b []byte) []byte { b[l.bodyOff()-1]++; return b }), false)        // bad metadata
	f.Add(edit(func(b []byte) []byte { return b[:len(b)-1] }), false)                 // truncated
	f.Add(edit(func(b []byte) []byte { return b[:headerSize] }), false)               // header only
	f.Add(edit(func(b []byte) []byte { b[28], b[30] = 0xff, 0xff; return b }), false) // huge metadata length
	f.Add(edit(func(b []byte) []byte { b[39] = 0x7f; return b }), false)              // huge body length
	f.Add(edit(func(b []byte) []byte { b[12], b[14] = 0, 0xff; return b }), false)    // huge block size
	f.Add(edit(func(b []byte) []byte { b[headerSize] = 'H'; return b }), false)       // another key, checksums broken
	f.Add([]byte{}, false)                                                            // empty file
	f.Add(make([]byte, len(valid)), false)                                            // zeroed, as after power loss

	f.Add(edit(func(b []byte) []byte { b[l.bodyOff()+20]++; return b }), true) // bad body block 1, resealed: only the block sum fails
	f.Add(edit(func(b []byte) []byte { b[l.tableOff()]++; return b }), true)   // bad table entry 0, resealed

	tier := newTier(f, Options{BlockSize: 16})
	path := tier.path(fuzzHash)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte, reseal bool) {
		if reseal {
			data = resealed(data)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		ref, refErr := refDecode(data, fuzzHash)
		p := make([]byte, len(data)+1)
		var out bytes.Buffer
		out.Grow(len(data) + 1)

		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		r, err := tier.Open(fuzzHash, fuzzKey)
		var readErr, streamErr error
		var n int
		if err == nil {
			n, readErr = r.ReadAt(p[:r.Size()], 0)
			_, streamErr = io.Copy(&out, r.NewReader(0, r.Size()))
		}
		runtime.ReadMemStats(&after)
		if got, limit := after.TotalAlloc-before.TotalAlloc, uint64(4*len(data)+64<<10); got > limit {
			t.Errorf("Open and reads of a %d-byte file allocated %d bytes, over %d", len(data), got, limit)
		}

		if err != nil {
			if !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open = %v, want ErrNotFound or ErrCorrupt", err)
			}
			if refErr == nil && ref.key == fuzzKey {
				t.Fatalf("Open = %v for a record that verifies", err)
			}
			return
		}
		defer r.Close()
		if refErr != nil {
			t.Fatalf("Open accepted a record refDecode rejects: %v", refErr)
		}
		if ref.key != fuzzKey || !bytes.Equal(r.Meta(), ref.meta) || r.Size() != int64(len(ref.body)) {
			t.Fatalf("Open = key %q, meta %q, size %d; refDecode: %q, %q, %d", fuzzKey, r.Meta(), r.Size(), ref.key, ref.meta, len(ref.body))
		}
		whole := ref.blocksOK(0, int64(len(ref.body)))
		if (readErr == nil) != whole || (streamErr == nil) != whole {
			t.Fatalf("ReadAt = %v, NewReader = %v; refDecode says the body verifies: %v", readErr, streamErr, whole)
		}
		if readErr == nil && (n != len(ref.body) || !bytes.Equal(p[:n], ref.body)) {
			t.Fatalf("ReadAt returned %d bytes other than the body", n)
		}
		if !bytes.Equal(out.Bytes(), ref.body[:out.Len()]) {
			t.Fatalf("NewReader returned %d bytes other than the body", out.Len())
		}
		if readErr != nil && !errors.Is(readErr, ErrCorrupt) {
			t.Fatalf("ReadAt = %v, want ErrCorrupt", readErr)
		}
		// Ranges at a few offsets: success only where every covering block verifies.
		size := r.Size()
		for _, rg := range [][2]int64{{0, 1}, {size / 3, size / 2}, {size - 1, 1}, {size / 2, size - size/2}} {
			off, m := rg[0], rg[1]
			if off < 0 || m <= 0 || off+m > size {
				continue
			}
			n, err := r.ReadAt(p[:m], off)
			if ok := ref.blocksOK(off, m); (err == nil) != ok {
				t.Fatalf("ReadAt(%d bytes, %d) = %v; refDecode says those blocks verify: %v", m, off, err, ok)
			}
			if err == nil && !bytes.Equal(p[:n], ref.body[off:off+m]) {
				t.Fatalf("ReadAt(%d bytes, %d) returned bytes other than the body's", m, off)
			}
			got, err := io.ReadAll(r.NewReader(off, m))
			if !bytes.Equal(got, ref.body[off:off+int64(len(got))]) {
				t.Fatalf("NewReader(%d, %d) returned bytes other than the body's", off, m)
			}
			if (err == nil) != ref.blocksOK(off, m) {
				t.Fatalf("NewReader(%d, %d) = %v; refDecode says those blocks verify: %v", off, m, err, ref.blocksOK(off, m))
			}
		}
	})
}

// resealed returns b with its trailer's header and table checksums
// recomputed, if its lengths are consistent; else b unchanged.
func resealed(b []byte) []byte {
	le := binary.LittleEndian
	if len(b) < headerSize+trailerSize {
		return b
	}
	block, klen, mlen, blen := uint64(le.Uint32(b[12:])), uint64(le.Uint32(b[24:])), uint64(le.Uint32(b[28:])), le.Uint64(b[32:])
	if block == 0 || blen > uint64(len(b)) || klen+mlen > uint64(len(b)) {
		return b
	}
	bodyOff, tableEnd := headerSize+klen+mlen, uint64(len(b))-trailerSize
	if bodyOff+blen > tableEnd {
		return b
	}
	b = bytes.Clone(b)
	le.PutUint64(b[tableEnd:], xxhash.Sum64(b[:bodyOff]))
	le.PutUint64(b[tableEnd+8:], xxhash.Sum64(b[bodyOff+blen:tableEnd]))
	return b
}

// refRecord is a record as refDecode sees it.
type refRecord struct {
	key        string
	meta, body []byte
	block      int64
	good       []bool // per body block: its checksum matches the table
}

// blocksOK reports whether every block covering body [off, off+n) verifies.
func (r *refRecord) blocksOK(off, n int64) bool {
	for i := off / r.block; i*r.block < off+n; i++ {
		if !r.good[i] {
			return false
		}
	}
	return true
}

// refDecode is a plain decoder of the format documented in format.go,
// written apart from the package's reader: it reads the whole file.
func refDecode(b []byte, hash uint64) (*refRecord, error) {
	le := binary.LittleEndian
	if len(b) < headerSize+trailerSize {
		return nil, errors.New("too short")
	}
	if string(b[:8]) != "CDNDREC\x00" || le.Uint32(b[8:]) != 1 || le.Uint64(b[16:]) != hash {
		return nil, errors.New("bad magic, version or hash")
	}
	block, klen, mlen, blen := uint64(le.Uint32(b[12:])), uint64(le.Uint32(b[24:])), uint64(le.Uint32(b[28:])), le.Uint64(b[32:])
	if block == 0 || block > 16<<20 || klen > 64<<10 || mlen > 1<<20 || blen > uint64(len(b)) {
		return nil, errors.New("field out of bounds")
	}
	nb := (blen + block - 1) / block
	if headerSize+klen+mlen+blen+8*nb+trailerSize != uint64(len(b)) {
		return nil, errors.New("size mismatch")
	}
	bodyOff := headerSize + klen + mlen
	table := b[bodyOff+blen : uint64(len(b))-trailerSize]
	tr := b[len(b)-trailerSize:]
	if string(tr[16:]) != "CDNDEND\x00" || le.Uint64(tr) != xxhash.Sum64(b[:bodyOff]) || le.Uint64(tr[8:]) != xxhash.Sum64(table) {
		return nil, errors.New("trailer does not verify")
	}
	r := &refRecord{
		key:   string(b[headerSize : headerSize+klen]),
		meta:  b[headerSize+klen : bodyOff],
		body:  b[bodyOff : bodyOff+blen],
		block: int64(block),
		good:  make([]bool, nb),
	}
	for i := range nb {
		blk := r.body[i*block : min((i+1)*block, blen)]
		r.good[i] = xxhash.Sum64(blk) == le.Uint64(table[8*i:])
	}
	return r, nil
}

// FuzzMetaFile places arbitrary bytes at a valid record's metadata file
// path; with reseal, the file's checksum is recomputed first, so that the
// fuzzer gets past it to the lengths, key and record binding. Open must
// never panic or fail, must allocate no more than a few times the file's
// size, and must serve the file's metadata exactly when a separate, plain
// decoder of the format (refDecodeMeta) finds it valid and bound to the
// record, else the record's own, removing the file.
func FuzzMetaFile(f *testing.F) {
	seedTier := newTier(f, Options{BlockSize: 16})
	body := pattern(50, 3)
	put(f, seedTier, fuzzHash, fuzzKey, []byte("own"), body)
	if err := seedTier.UpdateMeta(fuzzHash, fuzzKey, []byte("updated"), seedTier.SumBody(body)); err != nil {
		f.Fatal(err)
	}
	record, err := os.ReadFile(seedTier.path(fuzzHash))
	if err != nil {
		f.Fatal(err)
	}
	valid, err := os.ReadFile(seedTier.metaPath(fuzzHash))
	if err != nil {
		f.Fatal(err)
	}
	edit := func(fn func(b []byte) []byte) []byte { return fn(bytes.Clone(valid)) }

	f.Add(valid, false)                                                        // a good file for the record
	f.Add(edit(func(b []byte) []byte { b[len(b)-10]++; return b }), false)     // bad metadata byte
	f.Add(edit(func(b []byte) []byte { return b[:len(b)-1] }), false)          // truncated
	f.Add(edit(func(b []byte) []byte { return b[:metaHeaderSize] }), false)    // header only
	f.Add(edit(func(b []byte) []byte { b[15] = 0xff; return b }), true)        // huge key length
	f.Add(edit(func(b []byte) []byte { b[19] = 0xff; return b }), true)        // huge metadata length
	f.Add(edit(func(b []byte) []byte { b[12], b[16] = 0, 0; return b }), true) // lengths cut to zero
	f.Add(edit(func(b []byte) []byte { b[30]++; return b }), true)             // another record's header sum
	f.Add(edit(func(b []byte) []byte { b[44]++; return b }), true)             // another body length
	f.Add(edit(func(b []byte) []byte { b[metaHeaderSize]++; return b }), true) // another key
	f.Add(edit(func(b []byte) []byte { b[20]++; return b }), true)             // another hash
	f.Add(edit(func(b []byte) []byte { return append(b, 'x') }), true)         // a byte appended
	f.Add(edit(func(b []byte) []byte { copy(b, record[:8]); return b }), true) // a record's magic
	f.Add([]byte{}, false)                                                     // empty file
	f.Add(make([]byte, len(valid)), false)                                     // zeroed, as after power loss
	f.Add(edit(func(b []byte) []byte { return b[:len(b)-1] }), true)           // truncated, resealed

	tier := newTier(f, Options{BlockSize: 16})
	path, metaPath := tier.path(fuzzHash), tier.metaPath(fuzzHash)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		f.Fatal(err)
	}
	if err := os.WriteFile(path, record, 0o644); err != nil {
		f.Fatal(err)
	}
	rec, err := refDecode(record, fuzzHash)
	if err != nil {
		f.Fatal(err)
	}
	le := binary.LittleEndian
	trailer := record[len(record)-trailerSize:]
	wantSums := [3]uint64{le.Uint64(trailer), le.Uint64(trailer[8:]), uint64(len(rec.body))}

	f.Fuzz(func(t *testing.T, data []byte, reseal bool) {
		if reseal {
			data = resealMeta(data)
		}
		if err := os.WriteFile(metaPath, data, 0o644); err != nil {
			t.Fatal(err)
		}
		ref, refErr := refDecodeMeta(data, fuzzHash)
		applies := refErr == nil && ref.key == fuzzKey && ref.sums == wantSums

		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		r, err := tier.Open(fuzzHash, fuzzKey)
		runtime.ReadMemStats(&after)
		if err != nil {
			t.Fatalf("Open of a valid record = %v", err)
		}
		defer r.Close()
		if got, limit := after.TotalAlloc-before.TotalAlloc, uint64(4*len(data)+64<<10); got > limit {
			t.Errorf("Open with a %d-byte metadata file allocated %d bytes, over %d", len(data), got, limit)
		}
		switch {
		case applies && !bytes.Equal(r.Meta(), ref.meta):
			t.Fatalf("Meta() = %q; refDecodeMeta finds the file valid with %q", r.Meta(), ref.meta)
		case !applies && string(r.Meta()) != "own":
			t.Fatalf("Meta() = %q from a file refDecodeMeta rejects (%v) or binds elsewhere; want the record's own", r.Meta(), refErr)
		case !applies && exists(t, metaPath):
			t.Fatalf("a metadata file that does not apply was kept")
		}
		got, err := io.ReadAll(r.NewReader(0, r.Size()))
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("body = %d bytes, %v; want the record's %d", len(got), err, len(body))
		}
	})
}

// resealMeta returns b with its metadata file checksum recomputed.
func resealMeta(b []byte) []byte {
	if len(b) < sumSize {
		return b
	}
	b = bytes.Clone(b)
	end := len(b) - sumSize
	binary.LittleEndian.PutUint64(b[end:], xxhash.Sum64(b[:end]))
	return b
}

// refMeta is a metadata file as refDecodeMeta sees it.
type refMeta struct {
	key  string
	meta []byte
	sums [3]uint64 // the record's header sum, table sum and body length
}

// refDecodeMeta is a plain decoder of the metadata file format documented
// in format.go, written apart from the package's.
func refDecodeMeta(b []byte, hash uint64) (*refMeta, error) {
	le := binary.LittleEndian
	if len(b) < 60 {
		return nil, errors.New("too short")
	}
	if string(b[:8]) != "CDNDMET\x00" || le.Uint32(b[8:]) != 1 || le.Uint64(b[20:]) != hash {
		return nil, errors.New("bad magic, version or hash")
	}
	klen, mlen := uint64(le.Uint32(b[12:])), uint64(le.Uint32(b[16:]))
	if klen > 64<<10 || mlen > 1<<20 || 60+klen+mlen != uint64(len(b)) {
		return nil, errors.New("lengths out of bounds")
	}
	if le.Uint64(b[len(b)-8:]) != xxhash.Sum64(b[:len(b)-8]) {
		return nil, errors.New("checksum")
	}
	return &refMeta{
		key:  string(b[52 : 52+klen]),
		meta: b[52+klen : 52+klen+mlen],
		sums: [3]uint64{le.Uint64(b[28:]), le.Uint64(b[36:]), le.Uint64(b[44:])},
	}, nil
}
