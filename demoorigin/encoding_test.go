package demoorigin

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
)

var codings = []coding{gzipCoding, zstdCoding, brCoding}

// decode reads body, sent in coding c, with a reader independent of the
// origin's encoders: the standard library's gzip, klauspost's zstd,
// andybalholm's brotli. It returns what it decoded before any error.
func decode(c coding, body []byte) ([]byte, error) {
	var r io.Reader
	switch c {
	case identity:
		return body, nil
	case gzipCoding:
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			return nil, fmt.Errorf("gzip header: %w", err)
		}
		r = zr
	case zstdCoding:
		zr, err := zstd.NewReader(bytes.NewReader(body))
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		defer zr.Close()
		r = zr
	case brCoding:
		r = brotli.NewReader(bytes.NewReader(body))
	}
	return io.ReadAll(r)
}

func TestNegotiate(t *testing.T) {
	tests := []struct {
		name string
		ae   []string // field lines; nil for none
		want coding
	}{
		{name: "no field", ae: nil, want: identity},
		{name: "empty field", ae: []string{""}, want: identity},
		{name: "gzip only", ae: []string{"gzip"}, want: gzipCoding},
		{name: "browser", ae: []string{"gzip, deflate, br"}, want: brCoding},
		{name: "browser with zstd", ae: []string{"gzip, deflate, br, zstd"}, want: brCoding},
		{name: "zstd before gzip", ae: []string{"gzip, zstd"}, want: zstdCoding},
		{name: "br ruled out", ae: []string{"br;q=0, gzip, zstd"}, want: zstdCoding},
		{name: "br ruled out, spaced", ae: []string{"br ; q=0.000 , gzip"}, want: gzipCoding},
		{name: "higher weight wins", ae: []string{"br;q=0.5, gzip"}, want: gzipCoding},
		{name: "equal weights by preference", ae: []string{"gzip;q=0.8, br;q=0.8"}, want: brCoding},
		{name: "star", ae: []string{"*"}, want: brCoding},
		{name: "star ruled out", ae: []string{"*;q=0"}, want: identity},
		{name: "star but br", ae: []string{"*, br;q=0"}, want: zstdCoding},
		{name: "named weight beats star", ae: []string{"*;q=0.1, gzip;q=0.9"}, want: gzipCoding},
		{name: "gzip ruled out", ae: []string{"gzip;q=0"}, want: identity},
		{name: "x-gzip", ae: []string{"x-gzip"}, want: gzipCoding},
		{name: "case-insensitive", ae: []string{"GZip;Q=1"}, want: gzipCoding},
		{name: "identity only", ae: []string{"identity"}, want: identity},
		{name: "unknown codings", ae: []string{"deflate, compress"}, want: identity},
		{name: "several field lines", ae: []string{"gzip", "br"}, want: brCoding},
		{name: "q above 1 ignored", ae: []string{"br;q=1.5, gzip"}, want: gzipCoding},
		{name: "four decimals ignored", ae: []string{"br;q=0.0001, gzip;q=0.5"}, want: gzipCoding},
		{name: "q not a number ignored", ae: []string{"zstd;q=high, gzip"}, want: gzipCoding},
		{name: "other parameter ignored", ae: []string{"zstd;level=3"}, want: zstdCoding},
		{name: "empty members", ae: []string{",, ,gzip,"}, want: gzipCoding},
		{name: "unicode folding is not ASCII case", ae: []string{"zſtd, gzip"}, want: gzipCoding},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := negotiate(tt.ae); got != tt.want {
				t.Errorf("negotiate(%q) = %v, want %v", tt.ae, got, tt.want)
			}
		})
	}
}

