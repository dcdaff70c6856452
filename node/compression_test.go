package node_test

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/cdnnode/cdnnode/coding"
	"github.com/cdnnode/cdnnode/demoorigin"
	"github.com/cdnnode/cdnnode/internal/testkit"
)

// The tests in this file prove issue 8 end to end: one object, stored
// once, reaches every client in a coding it accepts, with headers true of
// what it got.

// aeClient is a kind of client, named for what its Accept-Encoding asks.
type aeClient struct {
	name   string
	accept string // Accept-Encoding; "" sends none
}

var (
	identityClient = aeClient{"identity", ""}
	gzipClient     = aeClient{"gzip", "gzip"}
	zstdClient     = aeClient{"zstd", "zstd"}
	brClient       = aeClient{"br", "br"}
	browserClient  = aeClient{"browser", "gzip, deflate, br, zstd"}
)

// header is c's request fields plus extra, given as name, value pairs.
func (c aeClient) header(extra ...string) map[string]string {
	hdr := make(map[string]string, 1+len(extra)/2)
	if c.accept != "" {
		hdr["Accept-Encoding"] = c.accept
	}
	for i := 0; i+1 < len(extra); i += 2 {
		hdr[extra[i]] = extra[i+1]
	}
	return hdr
}

// get sends method path as c, with the extra fields, and returns the
// response and its body; an exchange that fails ends the test.
func (c aeClient) get(t *testing.T, h *harness, method, path string, extra ...string) (*http.Response, []byte) {
	t.Helper()
	resp, body, err := h.do(method, path, c.header(extra...))
	if err != nil {
		t.Fatalf("%s %s as the %s client: %v", method, path, c.name, err)
	}
	return resp, body
}

// nodeCoded is the Content-Encoding each kind of client gets for an
// object the node stored in zstd: the stored coding if it accepts it,
// else gzip if it accepts that, else none.
var nodeCoded = []struct {
	c  aeClient
	ce string
}{
	{identityClient, ""},
	{gzipClient, "gzip"},
	{zstdClient, "zstd"},
	{brClient, ""},
	{browserClient, "zstd"},
}

// serverBuffered is more than a Go server buffers before it sends a
// response head (HTTP/1.1: 2 KiB before chunking; HTTP/2: 4 KiB): a
// handler that writes a smaller body and returns gets a Content-Length
// from the server, so only longer bodies show that the node sent none.
const serverBuffered = 8 << 10

// decoded returns body decoded from its Content-Encoding ce ("" is none);
// a body that does not decode ends the test.
func decoded(t *testing.T, ce string, body []byte) []byte {
	t.Helper()
	var r io.Reader
	switch ce {
	case "":
		return body
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("gzip body of %d bytes: %v", len(body), err)
		}
		r = zr
	case "zstd":
		zr, err := zstd.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("zstd body of %d bytes: %v", len(body), err)
		}
		defer zr.Close()
		r = zr
	case "br":
		r = brotli.NewReader(bytes.NewReader(body))
	default:
		t.Fatalf("Content-Encoding %q is none the node sends", ce)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("decoding a %s body of %d bytes: %v", ce, len(body), err)
	}
	return out
}

// wantBody checks that resp has Content-Encoding ce and a body that
// decodes to want.
func wantBody(t *testing.T, what string, resp *http.Response, body []byte, ce string, want []byte) {
	t.Helper()
	if got := resp.Header.Get("Content-Encoding"); got != ce {
		t.Errorf("%s: Content-Encoding %q, want %q", what, got, ce)
		return
	}
	if got := decoded(t, ce, body); !bytes.Equal(got, want) {
		t.Errorf("%s: %q body of %d bytes decodes to %d bytes that differ from the origin's %d", what, ce, len(body), len(got), len(want))
	}
}

// wantStatus checks resp's status code and that Cache-Status contains
// every one of cache.
func wantStatus(t *testing.T, what string, resp *http.Response, status int, cache ...string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Errorf("%s: status %d, want %d", what, resp.StatusCode, status)
	}
	if cs := resp.Header.Get("Cache-Status"); !hasAll(cs, cache...) {
		t.Errorf("%s: Cache-Status %q, want it to contain %q", what, cs, cache)
	}
}

// variesOnEncoding reports whether h's Vary names Accept-Encoding.
func variesOnEncoding(h http.Header) bool {
	for _, line := range h.Values("Vary") {
		for elem := range strings.SplitSeq(line, ",") {
			if strings.EqualFold(strings.TrimSpace(elem), "Accept-Encoding") {
				return true
			}
		}
	}
	return false
}

// codedETag is the ETag of the representation in coding ce of one whose
// ETag is etag: the coding appended inside the quotes.
func codedETag(etag, ce string) string {
	if ce == "" {
		return etag
	}
	return strings.TrimSuffix(etag, `"`) + "-" + ce + `"`
}

