package coding

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"testing/iotest"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
)

// jsonText returns the first n bytes of the records stream for seed.
func jsonText(n int, seed uint64) []byte {
	b := make([]byte, n)
	_, _ = io.ReadFull(newRecords(seed), b)
	return b
}

// randomBytes returns n incompressible bytes.
func randomBytes(n int, seed uint64) []byte {
	b := make([]byte, n)
	_, _ = rand.NewChaCha8([32]byte{byte(seed)}).Read(b)
	return b
}

// encoded returns data in coding c at the default level: gzip and zstd by an
// Encoder, br by the brotli package's own writer (the node never encodes br).
func encoded(t testing.TB, data []byte, c Coding) []byte {
	t.Helper()
	var b bytes.Buffer
	switch c {
	case Identity:
		return bytes.Clone(data)
	case Br:
		w := brotli.NewWriterLevel(&b, 5)
		if _, err := w.Write(data); err != nil {
			t.Fatalf("brotli write: %v", err)
		}
		if err := w.Close(); err != nil {
			t.Fatalf("brotli close: %v", err)
		}
	default:
		e := NewEncoder(&b, c, 0)
		if _, err := e.Write(data); err != nil {
			t.Fatalf("%v write: %v", c, err)
		}
		if err := e.Close(); err != nil {
			t.Fatalf("%v close: %v", c, err)
		}
	}
	return b.Bytes()
}

// decoded returns data decoded from coding c by a Decoder's Read.
func decoded(t testing.TB, data []byte, c Coding) []byte {
	t.Helper()
	if c == Identity {
		return data
	}
	d, err := NewDecoder(bytes.NewReader(data), c)
	if err != nil {
		t.Fatalf("NewDecoder(%v): %v", c, err)
	}
	defer d.Close()
	out, err := io.ReadAll(d)
	if err != nil {
		t.Fatalf("decoding %v: %v", c, err)
	}
	return out
}

var allCodings = []Coding{Identity, Gzip, Zstd, Br}

func TestTranscodeRoundTrip(t *testing.T) {
	bodies := map[string][]byte{
		"empty":            nil,
		"one byte":         []byte("a"),
		"json 1 MiB":       jsonText(1<<20, 1),
		"random 256 KiB":   randomBytes(256<<10, 2),
		"json over blocks": jsonText(300<<10+17, 3), // not a multiple of any block size
	}
	for name, body := range bodies {
		for _, from := range allCodings {
			src := encoded(t, body, from)
			for _, to := range allCodings {
				if to == Br && from != Br {
					continue // the node does not encode br
				}
				t.Run(fmt.Sprintf("%s/%v-%v", name, from, to), func(t *testing.T) {
					readers := map[string]io.Reader{"bytes": bytes.NewReader(src), "half": iotest.HalfReader(bytes.NewReader(src))}
					if len(body) < 64<<10 {
						readers["one byte"] = iotest.OneByteReader(bytes.NewReader(src))
					}
					for rname, r := range readers {
						var dst bytes.Buffer
						n, err := Transcode(&dst, r, from, to, 0)
						if err != nil {
							t.Fatalf("%s reader: Transcode: %v", rname, err)
						}
						if n != int64(dst.Len()) {
							t.Errorf("%s reader: Transcode returned %d, wrote %d", rname, n, dst.Len())
						}
						if from == to && !bytes.Equal(dst.Bytes(), src) {
							t.Errorf("%s reader: copy changed the bytes", rname)
						}
						if got := decoded(t, dst.Bytes(), to); !bytes.Equal(got, body) {
							t.Errorf("%s reader: decoded %d bytes, want the %d of the body", rname, len(got), len(body))
						}
					}
				})
			}
		}
	}
}