func TestQvalue(t *testing.T) {
	tests := []struct {
		v      string
		want   int
		wantOK bool
	}{
		{"0", 0, true}, {"0.", 0, true}, {"0.5", 500, true}, {"0.05", 50, true}, {"0.001", 1, true},
		{"1", 1000, true}, {"1.", 1000, true}, {"1.000", 1000, true},
		{"", 0, false}, {"1.001", 0, false}, {"2", 0, false}, {".5", 0, false}, {"0.1234", 0, false},
		{"0,5", 0, false}, {"00", 0, false}, {"0.a", 0, false}, {"-0", 0, false},
	}
	for _, tt := range tests {
		if got, ok := qvalue(tt.v); got != tt.want || ok != tt.wantOK {
			t.Errorf("qvalue(%q) = %d, %v; want %d, %v", tt.v, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestContentCoding(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		s, ts := startOrigin(t, h2)
		requests := 0
		for _, kind := range kinds {
			for _, c := range codings {
				for _, size := range []int{0, 1000, 100_000} {
					for _, chunked := range []bool{false, true} {
						if kind == bodyJSON && size < minJSONSize {
							continue
						}
						name := fmt.Sprintf("h2=%v/%s/%s/%d/chunked=%v", h2, kind, c, size, chunked)
						t.Run(name, func(t *testing.T) {
							target := fmt.Sprintf("/obj/a?body=%s&ce=%s&size=%d&etag=1&chunked=%v", kind, c, size, chunked)
							// A fixed coding is sent whatever the request accepts.
							resp, body := fetch(t, ts, http.MethodGet, target, http.Header{"Accept-Encoding": {"identity"}})
							head, hb := fetch(t, ts, http.MethodHead, target, nil)
							requests += 2
							if resp.StatusCode != http.StatusOK {
								t.Fatalf("status %d: %s", resp.StatusCode, body)
							}
							got, err := decode(c, body)
							if err != nil {
								t.Fatalf("decode %d bytes: %v", len(body), err)
							}
							if want := generate(kind, bodySeed("a", false, ""), size, 32<<10); !bytes.Equal(got, want) {
								t.Errorf("decoded %d bytes, differing from the %d of the identity body", len(got), len(want))
							}
							base := etag("a", &params{size: int64(size), body: kind}, "", identity)
							wantFields := map[string]string{
								"Content-Encoding": c.String(),
								"Content-Length":   "",
								"Content-Type":     kind.defaultType(),
								"ETag":             strings.TrimSuffix(base, `"`) + "-" + c.String() + `"`,
								"Vary":             "",
							}
							for f, want := range wantFields {
								if got := resp.Header.Get(f); got != want {
									t.Errorf("GET %s = %q, want %q", f, got, want)
								}
								if got := head.Header.Get(f); got != want {
									t.Errorf("HEAD %s = %q, want %q", f, got, want)
								}
							}
							if resp.ContentLength != -1 || len(hb) != 0 {
								t.Errorf("GET ContentLength %d, HEAD %d body bytes; want -1, 0", resp.ContentLength, len(hb))
							}
						})
					}
				}
			}
		}
		if got := s.Stats().Requests; got != int64(requests) {
			t.Errorf("h2=%v: Stats().Requests = %d, want %d", h2, got, requests)
		}
	}
}

func TestAutoCoding(t *testing.T) {
	plain := bodySeed("a", false, "")
	tests := []struct {
		name     string
		query    string
		ae       []string
		want     coding
		wantVary string
		seed     uint64 // of the identity body
	}{
		{name: "no Accept-Encoding", ae: nil, want: identity, wantVary: "Accept-Encoding", seed: plain},
		{name: "gzip", ae: []string{"gzip"}, want: gzipCoding, wantVary: "Accept-Encoding", seed: plain},
		{name: "browser", ae: []string{"gzip, deflate, br, zstd"}, want: brCoding, wantVary: "Accept-Encoding", seed: plain},
		{name: "br refused", ae: []string{"gzip, deflate, br;q=0, zstd"}, want: zstdCoding, wantVary: "Accept-Encoding", seed: plain},
		{name: "all refused", ae: []string{"*;q=0"}, want: identity, wantVary: "Accept-Encoding", seed: plain},
		{
			name: "with vary", query: "&vary=accept-language", ae: []string{"gzip"}, want: gzipCoding,
			wantVary: "Accept-Language, Accept-Encoding", seed: bodySeed("a", true, ""),
		},
		{
			name: "vary on Accept-Encoding once", query: "&vary=accept-encoding", ae: []string{"zstd"}, want: zstdCoding,
			wantVary: "Accept-Encoding", seed: bodySeed("a", true, "zstd"),
		},
	}
	_, ts := newOrigin(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hdr http.Header
			if tt.ae != nil {
				hdr = http.Header{"Accept-Encoding": tt.ae}
			}
			resp, body := fetch(t, ts, http.MethodGet, "/obj/a?body=json&size=5000&ce=auto&etag=1"+tt.query, hdr)
			if got := resp.Header.Get("Vary"); got != tt.wantVary {
				t.Errorf("Vary = %q, want %q", got, tt.wantVary)
			}
			wantCE := tt.want.String()
			if tt.want == identity {
				wantCE = ""
				if got := resp.Header.Get("Content-Length"); got != "5000" {
					t.Errorf("identity answer: Content-Length %q, want 5000", got)
				}
			}
			if got := resp.Header.Get("Content-Encoding"); got != wantCE {
				t.Fatalf("Content-Encoding = %q, want %q", got, wantCE)
			}
			got, err := decode(tt.want, body)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if want := generate(bodyJSON, tt.seed, 5000, 5000); !bytes.Equal(got, want) {
				t.Error("decoded body differs from the identity body")
			}
		})
	}
}

func TestCodingConditional(t *testing.T) {
	_, ts := newOrigin(t)
	const target = "/obj/a?ce=auto&etag=1&size=3000&body=text"
	tags := map[coding]string{}
	for _, c := range []coding{identity, gzipCoding, zstdCoding, brCoding} {
		resp, _ := fetch(t, ts, http.MethodGet, target, http.Header{"Accept-Encoding": {c.String()}})
		tags[c] = resp.Header.Get("ETag")
	}
	for c, tag := range tags {
		for d, other := range tags {
			if c != d && tag == other {
				t.Errorf("%v and %v share ETag %s", c, d, tag)
			}
		}
	}
	tests := []struct {
		name string
		ae   string
		inm  string
		want int
	}{
		{name: "gzip tag, gzip accepted", ae: "gzip", inm: tags[gzipCoding], want: 304},
		{name: "gzip tag, br chosen", ae: "gzip, br", inm: tags[gzipCoding], want: 200},
		{name: "br tag, br chosen", ae: "gzip, br", inm: tags[brCoding], want: 304},
		{name: "identity tag, identity chosen", ae: "identity", inm: tags[identity], want: 304},
		{name: "identity tag, zstd chosen", ae: "zstd", inm: tags[identity], want: 200},
		{name: "every tag in the list", ae: "zstd", inm: tags[identity] + ", " + tags[gzipCoding] + ", " + tags[zstdCoding], want: 304},
		{name: "weak tag", ae: "zstd", inm: "W/" + tags[zstdCoding], want: 304},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := fetch(t, ts, http.MethodGet, target, http.Header{"Accept-Encoding": {tt.ae}, "If-None-Match": {tt.inm}})
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.want)
			}
			if tt.want != 304 {
				return
			}
			if len(body) != 0 || resp.Header.Get("Content-Encoding") != "" || resp.Header.Get("Vary") != "Accept-Encoding" {
				t.Errorf("304: %d body bytes, Content-Encoding %q, Vary %q; want 0, none, Accept-Encoding",
					len(body), resp.Header.Get("Content-Encoding"), resp.Header.Get("Vary"))
			}
			if got := resp.Header.Get("ETag"); got != strings.TrimPrefix(tt.inm, "W/") && !strings.Contains(tt.inm, got) {
				t.Errorf("304 ETag %q, not among %q", got, tt.inm)
			}
		})
	}
	// A fixed coding's tag validates only that coding.
	resp, _ := fetch(t, ts, http.MethodGet, "/obj/a?ce=gzip&etag=1&size=3000&body=text", http.Header{"If-None-Match": {tags[gzipCoding]}})
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("ce=gzip with its tag: status %d, want 304", resp.StatusCode)
	}
	resp, _ = fetch(t, ts, http.MethodGet, "/obj/a?ce=gzip&etag=1&size=3000&body=text", http.Header{"If-None-Match": {tags[identity]}})
	if resp.StatusCode != http.StatusOK {
		t.Errorf("ce=gzip with the identity tag: status %d, want 200", resp.StatusCode)
	}
}

