package disk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"
)

func TestRebuildRemovesLeftoverTemp(t *testing.T) {
	dir := t.TempDir()
	old := newTier(t, Options{Dir: dir})
	// An earlier process was killed mid-write: its temp file remains.
	w, err := old.Create(0xab00000000000001, "dead", []byte("m"), -1)
	if err != nil {
		t.Fatalf("Create = %v", err)
	}
	w.Write(pattern(200, 1))
	leftover := w.tmp
	strayProbe := filepath.Join(dir, "probe.0123456789abcdef-0.tmp")
	if err := os.WriteFile(strayProbe, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "README") // not ours to judge: kept
	if err := os.WriteFile(other, nil, 0o644); err != nil {
		t.Fatal(err)
	}

	tier := newTier(t, Options{Dir: dir})
	// This tier's own write in flight must survive its rebuild.
	mine, err := tier.Create(0xab00000000000002, "live", []byte("m"), -1)
	if err != nil {
		t.Fatalf("Create = %v", err)
	}
	defer mine.Abort()
	mine.Write([]byte("live body"))

	if err := tier.RebuildOnce(context.Background()); err != nil {
		t.Fatalf("RebuildOnce = %v", err)
	}
	if exists(t, leftover) || exists(t, strayProbe) {
		t.Errorf("leftover temp files survived the rebuild: %v", files(t, dir))
	}
	if !exists(t, other) || !exists(t, mine.tmp) {
		t.Errorf("rebuild removed files it does not own: %v", files(t, dir))
	}
	if err := mine.Commit(); err != nil {
		t.Fatalf("Commit after rebuild = %v", err)
	}
	if _, body := get(t, tier, 0xab00000000000002, "live"); string(body) != "live body" {
		t.Errorf("body = %q", body)
	}
	if s := tier.Stats(); s.Objects != 1 || s.Corrupt != 0 || !s.Rebuilt {
		t.Errorf("Stats() = %+v; want 1 object, rebuilt", s)
	}
}

func TestWarmRestart(t *testing.T) {
	dir := t.TempDir()
	first := newTier(t, Options{Dir: dir})
	want := map[uint64][]byte{}
	for i := range 20 {
		h := uint64(i)<<58 | uint64(i) // spread over subdirectories
		want[h] = pattern(i*29, byte(i))
		put(t, first, h, fmt.Sprint("key", i), []byte{byte(i)}, want[h])
	}
	s1 := first.Stats()

	tier := newTier(t, Options{Dir: dir})
	if s := tier.Stats(); s.Objects != 0 || s.Rebuilt {
		t.Errorf("Stats() before the rebuild = %+v, want nothing indexed yet", s)
	}
	// Lookups work before the rebuild.
	if _, body := get(t, tier, 3<<58|3, "key3"); !bytes.Equal(body, want[3<<58|3]) {
		t.Errorf("Open before the rebuild: wrong body")
	}
	if err := tier.RebuildOnce(context.Background()); err != nil {
		t.Fatalf("RebuildOnce = %v", err)
	}
	s := tier.Stats()
	if s.Objects != 20 || s.Bytes != s1.Bytes || !s.Rebuilt || s.Corrupt != 0 {
		t.Errorf("Stats() after the rebuild = %+v; want 20 objects, %d bytes, rebuilt", s, s1.Bytes)
	}
	for i := range 20 {
		h := uint64(i)<<58 | uint64(i)
		if meta, body := get(t, tier, h, fmt.Sprint("key", i)); !bytes.Equal(body, want[h]) || meta[0] != byte(i) {
			t.Errorf("record %d after restart: wrong meta or body", i)
		}
	}
	// A second pass adds nothing twice.
	if err := tier.RebuildOnce(context.Background()); err != nil {
		t.Fatalf("RebuildOnce = %v", err)
	}
	if s2 := tier.Stats(); s2.Objects != 20 || s2.Bytes != s1.Bytes {
		t.Errorf("Stats() after a second rebuild = %+v, want unchanged", s2)
	}
}

