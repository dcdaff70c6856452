package cachestore

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/cdnnode/cdnnode/keys"
)

func newObject() *Object {
	return &Object{Status: http.StatusOK, Header: http.Header{"Content-Type": {"text/plain"}}, Tags: []string{"t1"}}
}

func TestWriterCommit(t *testing.T) {
	s := newStore(t, Options{MemoryBytes: 1 << 20})
	k := keys.New("https", "example.com", "/w", "", keys.Options{})
	body := strings.Repeat("0123456789", 300)

	for _, hint := range []int64{-1, 0, int64(len(body)), 10} { // unknown, zero, exact, too small
		w := s.NewWriter(k, newObject(), hint)
		if _, ok := s.Get(k); ok {
			t.Fatalf("hint %d: Get hit before Commit", hint)
		}
		// Write in odd-sized pieces, as a streamed body arrives.
		if n, err := io.Copy(w, iotestHalfReader(strings.NewReader(body))); err != nil || n != int64(len(body)) {
			t.Fatalf("hint %d: io.Copy = %d, %v; want %d, nil", hint, n, err, len(body))
		}
		if _, ok := s.Get(k); ok {
			t.Fatalf("hint %d: Get hit after Write but before Commit", hint)
		}
		if !w.Commit() {
			t.Fatalf("hint %d: Commit() = false, want true", hint)
		}
		o, ok := s.Get(k)
		if !ok {
			t.Fatalf("hint %d: Get missed after Commit", hint)
		}
		if string(o.Body) != body {
			t.Errorf("hint %d: stored body = %d bytes, want the %d written", hint, len(o.Body), len(body))
		}
		if o.Status != http.StatusOK || o.Header.Get("Content-Type") != "text/plain" || len(o.Tags) != 1 {
			t.Errorf("hint %d: stored object = %d %v %v, want the writer's status, header and tags", hint, o.Status, o.Header, o.Tags)
		}
		s.Delete(k)
	}
}

// iotestHalfReader reads at most half of what is asked, to split writes unevenly.
func iotestHalfReader(r io.Reader) io.Reader { return &halfReader{r} }

type halfReader struct{ r io.Reader }

func (h *halfReader) Read(p []byte) (int, error) { return h.r.Read(p[:(len(p)+1)/2]) }

func TestWriterCommitEmptyBody(t *testing.T) {
	s := newStore(t, Options{MemoryBytes: 1 << 20})
	k := key(1, "https://example.com/empty")
	w := s.NewWriter(k, &Object{Status: http.StatusNoContent}, 0)
	if !w.Commit() {
		t.Fatal("Commit() of an empty body = false, want true")
	}
	o, ok := s.Get(k)
	if !ok || len(o.Body) != 0 || o.Status != http.StatusNoContent {
		t.Fatalf("Get = %v, %v; want the 204 with an empty body", o, ok)
	}
}

func TestWriterAbort(t *testing.T) {
	s := newStore(t, Options{MemoryBytes: 1 << 20})
	k := key(2, "https://example.com/abort")
	w := s.NewWriter(k, newObject(), -1)
	w.Write([]byte("partial"))
	w.Abort()
	if _, ok := s.Get(k); ok {
		t.Errorf("Get hit after Abort")
	}
	if w.Commit() {
		t.Errorf("Commit() after Abort = true, want false")
	}
	if _, ok := s.Get(k); ok {
		t.Errorf("Get hit after Commit following Abort")
	}
	if got := s.Stats().Objects; got != 0 {
		t.Errorf("Stats().Objects = %d after Abort, want 0", got)
	}
}

func TestWriterAbortAfterCommitIsNoop(t *testing.T) {
	s := newStore(t, Options{MemoryBytes: 1 << 20})
	k := key(3, "https://example.com/deferred")
	func() {
		w := s.NewWriter(k, newObject(), -1)
		defer w.Abort() // as callers write it
		w.Write([]byte("complete"))
		if !w.Commit() {
			t.Fatal("Commit() = false")
		}
	}()
	o, ok := s.Get(k)
	if !ok || string(o.Body) != "complete" {
		t.Fatalf("Get after a deferred Abort = %v, %v; want body %q", o, ok, "complete")
	}
}

