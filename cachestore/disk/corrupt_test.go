package disk

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"testing"
)

// damage describes one way a record file goes bad.
type damage struct {
	name string
	edit func(b []byte, l layout) []byte
	// atOpen: Open reports ErrCorrupt; otherwise Open succeeds and the
	// first read of the body does.
	atOpen bool
}

func flip(at func(l layout) int64) func([]byte, layout) []byte {
	return func(b []byte, l layout) []byte {
		b[at(l)] ^= 0x20
		return b
	}
}

var damages = []damage{
	{"magic", flip(func(layout) int64 { return 0 }), true},
	{"version", flip(func(layout) int64 { return 8 }), true},
	{"block size", flip(func(layout) int64 { return 12 }), true},
	{"hash", flip(func(layout) int64 { return 16 }), true},
	{"key length", flip(func(layout) int64 { return 24 }), true},
	{"metadata length", flip(func(layout) int64 { return 28 }), true},
	{"body length", flip(func(layout) int64 { return 32 }), true},
	{"body length high byte", flip(func(layout) int64 { return 39 }), true},
	{"key", flip(func(layout) int64 { return headerSize }), true},
	{"metadata", flip(func(l layout) int64 { return l.bodyOff() - 1 }), true},
	{"block table", flip(func(l layout) int64 { return l.tableOff() + 3 }), true},
	{"trailer header sum", flip(func(l layout) int64 { return l.trailerOff() }), true},
	{"trailer table sum", flip(func(l layout) int64 { return l.trailerOff() + 8 }), true},
	{"end magic", flip(func(l layout) int64 { return l.fileSize() - 1 }), true},
	{"truncated by one", func(b []byte, _ layout) []byte { return b[:len(b)-1] }, true},
	{"truncated to the header", func(b []byte, _ layout) []byte { return b[:headerSize] }, true},
	{"truncated in the body", func(b []byte, l layout) []byte { return b[:l.bodyOff()+10] }, true},
	{"empty", func([]byte, layout) []byte { return nil }, true},
	{"byte appended", func(b []byte, _ layout) []byte { return append(b, 0) }, true},
	{"zeroed, as after power loss", func(b []byte, _ layout) []byte { return make([]byte, len(b)) }, true},
	{"body first byte", flip(func(l layout) int64 { return l.bodyOff() }), false},
	{"body last byte", flip(func(l layout) int64 { return l.tableOff() - 1 }), false},
}

// corruptRecord writes a 3.1-block record under hash 1, applies d and
// returns the tier, the record's path and the body.
func corruptRecord(t *testing.T, d damage) (*Tier, string, []byte) {
	t.Helper()
	tier := newTier(t, Options{})
	meta, body := []byte("metadata"), pattern(3*testBlock+5, 1)
	put(t, tier, 1, "key", meta, body)
	path := tier.path(1)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("ReadFile = %v", err)
	}
	if err := os.WriteFile(path, d.edit(b, recordLayout("key", meta, len(body), testBlock)), 0o644); err != nil {
		t.Fatalf("WriteFile = %v", err)
	}
	return tier, path, body
}

// checkRemoved asserts that the damaged record is gone and counted once.
func checkRemoved(t *testing.T, tier *Tier, path string) {
	t.Helper()
	if exists(t, path) {
		t.Errorf("damaged record %s still on disk", path)
	}
	if s := tier.Stats(); s.Corrupt != 1 || s.Objects != 0 || s.Bytes != 0 {
		t.Errorf("Stats() = %+v; want Corrupt 1 and nothing indexed", s)
	}
	if _, err := tier.Open(1, "key"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Open after removal = %v, want ErrNotFound", err)
	}
}

func TestCorruptRecord(t *testing.T) {
	for _, d := range damages {
		t.Run(d.name, func(t *testing.T) {
			tier, path, _ := corruptRecord(t, d)
			r, err := tier.Open(1, "key")
			if d.atOpen {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("Open = %v, want ErrCorrupt", err)
				}
				checkRemoved(t, tier, path)
				return
			}
			if err != nil {
				t.Fatalf("Open = %v; body damage is found when the body is read", err)
			}
			defer r.Close()
			p := make([]byte, r.Size())
			if n, err := r.ReadAt(p, 0); n != 0 || !errors.Is(err, ErrCorrupt) {
				t.Fatalf("ReadAt = %d, %v; want 0, ErrCorrupt", n, err)
			}
			checkRemoved(t, tier, path)
			if _, err := r.ReadAt(p, 0); !errors.Is(err, ErrCorrupt) {
				t.Errorf("second ReadAt = %v, want ErrCorrupt again", err)
			}
			if s := tier.Stats(); s.Corrupt != 1 {
				t.Errorf("Stats().Corrupt = %d after a second read, want 1", s.Corrupt)
			}
		})
	}
}

