package disk

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// recordFile is a record file's identity and bytes, to show it was not
// rewritten.
type recordFile struct {
	fi   os.FileInfo
	data []byte
}

func readRecordFile(t *testing.T, tier *Tier, hash uint64) recordFile {
	t.Helper()
	path := tier.path(hash)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("Stat(%s) = %v", path, err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("ReadFile(%s) = %v", path, err)
	}
	return recordFile{fi, data}
}

// checkUntouched fails the test if the record file was replaced or changed.
func (rf recordFile) checkUntouched(t *testing.T, tier *Tier, hash uint64) {
	t.Helper()
	now := readRecordFile(t, tier, hash)
	if !os.SameFile(rf.fi, now.fi) || !rf.fi.ModTime().Equal(now.fi.ModTime()) || !bytes.Equal(rf.data, now.data) {
		t.Errorf("record file %016x was rewritten", hash)
	}
}

// onDiskBytes sums the sizes of the files under the tier's directory.
func onDiskBytes(t *testing.T, tier *Tier) int64 {
	t.Helper()
	var n int64
	for _, name := range files(t, tier.dir) {
		fi, err := os.Stat(filepath.Join(tier.dir, name))
		if err != nil {
			t.Fatal(err)
		}
		n += fi.Size()
	}
	return n
}

func TestUpdateMeta(t *testing.T) {
	tests := []struct {
		name      string
		key, body int
		meta      []int // metadata sizes of successive updates
	}{
		{"empty body", 10, 0, []int{20}},
		{"one short block", 10, testBlock - 3, []int{20}},
		{"several blocks", 30, 5*testBlock + 17, []int{5}},
		{"large table streamed at Open", 30, 700*testBlock + 3, []int{100}},
		{"large key and metadata", maxKeyLen, 3 * testBlock, []int{100 << 10}},
		{"largest metadata", 10, 10, []int{maxMetaLen}},
		{"updated again, larger then smaller", 20, 2 * testBlock, []int{10, 5000, 3}},
		{"empty metadata", 20, 2 * testBlock, []int{0}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tier := newTier(t, Options{Dir: dir})
			hash, full := uint64(i)<<58|0x77, string(pattern(tt.key, 'k'))
			own, body := []byte("own metadata"), pattern(tt.body, byte(i))
			put(t, tier, hash, full, own, body)
			rec := readRecordFile(t, tier, hash)
			var meta []byte
			for n, size := range tt.meta {
				meta = pattern(size, byte(n+1))
				if err := tier.UpdateMeta(hash, full, meta, tier.SumBody(body)); err != nil {
					t.Fatalf("UpdateMeta(%d bytes) = %v", size, err)
				}
				gotMeta, gotBody := get(t, tier, hash, full)
				if !bytes.Equal(gotMeta, meta) || !bytes.Equal(gotBody, body) {
					t.Fatalf("after update %d: meta %d bytes (want the %d written), body equal %v", n, len(gotMeta), size, bytes.Equal(gotBody, body))
				}
				want := int64(len(rec.data)) + metaFileSize(len(full), size)
				if s := tier.Stats(); s.Objects != 1 || s.Bytes != want || s.Bytes != onDiskBytes(t, tier) {
					t.Errorf("after update %d: Stats() = %d objects, %d bytes; want 1, %d (the files')", n, s.Objects, s.Bytes, want)
				}
			}
			rec.checkUntouched(t, tier, hash)

			// A restart serves the update too, and counts its bytes.
			again := newTier(t, Options{Dir: dir})
			if err := again.RebuildOnce(context.Background()); err != nil {
				t.Fatal(err)
			}
			if gotMeta, gotBody := get(t, again, hash, full); !bytes.Equal(gotMeta, meta) || !bytes.Equal(gotBody, body) {
				t.Errorf("after restart: meta %d bytes, body equal %v; want the updated metadata", len(gotMeta), bytes.Equal(gotBody, body))
			}
			if s, was := again.Stats(), tier.Stats(); s.Objects != 1 || s.Bytes != was.Bytes || s.Corrupt != 0 {
				t.Errorf("after restart: Stats() = %+v; want 1 object, %d bytes", s, was.Bytes)
			}
		})
	}
}

