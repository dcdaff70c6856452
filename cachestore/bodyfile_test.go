package cachestore

import (
	"bytes"
	"os"
	"runtime"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/cdnnode/cdnnode/internal/testkit"
	"github.com/cdnnode/cdnnode/keys"
)

// patterned returns n bytes of a pattern, so that a misplaced byte shows.
func patterned(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i % 251)
	}
	return b
}

// committed stores body under path through a Writer, as a fill does, and
// returns the object the memory tier serves.
func committed(tb testing.TB, s *Store, path string, body []byte) *Object {
	tb.Helper()
	k := keys.New("http", "a", path, "", keys.Options{})
	fill(tb, s, k, body)
	o := s.Memory(k.Hash, []byte(k.Full))
	if o == nil {
		tb.Fatalf("Memory(%s) after a fill: nil, want the object", k.Full)
	}
	return o
}

// TestBodyFileWhich: which objects get a body file.
func TestBodyFileWhich(t *testing.T) {
	tests := []struct {
		name string
		obj  func(t *testing.T, s *Store) *Object
		want bool
	}{
		{"filled, MinBodyFile", func(t *testing.T, s *Store) *Object {
			return committed(t, s, "/at", patterned(MinBodyFile))
		}, true},
		{"filled, below MinBodyFile", func(t *testing.T, s *Store) *Object {
			return committed(t, s, "/below", patterned(MinBodyFile-1))
		}, false},
		{"filled, empty", func(t *testing.T, s *Store) *Object {
			return committed(t, s, "/empty", nil)
		}, false},
		{"built by hand: no memo", func(t *testing.T, s *Store) *Object {
			return &Object{Status: 200, Body: patterned(64 << 10)}
		}, false},
		{"put by hand: no memo", func(t *testing.T, s *Store) *Object {
			k := keys.New("http", "a", "/put", "", keys.Options{})
			if !s.Put(k, &Object{Status: 200, Body: patterned(64 << 10)}) {
				t.Fatalf("Put(%s) = false", k.Full)
			}
			o := s.Memory(k.Hash, []byte(k.Full))
			if o == nil {
				t.Fatalf("Memory(%s) after Put: nil, want the object", k.Full)
			}
			return o
		}, false},
		{"body on disk", func(t *testing.T, s *Store) *Object {
			k := keys.New("http", "a", "/disk", "", keys.Options{})
			fill(t, s, k, patterned(128<<10)) // past MaxMemoryObjectBytes: disk only
			o, tier := s.Lookup(k)
			if tier != Disk {
				t.Fatalf("Lookup(%s) tier = %v, want Disk", k.Full, tier)
			}
			t.Cleanup(o.Release)
			return o
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tieredStore(t, t.TempDir(), 1)
			o := tt.obj(t, s)
			if got := s.BodyFile(o); (got != nil) != tt.want {
				t.Errorf("BodyFile of a %d-byte body = %v, want a file: %v", o.BodySize(), got, tt.want)
			}
		})
	}
}

// TestBodyFileContents: the file holds the body at offset 0, nothing
// more, and is sealed: neither it nor its seals can change.
func TestBodyFileContents(t *testing.T) {
	s := newStore(t, Options{MemoryBytes: 4 << 20})
	want := patterned(100<<10 + 7)
	o := committed(t, s, "/c", want)
	f := s.BodyFile(o)
	if f == nil {
		t.Fatalf("BodyFile of a %d-byte body = nil, want a file", len(want))
	}
	if fi, err := f.Stat(); err != nil || fi.Size() != int64(len(want)) {
		t.Fatalf("Stat of the body file: %v, %v; want %d bytes", fi, err, len(want))
	}
	got := make([]byte, len(want))
	if n, err := f.ReadAt(got, 0); n != len(want) || err != nil || !bytes.Equal(got, want) {
		t.Errorf("ReadAt of the body file = %d, %v, equal %v; want the %d bytes of the body", n, err, bytes.Equal(got, want), len(want))
	}

	seals, err := unix.FcntlInt(f.Fd(), unix.F_GET_SEALS, 0)
	if want := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE; err != nil || seals != want {
		t.Errorf("F_GET_SEALS = %#x, %v; want %#x", seals, err, want)
	}
	for _, change := range []struct {
		name string
		do   func() error
	}{
		{"write at 0", func() error { _, err := f.WriteAt([]byte("x"), 0); return err }},
		{"write past the end", func() error { _, err := f.WriteAt([]byte("x"), int64(len(want))); return err }},
		{"truncate to 0", func() error { return f.Truncate(0) }},
		{"truncate longer", func() error { return f.Truncate(int64(len(want)) + 1) }},
		{"add a seal", func() error {
			_, err := unix.FcntlInt(f.Fd(), unix.F_ADD_SEALS, unix.F_SEAL_FUTURE_WRITE)
			return err
		}},
	} {
		if err := change.do(); err == nil {
			t.Errorf("%s on the body file: no error, want it sealed", change.name)
		}
	}
	if n, err := f.ReadAt(got, 0); n != len(want) || err != nil || !bytes.Equal(got, want) {
		t.Errorf("ReadAt after the changes tried = %d, %v, equal %v; want the body unchanged", n, err, bytes.Equal(got, want))
	}
}