// originETag is the ETag the demo origin sends for path to a client that
// sends no Accept-Encoding.
func originETag(t *testing.T, path string) string {
	t.Helper()
	rec := httptest.NewRecorder()
	demoorigin.New(nil).ServeHTTP(rec, httptest.NewRequest(http.MethodHead, path, nil))
	etag := rec.Header().Get("Etag")
	if etag == "" {
		t.Fatalf("the origin sends no ETag for %s", path)
	}
	return etag
}

// wantNodeRep checks a 200 of an object the node stored in zstd: coding
// ce, a body decoding to want, Vary naming Accept-Encoding, the origin's
// ETag etag suffixed by the coding, and Content-Length: the identity
// length unencoded; else the body's when known says the length is known
// before the body is sent, and none when it is not.
func wantNodeRep(t *testing.T, what string, resp *http.Response, body []byte, ce string, want []byte, etag string, known bool) {
	t.Helper()
	wantBody(t, what, resp, body, ce, want)
	if !variesOnEncoding(resp.Header) {
		t.Errorf("%s: Vary %q, want it to name Accept-Encoding", what, resp.Header.Values("Vary"))
	}
	if got, want := resp.Header.Get("Etag"), codedETag(etag, ce); got != want {
		t.Errorf("%s: ETag %s, want %s", what, got, want)
	}
	switch {
	case ce == "" && resp.ContentLength != int64(len(want)):
		t.Errorf("%s: Content-Length %d, want the identity length %d", what, resp.ContentLength, len(want))
	case ce != "" && known && resp.ContentLength != int64(len(body)):
		t.Errorf("%s: Content-Length %d, want the stored length %d", what, resp.ContentLength, len(body))
	case ce != "" && !known && len(body) > serverBuffered && resp.ContentLength >= 0:
		t.Errorf("%s: Content-Length %d for a body coded on the way, want none", what, resp.ContentLength)
	}
}

// waitCached waits until c gets path from cache, asking with HEAD, which
// neither fetches a body nor counts towards a gzip variant.
func waitCached(t *testing.T, h *harness, c aeClient, path string, extra ...string) {
	t.Helper()
	testkit.WaitFor(t, path+" to be stored", func() bool {
		resp, _ := c.get(t, h, http.MethodHead, path, extra...)
		return strings.HasPrefix(resp.Header.Get("Cache-Status"), "cdnnode; hit")
	})
}

// objectName is the path of an object URL, what the origin counts by.
func objectName(path string) string {
	name, _, _ := strings.Cut(path, "?")
	return name
}

// wantOrigin checks how many requests the origin saw for path's object.
func wantOrigin(t *testing.T, h *harness, path string, n int64) {
	t.Helper()
	if got := h.originCount(objectName(path)); got != n {
		t.Errorf("origin requests for %s = %d, want %d", objectName(path), got, n)
	}
}

// gzipVariantAfter is compression.gzip_variant_after in these tests: the
// third gzip request of a stored object, counted from its first hit,
// stores its gzip transcode.
const gzipVariantAfter = 3

// compressionConfig is the [compression] table the tests run with.
var compressionConfig = []string{"[compression]", "gzip_variant_after = " + strconv.Itoa(gzipVariantAfter)}

// TestCompressionEveryClientSameBody proves the first acceptance test of
// issue 8: identity, gzip, zstd and br clients get byte-identical decoded
// bodies of one object the node stored once in zstd, whichever of them
// took the miss, on hits, and from the stored gzip variant, with the
// headers of their representation, over every protocol.
func TestCompressionEveryClientSameBody(t *testing.T) {
	objects := []struct{ name, query string }{
		{"json", "body=json&size=100000"},
		{"text", "body=text&size=100000"},
		{"small-text", "body=text"},
	}
	for _, proto := range protocols {
		t.Run(proto, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, proto, nil, compressionConfig...)
			for _, obj := range objects {
				for _, first := range nodeCoded {
					t.Run(obj.name+"/miss-"+first.c.name, func(t *testing.T) {
						path := "/obj/every-" + obj.name + "-" + first.c.name + "?" + obj.query + "&etag=1"
						want, etag := h.originBody(path), originETag(t, path)
						resp, body := first.c.get(t, h, http.MethodGet, path)
						wantStatus(t, "miss", resp, http.StatusOK, "fwd=miss", "stored")
						wantNodeRep(t, "miss as "+first.c.name, resp, body, first.ce, want, etag, first.ce == "")
						waitCached(t, h, identityClient, path)
						for _, c := range nodeCoded {
							resp, body := c.c.get(t, h, http.MethodGet, path)
							wantStatus(t, "hit as "+c.c.name, resp, http.StatusOK, "cdnnode; hit")
							wantNodeRep(t, "hit as "+c.c.name, resp, body, c.ce, want, etag, c.ce != "gzip")
						}
						// The loop made the first gzip request; the last
						// of these stores the transcode as it sends it.
						for i := 2; i <= gzipVariantAfter; i++ {
							resp, body := gzipClient.get(t, h, http.MethodGet, path)
							wantNodeRep(t, fmt.Sprintf("gzip request %d", i), resp, body, "gzip", want, etag, false)
						}
						resp, body = gzipClient.get(t, h, http.MethodGet, path)
						wantStatus(t, "gzip variant", resp, http.StatusOK, "cdnnode; hit")
						wantNodeRep(t, "gzip variant", resp, body, "gzip", want, etag, true)
						wantOrigin(t, h, path, 1)
					})
				}
			}
		})
	}
}