func TestUpdateMetaRefused(t *testing.T) {
	const hash, full = 3, "https://example.com/r"
	body := pattern(3*testBlock, 1)
	tests := []struct {
		name   string
		budget int64
		update func(t *testing.T, tier *Tier) error
		want   error
	}{
		{"no record", 0, func(t *testing.T, tier *Tier) error {
			return tier.UpdateMeta(hash+1, full, []byte("m"), tier.SumBody(body))
		}, ErrNotFound},
		{"another key (hash collision)", 0, func(t *testing.T, tier *Tier) error {
			return tier.UpdateMeta(hash, full+"x", []byte("m"), tier.SumBody(body))
		}, ErrNotFound},
		{"another body", 0, func(t *testing.T, tier *Tier) error {
			return tier.UpdateMeta(hash, full, []byte("m"), tier.SumBody(pattern(3*testBlock, 2)))
		}, ErrNotFound},
		{"zero BodyID", 0, func(t *testing.T, tier *Tier) error {
			return tier.UpdateMeta(hash, full, []byte("m"), BodyID{})
		}, ErrNotFound},
		{"key over 64 KiB", 0, func(t *testing.T, tier *Tier) error {
			return tier.UpdateMeta(hash, strings.Repeat("k", maxKeyLen+1), []byte("m"), tier.SumBody(body))
		}, ErrTooLarge},
		{"metadata over 1 MiB", 0, func(t *testing.T, tier *Tier) error {
			return tier.UpdateMeta(hash, full, make([]byte, maxMetaLen+1), tier.SumBody(body))
		}, ErrTooLarge},
		{"record and file over budget", 1 << 10, func(t *testing.T, tier *Tier) error {
			return tier.UpdateMeta(hash, full, make([]byte, 1<<10), tier.SumBody(body))
		}, ErrTooLarge},
		{"degraded", 0, func(t *testing.T, tier *Tier) error {
			tier.degrade(errors.New("test"))
			return tier.UpdateMeta(hash, full, []byte("m"), tier.SumBody(body))
		}, ErrDegraded},
		{"corrupt record", 0, func(t *testing.T, tier *Tier) error {
			b, err := os.ReadFile(tier.path(hash))
			if err != nil {
				t.Fatal(err)
			}
			b[headerSize]++ // the key: the header checksum fails
			if err := os.WriteFile(tier.path(hash), b, 0o644); err != nil {
				t.Fatal(err)
			}
			return tier.UpdateMeta(hash, full, []byte("m"), tier.SumBody(body))
		}, ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tier := newTier(t, Options{MaxBytes: tt.budget})
			put(t, tier, hash, full, []byte("own"), body)
			if err := tt.update(t, tier); !errors.Is(err, tt.want) {
				t.Fatalf("update = %v, want %v", err, tt.want)
			}
			if exists(t, tier.metaPath(hash)) || exists(t, tier.metaPath(hash+1)) {
				t.Errorf("a refused update left a metadata file: %v", files(t, tier.dir))
			}
			if tt.want == ErrCorrupt {
				checkRemoved(t, tier, tier.path(hash))
				return
			}
			if meta, got := get(t, tier, hash, full); string(meta) != "own" || !bytes.Equal(got, body) {
				t.Errorf("after a refused update: meta %q, body equal %v; want the record unchanged", meta, bytes.Equal(got, body))
			}
			for _, name := range files(t, tier.dir) {
				if strings.HasSuffix(name, ".tmp") {
					t.Errorf("a refused update left temp file %s", name)
				}
			}
		})
	}
}