func TestAbortEncoded(t *testing.T) {
	const size = 200_000
	want := generate(bodyText, bodySeed("a", false, ""), size, size)
	for _, h2 := range []bool{false, true} {
		_, ts := startOrigin(t, h2)
		for _, c := range codings {
			for _, n := range []int{0, 100, 70_000} {
				t.Run(fmt.Sprintf("h2=%v/%s/%d", h2, c, n), func(t *testing.T) {
					resp, err := ts.Client().Get(ts.URL + "/obj/a?body=text&size=" + strconv.Itoa(size) + "&ce=" + c.String() + "&abort=" + strconv.Itoa(n))
					if err != nil {
						t.Fatal(err)
					}
					defer resp.Body.Close()
					if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Encoding") != c.String() {
						t.Fatalf("status %d, Content-Encoding %q", resp.StatusCode, resp.Header.Get("Content-Encoding"))
					}
					body, err := io.ReadAll(resp.Body)
					if err == nil {
						t.Fatalf("read %d encoded bytes without an error", len(body))
					}
					got, derr := decode(c, body)
					if !bytes.Equal(got, want[:n]) {
						t.Errorf("decoded %d bytes (then %v), want the first %d of the body", len(got), derr, n)
					}
				})
			}
		}
	}
}

func BenchmarkBodyCompression(b *testing.B) {
	const size = 100 << 10
	levels := []struct {
		c     coding
		level string
	}{{gzipCoding, "6"}, {zstdCoding, "3"}, {brCoding, "6"}}
	for _, kind := range kinds {
		body := generate(kind, bodySeed("bench", false, ""), size, size)
		for _, l := range levels {
			b.Run(kind.String()+"/"+l.c.String()+"-"+l.level, func(b *testing.B) {
				var out bytes.Buffer
				e, err := newEncoder(l.c, &out)
				if err != nil {
					b.Fatal(err)
				}
				b.SetBytes(size)
				b.ReportAllocs()
				for b.Loop() {
					out.Reset()
					e.Reset(&out)
					if _, err := e.Write(body); err != nil {
						b.Fatal(err)
					}
					if err := e.Close(); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(out.Len())/size, "ratio")
			})
		}
	}
}