// TestTranscodeLarge streams largeSize (100 MiB, 16 MiB under the race
// detector) of JSON text through identity -> zstd -> gzip -> identity, each
// stage on its own goroutine joined by pipes, and checks the output is the
// input while the bytes allocated in the whole process stay under 64 MiB:
// two encoders and two decoders, the zstd ones with their 8 MiB windows, but
// never the body.
func TestTranscodeLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("100 MiB through four codecs")
	}
	const size = largeSize
	const bound = 64 << 20
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)

	in, out := sha256.New(), sha256.New()
	src := io.TeeReader(io.LimitReader(newRecords(7), size), in)
	zr, zw := io.Pipe()
	gr, gw := io.Pipe()
	errs := make(chan error, 2)
	go func() {
		_, err := Transcode(zw, src, Identity, Zstd, 3)
		zw.CloseWithError(err)
		errs <- err
	}()
	go func() {
		_, err := Transcode(gw, zr, Zstd, Gzip, 1)
		gw.CloseWithError(err)
		zr.CloseWithError(err)
		errs <- err
	}()
	n, err := Transcode(out, gr, Gzip, Identity, 0)
	gr.CloseWithError(err)
	for range 2 {
		if err := <-errs; err != nil {
			t.Errorf("stage: %v", err)
		}
	}
	if err != nil {
		t.Fatalf("last stage: %v", err)
	}

	runtime.ReadMemStats(&after)
	if n != size {
		t.Errorf("decoded %d bytes, want %d", n, size)
	}
	if !bytes.Equal(in.Sum(nil), out.Sum(nil)) {
		t.Errorf("decoded body differs from the input")
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("%d MiB transcoded with %.1f MiB allocated", size>>20, float64(alloc)/(1<<20))
	if alloc > bound {
		t.Errorf("allocated %d bytes for a %d-byte body, want at most %d", alloc, size, bound)
	}
}

func TestEncoderReuse(t *testing.T) {
	bodies := [][]byte{jsonText(200<<10, 4), []byte("short"), nil, jsonText(70<<10, 5)}
	for _, c := range []Coding{Gzip, Zstd} {
		t.Run(c.String(), func(t *testing.T) {
			seen := map[*Encoder]bool{}
			reused := false
			for i := range 20 {
				body := bodies[i%len(bodies)]
				var b bytes.Buffer
				e := NewEncoder(&b, c, 0)
				reused = reused || seen[e]
				seen[e] = true
				if i%5 == 4 {
					// A failed transfer: half a stream, abandoned.
					_, _ = e.Write(body[:len(body)/2])
					e.Abandon()
					continue
				}
				if _, err := e.Write(body); err != nil {
					t.Fatalf("round %d: Write: %v", i, err)
				}
				if err := e.Close(); err != nil {
					t.Fatalf("round %d: Close: %v", i, err)
				}
				if got := decoded(t, b.Bytes(), c); !bytes.Equal(got, body) {
					t.Fatalf("round %d: decoded %d bytes, want %d", i, len(got), len(body))
				}
			}
			if !reused {
				t.Errorf("no Encoder came back from the pool in 20 rounds")
			}
		})
	}
}

func TestEncoderLevels(t *testing.T) {
	body := jsonText(64<<10, 6)
	for _, tt := range []struct {
		c      Coding
		levels []int
	}{
		{Gzip, []int{-5, 0, 1, 6, 9, 42}},
		{Zstd, []int{-1, 0, 1, 3, 7, 19, 22, 99}},
	} {
		for _, level := range tt.levels {
			var b bytes.Buffer
			if _, err := Transcode(&b, bytes.NewReader(body), Identity, tt.c, level); err != nil {
				t.Fatalf("%v level %d: %v", tt.c, level, err)
			}
			if got := decoded(t, b.Bytes(), tt.c); !bytes.Equal(got, body) {
				t.Errorf("%v level %d: round trip changed the body", tt.c, level)
			}
		}
	}
}

func TestNewEncoderPanicsOnOtherCodings(t *testing.T) {
	for _, c := range []Coding{Identity, Br, 9} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewEncoder(%v) did not panic", c)
				}
			}()
			NewEncoder(io.Discard, c, 0)
		}()
	}
}

// TestEncoderFlush checks read-along streaming: after Flush, a reader of the
// stream so far decodes everything written, though the stream is not over.
func TestEncoderFlush(t *testing.T) {
	part1, part2 := jsonText(50<<10, 8), jsonText(30<<10, 9)
	for _, c := range []Coding{Gzip, Zstd} {
		t.Run(c.String(), func(t *testing.T) {
			var b bytes.Buffer
			e := NewEncoder(&b, c, 0)
			if _, err := e.Write(part1); err != nil {
				t.Fatalf("Write: %v", err)
			}
			if err := e.Flush(); err != nil {
				t.Fatalf("Flush: %v", err)
			}
			d, err := NewDecoder(bytes.NewReader(b.Bytes()), c)
			if err != nil {
				t.Fatalf("NewDecoder on the flushed prefix: %v", err)
			}
			got := make([]byte, len(part1))
			if _, err := io.ReadFull(d, got); err != nil || !bytes.Equal(got, part1) {
				t.Errorf("flushed prefix decodes to %d matching bytes, %v; want all %d", commonPrefix(got, part1), err, len(part1))
			}
			d.Close()
			if _, err := e.Write(part2); err != nil {
				t.Fatalf("Write: %v", err)
			}
			if err := e.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if got := decoded(t, b.Bytes(), c); !bytes.Equal(got, append(part1, part2...)) {
				t.Errorf("whole stream decodes to %d bytes, want %d", len(got), len(part1)+len(part2))
			}
		})
	}
}