// TestUpdateMetaBody: the update lands only on the record holding the body
// the metadata describes.
func TestUpdateMetaBody(t *testing.T) {
	tier := newTier(t, Options{})
	body := pattern(5*testBlock+1, 4)
	put(t, tier, 9, "k", []byte("own"), body)
	r, err := tier.Open(9, "k")
	if err != nil {
		t.Fatal(err)
	}
	id := r.BodyID()
	r.Close()
	if id != tier.SumBody(body) {
		t.Fatalf("Record.BodyID() = %+v, SumBody of the same bytes = %+v", id, tier.SumBody(body))
	}
	if err := tier.UpdateMeta(9, "k", []byte("new"), id); err != nil {
		t.Fatalf("UpdateMeta(the record's body) = %v", err)
	}
	if meta, _ := get(t, tier, 9, "k"); string(meta) != "new" {
		t.Errorf("meta = %q, want %q", meta, "new")
	}
	// A fill replaces the record with the same body and other metadata:
	// the update still fits the body, and applies.
	put(t, tier, 9, "k", []byte("refilled"), body)
	if err := tier.UpdateMeta(9, "k", []byte("newer"), id); err != nil {
		t.Fatalf("UpdateMeta(same body, other record) = %v", err)
	}
	if meta, _ := get(t, tier, 9, "k"); string(meta) != "newer" {
		t.Errorf("meta = %q, want %q", meta, "newer")
	}
	// Another body: refused, the record keeps its own.
	put(t, tier, 9, "k", []byte("other body"), pattern(5*testBlock+1, 5))
	if err := tier.UpdateMeta(9, "k", []byte("stale"), id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("UpdateMeta(another body) = %v, want ErrNotFound", err)
	}
	if meta, _ := get(t, tier, 9, "k"); string(meta) != "other body" {
		t.Errorf("meta = %q, want the new record's own", meta)
	}
}

// TestMetaFileOfReplacedRecord: a metadata file left from an earlier record
// under the same hash (as a crash or a failed removal could leave it) is
// never applied to the newer one, and is removed.
func TestMetaFileOfReplacedRecord(t *testing.T) {
	const hash = 0x42
	body := pattern(4*testBlock, 1)
	tests := []struct {
		name    string
		full    string
		meta    string
		body    []byte
		rebuilt bool // found by a restart's rebuild, else by an Open before it
	}{
		{"another body", "k", "own", pattern(4*testBlock, 2), false},
		{"another length", "k", "own", body[:len(body)-1], false},
		{"same body, other metadata", "k", "refilled", body, false},
		{"another key, same body", "k2", "own", body, false},
		{"another body, at rebuild", "k", "own", pattern(4*testBlock, 2), true},
		{"same body, other metadata, at rebuild", "k", "refilled", body, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tier := newTier(t, Options{})
			put(t, tier, hash, "k", []byte("first"), body)
			if err := tier.UpdateMeta(hash, "k", []byte("update of first"), tier.SumBody(body)); err != nil {
				t.Fatal(err)
			}
			old, err := os.ReadFile(tier.metaPath(hash))
			if err != nil {
				t.Fatal(err)
			}
			put(t, tier, hash, tt.full, []byte(tt.meta), tt.body)
			if exists(t, tier.metaPath(hash)) {
				t.Fatalf("installing a record left the older one's metadata file")
			}
			if s := tier.Stats(); s.Bytes != onDiskBytes(t, tier) {
				t.Errorf("Stats().Bytes = %d, files hold %d", s.Bytes, onDiskBytes(t, tier))
			}
			if err := os.WriteFile(tier.metaPath(hash), old, 0o644); err != nil {
				t.Fatal(err)
			}
			tier = newTier(t, Options{Dir: tier.dir}) // a restart
			if tt.rebuilt {
				if err := tier.RebuildOnce(context.Background()); err != nil {
					t.Fatal(err)
				}
				if exists(t, tier.metaPath(hash)) {
					t.Errorf("the rebuild kept a metadata file of a replaced record")
				}
			}
			meta, got := get(t, tier, hash, tt.full)
			if string(meta) != tt.meta || !bytes.Equal(got, tt.body) {
				t.Errorf("Open = meta %q, body equal %v; want the new record's own %q", meta, bytes.Equal(got, tt.body), tt.meta)
			}
			if exists(t, tier.metaPath(hash)) {
				t.Errorf("the stale metadata file is still on disk")
			}
			if s := tier.Stats(); s.Corrupt != 0 {
				t.Errorf("Stats() = %+v; want nothing counted corrupt", s)
			}
		})
	}
}

