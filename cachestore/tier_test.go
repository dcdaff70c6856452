package cachestore

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cdnnode/cdnnode/keys"
)

// tieredStore builds a Store with a disk tier under dir and runs its shard
// owners until the test ends or stop is called.
func tieredStore(tb testing.TB, dir string, shards int) *Store {
	s, _ := stoppableStore(tb, dir, shards)
	return s
}

// stoppableStore is tieredStore with a stop function that ends the owners
// (applying what they have queued) and waits for them, as a node's
// shutdown does.
func stoppableStore(tb testing.TB, dir string, shards int) (*Store, func()) {
	tb.Helper()
	s := newStore(tb, Options{
		Shards:               shards,
		MemoryBytes:          8 << 20,
		MaxMemoryObjectBytes: 64 << 10,
		MaxObjectBytes:       16 << 20,
		Disk:                 DiskOptions{Dir: dir, Bytes: 256 << 20, RetryInterval: time.Second},
	})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, sh := range s.Shards() {
		for _, owner := range sh.Owners() {
			wg.Go(func() { owner(ctx) })
		}
	}
	stop := func() { cancel(); wg.Wait() }
	tb.Cleanup(stop)
	return s, stop
}

// fill writes body under k through a Writer and commits it.
func fill(tb testing.TB, s *Store, k keys.Key, body []byte) {
	tb.Helper()
	w := s.NewWriter(k, newObject(), int64(len(body)))
	defer w.Abort()
	if _, err := w.Write(body); err != nil {
		tb.Fatalf("Write %d bytes: %v", len(body), err)
	}
	if !w.Commit() {
		tb.Fatalf("Commit of %s: nothing stored", k.Full)
	}
}

// body returns the whole body of o, wherever it is.
func body(tb testing.TB, o *Object) []byte {
	tb.Helper()
	var b bytes.Buffer
	if err := o.WriteBody(&b, 0, o.BodySize()); err != nil {
		tb.Fatalf("WriteBody: %v", err)
	}
	return b.Bytes()
}

// TestColdStartFromDisk: objects written through to disk are served by a
// new store on the same directory (a restart), with their metadata, and a
// small one is promoted to memory on the way.
func TestColdStartFromDisk(t *testing.T) {
	dir := t.TempDir()
	small, large := bytes.Repeat([]byte("s"), 1000), bytes.Repeat([]byte("L"), 200<<10)
	ks, kl := keys.New("http", "a", "/small", "", keys.Options{}), keys.New("http", "a", "/large", "", keys.Options{})
	first, stop := stoppableStore(t, dir, 2)
	fill(t, first, ks, small)
	fill(t, first, kl, large)
	stop() // a graceful stop writes through what is queued
	if n := first.Stats().DiskObjects; n != 2 {
		t.Fatalf("after stop: %d records on disk, want 2", n)
	}

	second := tieredStore(t, dir, 2)
	for _, tt := range []struct {
		k    keys.Key
		want []byte
	}{{ks, small}, {kl, large}} {
		o, ok := second.Get(tt.k)
		if !ok {
			t.Fatalf("Get(%s) after restart: miss", tt.k.Full)
		}
		if got := body(t, o); !bytes.Equal(got, tt.want) || o.Status != 200 || o.Header.Get("Content-Type") != "text/plain" {
			t.Errorf("Get(%s) after restart: status %d, type %q, %d bytes; want 200, text/plain, %d bytes", tt.k.Full, o.Status, o.Header.Get("Content-Type"), len(got), len(tt.want))
		}
		o.Release()
	}
	if st := second.Stats(); st.DiskHits != 2 || st.Objects != 1 {
		t.Errorf("after two disk hits: DiskHits %d, memory objects %d; want 2 and 1 (the small one promoted)", st.DiskHits, st.Objects)
	}
	if o, ok := second.Get(ks); !ok || second.Stats().DiskHits != 2 {
		t.Errorf("second Get of the promoted object: ok %v, DiskHits %d; want a memory hit", ok, second.Stats().DiskHits)
	} else {
		o.Release()
	}
}

