package main

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// digest is a body's length and SHA-256, taken as it streams.
type digest struct {
	n   int64
	sum [sha256.Size]byte
}

func (d digest) String() string { return fmt.Sprintf("%d bytes, sha256 %x", d.n, d.sum[:8]) }

// sumOf reads r to its end into a digest, holding no more than a copy
// buffer of it.
func sumOf(r io.Reader) (digest, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	var d digest
	d.n = n
	h.Sum(d.sum[:0])
	return d, err
}

// streamDecoded GETs url with Host cdnHost and Accept-Encoding accept (""
// sends none) and digests the body decoded from its Content-Encoding as it
// arrives.
func streamDecoded(c *http.Client, url, accept string) (status int, cacheStatus, ce string, d digest, err error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, "", "", d, err
	}
	req.Host = cdnHost
	if accept != "" {
		req.Header.Set("Accept-Encoding", accept)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", "", d, err
	}
	defer resp.Body.Close()
	status, cacheStatus, ce = resp.StatusCode, resp.Header.Get("Cache-Status"), resp.Header.Get("Content-Encoding")
	var body io.Reader = resp.Body
	switch ce {
	case "":
	case "gzip":
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			return status, cacheStatus, ce, d, fmt.Errorf("gzip: %w", err)
		}
		body = zr
	case "zstd":
		zr, err := zstd.NewReader(resp.Body)
		if err != nil {
			return status, cacheStatus, ce, d, fmt.Errorf("zstd: %w", err)
		}
		defer zr.Close()
		body = zr
	default:
		return status, cacheStatus, ce, d, fmt.Errorf("unexpected Content-Encoding %q", ce)
	}
	d, err = sumOf(body)
	return status, cacheStatus, ce, d, err
}

// TestCompressedBigObjectStreamsWithBoundedMemory streams a 100 MiB
// compressible object through a node that stores it in zstd on disk: to a
// gzip client on the miss (zstd for the store and gzip for the client,
// both at once), then from disk to an identity client (decoded), a gzip
// client (transcoded) and a zstd client (as stored). Every client's
// decoded body has the origin's length and hash, and the node's peak
// resident memory grows by less than 48 MiB over its idle size. Streaming
// costs the codecs' state (zstd windows of at most 8 MiB each way, gzip's
// 32 KiB) and copy buffers, with the garbage collector's headroom: some
// 25 MiB measured. Holding the body anywhere, even compressed (some
// 40 MiB in zstd; 100 MiB unencoded), would add at least 40 MiB to that.
// It runs a binary built without -race, whose memory the race runtime
// would otherwise inflate.
func TestCompressedBigObjectStreamsWithBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 100 MiB four times; skipped with -short")
	}
	tmp := t.TempDir()
	var fsStat syscall.Statfs_t
	if err := syscall.Statfs(tmp, &fsStat); err != nil {
		t.Fatal(err)
	}
	if free := int64(fsStat.Bavail) * fsStat.Bsize; free < 1<<30 {
		t.Skipf("%s has %d MiB free; the disk record needs up to 1 GiB", tmp, free>>20)
	}
	bin := filepath.Join(tmp, "cdnnode-norace")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build without -race: %v\n%s", err, out)
	}
	originAddr := startOrigin(t, bin)
	cfg := nodeConfig(t, originAddr, filepath.Join(tmp, "cache"), `memory = "64MiB"
max_memory_object = "1MiB"
max_object = "1GiB"`, `size = "1GiB"`)
	c := newClient(t)
	n := launch(t, bin, cfg)
	pid := n.cmd.Process.Pid

	const big = "/obj/big-text?body=text&size=104857600&cc=max-age%3D3600" // fresh however slow the machine
	resp, err := http.Get("http://" + originAddr + big)
	if err != nil {
		t.Fatal(err)
	}
	want, err := sumOf(resp.Body)
	resp.Body.Close()
	if err != nil || want.n != 100<<20 {
		t.Fatalf("the origin's body: %v, err %v; want %d bytes", want, err, 100<<20)
	}
	// A warm-up through the same paths (compressing, decoding, gzip) sets
	// the idle size with the codecs' pools filled.
	const small = "/obj/warm-up?body=text&size=100000"
	for _, accept := range []string{"gzip", "", "gzip", "zstd"} {
		if status, _, _, _, err := streamDecoded(c, n.url(small), accept); err != nil || status != http.StatusOK {
			t.Fatalf("warm-up GET as %q: status %d, err %v", accept, status, err)
		}
	}
	before := vmStatus(t, pid, "VmRSS")

	steps := []struct {
		name, accept, ce, cache string
	}{
		{"gzip client, miss", "gzip", "gzip", "fwd=miss"},
		{"identity client, hit", "", "", "; hit"},
		{"gzip client, hit", "gzip", "gzip", "; hit"},
		{"zstd client, hit", "zstd", "zstd", "; hit"},
	}
	for i, s := range steps {
		status, cs, ce, got, err := streamDecoded(c, n.url(big), s.accept)
		if err != nil || status != http.StatusOK || ce != s.ce || got != want || !strings.Contains(cs, s.cache) {
			t.Errorf("%s: status %d, Content-Encoding %q, decoded %v, Cache-Status %q, err %v; want 200, %q, %v, %q",
				s.name, status, ce, got, cs, err, s.ce, want, s.cache)
		}
		if i == 0 {
			// The record is committed once the body has been sent.
			waitDiskRecords(t, n, filepath.Join(tmp, "cache"), 2) // warm-up and big
		}
	}
	hwm := vmStatus(t, pid, "VmHWM")
	growth := hwm - before
	stored, _ := metricSum(t, n.admin, `cdnnode_compression_saved_bytes_total{where="store"}`)
	t.Logf("node RSS %d MiB before, VmHWM %d MiB after: growth %d MiB; the store saved %.0f MiB", before>>20, hwm>>20, growth>>20, stored/(1<<20))
	if growth >= 48<<20 {
		t.Errorf("node's peak RSS grew by %d MiB while streaming 100 MiB four times, want < 48 MiB", growth>>20)
	}
	if !bytes.Contains(get(t, "http://"+n.admin+"/metrics"), []byte(`cdnnode_encodings_served_total{encoding="gzip",how="transcoded"}`)) {
		t.Error("/metrics counts no gzip transcode")
	}
	n.stop(t)
}