// TestCompressionVaryAtMostThreeVariants proves that an origin varying on
// Accept-Encoding costs at most three variants, whatever the clients
// send: the node keys them, and asks the origin, by the one coding it
// would serve. Every client gets a body it accepts, decoding to the
// origin's body for its variant.
func TestCompressionVaryAtMostThreeVariants(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "h1", nil, compressionConfig...)
	accepts := []map[string]string{nil} // no Accept-Encoding at all
	for _, ae := range []string{
		"", "gzip", "zstd", "br", "identity", "*", "x-gzip", "X-GZIP", "gzip, deflate",
		"gzip, deflate, br, zstd", "br, zstd", "deflate", "compress, x-compress",
		"gzip;q=1.0, identity; q=0.5, *;q=0", "zstd;q=0.5, gzip;q=0.9", "gzip;q=0.5, zstd;q=0.9",
		"GZip ;Q=0.5", "identity;q=1, zstd;q=0.5", "br;q=1, gzip;q=0.8", "*;q=0", "identity;q=0",
		"identity;q=0, *;q=0", "gzip;q=0", "zstd;q=0, *", "gzip;q=abc, zstd", "zstd;level=19",
		"junk", ";;;,,,", "   ",
	} {
		accepts = append(accepts, map[string]string{"Accept-Encoding": ae})
	}
	tests := []struct {
		name, query string
		bodyVaries  bool // the origin's body depends on the Accept-Encoding it sees
	}{
		{"ce-auto", "ce=auto&body=text&size=20000", false},
		{"vary-accept-encoding", "vary=Accept-Encoding&body=text&size=20000", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := "/obj/variants-" + tt.name + "?" + tt.query
			for _, hdr := range accepts {
				what := fmt.Sprintf("Accept-Encoding %q", hdr["Accept-Encoding"])
				if hdr == nil {
					what = "no Accept-Encoding"
				}
				resp, body, err := h.do(http.MethodGet, path, hdr)
				if err != nil {
					t.Fatalf("%s: %v", what, err)
				}
				wantStatus(t, what, resp, http.StatusOK)
				var lines []string
				if hdr != nil {
					lines = []string{hdr["Accept-Encoding"]}
				}
				accept := coding.ParseAccept(lines)
				best := accept.Best()
				ce := resp.Header.Get("Content-Encoding")
				if c, ok := coding.Of([]string{ce}); ce != "" && (!ok || !accept.Allows(c)) {
					t.Errorf("%s: Content-Encoding %q, which the client does not accept", what, ce)
					continue
				}
				want := h.originBody(path)
				if tt.bodyVaries {
					// The origin saw the coding the variant is keyed by.
					want = h.originBodyFor(path, map[string]string{"Accept-Encoding": best.String()})
					if got := resp.Header.Get("X-Vary-Value"); got != best.String() {
						t.Errorf("%s: the origin saw Accept-Encoding %q, want %q", what, got, best)
					}
				}
				wantBody(t, what, resp, body, ce, want)
				if !variesOnEncoding(resp.Header) {
					t.Errorf("%s: Vary %q, want it to name Accept-Encoding", what, resp.Header.Values("Vary"))
				}
			}
			// The clients above select each of the three variants.
			wantOrigin(t, h, path, 3)
		})
	}
}

