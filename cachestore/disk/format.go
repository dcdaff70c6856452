package disk

import (
	"encoding/binary"
	"fmt"

	"github.com/cespare/xxhash/v2"
)

// Record file format, version 1.
//
// One record is one file at Dir/<hh>/<16 lowercase hex digits of the key
// hash>, where hh is the first two of those digits. All integers are
// little-endian and fixed width:
//
//	offset          size          field
//	0               8             magic "CDNDREC\x00"
//	8               4             format version (1)
//	12              4             block size B (1 .. 16 MiB)
//	16              8             key hash (must match the file's name)
//	24              4             key length K (<= 64 KiB)
//	28              4             metadata length M (<= 1 MiB)
//	32              8             body length N
//	40              K             full key
//	40+K            M             metadata (opaque to this package)
//	40+K+M          N             body
//	40+K+M+N        8*ceil(N/B)   block table: xxhash64 of each B-byte body block (the last may be short)
//	...             8             xxhash64 of bytes [0, 40+K+M): header, key and metadata
//	...             8             xxhash64 of the block table
//	...             8             end magic "CDNDEND\x00"
//
// The file size must equal the sum of the parts exactly, so every length
// read from a file is bounded by the file's real size before anything is
// allocated for it.
//
// A Writer streams the record without knowing N: it writes a zero header
// (no magic, so never valid), the key, metadata and body, then the table and
// trailer, and finally writes the real header at offset 0 before renaming
// the temp file (name ending in ".tmp") into place. A process killed
// mid-write leaves only a temp file, removed by the next rebuild; a torn
// file after power loss fails its checksums and is removed when read.
const (
	headerSize  = 40
	trailerSize = 24
	sumSize     = 8
	version     = 1

	maxKeyLen    = 64 << 10
	maxMetaLen   = 1 << 20
	maxBlock     = 16 << 20
	defaultBlock = 64 << 10
)

var (
	magic    = [8]byte{'C', 'D', 'N', 'D', 'R', 'E', 'C', 0}
	endMagic = [8]byte{'C', 'D', 'N', 'D', 'E', 'N', 'D', 0}
)

// layout is a record's header, decoded: where each part of the file lies.
type layout struct {
	hash    uint64
	keyLen  int64
	metaLen int64
	body    int64 // body length
	block   int64 // block size
}

// blocks is the number of body blocks, and so of block table entries.
func (l layout) blocks() int64 { return (l.body + l.block - 1) / l.block }

// bodyOff is the file offset of the body; header, key and metadata precede it.
func (l layout) bodyOff() int64 { return headerSize + l.keyLen + l.metaLen }

// tableOff is the file offset of the block table.
func (l layout) tableOff() int64 { return l.bodyOff() + l.body }

// trailerOff is the file offset of the trailer.
func (l layout) trailerOff() int64 { return l.tableOff() + sumSize*l.blocks() }

// fileSize is the record file's total size.
func (l layout) fileSize() int64 { return l.trailerOff() + trailerSize }

// encode writes the header into b (headerSize bytes).
func (l layout) encode(b []byte) {
	_ = b[headerSize-1]
	copy(b[0:8], magic[:])
	binary.LittleEndian.PutUint32(b[8:], version)
	binary.LittleEndian.PutUint32(b[12:], uint32(l.block))
	binary.LittleEndian.PutUint64(b[16:], l.hash)
	binary.LittleEndian.PutUint32(b[24:], uint32(l.keyLen))
	binary.LittleEndian.PutUint32(b[28:], uint32(l.metaLen))
	binary.LittleEndian.PutUint64(b[32:], uint64(l.body))
}