// TestLargeBodySpillsToDisk: a body past the memory limit streams into a
// disk record and never enters memory; ranges read only what they need.
func TestLargeBodySpillsToDisk(t *testing.T) {
	s := tieredStore(t, t.TempDir(), 1)
	k := keys.New("http", "a", "/big", "", keys.Options{})
	big := make([]byte, 3<<20)
	for i := range big {
		big[i] = byte(i % 251)
	}
	w := s.NewWriter(k, newObject(), -1) // unknown length: spills past the limit
	for off := 0; off < len(big); off += 32 << 10 {
		if _, err := w.Write(big[off:min(off+32<<10, len(big))]); err != nil {
			t.Fatal(err)
		}
	}
	if !w.Commit() {
		t.Fatal("Commit of a spilled body: nothing stored")
	}
	if st := s.Stats(); st.Objects != 0 || st.DiskObjects != 1 {
		t.Errorf("memory objects %d, disk records %d; want 0 and 1", st.Objects, st.DiskObjects)
	}
	o, ok := s.Get(k)
	if !ok {
		t.Fatal("miss on a spilled object")
	}
	defer o.Release()
	if o.BodySize() != int64(len(big)) || o.Header.Get("Content-Length") != "3145728" {
		t.Errorf("BodySize %d, Content-Length %q; want %d", o.BodySize(), o.Header.Get("Content-Length"), len(big))
	}
	var b bytes.Buffer
	if err := o.WriteBody(&b, 2<<20+5, 100); err != nil || !bytes.Equal(b.Bytes(), big[2<<20+5:2<<20+105]) {
		t.Errorf("range from disk: %v, bytes equal %v", err, bytes.Equal(b.Bytes(), big[2<<20+5:2<<20+105]))
	}
}

// TestFillBudget: fills together buffer no more than the shard's share of
// FillBytes; past it a fill spills to disk, or without disk stops storing,
// and a finished fill gives its share back.
func TestFillBudget(t *testing.T) {
	for _, withDisk := range []bool{false, true} {
		t.Run(map[bool]string{false: "memory only", true: "with disk"}[withDisk], func(t *testing.T) {
			o := Options{MemoryBytes: 8 << 20, MaxMemoryObjectBytes: 64 << 10, MaxObjectBytes: 1 << 20, FillBytes: 100 << 10}
			if withDisk {
				o.Disk = DiskOptions{Dir: t.TempDir(), Bytes: 64 << 20}
			}
			s := newStore(t, o)
			chunk := make([]byte, 60<<10)
			first := s.NewWriter(keys.New("http", "a", "/1", "", keys.Options{}), newObject(), -1)
			second := s.NewWriter(keys.New("http", "a", "/2", "", keys.Options{}), newObject(), -1)
			if _, err := first.Write(chunk); err != nil {
				t.Fatalf("first fill: %v", err)
			}
			_, err := second.Write(chunk) // 120 KiB buffered would pass the 100 KiB budget
			if got := s.Shards()[0].filling.Load(); got > o.FillBytes {
				t.Errorf("fills buffer %d bytes, budget %d", got, o.FillBytes)
			}
			if withDisk && (err != nil || second.dw == nil) {
				t.Errorf("second fill with disk: %v, spilled %v; want it spilled to disk", err, second.dw != nil)
			}
			if !withDisk && err != ErrTooLarge {
				t.Errorf("second fill without disk: %v, want ErrTooLarge", err)
			}
			if !first.Commit() {
				t.Error("first fill not stored")
			}
			second.Abort()
			if got := s.Shards()[0].filling.Load(); got != 0 {
				t.Errorf("after commit and abort %d bytes still reserved, want 0", got)
			}
		})
	}
}

// TestTooLargeWithoutDisk: without a disk tier a body past the memory limit
// is not stored and the Writer says why.
func TestTooLargeWithoutDisk(t *testing.T) {
	s := newStore(t, Options{MemoryBytes: 8 << 20, MaxMemoryObjectBytes: 1024, MaxObjectBytes: 1 << 20})
	w := s.NewWriter(keys.New("http", "a", "/x", "", keys.Options{}), newObject(), -1)
	if _, err := w.Write(make([]byte, 2048)); err != ErrTooLarge {
		t.Errorf("Write past the memory limit without disk: %v, want ErrTooLarge", err)
	}
	if s.MaxObjectBytes() != 1024 {
		t.Errorf("MaxObjectBytes() = %d without disk, want the memory limit 1024", s.MaxObjectBytes())
	}
}

