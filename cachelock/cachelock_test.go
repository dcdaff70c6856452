package cachelock

import (
	"errors"
	"io"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cdnnode/cdnnode/keys"
)

// memBody is a Body over a byte slice the test appends to.
type memBody struct {
	mu     sync.Mutex
	b      []byte
	closed bool
}

func (m *memBody) ReadAt(p []byte, off int64) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return copy(p, m.b[off:]), nil
}

func (m *memBody) Close() {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
}

func (m *memBody) write(p string) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.b = append(m.b, p...)
	return int64(len(m.b))
}

func key(s string) keys.Key { return keys.New("http", "example.com", "/"+s, "", keys.Options{}) }

func TestAcquireOneWriterManyReaders(t *testing.T) {
	l := New(2, Options{AgeTimeout: time.Second})
	f, writer := l.Acquire(key("a"))
	if !writer {
		t.Fatal("first Acquire is not the writer")
	}
	for range 3 {
		if g, w := l.Acquire(key("a")); w || g != f {
			t.Fatal("a later Acquire did not join the fill")
		}
	}
	if _, w := l.Acquire(key("b")); !w {
		t.Fatal("another key shares the fill")
	}
	f.Pass()
	if _, w := l.Acquire(key("a")); !w {
		t.Fatal("a settled fill still holds the lock")
	}
}

func TestReadAlongSeesBytesAsWrittenAndEOF(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := New(1, Options{AgeTimeout: time.Minute})
		f, _ := l.Acquire(key("a"))
		r, _ := l.Acquire(key("a"))
		body := &memBody{}
		got := make(chan string)
		go func() {
			state, head, err := r.Wait(nil, time.Second)
			if err != nil || state != Streaming || head != "head" {
				t.Errorf("Wait = %v, %v, %v", state, head, err)
			}
			b, err := io.ReadAll(r.NewReader(nil))
			if err != nil {
				t.Errorf("ReadAll: %v", err)
			}
			r.Leave()
			got <- string(b)
		}()
		f.Stream("head", body)
		f.Wrote(body.write("hello "))
		synctest.Wait()
		f.Wrote(body.write("world"))
		f.Finish(nil)
		if s := <-got; s != "hello world" {
			t.Fatalf("reader read %q", s)
		}
		if !body.closed {
			t.Fatal("the body was not closed after the last reference left")
		}
	})
}

func TestReaderOutcomes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		settle func(*Fill)
		state  State
		err    error
	}{
		{"pass", (*Fill).Pass, Passed, nil},
		{"fail", (*Fill).Fail, Failed, nil},
		{"refresh", func(f *Fill) { f.Refresh("obj", nil) }, Refreshed, nil},
		{"timeout", func(*Fill) {}, Pending, ErrTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := New(1, Options{AgeTimeout: time.Minute})
				f, _ := l.Acquire(key("a"))
				r, _ := l.Acquire(key("a"))
				tc.settle(f)
				state, _, err := r.Wait(nil, 5*time.Second)
				if state != tc.state || !errors.Is(err, tc.err) {
					t.Fatalf("Wait = %v, %v; want %v, %v", state, err, tc.state, tc.err)
				}
			})
		})
	}
}

func TestAbortedBodyAbortsReaders(t *testing.T) {
	l := New(1, Options{AgeTimeout: time.Minute})
	f, _ := l.Acquire(key("a"))
	r, _ := l.Acquire(key("a"))
	body := &memBody{}
	f.Stream("head", body)
	f.Wrote(body.write("partial"))
	f.Finish(errors.New("origin reset"))
	if _, err := io.ReadAll(r.NewReader(nil)); !errors.Is(err, ErrAborted) {
		t.Fatalf("ReadAll error = %v, want ErrAborted", err)
	}
}

func TestStuckFillLosesLockAndReadersGiveUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := New(1, Options{AgeTimeout: 10 * time.Second})
		f, _ := l.Acquire(key("a"))
		r, _ := l.Acquire(key("a"))
		f.Stream("head", &memBody{})
		_, err := io.ReadAll(r.NewReader(nil)) // no progress: gives up after AgeTimeout
		if !errors.Is(err, ErrAborted) {
			t.Fatalf("reader of a stuck fill: %v, want ErrAborted", err)
		}
		if _, w := l.Acquire(key("a")); !w {
			t.Fatal("a stuck fill still holds the lock after AgeTimeout")
		}
	})
}