// TestCompressionNoTransform proves Cache-Control: no-transform is
// honoured (RFC 9110 §7.7, RFC 9111 §5.2.2.6): on the response, the body
// is stored and served to everyone as the origin sent it, with nothing
// added to Vary; on the request, the client gets the origin's
// representation of the stored body. Either way the body is the origin's
// bytes and the ETag the origin's.
func TestCompressionNoTransform(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "h1", nil, compressionConfig...)
	const noTransform = "cc=public,max-age=60,no-transform"
	tests := []struct {
		name    string
		query   string
		request bool   // the clients send Cache-Control: no-transform
		ce      string // what every client gets
		vary    bool   // whether Vary names Accept-Encoding
	}{
		{"response, compressible", "body=text&size=100000&etag=1&" + noTransform, false, "", false},
		{"response, origin gzip", "ce=gzip&body=text&size=100000&etag=1&" + noTransform, false, "gzip", false},
		{"request, node compressed", "body=text&size=100000&etag=1", true, "", true},
		{"request, origin gzip", "ce=gzip&body=text&size=100000&etag=1", true, "gzip", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := "/obj/no-transform-" + strings.NewReplacer(",", "", " ", "-").Replace(tt.name) + "?" + tt.query
			want, etag := h.originBody(path), originETag(t, path)
			check := func(what string, resp *http.Response, body []byte) {
				t.Helper()
				wantStatus(t, what, resp, http.StatusOK)
				if got := resp.Header.Get("Content-Encoding"); got != tt.ce || !bytes.Equal(body, want) {
					t.Errorf("%s: Content-Encoding %q and %d body bytes, want %q and the origin's %d bytes as sent", what, got, len(body), tt.ce, len(want))
				}
				if got := variesOnEncoding(resp.Header); got != tt.vary {
					t.Errorf("%s: Vary %q names Accept-Encoding: %v, want %v", what, resp.Header.Values("Vary"), got, tt.vary)
				}
				if got := resp.Header.Get("Etag"); got != etag {
					t.Errorf("%s: ETag %s, want the origin's %s", what, got, etag)
				}
			}
			var extra []string
			if tt.request {
				extra = []string{"Cache-Control", "no-transform"}
			}
			// The miss is the browser's, without the request directive.
			resp, body := browserClient.get(t, h, http.MethodGet, path)
			if !tt.request {
				check("miss", resp, body)
			}
			waitCached(t, h, identityClient, path)
			for _, c := range []aeClient{identityClient, gzipClient, zstdClient, brClient, browserClient} {
				resp, body := c.get(t, h, http.MethodGet, path, extra...)
				check(c.name, resp, body)
			}
			wantOrigin(t, h, path, 1)
		})
	}
}

// TestCompressionHeadAndNotModified proves that HEAD and 304 carry the
// fields of the representation the client gets: HEAD as the GET would,
// and a 304 for the representation's own ETag, which never matches
// another coding's (RFC 9110 §8.8.3, §13.1.2, §15.4.5).
func TestCompressionHeadAndNotModified(t *testing.T) {
	t.Parallel()
	// No gzip variant: every gzip response is a transcode, so the GET and
	// the HEAD of a client describe the same representation.
	h := newHarness(t, "h1", nil, "[compression]", "gzip_variant_after = 0")
	const path = "/obj/head-304?body=json&size=100000&etag=1"
	etag := originETag(t, path)
	identityClient.get(t, h, http.MethodGet, path)
	waitCached(t, h, identityClient, path)
	fields := []string{"Content-Encoding", "Content-Length", "Content-Type", "Etag", "Vary", "Cache-Control", "Accept-Ranges"}
	for _, tt := range []struct {
		c  aeClient
		ce string
	}{{identityClient, ""}, {gzipClient, "gzip"}, {zstdClient, "zstd"}} {
		t.Run(tt.c.name, func(t *testing.T) {
			get, body := tt.c.get(t, h, http.MethodGet, path)
			wantNodeRep(t, "GET", get, body, tt.ce, h.originBody(path), etag, tt.ce != "gzip")
			head, body := tt.c.get(t, h, http.MethodHead, path)
			wantStatus(t, "HEAD", head, http.StatusOK, "cdnnode; hit")
			if len(body) != 0 {
				t.Errorf("HEAD: %d body bytes, want none", len(body))
			}
			for _, f := range fields {
				if g, hd := get.Header.Values(f), head.Header.Values(f); strings.Join(g, "\n") != strings.Join(hd, "\n") {
					t.Errorf("HEAD: %s %q, want the GET's %q", f, hd, g)
				}
			}
			tag := codedETag(etag, tt.ce)
			for _, method := range []string{http.MethodGet, http.MethodHead} {
				resp, body := tt.c.get(t, h, method, path, "If-None-Match", tag)
				wantStatus(t, method+" If-None-Match "+tag, resp, http.StatusNotModified, "cdnnode; hit")
				if got := resp.Header.Get("Etag"); got != tag || !variesOnEncoding(resp.Header) || len(body) != 0 {
					t.Errorf("%s If-None-Match %s: 304 with ETag %s, Vary %q and %d body bytes; want ETag %s, Vary naming Accept-Encoding, no body",
						method, tag, got, resp.Header.Values("Vary"), len(body), tag)
				}
			}
		})
	}
	weak := "W/" + codedETag(etag, "zstd")
	tests := []struct {
		name   string
		c      aeClient
		inm    string
		status int
		ce     string
	}{
		{"identity tag to zstd client", zstdClient, etag, http.StatusOK, "zstd"},
		{"zstd tag to identity client", identityClient, codedETag(etag, "zstd"), http.StatusOK, ""},
		{"zstd tag to gzip client", gzipClient, codedETag(etag, "zstd"), http.StatusOK, "gzip"},
		{"identity tag to gzip client", gzipClient, etag, http.StatusOK, "gzip"},
		{"gzip tag to zstd client", zstdClient, codedETag(etag, "gzip"), http.StatusOK, "zstd"},
		{"list naming the zstd tag", zstdClient, `"nope", ` + codedETag(etag, "zstd"), http.StatusNotModified, ""},
		{"weak zstd tag, weak comparison", zstdClient, weak, http.StatusNotModified, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := tt.c.get(t, h, http.MethodGet, path, "If-None-Match", tt.inm)
			wantStatus(t, "If-None-Match "+tt.inm, resp, tt.status, "cdnnode; hit")
			if tt.status == http.StatusOK {
				wantBody(t, "If-None-Match "+tt.inm, resp, body, tt.ce, h.originBody(path))
			}
		})
	}
}

