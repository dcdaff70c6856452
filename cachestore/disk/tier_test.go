package disk

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
)

func TestOpenOptions(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		o    Options
		ok   bool
	}{
		{"defaults", Options{Dir: dir, MaxBytes: 1}, true},
		{"no dir", Options{MaxBytes: 1}, false},
		{"zero budget", Options{Dir: dir}, false},
		{"negative budget", Options{Dir: dir, MaxBytes: -1}, false},
		{"negative block", Options{Dir: dir, MaxBytes: 1, BlockSize: -1}, false},
		{"block over 16 MiB", Options{Dir: dir, MaxBytes: 1, BlockSize: maxBlock + 1}, false},
		{"block of 16 MiB", Options{Dir: dir, MaxBytes: 1, BlockSize: maxBlock}, true},
		{"negative retry", Options{Dir: dir, MaxBytes: 1, RetryInterval: -1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tier, err := Open(tt.o)
			if (err == nil) != tt.ok {
				t.Fatalf("Open(%+v) = %v, want ok=%v", tt.o, err, tt.ok)
			}
			if err == nil && tier.Stats().Degraded {
				t.Errorf("Stats().Degraded = true on a writable directory")
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name  string
		size  int
		hint  bool // pass the size as sizeHint, else -1
		block int
	}{
		{"empty", 0, true, testBlock},
		{"empty unknown size", 0, false, testBlock},
		{"one byte", 1, true, testBlock},
		{"block minus one", testBlock - 1, true, testBlock},
		{"one block", testBlock, true, testBlock},
		{"block plus one", testBlock + 1, true, testBlock},
		{"several blocks", 5*testBlock + 17, true, testBlock},
		{"several blocks unknown size", 5*testBlock + 17, false, testBlock},
		{"default block size", 3<<16 + 5, true, defaultBlock},
		{"large table streamed at Open", 700*testBlock + 3, false, testBlock}, // table over probeSize and tableKeep
		{"block of one byte", 10, true, 1},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tier := newTier(t, Options{BlockSize: tt.block})
			hash, full := uint64(i)<<56|0xabc, fmt.Sprintf("https://example.com/%d", i)
			meta, body := []byte("meta:"+tt.name), pattern(tt.size, byte(i))
			hint := int64(-1)
			if tt.hint {
				hint = int64(len(body))
			}
			w, err := tier.Create(hash, full, meta, hint)
			if err != nil {
				t.Fatalf("Create = %v", err)
			}
			meta[0] = 'X' // Create copied it
			if n, err := io.Copy(w, iotestHalfReader(bytes.NewReader(body))); err != nil || n != int64(len(body)) {
				t.Fatalf("io.Copy = %d, %v; want %d, nil", n, err, len(body))
			}
			if err := w.Commit(); err != nil {
				t.Fatalf("Commit = %v", err)
			}
			w.Abort() // no-op after Commit

			gotMeta, gotBody := get(t, tier, hash, full)
			if want := "meta:" + tt.name; string(gotMeta) != want {
				t.Errorf("Meta() = %q, want %q", gotMeta, want)
			}
			if !bytes.Equal(gotBody, body) {
				t.Errorf("ReadAt body differs from the %d bytes written", len(body))
			}

			r, err := tier.Open(hash, full)
			if err != nil {
				t.Fatalf("Open = %v", err)
			}
			defer r.Close()
			if r.Size() != int64(len(body)) {
				t.Errorf("Size() = %d, want %d", r.Size(), len(body))
			}
			// Small reads go through the reader's block buffer.
			got, err := io.ReadAll(iotestHalfReader(r.NewReader(0, r.Size())))
			if err != nil || !bytes.Equal(got, body) {
				t.Errorf("ReadAll(NewReader) = %d bytes, %v; want the %d written", len(got), err, len(body))
			}
			// io.Copy takes the WriterTo path.
			var buf bytes.Buffer
			if n, err := io.Copy(&buf, r.NewReader(0, r.Size())); err != nil || !bytes.Equal(buf.Bytes(), body) {
				t.Errorf("io.Copy(NewReader) = %d, %v; want the %d bytes written", n, err, len(body))
			}
			s := tier.Stats()
			wantBytes := recordLayout(full, meta, len(body), int(tier.block)).fileSize()
			if s.Objects != 1 || s.Bytes != wantBytes {
				t.Errorf("Stats() = %d objects, %d bytes; want 1, %d", s.Objects, s.Bytes, wantBytes)
			}
		})
	}
}