// TestStrayMetaFileOfIndexedRecord: a metadata file beside a record whose
// entry has none (its removal failed, say) is never served; the next
// rebuild removes it.
func TestStrayMetaFileOfIndexedRecord(t *testing.T) {
	tier := newTier(t, Options{})
	put(t, tier, 7, "k", []byte("first"), []byte("body"))
	if err := tier.UpdateMeta(7, "k", []byte("update of first"), tier.SumBody([]byte("body"))); err != nil {
		t.Fatal(err)
	}
	old, err := os.ReadFile(tier.metaPath(7))
	if err != nil {
		t.Fatal(err)
	}
	put(t, tier, 7, "k", []byte("second"), []byte("body"))
	if err := os.WriteFile(tier.metaPath(7), old, 0o644); err != nil {
		t.Fatal(err)
	}
	if meta, _ := get(t, tier, 7, "k"); string(meta) != "second" {
		t.Errorf("meta = %q, want the record's own", meta)
	}
	fresh := newTier(t, Options{Dir: tier.dir})
	if err := fresh.RebuildOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if exists(t, tier.metaPath(7)) {
		t.Errorf("a restart's rebuild kept the stray metadata file")
	}
}

// metaDamage is one way a metadata file goes bad.
type metaDamage struct {
	name    string
	edit    func(b []byte) []byte
	corrupt bool // counted as corrupt; else only stale
}

func flipMeta(at func(b []byte) int) func([]byte) []byte {
	return func(b []byte) []byte {
		b[at(b)] ^= 0x20
		return b
	}
}

func at(i int) func([]byte) int { return func([]byte) int { return i } }

var metaDamages = []metaDamage{
	{"magic", flipMeta(at(0)), true},
	{"version", flipMeta(at(8)), true},
	{"key length", flipMeta(at(12)), true},
	{"metadata length", flipMeta(at(16)), true},
	{"huge key length", func(b []byte) []byte { b[15] = 0x7f; return b }, true},
	{"huge metadata length", func(b []byte) []byte { b[19] = 0x7f; return b }, true},
	{"hash", flipMeta(at(20)), true},
	{"record header sum", flipMeta(at(28)), true},
	{"record body length", flipMeta(at(44)), true},
	{"key", flipMeta(at(metaHeaderSize)), true},
	{"metadata", flipMeta(func(b []byte) int { return len(b) - sumSize - 1 }), true},
	{"checksum", flipMeta(func(b []byte) int { return len(b) - 1 }), true},
	{"truncated by one", func(b []byte) []byte { return b[:len(b)-1] }, true},
	{"truncated to the header", func(b []byte) []byte { return b[:metaHeaderSize] }, true},
	{"empty", func([]byte) []byte { return nil }, true},
	{"byte appended", func(b []byte) []byte { return append(b, 0) }, true},
	{"zeroed, as after power loss", func(b []byte) []byte { return make([]byte, len(b)) }, true},
	{"resealed: another record's sums", func(b []byte) []byte { b[36]++; return resealMeta(b) }, false},
	{"resealed: another body length", func(b []byte) []byte { b[44]++; return resealMeta(b) }, false},
	{"resealed: another key", func(b []byte) []byte { b[metaHeaderSize]++; return resealMeta(b) }, false},
	{"resealed: another hash", func(b []byte) []byte { b[20]++; return resealMeta(b) }, true},
}

