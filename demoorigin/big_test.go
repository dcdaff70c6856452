package demoorigin

import (
	"io"
	"net/http"
	"strconv"
	"testing"

	"github.com/cespare/xxhash/v2"
)

func TestBigBody(t *testing.T) {
	_, ts := newOrigin(t)
	for _, chunked := range []bool{false, true} {
		t.Run("chunked="+strconv.FormatBool(chunked), func(t *testing.T) {
			url := ts.URL + "/obj/big?size=" + strconv.Itoa(bigSize) + "&chunked=" + strconv.FormatBool(chunked)
			resp, err := ts.Client().Get(url)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			got := xxhash.New()
			n, err := io.Copy(got, resp.Body)
			if err != nil {
				t.Fatalf("read after %d bytes: %v", n, err)
			}
			if n != bigSize {
				t.Fatalf("read %d bytes, want %d", n, bigSize)
			}
			// The same bytes generated in other-sized chunks.
			want := xxhash.New()
			g := newBody(bodyRandom, bodySeed("big", false, ""), bigSize)
			buf := make([]byte, 1<<20+8)
			for left := bigSize; left > 0; {
				m := min(len(buf), left)
				g.fill(buf[:m])
				_, _ = want.Write(buf[:m])
				left -= m
			}
			if got.Sum64() != want.Sum64() {
				t.Error("streamed body differs from the generated one")
			}
		})
	}
}

func BenchmarkBody(b *testing.B) {
	const size = 1 << 20
	for _, kind := range []bodyKind{bodyRandom, bodyText, bodyJSON} {
		for _, c := range []coding{identity, gzipCoding, zstdCoding, brCoding} {
			b.Run(kind.String()+"/"+c.String(), func(b *testing.B) {
				s := New(nil)
				seed := bodySeed("bench", false, "")
				b.SetBytes(size) // identity bytes
				b.ReportAllocs()
				for b.Loop() {
					if err := s.writeBody(discardWriter{}, newBody(kind, seed, size), size, c, false); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// discardWriter is an http.ResponseWriter that drops everything.
type discardWriter struct{}

func (discardWriter) Header() http.Header         { return http.Header{} }
func (discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (discardWriter) WriteHeader(int)             {}
func (discardWriter) Flush()                      {}