// iotestHalfReader reads at most half of what is asked, to split reads and
// writes unevenly.
func iotestHalfReader(r io.Reader) io.Reader { return &halfReader{r} }

type halfReader struct{ r io.Reader }

func (h *halfReader) Read(p []byte) (int, error) { return h.r.Read(p[:(len(p)+1)/2]) }

func TestReadRanges(t *testing.T) {
	tier := newTier(t, Options{})
	const size = 5*testBlock + 3
	body := pattern(size, 9)
	put(t, tier, 1, "k", nil, body)
	r, err := tier.Open(1, "k")
	if err != nil {
		t.Fatalf("Open = %v", err)
	}
	defer r.Close()

	tests := []struct {
		name   string
		off, n int64
	}{
		{"first byte", 0, 1},
		{"across the first edge", testBlock - 1, 2},
		{"exactly block 1", testBlock, testBlock},
		{"block 1 with a byte each side", testBlock - 1, testBlock + 2},
		{"two whole blocks and a partial", testBlock, 2*testBlock + 5},
		{"last byte", size - 1, 1},
		{"short last block", 5 * testBlock, 3},
		{"whole body", 0, size},
		{"middle to end", 100, size - 100},
		{"empty at end", size, 0},
		{"empty in middle", 10, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := body[tt.off : tt.off+tt.n]
			p := make([]byte, tt.n)
			if n, err := r.ReadAt(p, tt.off); n != int(tt.n) || err != nil || !bytes.Equal(p, want) {
				t.Errorf("ReadAt(%d bytes, %d) = %d, %v (equal %v); want %d, nil", tt.n, tt.off, n, err, bytes.Equal(p, want), tt.n)
			}
			got, err := io.ReadAll(r.NewReader(tt.off, tt.n))
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("ReadAll(NewReader(%d, %d)) = %d bytes, %v; want %d", tt.off, tt.n, len(got), err, tt.n)
			}
			got, err = io.ReadAll(iotestHalfReader(r.NewReader(tt.off, tt.n)))
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("ReadAll(half reads of NewReader(%d, %d)) = %d bytes, %v; want %d", tt.off, tt.n, len(got), err, tt.n)
			}
			var buf bytes.Buffer
			if _, err := io.Copy(&buf, r.NewReader(tt.off, tt.n)); err != nil || !bytes.Equal(buf.Bytes(), want) {
				t.Errorf("io.Copy(NewReader(%d, %d)) = %d bytes, %v; want %d", tt.off, tt.n, buf.Len(), err, tt.n)
			}
		})
	}

	t.Run("ReadAt past the end", func(t *testing.T) {
		p := make([]byte, 10)
		if n, err := r.ReadAt(p, size-4); n != 4 || err != io.EOF || !bytes.Equal(p[:4], body[size-4:]) {
			t.Errorf("ReadAt(10 bytes, size-4) = %d, %v; want 4, io.EOF", n, err)
		}
		if n, err := r.ReadAt(p, size); n != 0 || err != io.EOF {
			t.Errorf("ReadAt at the end = %d, %v; want 0, io.EOF", n, err)
		}
		if _, err := r.ReadAt(p, -1); err == nil {
			t.Errorf("ReadAt at -1 = nil error")
		}
	})
	for _, bad := range [][2]int64{{-1, 1}, {0, size + 1}, {size + 1, 0}, {3, -1}} {
		if _, err := io.ReadAll(r.NewReader(bad[0], bad[1])); err == nil {
			t.Errorf("ReadAll(NewReader(%d, %d)) = nil error, want out of range", bad[0], bad[1])
		}
	}
}