// TestBodyFileShared: an object's file is made once, whoever asks and
// however many at once; other objects get their own.
func TestBodyFileShared(t *testing.T) {
	s := newStore(t, Options{MemoryBytes: 4 << 20})
	o := committed(t, s, "/shared", patterned(64<<10))
	const callers = 16
	got := make([]*os.File, callers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range got {
		wg.Go(func() {
			<-start
			got[i] = s.BodyFile(o)
		})
	}
	close(start)
	wg.Wait()
	// A call that finds the file being made gets nil (its caller copies
	// the body instead); every other one gets the one file.
	f := s.BodyFile(o)
	if f == nil {
		t.Fatal("BodyFile after the concurrent calls = nil, want the file")
	}
	made := 0
	for i, g := range got {
		switch g {
		case f:
			made++
		case nil:
		default:
			t.Errorf("concurrent call %d: file %p, want %p, the one every call shares", i, g, f)
		}
	}
	if made == 0 {
		t.Error("no concurrent call got a file: the one that made it should")
	}
	for i := range 3 {
		if g := s.BodyFile(o); g != f {
			t.Errorf("call %d after: file %p, want %p", i, g, f)
		}
	}
	if other := s.BodyFile(committed(t, s, "/other", patterned(64<<10))); other == nil || other == f {
		t.Errorf("BodyFile of another object = %p, want a file of its own (not %p)", other, f)
	}
}

// TestBodyFileBudget: body files together stay within a quarter of the
// memory tier: past it an object gets none (and is served by copying),
// while the objects that have one keep it.
func TestBodyFileBudget(t *testing.T) {
	// A budget of 64 KiB; fills may buffer more than the default eighth.
	s := newStore(t, Options{MemoryBytes: 256 << 10, FillBytes: 1 << 20})
	a := committed(t, s, "/a", patterned(40<<10))
	b := committed(t, s, "/b", patterned(40<<10))
	fa := s.BodyFile(a)
	if fa == nil {
		t.Fatal("BodyFile(a) within the budget = nil, want a file")
	}
	for i := range 2 { // a refusal is not remembered: the budget may have room later
		if fb := s.BodyFile(b); fb != nil {
			t.Errorf("call %d: BodyFile(b) past the budget = a file, want nil", i)
		}
	}
	if again := s.BodyFile(a); again != fa {
		t.Errorf("BodyFile(a) after b's refusal = %p, want its file %p", again, fa)
	}
}

// TestBodyFileReleased: once neither an object nor any caller holds its
// file, the file's bytes go back to the budget, and an object refused
// before gets one.
func TestBodyFileReleased(t *testing.T) {
	s := newStore(t, Options{MemoryBytes: 256 << 10}) // a budget of 64 KiB
	handMade := func() *Object {
		o := &Object{Status: 200, Body: patterned(40 << 10)}
		o.prepare() // as NewWriter would
		return o
	}
	first, second := handMade(), handMade()
	if s.BodyFile(first) == nil {
		t.Fatal("BodyFile(first) within the budget = nil, want a file")
	}
	if s.BodyFile(second) != nil {
		t.Fatal("BodyFile(second) past the budget = a file, want nil")
	}
	runtime.KeepAlive(first) // from here on, nothing holds first or its file
	testkit.WaitFor(t, "the first file's bytes back in the budget", func() bool {
		runtime.GC()
		return s.BodyFile(second) != nil
	})
}