// TestCompressionRange proves that byte ranges of a body the node
// compressed are ranges of its identity representation, whatever the
// client accepts, single and multipart; and that a body the origin
// encoded is ranged as sent or not at all.
func TestCompressionRange(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "h1", nil, compressionConfig...)
	const node, origin = "/obj/range?body=json&size=100000&etag=1", "/obj/range-ce?ce=gzip&body=text&size=100000"
	for _, p := range []string{node, origin} {
		zstdClient.get(t, h, http.MethodGet, p)
		waitCached(t, h, identityClient, p)
	}
	ident, gz := h.originBody(node), h.originBody(origin)
	type part struct{ first, last int }
	tests := []struct {
		name   string
		path   string
		c      aeClient
		extra  []string
		status int
		ce     string
		parts  []part // the identity (or, with ce, the coded) bytes sent; none: all
		total  int    // the length Content-Range names
	}{
		{"identity client", node, identityClient, []string{"Range", "bytes=10-19"}, http.StatusPartialContent, "", []part{{10, 19}}, 100000},
		{"zstd client", node, zstdClient, []string{"Range", "bytes=10-19"}, http.StatusPartialContent, "", []part{{10, 19}}, 100000},
		{"gzip client", node, gzipClient, []string{"Range", "bytes=10-19"}, http.StatusPartialContent, "", []part{{10, 19}}, 100000},
		{"suffix", node, browserClient, []string{"Range", "bytes=-5"}, http.StatusPartialContent, "", []part{{99995, 99999}}, 100000},
		{"open end", node, zstdClient, []string{"Range", "bytes=99990-"}, http.StatusPartialContent, "", []part{{99990, 99999}}, 100000},
		{"middle of a block", node, zstdClient, []string{"Range", "bytes=65530-65545"}, http.StatusPartialContent, "", []part{{65530, 65545}}, 100000},
		{"multipart, gzip client", node, gzipClient, []string{"Range", "bytes=0-1,50000-50009,-3"}, http.StatusPartialContent, "", []part{{0, 1}, {50000, 50009}, {99997, 99999}}, 100000},
		{"multipart, zstd client", node, zstdClient, []string{"Range", "bytes=5-9,70000-70100"}, http.StatusPartialContent, "", []part{{5, 9}, {70000, 70100}}, 100000},
		{"If-Range with the identity tag", node, zstdClient, []string{"Range", "bytes=10-19", "If-Range", originETag(t, node)}, http.StatusPartialContent, "", []part{{10, 19}}, 100000},
		{"unsatisfiable", node, zstdClient, []string{"Range", "bytes=200000-"}, http.StatusRequestedRangeNotSatisfiable, "", nil, 100000},
		{"origin gzip, decoded: whole body", origin, identityClient, []string{"Range", "bytes=10-19"}, http.StatusOK, "", nil, 0},
		{"origin gzip, as sent", origin, gzipClient, []string{"Range", "bytes=10-19"}, http.StatusPartialContent, "gzip", []part{{10, 19}}, len(gz)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := tt.c.get(t, h, http.MethodGet, tt.path, tt.extra...)
			wantStatus(t, tt.name, resp, tt.status, "cdnnode; hit")
			if !variesOnEncoding(resp.Header) {
				t.Errorf("Vary %q, want it to name Accept-Encoding", resp.Header.Values("Vary"))
			}
			full := ident
			if tt.ce != "" {
				full = gz
			}
			switch {
			case tt.status == http.StatusRequestedRangeNotSatisfiable:
				if got, want := resp.Header.Get("Content-Range"), "bytes */"+strconv.Itoa(tt.total); got != want {
					t.Errorf("Content-Range %q, want %q", got, want)
				}
			case tt.parts == nil:
				wantBody(t, tt.name, resp, body, tt.ce, h.originBody("/obj/range-ce?body=text&size=100000"))
			case len(tt.parts) == 1:
				p := tt.parts[0]
				want := fmt.Sprintf("bytes %d-%d/%d", p.first, p.last, tt.total)
				if got := resp.Header.Get("Content-Range"); got != want || resp.Header.Get("Content-Encoding") != tt.ce || !bytes.Equal(body, full[p.first:p.last+1]) {
					t.Errorf("Content-Range %q, Content-Encoding %q, body %q; want %q, %q, %q",
						got, resp.Header.Get("Content-Encoding"), body, want, tt.ce, full[p.first:p.last+1])
				}
			default:
				mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
				if err != nil || mt != "multipart/byteranges" {
					t.Fatalf("Content-Type %q (%v), want multipart/byteranges", resp.Header.Get("Content-Type"), err)
				}
				mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
				for i, p := range tt.parts {
					mp, err := mr.NextPart()
					if err != nil {
						t.Fatalf("part %d: %v", i, err)
					}
					got, _ := io.ReadAll(mp)
					want := fmt.Sprintf("bytes %d-%d/%d", p.first, p.last, tt.total)
					if cr := mp.Header.Get("Content-Range"); cr != want || !bytes.Equal(got, full[p.first:p.last+1]) {
						t.Errorf("part %d: %q %q, want %q %q", i, cr, got, want, full[p.first:p.last+1])
					}
				}
				if _, err := mr.NextPart(); err != io.EOF {
					t.Errorf("after the last part: %v, want EOF", err)
				}
			}
		})
	}
}