func TestReplaceSameHash(t *testing.T) {
	tier := newTier(t, Options{})
	put(t, tier, 7, "k", []byte("old"), pattern(300, 1))
	old, err := tier.Open(7, "k")
	if err != nil {
		t.Fatalf("Open = %v", err)
	}
	defer old.Close()
	newBody := pattern(100, 2)
	put(t, tier, 7, "k", []byte("new"), newBody)

	meta, body := get(t, tier, 7, "k")
	if string(meta) != "new" || !bytes.Equal(body, newBody) {
		t.Errorf("after replace: meta %q, %d-byte body; want the new record", meta, len(body))
	}
	s := tier.Stats()
	if want := recordLayout("k", []byte("new"), 100, testBlock).fileSize(); s.Objects != 1 || s.Bytes != want {
		t.Errorf("Stats() = %d objects, %d bytes; want 1, %d", s.Objects, s.Bytes, want)
	}
	// The Record opened before stays readable and whole.
	p := make([]byte, 300)
	if n, err := old.ReadAt(p, 0); n != 300 || err != nil || !bytes.Equal(p, pattern(300, 1)) || string(old.Meta()) != "old" {
		t.Errorf("old Record after replace: ReadAt = %d, %v; want the old body", n, err)
	}
}

func TestCollision(t *testing.T) {
	tier := newTier(t, Options{})
	put(t, tier, 42, "https://a.example/", []byte("a"), []byte("body a"))
	if r, err := tier.Open(42, "https://b.example/"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Open(same hash, other key) = %v, %v; want ErrNotFound", r, err)
	}
	if _, body := get(t, tier, 42, "https://a.example/"); string(body) != "body a" {
		t.Errorf("the colliding lookup changed the record: body %q", body)
	}
	if s := tier.Stats(); s.Corrupt != 0 || s.Objects != 1 {
		t.Errorf("Stats() = %+v; want 1 object, nothing corrupt", s)
	}
}

func TestNotFound(t *testing.T) {
	tier := newTier(t, Options{})
	if _, err := tier.Open(1, "k"); err != ErrNotFound {
		t.Errorf("Open(absent) = %v, want ErrNotFound", err)
	}
}

func TestAbortLeavesNothing(t *testing.T) {
	tier := newTier(t, Options{})
	w, err := tier.Create(5, "k", []byte("m"), -1)
	if err != nil {
		t.Fatalf("Create = %v", err)
	}
	w.Write(pattern(500, 3))
	w.Abort()
	w.Abort() // twice is fine
	if got := files(t, tier.dir); len(got) != 0 {
		t.Errorf("files after Abort = %v, want none", got)
	}
	if _, err := tier.Open(5, "k"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Open after Abort = %v, want ErrNotFound", err)
	}
	if _, err := w.Write([]byte("x")); err == nil {
		t.Errorf("Write after Abort = nil error")
	}
	if err := w.Commit(); err == nil {
		t.Errorf("Commit after Abort = nil error")
	}
	if s := tier.Stats(); s.Objects != 0 || s.Bytes != 0 || s.Degraded {
		t.Errorf("Stats() = %+v, want an empty healthy tier", s)
	}
}