func TestRebuildStopsWithContext(t *testing.T) {
	tier := newTier(t, Options{})
	put(t, tier, 1, "k", nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := tier.RebuildOnce(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("RebuildOnce(cancelled) = %v, want context.Canceled", err)
	}
	if tier.Stats().Rebuilt {
		t.Errorf("Stats().Rebuilt = true after a cancelled rebuild")
	}
}

func TestEvictLeastRecentlyOpened(t *testing.T) {
	body := pattern(100, 1)
	size := recordLayout("k0", nil, len(body), testBlock).fileSize()
	tier := newTier(t, Options{MaxBytes: 3 * size})
	for i := range 3 {
		put(t, tier, uint64(i), fmt.Sprint("k", i), nil, body)
	}
	get(t, tier, 0, "k0") // least to most recent: 1 2 0

	steps := []struct {
		open    []uint64 // opened before the put
		put     uint64
		evicted uint64
	}{
		{nil, 3, 1},         // 2 0 3
		{[]uint64{2}, 4, 0}, // 0 3 2 -> 3 2 4
		{[]uint64{3}, 5, 2}, // 2 4 3 -> 4 3 5
		{nil, 6, 4},         // 3 5 6
	}
	gone := map[uint64]bool{}
	for n, st := range steps {
		for _, h := range st.open {
			get(t, tier, h, fmt.Sprint("k", h))
		}
		put(t, tier, st.put, fmt.Sprint("k", st.put), nil, body)
		gone[st.evicted] = true
		for h := range st.put + 1 {
			// Stat, not Open: probing must not change recency.
			if got := exists(t, tier.path(h)); got == gone[h] {
				t.Fatalf("step %d: record %d on disk = %v, want %v", n, h, got, !gone[h])
			}
		}
		s := tier.Stats()
		if s.Bytes > tier.max || s.Objects != 3 || s.Evictions != uint64(n+1) {
			t.Fatalf("step %d: Stats() = %+v; want 3 objects within %d bytes, %d evictions", n, s, tier.max, n+1)
		}
	}
}

func TestEvictKeepsBudget(t *testing.T) {
	const budget = 10 << 10
	tier := newTier(t, Options{MaxBytes: budget})
	for i := range 200 {
		put(t, tier, uint64(i%50), fmt.Sprint("k", i%50), []byte("meta"), pattern(i*37%3000, byte(i)))
		if s := tier.Stats(); s.Bytes > budget {
			t.Fatalf("after record %d: Stats().Bytes = %d, over the %d budget", i, s.Bytes, budget)
		}
	}
	// The index matches the files on disk.
	var onDisk int64
	for _, name := range files(t, tier.dir) {
		fi, err := os.Stat(filepath.Join(tier.dir, name))
		if err != nil {
			t.Fatal(err)
		}
		onDisk += fi.Size()
	}
	if s := tier.Stats(); s.Bytes != onDisk || s.Evictions == 0 {
		t.Errorf("Stats() = %+v; files hold %d bytes; want equal, with evictions", s, onDisk)
	}
}

func TestEvictAfterRebuild(t *testing.T) {
	dir := t.TempDir()
	first := newTier(t, Options{Dir: dir})
	for i := range 10 {
		put(t, first, uint64(i), fmt.Sprint("k", i), nil, pattern(500, byte(i)))
	}
	size := recordLayout("k0", nil, 500, testBlock).fileSize()
	tier := newTier(t, Options{Dir: dir, MaxBytes: 4 * size}) // the budget shrank
	if err := tier.RebuildOnce(context.Background()); err != nil {
		t.Fatalf("RebuildOnce = %v", err)
	}
	tier.EvictOnce()
	if s := tier.Stats(); s.Objects != 4 || s.Bytes != 4*size || s.Evictions != 6 {
		t.Errorf("Stats() = %+v; want 4 objects, %d bytes, 6 evictions", s, 4*size)
	}
	// Records restored by the rebuild count as older than a new commit.
	put(t, tier, 100, "kn", nil, pattern(500, 100))
	if !exists(t, tier.path(100)) || tier.Stats().Objects != 4 {
		t.Errorf("a new commit was evicted before the restored records: %v", files(t, dir))
	}
}

// blockedDir returns a directory path that cannot be created (it runs
// through a regular file, which root cannot bypass as it can chmod) and a
// function that makes it creatable.
func blockedDir(t *testing.T) (dir string, unblock func()) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(file, "shard"), func() {
		if err := os.Remove(file); err != nil {
			t.Fatal(err)
		}
	}
}