func commonPrefix(a, b []byte) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// decodeBoth decodes data in c through Read (io.ReadAll) and through WriteTo,
// returning both outputs and errors; a NewDecoder error is returned as both.
func decodeBoth(data []byte, c Coding, limit int) (viaRead, viaWriteTo []byte, readErr, writeToErr error) {
	d, err := NewDecoder(bytes.NewReader(data), c)
	if err != nil {
		return nil, nil, err, err
	}
	viaRead, readErr = io.ReadAll(io.LimitReader(d, int64(limit)))
	d.Close()
	d, err = NewDecoder(bytes.NewReader(data), c)
	if err != nil {
		return viaRead, nil, readErr, err
	}
	w := &limitWriter{limit: limit}
	_, writeToErr = d.WriteTo(w)
	d.Close()
	return viaRead, w.b, readErr, writeToErr
}

var errLimit = errors.New("output limit reached")

// limitWriter keeps what is written up to limit bytes, then fails.
type limitWriter struct {
	b     []byte
	limit int
}

func (w *limitWriter) Write(p []byte) (int, error) {
	if room := w.limit - len(w.b); len(p) > room {
		w.b = append(w.b, p[:room]...)
		return room, errLimit
	}
	w.b = append(w.b, p...)
	return len(p), nil
}

func TestDecoderCorrupt(t *testing.T) {
	body := jsonText(256<<10, 10)
	for _, c := range []Coding{Gzip, Zstd, Br} {
		valid := encoded(t, body, c)
		flipped := bytes.Clone(valid)
		flipped[len(flipped)/2] ^= 0x55
		cases := map[string][]byte{
			"half":             valid[:len(valid)/2],
			"last byte cut":    valid[:len(valid)-1],
			"header only":      valid[:3],
			"trailing garbage": append(bytes.Clone(valid), "garbage"...),
			"not encoded":      body[:1000],
			"zero bytes":       make([]byte, 64),
		}
		if c != Br {
			cases["byte flipped"] = flipped // br has no checksum to catch it
		}
		for name, data := range cases {
			t.Run(c.String()+"/"+name, func(t *testing.T) {
				_, _, readErr, writeToErr := decodeBoth(data, c, 1<<30)
				if !errors.Is(readErr, ErrCorrupt) {
					t.Errorf("Read: error %v, want ErrCorrupt", readErr)
				}
				if !errors.Is(writeToErr, ErrCorrupt) {
					t.Errorf("WriteTo: error %v, want ErrCorrupt", writeToErr)
				}
				// The pooled decoder that failed decodes a valid stream again.
				if got := decoded(t, valid, c); !bytes.Equal(got, body) {
					t.Errorf("after a corrupt stream, a valid one decodes to %d bytes, want %d", len(got), len(body))
				}
			})
		}
	}
}

func TestDecoderEmptyInput(t *testing.T) {
	for _, c := range []Coding{Gzip, Zstd, Br} {
		viaRead, viaWriteTo, readErr, writeToErr := decodeBoth(nil, c, 1<<20)
		if readErr != nil || writeToErr != nil || len(viaRead) != 0 || len(viaWriteTo) != 0 {
			t.Errorf("%v: empty input gives %q, %v and %q, %v; want an empty body", c, viaRead, readErr, viaWriteTo, writeToErr)
		}
	}
}