func TestNothingVisibleBeforeCommit(t *testing.T) {
	tier := newTier(t, Options{})
	put(t, tier, 5, "k", []byte("old"), []byte("old body"))
	w, err := tier.Create(5, "k", []byte("new"), -1)
	if err != nil {
		t.Fatalf("Create = %v", err)
	}
	defer w.Abort()
	w.Write(pattern(1000, 1))
	if meta, _ := get(t, tier, 5, "k"); string(meta) != "old" {
		t.Errorf("before Commit, Open sees meta %q, want the old record", meta)
	}
	if s := tier.Stats(); s.Objects != 1 {
		t.Errorf("before Commit, Stats().Objects = %d, want 1", s.Objects)
	}
	if err := w.Commit(); err != nil {
		t.Fatalf("Commit = %v", err)
	}
	if meta, body := get(t, tier, 5, "k"); string(meta) != "new" || !bytes.Equal(body, pattern(1000, 1)) {
		t.Errorf("after Commit, Open sees meta %q, want the new record", meta)
	}
	if got := files(t, tier.dir); len(got) != 1 || strings.HasSuffix(got[0], ".tmp") {
		t.Errorf("files after Commit = %v, want the one record", got)
	}
}

func TestDelete(t *testing.T) {
	tier := newTier(t, Options{})
	put(t, tier, 5, "k", nil, []byte("body"))
	r, err := tier.Open(5, "k")
	if err != nil {
		t.Fatalf("Open = %v", err)
	}
	defer r.Close()
	tier.Delete(5)
	tier.Delete(6) // absent: no-op
	if _, err := tier.Open(5, "k"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Open after Delete = %v, want ErrNotFound", err)
	}
	if s := tier.Stats(); s.Objects != 0 || s.Bytes != 0 {
		t.Errorf("Stats() after Delete = %+v, want empty", s)
	}
	p := make([]byte, 4)
	if n, err := r.ReadAt(p, 0); n != 4 || err != nil || string(p) != "body" {
		t.Errorf("ReadAt on a Record opened before Delete = %d, %v, %q; want the body", n, err, p)
	}
}

func TestTooLarge(t *testing.T) {
	const budget = 4096
	tests := []struct {
		name   string
		full   string
		meta   int
		hint   int64
		writes int // bytes written with an unknown hint
	}{
		{"hint over budget", "k", 0, budget + 1, 0},
		{"hint fits but record does not", "k", 0, budget - 10, 0},
		{"key over 64 KiB", strings.Repeat("k", maxKeyLen+1), 0, -1, 0},
		{"metadata over 1 MiB", "k", maxMetaLen + 1, -1, 0},
		{"metadata over budget, size unknown", "k", budget, -1, 0},
		{"streamed past budget", "k", 0, -1, budget},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tier := newTier(t, Options{MaxBytes: budget})
			w, err := tier.Create(1, tt.full, make([]byte, tt.meta), tt.hint)
			if tt.writes == 0 {
				if !errors.Is(err, ErrTooLarge) {
					t.Fatalf("Create = %v, want ErrTooLarge", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Create = %v", err)
			}
			defer w.Abort()
			var werr error
			for i := 0; i < tt.writes/100+1 && werr == nil; i++ {
				_, werr = w.Write(make([]byte, 100))
			}
			if !errors.Is(werr, ErrTooLarge) {
				t.Fatalf("Write past the budget = %v, want ErrTooLarge", werr)
			}
			if err := w.Commit(); !errors.Is(err, ErrTooLarge) {
				t.Errorf("Commit = %v, want ErrTooLarge", err)
			}
			if got := files(t, tier.dir); len(got) != 0 {
				t.Errorf("files = %v, want none", got)
			}
			if s := tier.Stats(); s.Degraded || s.WriteErrors != 0 {
				t.Errorf("Stats() = %+v; a record over budget must not degrade the tier", s)
			}
		})
	}
}