func TestDegradedAndRecovery(t *testing.T) {
	dir, unblock := blockedDir(t)
	tier := newTier(t, Options{Dir: dir})
	if s := tier.Stats(); !s.Degraded || s.WriteErrors != 1 {
		t.Fatalf("Stats() on an unusable directory = %+v; want degraded, 1 write error", s)
	}
	if _, err := tier.Create(1, "k", nil, -1); !errors.Is(err, ErrDegraded) {
		t.Errorf("Create while degraded = %v, want ErrDegraded", err)
	}
	if _, err := tier.Open(1, "k"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Open while degraded = %v, want ErrNotFound", err)
	}
	if err := tier.RebuildOnce(context.Background()); err != nil || !tier.Stats().Rebuilt {
		t.Errorf("RebuildOnce on an unusable directory = %v, want nil and Rebuilt", err)
	}
	if err := tier.ProbeOnce(); !errors.Is(err, ErrDegraded) {
		t.Errorf("ProbeOnce while still blocked = %v, want ErrDegraded", err)
	}
	unblock()
	if err := tier.ProbeOnce(); err != nil {
		t.Fatalf("ProbeOnce after unblocking = %v", err)
	}
	if s := tier.Stats(); s.Degraded || s.WriteErrors != 2 {
		t.Errorf("Stats() after recovery = %+v; want healthy, 2 write errors", s)
	}
	put(t, tier, 1, "k", []byte("m"), []byte("body"))
	if _, body := get(t, tier, 1, "k"); string(body) != "body" {
		t.Errorf("body after recovery = %q", body)
	}
}

func TestWriteErrorsDegrade(t *testing.T) {
	tests := []struct {
		name  string
		fail  func(t *testing.T, tier *Tier, w *Writer)
		write bool // the failure shows at Write, else at Commit
	}{
		{"write fails", func(t *testing.T, _ *Tier, w *Writer) {
			w.bw.Flush()
			w.f.Close() // the next write to the file fails, as on EIO
		}, true},
		{"rename fails: directory gone", func(t *testing.T, tier *Tier, _ *Writer) {
			// Replace the shard directory with a file: the temp file goes
			// with it and the rename fails.
			if err := os.RemoveAll(tier.dir); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(tier.dir, nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tier := newTier(t, Options{Dir: filepath.Join(t.TempDir(), "shard")})
			put(t, tier, 2, "other", nil, []byte("readable"))
			r, err := tier.Open(2, "other")
			if err != nil {
				t.Fatalf("Open = %v", err)
			}
			defer r.Close()
			w, err := tier.Create(1, "k", nil, -1)
			if err != nil {
				t.Fatalf("Create = %v", err)
			}
			defer w.Abort()
			w.Write([]byte("some"))
			tt.fail(t, tier, w)
			_, werr := w.Write(make([]byte, 2*writeBufSize))
			cerr := w.Commit()
			if tt.write && !errors.Is(werr, ErrDegraded) {
				t.Errorf("Write = %v, want ErrDegraded", werr)
			}
			if !errors.Is(cerr, ErrDegraded) {
				t.Errorf("Commit = %v, want ErrDegraded", cerr)
			}
			if s := tier.Stats(); !s.Degraded || s.WriteErrors != 1 {
				t.Errorf("Stats() = %+v; want degraded after 1 write error", s)
			}
			if _, err := tier.Create(3, "k3", nil, -1); !errors.Is(err, ErrDegraded) {
				t.Errorf("Create after a write error = %v, want ErrDegraded", err)
			}
			// Reads still work while degraded.
			p := make([]byte, 8)
			if n, err := r.ReadAt(p, 0); n != 8 || err != nil || string(p) != "readable" {
				t.Errorf("ReadAt while degraded = %d, %v, %q", n, err, p)
			}
		})
	}
}

// TestRun drives the owner loop in a synctest bubble: the rebuild runs
// first, then a degraded tier recovers at the next probe, in fake time.
func TestRun(t *testing.T) {
	dir, unblock := blockedDir(t)
	synctest.Test(t, func(t *testing.T) {
		tier := newTier(t, Options{Dir: dir, RetryInterval: time.Minute})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() {
			tier.Run(ctx)
			close(done)
		}()
		synctest.Wait()
		if s := tier.Stats(); !s.Rebuilt || !s.Degraded {
			t.Fatalf("Stats() once Run waits = %+v; want rebuilt and degraded", s)
		}
		unblock()
		time.Sleep(time.Minute)
		synctest.Wait()
		if s := tier.Stats(); s.Degraded {
			t.Errorf("Stats() a RetryInterval after unblocking = %+v; want the probe to have cleared Degraded", s)
		}
		put(t, tier, 1, "k", nil, []byte("after recovery"))
		cancel()
		<-done
	})
}