// TestCompressionOriginEncoded proves that bodies the origin encoded are
// stored as sent, passed through to clients that accept their coding
// (br only to those) and decoded for the others.
func TestCompressionOriginEncoded(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "h1", nil, compressionConfig...)
	tests := []struct {
		coding string
		ce     map[string]string // Content-Encoding by client name; absent: none
	}{
		{"gzip", map[string]string{"gzip": "gzip", "browser": "gzip"}},
		{"br", map[string]string{"br": "br", "browser": "br"}},
		{"zstd", map[string]string{"zstd": "zstd", "browser": "zstd"}},
	}
	for _, tt := range tests {
		t.Run(tt.coding, func(t *testing.T) {
			name := "/obj/origin-" + tt.coding
			path := name + "?ce=" + tt.coding + "&body=text&size=100000&etag=1"
			sent, etag := h.originBody(path), originETag(t, path)
			ident := h.originBody(name + "?body=text&size=100000")
			resp, body := identityClient.get(t, h, http.MethodGet, path)
			wantStatus(t, "miss", resp, http.StatusOK, "fwd=miss", "stored")
			wantBody(t, "miss as identity", resp, body, "", ident)
			waitCached(t, h, identityClient, path)
			for _, c := range []aeClient{identityClient, gzipClient, zstdClient, brClient, browserClient} {
				resp, body := c.get(t, h, http.MethodGet, path)
				wantStatus(t, c.name, resp, http.StatusOK, "cdnnode; hit")
				ce := tt.ce[c.name]
				wantBody(t, c.name, resp, body, ce, ident)
				if ce != "" && !bytes.Equal(body, sent) {
					t.Errorf("%s: %d body bytes, want the origin's %d as sent", c.name, len(body), len(sent))
				}
				if got := resp.Header.Get("Etag"); (ce != "") != (got == etag) {
					t.Errorf("%s: ETag %s, want the origin's %s exactly when the body is as sent", c.name, got, etag)
				}
				if !variesOnEncoding(resp.Header) {
					t.Errorf("%s: Vary %q, want it to name Accept-Encoding", c.name, resp.Header.Values("Vary"))
				}
			}
			wantOrigin(t, h, path, 1)
		})
	}
}

// TestCompressionCorruptOriginGzipAborts proves that a gzip body from the
// origin that does not decode never reaches a client that needs it
// decoded as a complete 200: its transfer aborts, whether it is the
// fill's own client or a later one served from cache (a gzip client
// stored the body as sent: the node passes codings through unchecked).
func TestCompressionCorruptOriginGzipAborts(t *testing.T) {
	t.Parallel()
	text := bytes.Repeat([]byte("Every client gets a body it can decode, or none at all. "), 2000)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(text); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	badCRC := bytes.Clone(good)
	badCRC[len(badCRC)-8] ^= 0xff // the CRC-32 in the trailer
	tests := []struct {
		name string
		body []byte
	}{
		{"not-gzip", bytes.Repeat([]byte("this was never gzip "), 4000)},
		{"bad-crc", badCRC},
		{"truncated", good[:len(good)/2]},
	}
	bodies := make(map[string][]byte, len(tests))
	for _, tt := range tests {
		bodies["/"+tt.name] = tt.body
	}
	h := newHarness(t, "h1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := bodies[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Set("Cache-Control", "public, max-age=60")
		_, _ = w.Write(b)
	}), compressionConfig...)
	aborted := func(t *testing.T, what, path string) {
		t.Helper()
		resp, body, err := h.do(http.MethodGet, path, nil)
		if err == nil {
			t.Errorf("%s: status %d with %d body bytes and no error (Cache-Status %q), want an aborted transfer",
				what, resp.StatusCode, len(body), resp.Header.Get("Cache-Status"))
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			aborted(t, "identity client on the miss", "/"+tt.name+"?fill=identity")
			path := "/" + tt.name + "?fill=gzip"
			resp, body := gzipClient.get(t, h, http.MethodGet, path)
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Encoding") != "gzip" || !bytes.Equal(body, tt.body) {
				t.Fatalf("gzip client: status %d, Content-Encoding %q, %d bytes; want 200 with the origin's %d gzip bytes as sent",
					resp.StatusCode, resp.Header.Get("Content-Encoding"), len(body), len(tt.body))
			}
			waitCached(t, h, gzipClient, path)
			aborted(t, "identity client on a hit", path)
		})
	}
}