// TestConcurrent runs readers, writers, metadata updates, deletes and
// eviction at once; run under -race. Every successful read must return a
// whole record of one writer (bodies are derived from their metadata, which
// updates keep).
func TestConcurrent(t *testing.T) {
	tier := newTier(t, Options{MaxBytes: 20 << 10})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				h := uint64(i % 13)
				full := fmt.Sprint("k", h)
				switch (g + i) % 4 {
				case 0:
					seed := byte(g*31 + i)
					w, err := tier.Create(h, full, []byte{seed}, -1)
					if err != nil {
						t.Errorf("Create = %v", err)
						return
					}
					w.Write(pattern(int(seed)*7, seed))
					if err := w.Commit(); err != nil {
						t.Errorf("Commit = %v", err)
					}
				case 1:
					if i%20 == 1 {
						tier.Delete(h)
						continue
					}
					// Amend whatever record is there, keeping its seed:
					// the update must land on that body or nowhere.
					r, err := tier.Open(h, full)
					if errors.Is(err, ErrNotFound) {
						continue
					}
					if err != nil {
						t.Errorf("Open = %v", err)
						return
					}
					seed, id := r.Meta()[0], r.BodyID()
					r.Close()
					if err := tier.UpdateMeta(h, full, []byte{seed, byte(i)}, id); err != nil && !errors.Is(err, ErrNotFound) {
						t.Errorf("UpdateMeta = %v", err)
					}
				default:
					r, err := tier.Open(h, full)
					if errors.Is(err, ErrNotFound) {
						continue
					}
					if err != nil {
						t.Errorf("Open = %v", err)
						return
					}
					seed := r.Meta()[0]
					got, err := io.ReadAll(r.NewReader(0, r.Size()))
					if err != nil || !bytes.Equal(got, pattern(int(seed)*7, seed)) {
						t.Errorf("record %d: read %d bytes, %v; want the body of seed %d", h, len(got), err, seed)
					}
					r.Close()
				}
			}
		}()
	}
	wg.Wait()
	if s := tier.Stats(); s.Bytes > 20<<10 || s.Bytes != onDiskBytes(t, tier) || s.Corrupt != 0 || s.Degraded {
		t.Errorf("Stats() = %+v; files hold %d bytes; want equal, within budget, nothing corrupt", s, onDiskBytes(t, tier))
	}
}

// TestLargeKeyAndMetadata covers records whose key and metadata do not fit
// Open's first read, with small and large block tables.
func TestLargeKeyAndMetadata(t *testing.T) {
	tests := []struct {
		name string
		key  int
		meta int
		body int
	}{
		{"large metadata, small table", 10, 100 << 10, 3 * testBlock},
		{"large key, large table", maxKeyLen, 10, 700 * testBlock},
		{"largest metadata", 10, maxMetaLen, 1},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tier := newTier(t, Options{})
			full, meta, body := string(pattern(tt.key, 'a')), pattern(tt.meta, byte(i)), pattern(tt.body, byte(i+1))
			put(t, tier, 9, full, meta, body)
			gotMeta, gotBody := get(t, tier, 9, full)
			if !bytes.Equal(gotMeta, meta) || !bytes.Equal(gotBody, body) {
				t.Errorf("round trip changed the metadata (%d bytes) or body (%d bytes)", len(gotMeta), len(gotBody))
			}
			if _, err := tier.Open(9, full[:len(full)-1]+"X"); !errors.Is(err, ErrNotFound) {
				t.Errorf("Open(other key) = %v, want ErrNotFound", err)
			}
		})
	}
}

// TestRecordRetain proves that a retained record stays readable until its
// last Close.
func TestRecordRetain(t *testing.T) {
	tier := newTier(t, Options{})
	body := pattern(100_000, 3)
	put(t, tier, 7, "k", []byte("meta"), body)
	r, err := tier.Open(7, "k")
	if err != nil {
		t.Fatal(err)
	}
	r.Retain()
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(body))
	if n, err := r.ReadAt(got, 0); n != len(body) || err != nil || !bytes.Equal(got, body) {
		t.Fatalf("ReadAt after one of two Closes = %d, %v", n, err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadAt(got, 0); err == nil {
		t.Fatal("ReadAt after the last Close succeeded")
	}
}
