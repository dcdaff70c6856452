package disk

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"
)

// testBlock is the block size most tests use, so that a few hundred bytes
// span several blocks.
const testBlock = 64

// newTier opens a tier on a fresh directory; zero fields of o get test
// defaults (a 1 GiB budget, 64-byte blocks).
func newTier(t testing.TB, o Options) *Tier {
	t.Helper()
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = 1 << 30
	}
	if o.BlockSize == 0 {
		o.BlockSize = testBlock
	}
	tier, err := Open(o)
	if err != nil {
		t.Fatalf("Open(%+v) = %v", o, err)
	}
	return tier
}

// pattern is n deterministic bytes that differ per seed and per position.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7+i/251) ^ seed
	}
	return b
}

// put stores a record, writing the body in uneven pieces, and fails the test
// on any error.
func put(t testing.TB, tier *Tier, hash uint64, full string, meta, body []byte) {
	t.Helper()
	w, err := tier.Create(hash, full, meta, int64(len(body)))
	if err != nil {
		t.Fatalf("Create(%016x) = %v", hash, err)
	}
	defer w.Abort()
	for rest := body; len(rest) > 0; {
		n := min(len(rest), 37)
		if _, err := w.Write(rest[:n]); err != nil {
			t.Fatalf("Write = %v", err)
		}
		rest = rest[n:]
	}
	if err := w.Commit(); err != nil {
		t.Fatalf("Commit(%016x) = %v", hash, err)
	}
}

// get opens the record and reads its whole body with ReadAt.
func get(t testing.TB, tier *Tier, hash uint64, full string) (meta, body []byte) {
	t.Helper()
	r, err := tier.Open(hash, full)
	if err != nil {
		t.Fatalf("Open(%016x, %q) = %v", hash, full, err)
	}
	defer r.Close()
	body = make([]byte, r.Size())
	if n, err := r.ReadAt(body, 0); n != len(body) || (err != nil && !(errors.Is(err, io.EOF) && len(body) == 0)) {
		t.Fatalf("ReadAt(whole body) = %d, %v; want %d, nil", n, err, len(body))
	}
	return bytes.Clone(r.Meta()), body
}

// recordLayout is where the parts of a record written by put lie.
func recordLayout(full string, meta []byte, bodyLen, block int) layout {
	return layout{keyLen: int64(len(full)), metaLen: int64(len(meta)), body: int64(bodyLen), block: int64(block)}
}

// exists reports whether path exists.
func exists(t testing.TB, path string) bool {
	t.Helper()
	_, err := os.Stat(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Stat(%s) = %v", path, err)
	}
	return err == nil
}

// files lists the regular files under dir, relative to it.
func files(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("ReadDir(%s) = %v", dir, err)
	}
	for _, e := range ents {
		if !e.IsDir() {
			out = append(out, e.Name())
			continue
		}
		sub, err := os.ReadDir(dir + "/" + e.Name())
		if err != nil {
			t.Fatalf("ReadDir = %v", err)
		}
		for _, s := range sub {
			out = append(out, e.Name()+"/"+s.Name())
		}
	}
	return out
}