// TestCompressionCollapsedReaders proves that the clients collapsed onto
// one slow miss each get their own representation of the one fill.
func TestCompressionCollapsedReaders(t *testing.T) {
	readers := []struct {
		c  aeClient
		ce string
	}{
		{identityClient, ""},
		{gzipClient, "gzip"},
		{zstdClient, "zstd"},
		{brClient, ""},
		{browserClient, "zstd"},
		{aeClient{"x-gzip", "x-gzip"}, "gzip"},
		{aeClient{"star", "*"}, "zstd"},
		{aeClient{"identity named", "identity"}, ""},
		{aeClient{"zstd accepted, gzip preferred", "gzip;q=1, zstd;q=0.5"}, "zstd"},
		{aeClient{"gzip, identity refused", "gzip, identity;q=0"}, "gzip"},
	}
	for _, proto := range protocols {
		t.Run(proto, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, proto, nil, compressionConfig...)
			const path = "/obj/collapse-coded?delay=300ms&body=json&size=100000"
			want := h.originBody(path)
			const rounds = 2 // so each kind of client is likely among the readers
			var wg sync.WaitGroup
			statuses := make([]string, rounds*len(readers))
			for i := range statuses {
				r := readers[i%len(readers)]
				wg.Go(func() {
					resp, body, err := h.do(http.MethodGet, path, r.c.header())
					if err != nil {
						t.Errorf("%s client: %v", r.c.name, err)
						return
					}
					if resp.StatusCode != http.StatusOK {
						t.Errorf("%s client: status %d", r.c.name, resp.StatusCode)
						return
					}
					statuses[i] = resp.Header.Get("Cache-Status")
					wantBody(t, r.c.name+" client", resp, body, r.ce, want)
				})
			}
			wg.Wait()
			wantOrigin(t, h, path, 1)
			collapsed := 0
			for _, cs := range statuses {
				if strings.Contains(cs, "collapsed") {
					collapsed++
				}
			}
			if collapsed == 0 {
				t.Errorf("no response says collapsed: %q", statuses)
			}
		})
	}
}

// TestCompressionMetrics proves that cdnnode_encodings_served_total counts
// each body served by coding and how it was made, and that
// cdnnode_compression_saved_bytes_total counts what compression saved in
// the store and on the wire, to the byte.
func TestCompressionMetrics(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "h1", nil, compressionConfig...)
	const path, size = "/obj/metrics?body=json&size=100000", 100000
	want := h.originBody(path)
	var wire int64 // identity bytes not sent
	coded := func(c aeClient, ce string) *http.Response {
		t.Helper()
		resp, body := c.get(t, h, http.MethodGet, path)
		wantBody(t, c.name, resp, body, ce, want)
		if ce != "" {
			wire += size - int64(len(body))
		}
		return resp
	}
	coded(zstdClient, "zstd") // a miss: encoded on the way
	waitCached(t, h, identityClient, path)
	stored := coded(zstdClient, "zstd").ContentLength
	coded(identityClient, "")
	for range gzipVariantAfter {
		coded(gzipClient, "gzip")
	}
	coded(gzipClient, "gzip") // from the variant
	// A body the origin encoded: the gzip client's miss gets it as stored,
	// the identity client's hit decoded. Its unencoded length is unknown,
	// so it counts no saving.
	const ce = "/obj/metrics-ce?ce=gzip&body=text&size=100000"
	gzipClient.get(t, h, http.MethodGet, ce)
	waitCached(t, h, identityClient, ce)
	identityClient.get(t, h, http.MethodGet, ce)

	series := []struct {
		name string
		want float64
	}{
		{`cdnnode_encodings_served_total{encoding="zstd",how="encoded"}`, 1},
		{`cdnnode_encodings_served_total{encoding="zstd",how="as-stored"}`, 1},
		{`cdnnode_encodings_served_total{encoding="identity",how="decoded"}`, 2},
		{`cdnnode_encodings_served_total{encoding="gzip",how="transcoded"}`, gzipVariantAfter},
		{`cdnnode_encodings_served_total{encoding="gzip",how="variant"}`, 1},
		{`cdnnode_encodings_served_total{encoding="gzip",how="as-stored"}`, 1},
		{`cdnnode_compression_saved_bytes_total{where="store"}`, float64(size - stored)},
		{`cdnnode_compression_saved_bytes_total{where="wire"}`, float64(wire)},
	}
	// Counters move once a body is sent, which a client reading a body of
	// known length may see first.
	var last string
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("last /metrics read:\n%s", last)
		}
	})
	testkit.WaitFor(t, fmt.Sprintf("the metrics %v", series), func() bool {
		last = h.adminGet("/metrics")
		for _, s := range series {
			if sumMetric(last, s.name) != s.want {
				return false
			}
		}
		return true
	})
}