// TestDecoderRefusesLargeZstdWindow checks RFC 9659's limit: a stream that
// declares a 16 MiB window is refused before the decoder allocates it.
func TestDecoderRefusesLargeZstdWindow(t *testing.T) {
	var b bytes.Buffer
	zw, err := zstd.NewWriter(&b, zstd.WithWindowSize(16<<20), zstd.WithEncoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	body := jsonText(1<<20, 11)
	for chunk := range slices.Chunk(body, 64<<10) {
		if _, err := zw.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	_, _, readErr, writeToErr := decodeBoth(b.Bytes(), Zstd, 1<<30)
	if !errors.Is(readErr, ErrCorrupt) || !errors.Is(writeToErr, ErrCorrupt) {
		t.Errorf("16 MiB window: errors %v and %v, want ErrCorrupt", readErr, writeToErr)
	}
}

func TestNewDecoderRejectsOtherCodings(t *testing.T) {
	for _, c := range []Coding{Identity, 9} {
		if d, err := NewDecoder(bytes.NewReader(nil), c); err == nil || d != nil {
			t.Errorf("NewDecoder(%v) = %v, %v, want an error", c, d, err)
		}
	}
}

var (
	errSrc = errors.New("origin connection reset")
	errDst = errors.New("client went away")
)

// failAfter is a writer that takes n bytes, then fails with errDst.
type failAfter struct{ n int }

func (w *failAfter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		m := w.n
		w.n = 0
		return m, errDst
	}
	w.n -= len(p)
	return len(p), nil
}

func TestTranscodeErrors(t *testing.T) {
	body := jsonText(512<<10, 12)
	pairs := [][2]Coding{
		{Identity, Zstd}, {Identity, Gzip}, {Zstd, Identity}, {Gzip, Identity},
		{Br, Identity}, {Zstd, Gzip}, {Gzip, Zstd}, {Br, Zstd}, {Gzip, Gzip},
	}
	for _, p := range pairs {
		from, to := p[0], p[1]
		src := encoded(t, body, from)
		t.Run(fmt.Sprintf("%v-%v", from, to), func(t *testing.T) {
			_, err := Transcode(&failAfter{n: 1000}, bytes.NewReader(src), from, to, 0)
			if !errors.Is(err, errDst) || errors.Is(err, ErrCorrupt) {
				t.Errorf("failing destination: error %v, want errDst and not ErrCorrupt", err)
			}
			r := io.MultiReader(bytes.NewReader(src[:len(src)/2]), iotest.ErrReader(errSrc))
			_, err = Transcode(io.Discard, r, from, to, 0)
			if !errors.Is(err, errSrc) || errors.Is(err, ErrCorrupt) {
				t.Errorf("failing source: error %v, want errSrc and not ErrCorrupt", err)
			}
			if from == Identity || from == to {
				return // nothing to be corrupt
			}
			_, err = Transcode(io.Discard, bytes.NewReader(src[:len(src)/2]), from, to, 0)
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("truncated source: error %v, want ErrCorrupt", err)
			}
		})
	}
	for _, p := range [][2]Coding{{Identity, Br}, {Gzip, Br}, {9, Gzip}, {Zstd, 9}} {
		if _, err := Transcode(io.Discard, bytes.NewReader(body), p[0], p[1], 0); err == nil || errors.Is(err, ErrCorrupt) {
			t.Errorf("Transcode from %v to %v: error %v, want one that is not ErrCorrupt", p[0], p[1], err)
		}
	}
}

// FuzzDecoder feeds random bytes to each decoder: no panic, an error that
// wraps ErrCorrupt (the source never fails), and Read and WriteTo agreeing.
// Output is capped at 1 MiB, as a few bytes may describe far more.
func FuzzDecoder(f *testing.F) {
	sample := jsonText(4<<10, 13)
	for i, c := range []Coding{Gzip, Zstd, Br} {
		valid := encoded(f, sample, c)
		f.Add(uint8(i), valid)                      // a valid stream
		f.Add(uint8(i), valid[:len(valid)/2])       // truncated
		f.Add(uint8(i), append(valid, valid...))    // two streams back to back
		f.Add(uint8(i), encoded(f, []byte("x"), c)) // tiny
		f.Add(uint8(i), []byte{})                   // empty
	}
	f.Add(uint8(1), []byte("\x28\xb5\x2f\xfd\x00\x78\x02\x00\x00")) // zstd frame declaring a 32 MiB window
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		const limit = 1 << 20
		c := []Coding{Gzip, Zstd, Br}[int(which)%3]
		viaRead, viaWriteTo, readErr, writeToErr := decodeBoth(data, c, limit)
		if readErr != nil && !errors.Is(readErr, ErrCorrupt) {
			t.Fatalf("%v Read: error %v does not wrap ErrCorrupt", c, readErr)
		}
		if writeToErr != nil && !errors.Is(writeToErr, ErrCorrupt) && !errors.Is(writeToErr, errLimit) {
			t.Fatalf("%v WriteTo: error %v wraps neither ErrCorrupt nor the writer's", c, writeToErr)
		}
		if len(viaRead) < limit && len(viaWriteTo) < limit && (readErr == nil) != (writeToErr == nil) {
			t.Fatalf("%v: Read error %v, WriteTo error %v", c, readErr, writeToErr)
		}
		n := min(len(viaRead), len(viaWriteTo))
		if !bytes.Equal(viaRead[:n], viaWriteTo[:n]) {
			t.Fatalf("%v: Read and WriteTo outputs differ within their first %d bytes", c, n)
		}
		if readErr == nil && writeToErr == nil && len(viaRead) != len(viaWriteTo) {
			t.Fatalf("%v: Read gave %d bytes, WriteTo %d", c, len(viaRead), len(viaWriteTo))
		}
	})
}
