package disk

import (
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkOpenRead1KiB is a warm disk hit of a small object: Open, ReadAt
// of the whole body, Close. The baseline reads a plain 1 KiB file the same
// way, with no header, checksums or key check.
func BenchmarkOpenRead1KiB(b *testing.B) {
	tier := newTier(b, Options{BlockSize: defaultBlock})
	const full = "https://example.com/static/app.js"
	meta, body := pattern(200, 1), pattern(1<<10, 2)
	put(b, tier, 0x1234, full, meta, body)
	p := make([]byte, len(body))

	b.Run("disk", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			r, err := tier.Open(0x1234, full)
			if err != nil {
				b.Fatal(err)
			}
			if n, err := r.ReadAt(p, 0); n != len(p) || err != nil {
				b.Fatalf("ReadAt = %d, %v", n, err)
			}
			r.Close()
		}
	})
	b.Run("baseline plain file", func(b *testing.B) {
		path := filepath.Join(b.TempDir(), "plain")
		if err := os.WriteFile(path, body, 0o644); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			f, err := os.Open(path)
			if err != nil {
				b.Fatal(err)
			}
			if n, err := f.ReadAt(p, 0); n != len(p) || err != nil {
				b.Fatalf("ReadAt = %d, %v", n, err)
			}
			f.Close()
		}
	})
}

// BenchmarkReadAtRange reads 4 KiB from the middle of a 64 MiB record: the
// cost must not depend on the body's size (one 64 KiB block is verified).
func BenchmarkReadAtRange(b *testing.B) {
	tier := newTier(b, Options{BlockSize: defaultBlock})
	const size = 64 << 20
	w, err := tier.Create(0x64, "big", nil, size)
	if err != nil {
		b.Fatal(err)
	}
	chunk := pattern(1<<20, 3)
	for range size / len(chunk) {
		if _, err := w.Write(chunk); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Commit(); err != nil {
		b.Fatal(err)
	}
	r, err := tier.Open(0x64, "big")
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	p := make([]byte, 4<<10)
	b.ReportAllocs()
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		if n, err := r.ReadAt(p, size/2+1000); n != len(p) || err != nil {
			b.Fatalf("ReadAt = %d, %v", n, err)
		}
	}
}

// BenchmarkWrite1MiB stores a 1 MiB body in 32 KiB writes (io.Copy's size),
// replacing the same record each time.
func BenchmarkWrite1MiB(b *testing.B) {
	tier := newTier(b, Options{BlockSize: defaultBlock})
	body := pattern(1<<20, 4)
	meta := pattern(200, 5)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		w, err := tier.Create(0x77, "https://example.com/1MiB", meta, int64(len(body)))
		if err != nil {
			b.Fatal(err)
		}
		for off := 0; off < len(body); off += 32 << 10 {
			if _, err := w.Write(body[off : off+32<<10]); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Commit(); err != nil {
			b.Fatal(err)
		}
	}
}