// TestCompressionIncompressibleStoredAsSent proves that a body of a
// compressible type that zstd does not shrink (the demo origin's random
// bytes) is stored as sent: hits go to every client unencoded, with no
// Vary added, and the store counts no saving.
func TestCompressionIncompressibleStoredAsSent(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "h1", nil, compressionConfig...)
	const path = "/obj/incompressible?size=100000&etag=1"
	want, etag := h.originBody(path), originETag(t, path)
	resp, body := zstdClient.get(t, h, http.MethodGet, path)
	wantStatus(t, "miss", resp, http.StatusOK, "fwd=miss", "stored")
	wantBody(t, "miss", resp, body, resp.Header.Get("Content-Encoding"), want)
	waitCached(t, h, identityClient, path)
	for _, c := range []aeClient{identityClient, gzipClient, zstdClient, browserClient} {
		resp, body := c.get(t, h, http.MethodGet, path)
		wantStatus(t, c.name, resp, http.StatusOK, "cdnnode; hit")
		wantBody(t, c.name, resp, body, "", want)
		if variesOnEncoding(resp.Header) || resp.Header.Get("Etag") != etag || resp.ContentLength != int64(len(want)) {
			t.Errorf("%s: Vary %q, ETag %s, Content-Length %d; want no Vary, the origin's ETag %s and length %d",
				c.name, resp.Header.Values("Vary"), resp.Header.Get("Etag"), resp.ContentLength, etag, len(want))
		}
	}
	if got := sumMetric(h.adminGet("/metrics"), `cdnnode_compression_saved_bytes_total{where="store"}`); got != 0 {
		t.Errorf("store savings %v, want none", got)
	}
	wantOrigin(t, h, path, 1)
}

// TestCompressionWarmRestart proves that objects the node stored in zstd
// on its disk tier, and a stored gzip variant, serve every kind of client
// after a restart: their coding and unencoded length are kept with them.
func TestCompressionWarmRestart(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "h1", nil, append([]string{"[cache]", `max_memory_object = "64KiB"`,
		"[cache.disk]", "path = " + strconv.Quote(t.TempDir())}, compressionConfig...)...)
	host := []string{"Host", "cdn.example"} // the listeners' ports change at the restart
	paths := []string{
		"/obj/restart-memory?body=json&size=100000&etag=1", // some 30 KiB in zstd: memory and disk
		"/obj/restart-disk?body=text&size=300000&etag=1",   // some 130 KiB: disk only
	}
	for _, path := range paths {
		identityClient.get(t, h, http.MethodGet, path, host...)
		waitCached(t, h, identityClient, path, host...)
	}
	for range gzipVariantAfter {
		gzipClient.get(t, h, http.MethodGet, paths[0], host...)
	}
	h.restart() // a graceful stop applies the queued disk writes first
	for _, path := range paths {
		want, etag := h.originBody(path), originETag(t, path)
		for _, c := range nodeCoded {
			resp, body := c.c.get(t, h, http.MethodGet, path, host...)
			what := fmt.Sprintf("%s after the restart as %s", objectName(path), c.c.name)
			wantStatus(t, what, resp, http.StatusOK, "cdnnode; hit")
			wantNodeRep(t, what, resp, body, c.ce, want, etag, c.ce == "zstd" || (c.ce == "gzip" && path == paths[0]))
		}
		wantOrigin(t, h, path, 1)
	}
}

// TestCompressionGzipVariantOfDiskObject proves that a gzip variant is
// stored for an object served from the disk tier as for one in memory:
// after gzip_variant_after gzip requests, later ones get it as stored.
func TestCompressionGzipVariantOfDiskObject(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "h1", nil, append([]string{"[cache]", `max_memory_object = "64KiB"`,
		"[cache.disk]", "path = " + strconv.Quote(t.TempDir())}, compressionConfig...)...)
	const path = "/obj/disk-variant?body=text&size=300000&etag=1" // some 130 KiB in zstd: disk only
	want, etag := h.originBody(path), originETag(t, path)
	identityClient.get(t, h, http.MethodGet, path)
	waitCached(t, h, identityClient, path)
	for i := 1; i <= gzipVariantAfter; i++ {
		resp, body := gzipClient.get(t, h, http.MethodGet, path)
		wantNodeRep(t, fmt.Sprintf("gzip request %d", i), resp, body, "gzip", want, etag, false)
	}
	// A transcode has no Content-Length; the stored variant has one.
	resp, body := gzipClient.get(t, h, http.MethodGet, path)
	wantNodeRep(t, "gzip request after the variant was stored", resp, body, "gzip", want, etag, true)
}