// TestBadMetaFile: Open serves the record's own metadata when its metadata
// file is damaged or stale, removes the file, and counts only damage.
func TestBadMetaFile(t *testing.T) {
	for _, rebuild := range []bool{false, true} {
		for _, d := range metaDamages {
			name := d.name
			if rebuild {
				name = "at rebuild: " + name
			}
			t.Run(name, func(t *testing.T) {
				tier := newTier(t, Options{})
				body := pattern(3*testBlock+5, 1)
				put(t, tier, 1, "key", []byte("own"), body)
				recSize := tier.Stats().Bytes
				if err := tier.UpdateMeta(1, "key", []byte("updated"), tier.SumBody(body)); err != nil {
					t.Fatal(err)
				}
				path := tier.metaPath(1)
				b, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, d.edit(b), 0o644); err != nil {
					t.Fatal(err)
				}
				if rebuild {
					tier = newTier(t, Options{Dir: tier.dir})
					if err := tier.RebuildOnce(context.Background()); err != nil {
						t.Fatal(err)
					}
				}
				meta, got := get(t, tier, 1, "key")
				if string(meta) != "own" || !bytes.Equal(got, body) {
					t.Errorf("Open = meta %q, body equal %v; want the record's own metadata and its body", meta, bytes.Equal(got, body))
				}
				if exists(t, path) {
					t.Errorf("bad metadata file still on disk")
				}
				wantCorrupt := uint64(0)
				if d.corrupt {
					wantCorrupt = 1
				}
				if s := tier.Stats(); s.Corrupt != wantCorrupt || s.Objects != 1 || s.Bytes != recSize {
					t.Errorf("Stats() = %+v; want 1 object of %d bytes, %d corrupt", s, recSize, wantCorrupt)
				}
			})
		}
	}
}

// TestMetaFileOverLargestSize: a metadata file past the largest valid size
// is refused before it is read.
func TestMetaFileOverLargestSize(t *testing.T) {
	tier := newTier(t, Options{})
	put(t, tier, 1, "key", []byte("own"), []byte("body"))
	path := tier.metaPath(1)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(maxMetaFile + 1); err != nil { // sparse
		t.Fatal(err)
	}
	f.Close()
	tier = newTier(t, Options{Dir: tier.dir}) // a restart: Open looks before the rebuild
	if meta, _ := get(t, tier, 1, "key"); string(meta) != "own" {
		t.Errorf("meta = %q, want the record's own", meta)
	}
	if exists(t, path) || tier.Stats().Corrupt != 1 {
		t.Errorf("oversized metadata file: on disk %v, Corrupt %d; want removed and counted", exists(t, path), tier.Stats().Corrupt)
	}
}

// TestRebuildMetaFiles: the rebuild keeps and counts valid metadata files,
// and removes orphans (no record), stale ones and leftover temp files.
func TestRebuildMetaFiles(t *testing.T) {
	dir := t.TempDir()
	first := newTier(t, Options{Dir: dir})
	const (
		amended = 0x1100000000000001 // record and valid metadata file
		plain   = 0x1100000000000002 // record only
		orphan  = 0x2200000000000003 // metadata file, its record gone
		stale   = 0x1100000000000004 // metadata file of a replaced record
	)
	for _, h := range []uint64{amended, plain, orphan, stale} {
		put(t, first, h, "k", []byte("own"), pattern(100, byte(h)))
		if h != plain {
			if err := first.UpdateMeta(h, "k", []byte("updated"), first.SumBody(pattern(100, byte(h)))); err != nil {
				t.Fatal(err)
			}
		}
	}
	saved, err := os.ReadFile(first.metaPath(orphan))
	if err != nil {
		t.Fatal(err)
	}
	first.Delete(orphan)
	if err := os.WriteFile(first.metaPath(orphan), saved, 0o644); err != nil { // as a crash mid-Delete could leave it
		t.Fatal(err)
	}
	saved, err = os.ReadFile(first.metaPath(stale))
	if err != nil {
		t.Fatal(err)
	}
	put(t, first, stale, "k", []byte("own"), pattern(100, 0xee))
	if err := os.WriteFile(first.metaPath(stale), saved, 0o644); err != nil {
		t.Fatal(err)
	}
	// An update in flight when the earlier process died.
	leftover := first.tempPath(amended)
	if err := os.WriteFile(leftover, saved, 0o644); err != nil {
		t.Fatal(err)
	}

	tier := newTier(t, Options{Dir: dir})
	mine := tier.tempPath(plain) // this tier's own, in flight: kept
	if err := os.WriteFile(mine, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := tier.RebuildOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		path string
		want bool
	}{
		{tier.metaPath(amended), true},
		{tier.metaPath(orphan), false},
		{tier.metaPath(stale), false},
		{leftover, false},
		{mine, true},
	} {
		if got := exists(t, tt.path); got != tt.want {
			t.Errorf("after the rebuild, %s on disk = %v, want %v", tt.path, got, tt.want)
		}
	}
	os.Remove(mine)
	if s := tier.Stats(); s.Objects != 3 || s.Bytes != onDiskBytes(t, tier) || s.Corrupt != 0 {
		t.Errorf("Stats() = %+v; want 3 objects, the %d bytes of the files, none corrupt", s, onDiskBytes(t, tier))
	}
	for h, want := range map[uint64]string{amended: "updated", plain: "own", stale: "own"} {
		if meta, _ := get(t, tier, h, "k"); string(meta) != want {
			t.Errorf("record %016x after the rebuild: meta %q, want %q", h, meta, want)
		}
	}
}