func TestHitForPassExpiresAndIsBounded(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	l := New(1, Options{HitForPass: time.Minute, MaxPass: 2, Now: func() time.Time { return now }})
	l.MarkPass(key("a"))
	l.MarkPass(key("b"))
	l.MarkPass(key("c")) // table full, nothing expired: not recorded
	if !l.HitForPass(key("a")) || !l.HitForPass(key("b")) || l.HitForPass(key("c")) {
		t.Fatal("hit-for-pass entries wrong before expiry")
	}
	now = now.Add(time.Minute)
	if l.HitForPass(key("a")) {
		t.Fatal("entry outlived HitForPass")
	}
	l.MarkPass(key("c"))
	l.MarkPass(key("d")) // full: the expired b is dropped to make room
	if !l.HitForPass(key("c")) || !l.HitForPass(key("d")) || l.HitForPass(key("b")) || l.PassEntries() != 2 {
		t.Fatalf("after expiry: c %v, d %v, b %v, entries %d", l.HitForPass(key("c")), l.HitForPass(key("d")), l.HitForPass(key("b")), l.PassEntries())
	}
	l.ClearPass(key("c"))
	if l.HitForPass(key("c")) {
		t.Fatal("ClearPass left the entry")
	}
}

func TestBackgroundFillsOnePerKeyBoundedPerShard(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := New(1, Options{AgeTimeout: 10 * time.Second, MaxBackground: 2})
		a, err := l.AcquireBackground(key("a"))
		if err != nil {
			t.Fatalf("first background fill: %v", err)
		}
		if _, err := l.AcquireBackground(key("a")); !errors.Is(err, ErrInFlight) {
			t.Fatalf("second background fill of a key: %v, want ErrInFlight", err)
		}
		if g, w := l.Acquire(key("a")); w || g != a {
			t.Fatal("a miss did not join the background fill as a reader")
		} else {
			g.Leave()
		}
		b, err := l.AcquireBackground(key("b"))
		if err != nil {
			t.Fatalf("background fill of another key: %v", err)
		}
		if _, err := l.AcquireBackground(key("c")); !errors.Is(err, ErrBusy) {
			t.Fatalf("third background fill in a shard of two: %v, want ErrBusy", err)
		}
		if _, w := l.Acquire(key("c")); !w {
			t.Fatal("the background limit held back a foreground fill")
		}
		if l.Background() != 2 {
			t.Fatalf("Background() = %d, want 2", l.Background())
		}
		a.Fail()
		b.Stream("head", &memBody{})
		b.Finish(nil)
		if l.Background() != 0 {
			t.Fatalf("Background() after settling = %d, want 0", l.Background())
		}
		time.Sleep(10 * time.Second) // the fill of c is now stuck
		if _, err := l.AcquireBackground(key("c")); err != nil {
			t.Fatalf("background fill over a stuck one: %v", err)
		}
	})
}

// TestRefreshReleasesAfterLastReader proves that a refreshed object stays
// held until the last reader leaves, however early its writer settles.
func TestRefreshReleasesAfterLastReader(t *testing.T) {
	l := New(1, Options{AgeTimeout: time.Minute})
	f, _ := l.Acquire(key("a"))
	r1, _ := l.Acquire(key("a"))
	r2, _ := l.Acquire(key("a"))
	released := 0
	f.Refresh("obj", func() { released++ })
	if state, head, err := r1.Wait(nil, time.Second); state != Refreshed || head != "obj" || err != nil {
		t.Fatalf("Wait = %v, %v, %v", state, head, err)
	}
	r1.Leave()
	if released != 0 {
		t.Fatal("released while a reader still holds the fill")
	}
	r2.Leave()
	if released != 1 {
		t.Fatalf("released %d times after the last reader left, want 1", released)
	}
}