// TestCorruptBodyReaders checks that each way of reading refuses a bad
// block, and that reads not covering it still succeed.
func TestCorruptBodyReaders(t *testing.T) {
	// Damage block 2 (of 4).
	d := damage{"block 2", flip(func(l layout) int64 { return l.bodyOff() + 2*testBlock + 7 }), false}
	readers := []struct {
		name string
		read func(r *Record) ([]byte, error)
	}{
		{"ReadAt", func(r *Record) ([]byte, error) {
			p := make([]byte, r.Size())
			_, err := r.ReadAt(p, 0)
			return nil, err
		}},
		{"ReadAt within the bad block", func(r *Record) ([]byte, error) {
			_, err := r.ReadAt(make([]byte, 1), 2*testBlock+7)
			return nil, err
		}},
		{"NewReader", func(r *Record) ([]byte, error) { return io.ReadAll(r.NewReader(0, r.Size())) }},
		{"NewReader small reads", func(r *Record) ([]byte, error) {
			return io.ReadAll(iotestHalfReader(r.NewReader(0, 3*testBlock)))
		}},
		{"NewReader WriteTo", func(r *Record) ([]byte, error) {
			var b bytes.Buffer
			_, err := io.Copy(&b, r.NewReader(0, r.Size()))
			return b.Bytes(), err
		}},
	}
	for _, rd := range readers {
		t.Run(rd.name, func(t *testing.T) {
			tier, path, body := corruptRecord(t, d)
			r, err := tier.Open(1, "key")
			if err != nil {
				t.Fatalf("Open = %v", err)
			}
			defer r.Close()
			// Blocks 0 and 1 are intact and readable alone.
			p := make([]byte, 2*testBlock)
			if n, err := r.ReadAt(p, 0); n != len(p) || err != nil || !bytes.Equal(p, body[:len(p)]) {
				t.Fatalf("ReadAt(blocks 0-1) = %d, %v; want the intact blocks", n, err)
			}
			got, err := rd.read(r)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("read = %v, want ErrCorrupt", err)
			}
			// A streaming reader may have passed on the good blocks before
			// the bad one, never a byte of it.
			if len(got) > 2*testBlock || !bytes.Equal(got, body[:len(got)]) {
				t.Errorf("read returned %d bytes before failing; want at most the 2 good blocks", len(got))
			}
			checkRemoved(t, tier, path)
		})
	}
}

// TestCorruptDoesNotRemoveReplacement: a reader that finds its (old) record
// damaged must not remove a newer record renamed over it.
func TestCorruptDoesNotRemoveReplacement(t *testing.T) {
	tier, _, _ := corruptRecord(t, damage{"body", flip(func(l layout) int64 { return l.bodyOff() }), false})
	r, err := tier.Open(1, "key")
	if err != nil {
		t.Fatalf("Open = %v", err)
	}
	defer r.Close()
	put(t, tier, 1, "key", []byte("new"), []byte("fresh"))
	if _, err := r.ReadAt(make([]byte, 10), 0); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("ReadAt on the old damaged record = %v, want ErrCorrupt", err)
	}
	if _, body := get(t, tier, 1, "key"); string(body) != "fresh" {
		t.Errorf("replacement body = %q, want it kept", body)
	}
	if s := tier.Stats(); s.Corrupt != 0 || s.Objects != 1 {
		t.Errorf("Stats() = %+v; want the replacement indexed and nothing counted", s)
	}
}

func TestRebuildRemovesCorrupt(t *testing.T) {
	for _, d := range damages {
		if !d.atOpen {
			continue // body damage is only found when the body is read
		}
		t.Run(d.name, func(t *testing.T) {
			tier, path, _ := corruptRecord(t, d)
			fresh := newTier(t, Options{Dir: tier.dir})
			if err := fresh.RebuildOnce(context.Background()); err != nil {
				t.Fatalf("RebuildOnce = %v", err)
			}
			if !fresh.Stats().Rebuilt {
				t.Errorf("Stats().Rebuilt = false after RebuildOnce")
			}
			checkRemoved(t, fresh, path)
		})
	}
}