func TestWriterCommitTwice(t *testing.T) {
	s := newStore(t, Options{MemoryBytes: 1 << 20})
	k := key(4, "https://example.com/twice")
	w := s.NewWriter(k, newObject(), -1)
	w.Write([]byte("once"))
	if !w.Commit() {
		t.Fatal("first Commit() = false")
	}
	if w.Commit() {
		t.Errorf("second Commit() = true, want false")
	}
	if o, ok := s.Get(k); !ok || string(o.Body) != "once" {
		t.Errorf("Get after a second Commit = %v, %v; want body %q", o, ok, "once")
	}
}

func TestWriterTooLarge(t *testing.T) {
	const limit = 1024
	s := newStore(t, Options{MemoryBytes: 1 << 20, MaxMemoryObjectBytes: limit})
	k := key(5, "https://example.com/large")
	w := s.NewWriter(k, newObject(), -1)

	if n, err := w.Write(make([]byte, limit)); err != nil || n != limit {
		t.Fatalf("Write of exactly the limit = %d, %v; want %d, nil", n, err, limit)
	}
	n, err := w.Write([]byte{'x'})
	if !errors.Is(err, ErrTooLarge) || n != 0 {
		t.Fatalf("Write past the limit = %d, %v; want 0, ErrTooLarge", n, err)
	}
	if !errors.Is(w.Err(), ErrTooLarge) {
		t.Errorf("Err() = %v, want ErrTooLarge", w.Err())
	}
	if _, err := w.Write([]byte{'y'}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Write after ErrTooLarge = %v, want ErrTooLarge (sticky)", err)
	}
	if w.Commit() {
		t.Errorf("Commit() after ErrTooLarge = true, want false")
	}
	if _, ok := s.Get(k); ok {
		t.Errorf("Get hit after a too-large write")
	}
	if got := s.Stats().Objects; got != 0 {
		t.Errorf("Stats().Objects = %d, want 0", got)
	}
}

func TestWriterSizeHintTooLarge(t *testing.T) {
	const limit = 1024
	s := newStore(t, Options{MemoryBytes: 1 << 20, MaxMemoryObjectBytes: limit})
	k := key(6, "https://example.com/hinted")

	w := s.NewWriter(k, newObject(), limit+1)
	if !errors.Is(w.Err(), ErrTooLarge) {
		t.Fatalf("Err() after a hint of %d over a limit of %d = %v, want ErrTooLarge", limit+1, limit, w.Err())
	}
	if _, err := w.Write([]byte("small")); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Write after an oversized hint = %v, want ErrTooLarge", err)
	}
	if w.Commit() {
		t.Errorf("Commit() after an oversized hint = true, want false")
	}
	if _, ok := s.Get(k); ok {
		t.Errorf("Get hit after an oversized hint")
	}

	// A hint of exactly the limit is accepted.
	w = s.NewWriter(k, newObject(), limit)
	if err := w.Err(); err != nil {
		t.Fatalf("Err() after a hint of exactly the limit = %v, want nil", err)
	}
	w.Write(bytes.Repeat([]byte("z"), 100))
	if !w.Commit() {
		t.Errorf("Commit() = false after a hint at the limit and a small body")
	}
}

func TestWriterNothingVisibleUntilCommitWithConcurrentReader(t *testing.T) {
	s := newStore(t, Options{MemoryBytes: 1 << 20})
	k := key(8, "https://example.com/race")
	w := s.NewWriter(k, newObject(), -1)

	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			if o, ok := s.Get(k); ok && string(o.Body) != "abcdef" {
				done <- errors.New("reader saw a partial body: " + string(o.Body))
				return
			}
		}
	}()
	for _, p := range []string{"ab", "cd", "ef"} {
		w.Write([]byte(p))
	}
	w.Commit()
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