// decodeHeader checks the header in b (headerSize bytes) of a file of size
// bytes stored under hash, and returns its layout. Every field is bounded
// before use: a damaged header yields an error wrapping ErrCorrupt, never a
// layout that points outside the file.
func decodeHeader(b []byte, hash uint64, size int64) (layout, error) {
	if len(b) < headerSize {
		return layout{}, fmt.Errorf("%w: %d-byte header", ErrCorrupt, len(b))
	}
	if [8]byte(b[0:8]) != magic {
		return layout{}, fmt.Errorf("%w: bad magic", ErrCorrupt)
	}
	if v := binary.LittleEndian.Uint32(b[8:]); v != version {
		return layout{}, fmt.Errorf("%w: format version %d", ErrCorrupt, v)
	}
	l := layout{
		block:   int64(binary.LittleEndian.Uint32(b[12:])),
		hash:    binary.LittleEndian.Uint64(b[16:]),
		keyLen:  int64(binary.LittleEndian.Uint32(b[24:])),
		metaLen: int64(binary.LittleEndian.Uint32(b[28:])),
	}
	body := binary.LittleEndian.Uint64(b[32:])
	switch {
	case l.hash != hash:
		return layout{}, fmt.Errorf("%w: header names hash %016x", ErrCorrupt, l.hash)
	case l.block < 1 || l.block > maxBlock:
		return layout{}, fmt.Errorf("%w: block size %d", ErrCorrupt, l.block)
	case l.keyLen > maxKeyLen:
		return layout{}, fmt.Errorf("%w: key length %d", ErrCorrupt, l.keyLen)
	case l.metaLen > maxMetaLen:
		return layout{}, fmt.Errorf("%w: metadata length %d", ErrCorrupt, l.metaLen)
	case body > uint64(size):
		// Checked before any sum, so that no arithmetic below can overflow.
		return layout{}, fmt.Errorf("%w: body length %d in a %d-byte file", ErrCorrupt, body, size)
	}
	l.body = int64(body)
	if l.fileSize() != size {
		return layout{}, fmt.Errorf("%w: file is %d bytes, header implies %d", ErrCorrupt, size, l.fileSize())
	}
	return l, nil
}

// Metadata file format, version 1.
//
// UpdateMeta replaces a record's metadata without rewriting its body: it
// writes a metadata file beside the record, at Dir/<hh>/<16 hex digits>.meta,
// to a temp file renamed into place as records are (and, like them, without
// fsync: a torn file fails its checksum). Little-endian, fixed width:
//
//	offset          size          field
//	0               8             magic "CDNDMET\x00"
//	8               4             format version (1)
//	12              4             key length K (<= 64 KiB)
//	16              4             metadata length M (<= 1 MiB)
//	20              8             key hash (must match the file's name)
//	28              8             the amended record's header checksum (its trailer's first field)
//	36              8             the amended record's block table checksum (its trailer's second field)
//	44              8             the amended record's body length
//	52              K             full key (must equal the record's)
//	52+K            M             metadata, in place of the record's own
//	52+K+M          8             xxhash64 of bytes [0, 52+K+M)
//
// The file size must equal 60+K+M exactly, and is checked against the
// largest possible (60 B + 64 KiB + 1 MiB) before the file is read, so a
// damaged file cannot make a reader allocate more than that.
//
// The three record fields bind the file to one record: the record's two
// checksums cover its header, key, metadata and block table, so a record
// written later under the same hash (unless byte for byte the same) does
// not match. Open looks for the file when the record's index entry counts
// one or the record is not indexed yet, and uses its metadata only when the
// file verifies and matches the record opened; otherwise it serves the
// record's own metadata, an older but consistent version, and removes the
// file if both are still current. Installing a record removes the hash's
// metadata file first (so a crash cannot leave a new record with an old
// file), and Delete, eviction and corrupt-record removal remove it with the
// record. The temp file is named as a record's (ending in ".tmp"), so the
// rebuild removes leftovers; it also removes metadata files without a
// record or that do not match theirs, and counts the others' bytes with
// their record's in the budget.
const (
	metaHeaderSize = 52
	metaVersion    = 1
	metaSuffix     = ".meta"

	// maxMetaFile is the largest valid metadata file.
	maxMetaFile = metaHeaderSize + maxKeyLen + maxMetaLen + sumSize
)

var metaMagic = [8]byte{'C', 'D', 'N', 'D', 'M', 'E', 'T', 0}

// recordSum identifies one record's exact contents: its trailer's checksums
// (which cover everything but the body, and the body through the block
// table) and its body length.
type recordSum struct {
	head, table uint64
	body        int64
}

// metaFile is a decoded metadata file. key and meta alias the bytes decoded.
type metaFile struct {
	key, meta []byte
	rec       recordSum // the record it amends
}

// metaFileSize is the size of a metadata file with these part lengths.
func metaFileSize(keyLen, metaLen int) int64 {
	return int64(metaHeaderSize + keyLen + metaLen + sumSize)
}

