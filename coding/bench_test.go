package coding

import (
	"bytes"
	"io"
	"testing"
)

// BenchmarkTranscode runs the node's serving paths over 100 KiB of JSON
// text at the default levels (zstd 3, gzip 6). MB/s counts the decoded body,
// so paths compare; "ratio" is the body's size over its encoded size for the
// paths that encode.
func BenchmarkTranscode(b *testing.B) {
	body := jsonText(100<<10, 42)
	for _, p := range []struct {
		name     string
		from, to Coding
	}{
		{"zstd-identity", Zstd, Identity},
		{"zstd-gzip", Zstd, Gzip},
		{"identity-zstd", Identity, Zstd},
		{"identity-gzip", Identity, Gzip},
		{"gzip-identity", Gzip, Identity},
	} {
		b.Run(p.name, func(b *testing.B) {
			src := encoded(b, body, p.from)
			r := bytes.NewReader(src)
			var n int64
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				r.Reset(src)
				var err error
				if n, err = Transcode(io.Discard, r, p.from, p.to, 0); err != nil {
					b.Fatal(err)
				}
			}
			if p.to != Identity {
				b.ReportMetric(float64(len(body))/float64(n), "ratio")
			}
		})
	}
}