// TestRemovalTakesMetaFile: every way a record goes takes its metadata file
// with it, and its bytes.
func TestRemovalTakesMetaFile(t *testing.T) {
	body := pattern(100, 1)
	size := recordLayout("k0", []byte("own"), len(body), testBlock).fileSize() + metaFileSize(2, len("updated"))
	tests := []struct {
		name   string
		budget int64
		remove func(t *testing.T, tier *Tier)
	}{
		{"Delete", 0, func(t *testing.T, tier *Tier) { tier.Delete(0) }},
		{"evicted by a commit", 2 * size, func(t *testing.T, tier *Tier) {
			put(t, tier, 1, "k1", []byte("own"), body)
			put(t, tier, 2, "k2", []byte("own"), body) // 0 is the least recently used
		}},
		{"evicted by an update", 2*size - 5, func(t *testing.T, tier *Tier) {
			put(t, tier, 1, "k1", []byte("own"), body)
			if err := tier.UpdateMeta(1, "k1", []byte("updated"), tier.SumBody(body)); err != nil {
				t.Fatal(err)
			}
		}},
		{"found corrupt", 0, func(t *testing.T, tier *Tier) {
			b, err := os.ReadFile(tier.path(0))
			if err != nil {
				t.Fatal(err)
			}
			b[len(b)-1]++
			if err := os.WriteFile(tier.path(0), b, 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := tier.Open(0, "k0"); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open = %v, want ErrCorrupt", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tier := newTier(t, Options{MaxBytes: tt.budget})
			put(t, tier, 0, "k0", []byte("own"), body)
			if err := tier.UpdateMeta(0, "k0", []byte("updated"), tier.SumBody(body)); err != nil {
				t.Fatal(err)
			}
			tt.remove(t, tier)
			if exists(t, tier.path(0)) || exists(t, tier.metaPath(0)) {
				t.Errorf("files left after the record went: %v", files(t, tier.dir))
			}
			if _, err := tier.Open(0, "k0"); !errors.Is(err, ErrNotFound) {
				t.Errorf("Open = %v, want ErrNotFound", err)
			}
			if s := tier.Stats(); s.Bytes != onDiskBytes(t, tier) {
				t.Errorf("Stats().Bytes = %d, files hold %d", s.Bytes, onDiskBytes(t, tier))
			}
		})
	}
}

// TestUpdateMetaAfterReplaceInFlight: an update whose record is replaced
// between reading it and installing the file does not land on the newer
// record.
func TestUpdateMetaAfterReplaceInFlight(t *testing.T) {
	tier := newTier(t, Options{})
	put(t, tier, 5, "k", []byte("first"), pattern(10, 1))
	fi, err := os.Stat(tier.path(5))
	if err != nil {
		t.Fatal(err)
	}
	put(t, tier, 5, "k", []byte("second"), pattern(10, 1)) // same body
	tmp := tier.tempPath(5)
	if err := os.WriteFile(tmp, []byte("a finished metadata file of the first"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := tier.installMeta(5, fi, tmp, 10, []byte("first")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("installMeta for a replaced record = %v, want ErrNotFound", err)
	}
	if got := files(t, tier.dir); len(got) != 1 {
		t.Errorf("files = %v, want only the second record", got)
	}
	if meta, _ := get(t, tier, 5, "k"); string(meta) != "second" {
		t.Errorf("meta = %q, want the second record's own", meta)
	}
}