// encodeMetaFile returns the metadata file amending the record rec for
// full, stored under hash, with metadata meta.
func encodeMetaFile(hash uint64, full string, meta []byte, rec recordSum) []byte {
	b := make([]byte, metaHeaderSize, metaFileSize(len(full), len(meta)))
	copy(b[0:8], metaMagic[:])
	binary.LittleEndian.PutUint32(b[8:], metaVersion)
	binary.LittleEndian.PutUint32(b[12:], uint32(len(full)))
	binary.LittleEndian.PutUint32(b[16:], uint32(len(meta)))
	binary.LittleEndian.PutUint64(b[20:], hash)
	binary.LittleEndian.PutUint64(b[28:], rec.head)
	binary.LittleEndian.PutUint64(b[36:], rec.table)
	binary.LittleEndian.PutUint64(b[44:], uint64(rec.body))
	b = append(b, full...)
	b = append(b, meta...)
	return binary.LittleEndian.AppendUint64(b, xxhash.Sum64(b))
}

// decodeMetaFile checks the whole metadata file b, stored under hash, and
// decodes it. Every length is bounded by len(b) before use; anything
// malformed is an error wrapping ErrCorrupt, never a panic. It does not
// compare the file with a record: the caller does.
func decodeMetaFile(b []byte, hash uint64) (metaFile, error) {
	le := binary.LittleEndian
	switch {
	case len(b) < metaHeaderSize+sumSize:
		return metaFile{}, fmt.Errorf("%w: %d-byte metadata file", ErrCorrupt, len(b))
	case [8]byte(b[0:8]) != metaMagic:
		return metaFile{}, fmt.Errorf("%w: bad metadata file magic", ErrCorrupt)
	case le.Uint32(b[8:]) != metaVersion:
		return metaFile{}, fmt.Errorf("%w: metadata file version %d", ErrCorrupt, le.Uint32(b[8:]))
	}
	keyLen, metaLen := int64(le.Uint32(b[12:])), int64(le.Uint32(b[16:]))
	switch {
	case keyLen > maxKeyLen || metaLen > maxMetaLen:
		return metaFile{}, fmt.Errorf("%w: metadata file key length %d, metadata length %d", ErrCorrupt, keyLen, metaLen)
	case metaHeaderSize+keyLen+metaLen+sumSize != int64(len(b)):
		return metaFile{}, fmt.Errorf("%w: metadata file is %d bytes, header implies %d", ErrCorrupt, len(b), metaHeaderSize+keyLen+metaLen+sumSize)
	case le.Uint64(b[20:]) != hash:
		return metaFile{}, fmt.Errorf("%w: metadata file names hash %016x", ErrCorrupt, le.Uint64(b[20:]))
	}
	end := len(b) - sumSize
	if le.Uint64(b[end:]) != xxhash.Sum64(b[:end]) {
		return metaFile{}, fmt.Errorf("%w: metadata file checksum", ErrCorrupt)
	}
	return metaFile{
		key:  b[metaHeaderSize : metaHeaderSize+keyLen : metaHeaderSize+keyLen],
		meta: b[metaHeaderSize+keyLen : end : end],
		rec:  recordSum{head: le.Uint64(b[28:]), table: le.Uint64(b[36:]), body: int64(le.Uint64(b[44:]))},
	}, nil
}

// recordSize is the file size of a record with these part lengths.
func recordSize(keyLen, metaLen, body, block int64) int64 {
	return layout{keyLen: keyLen, metaLen: metaLen, body: body, block: block}.fileSize()
}

// hexDigits spells hashes in file names.
const hexDigits = "0123456789abcdef"

// appendHash appends the 16 lowercase hex digits of h.
func appendHash(b []byte, h uint64) []byte {
	for shift := 60; shift >= 0; shift -= 4 {
		b = append(b, hexDigits[(h>>uint(shift))&0xf])
	}
	return b
}

// parseMetaName reads a metadata file name: a record file name and ".meta".
func parseMetaName(name string) (uint64, bool) {
	if len(name) != 16+len(metaSuffix) || name[16:] != metaSuffix {
		return 0, false
	}
	return parseHash(name[:16])
}

// parseHash reads a record file name: exactly 16 lowercase hex digits.
func parseHash(name string) (uint64, bool) {
	if len(name) != 16 {
		return 0, false
	}
	var h uint64
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case '0' <= c && c <= '9':
			h = h<<4 | uint64(c-'0')
		case 'a' <= c && c <= 'f':
			h = h<<4 | uint64(c-'a'+10)
		default:
			return 0, false
		}
	}
	return h, true
}