// TestDeleteReachesDisk: a delete after a write-through removes the record
// too, so a restart cannot bring the object back.
func TestDeleteReachesDisk(t *testing.T) {
	dir := t.TempDir()
	s, stop := stoppableStore(t, dir, 1)
	k := keys.New("http", "a", "/gone", "", keys.Options{})
	fill(t, s, k, []byte("body"))
	s.Delete(k)
	stop()
	if st := s.Stats(); st.DiskObjects != 0 {
		t.Errorf("after the owners stopped: %d records on disk, want 0", st.DiskObjects)
	}
	if o, ok := tieredStore(t, dir, 1).Get(k); ok {
		o.Release()
		t.Error("a deleted object came back after a restart")
	}
}

// TestBadMetadataIsMissAndRemoved: a record whose checksums hold but whose
// metadata does not decode is a miss, removed and counted.
func TestBadMetadataIsMissAndRemoved(t *testing.T) {
	dir := t.TempDir()
	s := tieredStore(t, dir, 1)
	k := keys.New("http", "a", "/badmeta", "", keys.Options{})
	w, err := s.Shards()[0].disk.Create(k.Hash, k.Full, []byte(`{"v":99}`), 4)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("body")); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if o, ok := s.Get(k); ok {
		o.Release()
		t.Fatal("a record with bad metadata was served")
	}
	if st := s.Stats(); st.DiskCorrupt != 1 || st.DiskObjects != 0 {
		t.Errorf("DiskCorrupt %d, DiskObjects %d; want 1 and 0", st.DiskCorrupt, st.DiskObjects)
	}
	var left int
	_ = filepath.WalkDir(dir, func(_ string, d os.DirEntry, _ error) error {
		if d != nil && !d.IsDir() {
			left++
		}
		return nil
	})
	if left != 0 {
		t.Errorf("%d files left on disk, want the bad record removed", left)
	}
}

// BenchmarkShardMemoryHit is a memory-tier hit through the store.
func BenchmarkShardMemoryHit(b *testing.B) {
	s := tieredStore(b, b.TempDir(), 2)
	k := keys.New("http", "bench", "/mem", "", keys.Options{})
	fill(b, s, k, make([]byte, 1024))
	b.ReportAllocs()
	for b.Loop() {
		o, ok := s.Get(k)
		if !ok {
			b.Fatal("miss")
		}
		o.Release()
	}
}

// BenchmarkShardDiskHit is a disk-tier hit through the store: an object
// past the memory limit, opened, streamed whole and released.
func BenchmarkShardDiskHit(b *testing.B) {
	s := tieredStore(b, b.TempDir(), 2)
	k := keys.New("http", "bench", "/disk", "", keys.Options{})
	fill(b, s, k, make([]byte, 100<<10))
	b.SetBytes(100 << 10)
	b.ReportAllocs()
	for b.Loop() {
		o, ok := s.Get(k)
		if !ok {
			b.Fatal("miss")
		}
		if err := o.WriteBody(io.Discard, 0, o.BodySize()); err != nil {
			b.Fatal(err)
		}
		o.Release()
	}
}

// BenchmarkStoreGetParallel spreads memory hits over 64 keys from
// GOMAXPROCS goroutines: run with -cpu 1,2 to see it scale.
func BenchmarkStoreGetParallel(b *testing.B) {
	s := tieredStore(b, b.TempDir(), 2)
	ks := make([]keys.Key, 64)
	for i := range ks {
		ks[i] = keys.New("http", "bench", "/p/"+strconv.Itoa(i), "", keys.Options{})
		fill(b, s, ks[i], make([]byte, 1024))
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, ok := s.Get(ks[i%len(ks)]); !ok {
				b.Error("miss")
				return
			}
			i++
		}
	})
}
