package main

import (
	"bufio"
	"bytes"
	byteorder "encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cdnnode/cdnnode/internal/testkit"
	"github.com/cdnnode/cdnnode/internal/testnode"
	"github.com/cdnnode/cdnnode/keys"
)

// The tests in this file run the real node binary over a real disk tier
// against the real demo origin, and restart or kill the node between
// requests. Every request goes to the node with Host cdnHost, so cache keys
// stay the same across restarts on new ports.

// cdnHost is the Host every request to the node carries.
const cdnHost = "cdn.test"

// nodeProc is one node process started by launch. Its log (JSON, stderr)
// is kept whole for assertions and for the failure report.
type nodeProc struct {
	cmd   *exec.Cmd
	addr  string // traffic listener
	admin string // admin listener
	log   *syncLog
	done  chan struct{} // closed once the process has exited
	err   error         // its exit status; read only after done
}

// syncLog is a process's stderr, safe to read while the process writes it.
type syncLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startOrigin starts the demo origin from bin on a free loopback port for
// the rest of the test, so that nodes restarted meanwhile share it.
func startOrigin(t *testing.T, bin string) string {
	t.Helper()
	addr := testkit.FreeAddr(t)
	o := exec.Command(bin, "origin", "--listen", addr)
	o.Stderr = io.Discard
	if err := o.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = o.Process.Kill(); _ = o.Wait() })
	waitUp(t, "http://"+addr+"/__origin/stats")
	return addr
}

// nodeConfig writes a node config with two worker groups (so two cache
// shards, the same on every restart), a disk tier at diskPath, and the given
// extra lines for [cache] and [cache.disk]. It returns the file's path.
func nodeConfig(t *testing.T, originAddr, diskPath, cache, disk string) string {
	t.Helper()
	text := fmt.Sprintf(`
[server]
listen = ["127.0.0.1:0"]
workers = 2
grace_period = "10s"
%s
[admin]
listen = "127.0.0.1:0"
[log]
format = "json"
[cache]
%s
[cache.disk]
path = %q
retry_interval = "1h"
%s
[pools.demo]
peers = [%q]
[[sites]]
name = "default"
hosts = ["*"]
pool = "demo"
`, testnode.HTTP1Line(), cache, diskPath, disk, originAddr)
	path := filepath.Join(t.TempDir(), "node.toml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

var (
	trafficRE = regexp.MustCompile(`"traffic":\["([0-9.:]+)"`)
	adminRE   = regexp.MustCompile(`"admin":"([0-9.:]+)"`)
)

// launch starts bin serving cfg and waits until its traffic and admin
// listeners answer. The process is killed at the end of the test if still
// running; if the test failed, the end of its log is reported.
func launch(t *testing.T, bin, cfg string) *nodeProc {
	t.Helper()
	n := &nodeProc{cmd: exec.Command(bin, "serve", "-c", cfg), log: &syncLog{}, done: make(chan struct{})}
	n.cmd.Stderr = n.log
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		n.err = n.cmd.Wait()
		close(n.done)
	}()
	t.Cleanup(func() {
		_ = n.cmd.Process.Kill()
		<-n.done
		if t.Failed() {
			l := n.log.String()
			t.Logf("log of node %s (last 6000 bytes):\n%s", n.addr, l[max(0, len(l)-6000):])
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		l := n.log.String()
		if m, a := trafficRE.FindStringSubmatch(l), adminRE.FindStringSubmatch(l); m != nil && a != nil {
			n.addr, n.admin = m[1], a[1]
			break
		}
		select {
		case <-n.done:
			t.Fatalf("node exited before serving (%v); log:\n%s", n.err, l)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("node not serving after 20s; log:\n%s", l)
		}
	}
	waitUp(t, "http://"+n.admin+"/healthz")
	return n
}

// stop sends SIGTERM and waits for a clean exit.
func (n *nodeProc) stop(t *testing.T) {
	t.Helper()
	if err := n.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-n.done:
		if n.err != nil {
			t.Fatalf("node exit after SIGTERM: %v, want status 0", n.err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("node still running 20s after SIGTERM")
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (n *nodeProc) kill(t *testing.T) {
	t.Helper()
	if err := n.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-n.done:
	case <-time.After(10 * time.Second):
		t.Fatal("node still running 10s after SIGKILL")
	}
}

// url is the node's URL for a path and query.
func (n *nodeProc) url(pathQuery string) string { return "http://" + n.addr + pathQuery }

// reply is what a client got for one request: the body read before any
// error, and that error.
type reply struct {
	status int
	header http.Header
	body   []byte
	err    error
}

// cacheStatus is the reply's Cache-Status field.
func (r reply) cacheStatus() string { return r.header.Get("Cache-Status") }

// newClient is an HTTP client for one test; its connections close with it.
func newClient(t *testing.T) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 60 * time.Second}
}

// fetch GETs url with Host cdnHost and reads the whole body.
func fetch(c *http.Client, url string) reply {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return reply{err: err}
	}
	req.Host = cdnHost
	resp, err := c.Do(req)
	if err != nil {
		return reply{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, body: b, err: err}
}

// originBody is the origin's own answer for pathQuery, fetched directly.
func originBody(t *testing.T, originAddr, pathQuery string) []byte {
	t.Helper()
	resp, err := http.Get("http://" + originAddr + pathQuery)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("origin GET %s: status %d, err %v", pathQuery, resp.StatusCode, err)
	}
	return b
}

// originCounts is the origin's per-path request counts.
func originCounts(t *testing.T, originAddr string) map[string]int64 {
	t.Helper()
	var st struct {
		ByPath map[string]int64 `json:"by_path"`
	}
	if err := json.Unmarshal(get(t, "http://"+originAddr+"/__origin/stats"), &st); err != nil {
		t.Fatal(err)
	}
	return st.ByPath
}

// checkBody reports, as an error, a reply that is not a 200 with exactly want.
func checkBody(t *testing.T, what string, r reply, want []byte) {
	t.Helper()
	switch {
	case r.err != nil:
		t.Errorf("%s: %v after %d of %d bytes (Cache-Status %q); want the whole body", what, r.err, len(r.body), len(want), r.cacheStatus())
	case r.status != http.StatusOK:
		t.Errorf("%s: status %d, want 200", what, r.status)
	case !bytes.Equal(r.body, want):
		t.Errorf("%s: body of %d bytes differs from the origin's %d (first difference at %d; Cache-Status %q)",
			what, len(r.body), len(want), firstDiff(r.body, want), r.cacheStatus())
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// diskFiles counts the record files (16 hex digits) and temp files (.tmp)
// under dir. Files vanishing during the walk are skipped.
func diskFiles(dir string) (records, temps int) {
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		switch name := d.Name(); {
		case strings.HasSuffix(name, ".tmp"):
			temps++
		case isRecordName(name):
			records++
		}
		return nil
	})
	return records, temps
}

var recordNameRE = regexp.MustCompile(`^[0-9a-f]{16}$`)

func isRecordName(name string) bool { return recordNameRE.MatchString(name) }

// recordPath is the record file of the node's key for pathQuery under the
// disk tier at dir with two shards: <dir>/shard-<i>-of-2/<hh>/<hash>.
func recordPath(dir, pathQuery string) string {
	path, query, _ := strings.Cut(pathQuery, "?")
	k := keys.New("http", cdnHost, path, query, keys.Options{})
	name := fmt.Sprintf("%016x", k.Hash)
	return filepath.Join(dir, fmt.Sprintf("shard-%d-of-2", k.Shard(2)), name[:2], name)
}

// metricSum sums every series of the named metric on the node's /metrics,
// and reports whether the node exports it at all.
func metricSum(t *testing.T, admin, name string) (float64, bool) {
	t.Helper()
	var sum float64
	found := false
	sc := bufio.NewScanner(bytes.NewReader(get(t, "http://"+admin+"/metrics")))
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, name)
		if !ok || (!strings.HasPrefix(rest, "{") && !strings.HasPrefix(rest, " ")) {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			t.Fatalf("/metrics line %q: %v", line, err)
		}
		sum += v
		found = true
	}
	return sum, found
}

// waitDiskRecords waits until the disk tier at dir holds exactly want record
// files and no temp file, and, if the node exports cdnnode_disk_objects,
// until that says want too: write-through is asynchronous.
func waitDiskRecords(t *testing.T, n *nodeProc, dir string, want int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		records, temps := diskFiles(dir)
		objects, exported := metricSum(t, n.admin, "cdnnode_disk_objects")
		if records == want && temps == 0 && (!exported || objects == float64(want)) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("disk tier holds %d records and %d temp files (cdnnode_disk_objects %v, exported %v) after 15s; want %d records",
				records, temps, objects, exported, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestWarmRestart stores objects of every kind (small, medium, larger than
// max_memory_object), stops the node, starts a new one on the same disk
// path, and gets every object back from disk as a hit with the origin's
// bytes and an Age, without asking the origin again.
func TestWarmRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	originAddr := startOrigin(t, binary)
	cfg := nodeConfig(t, originAddr, dir, `max_memory_object = "1MiB"`, `size = "64MiB"`)
	objs := []string{"/obj/warm-1k?size=1024", "/obj/warm-100k?size=102400", "/obj/warm-big?size=3000000"}
	want := make(map[string][]byte, len(objs))
	for _, u := range objs {
		want[u] = originBody(t, originAddr, u)
	}
	c := newClient(t)

	first := launch(t, binary, cfg)
	for _, u := range objs {
		r := fetch(c, first.url(u))
		checkBody(t, "first node, GET "+u, r, want[u])
		if cs := r.cacheStatus(); !strings.Contains(cs, "fwd=miss") || !strings.Contains(cs, "stored") {
			t.Errorf("first node, GET %s: Cache-Status %q, want a stored miss", u, cs)
		}
	}
	waitDiskRecords(t, first, dir, len(objs))
	first.stop(t)
	before := originCounts(t, originAddr)

	second := launch(t, binary, cfg)
	for _, u := range objs {
		r := fetch(c, second.url(u))
		checkBody(t, "restarted node, GET "+u, r, want[u])
		if cs := r.cacheStatus(); !strings.Contains(cs, "; hit") {
			t.Errorf("restarted node, GET %s: Cache-Status %q, want a hit", u, cs)
		}
		if age, err := strconv.Atoi(r.header.Get("Age")); err != nil || age < 0 {
			t.Errorf("restarted node, GET %s: Age %q, want an integer >= 0", u, r.header.Get("Age"))
		}
	}
	after := originCounts(t, originAddr)
	for _, u := range objs {
		p, _, _ := strings.Cut(u, "?")
		if after[p] != before[p] {
			t.Errorf("origin saw %s %d times before the restart and %d after; the restarted node must not ask again", p, before[p], after[p])
		}
	}
}

// killObject is one object TestKillDuringFills requests.
type killObject struct {
	pathQuery string
	held      bool // the client stops reading after the header until the node is killed
}

// killObjects are 40 distinct objects: small and over max_memory_object,
// with and without Content-Length, some delayed at the origin, and some
// large ones whose clients stall so that their disk records are being
// written when the node dies.
func killObjects() []killObject {
	var objs []killObject
	for i := range 40 {
		var q string
		held := false
		switch i % 8 {
		case 0, 1:
			q = fmt.Sprintf("size=%d", 1000+i*1301)
		case 2:
			q = fmt.Sprintf("size=%d&chunked=1", 60000+i*100)
		case 3:
			q = "size=300000&delay=200ms"
		case 4:
			q = fmt.Sprintf("size=%d", 1500000+i*40000)
		case 5:
			q = "size=2500000&chunked=1"
		case 6:
			q = "size=2000000&delay=200ms"
		case 7:
			q, held = fmt.Sprintf("size=%d", 16<<20+i), true
			if i%16 == 15 {
				q += "&chunked=1"
			}
		}
		objs = append(objs, killObject{fmt.Sprintf("/obj/kill-%02d?%s", i, q), held})
	}
	return objs
}

// each calls fn for every object, four at a time, and returns when all
// calls have.
func each(objs []killObject, fn func(killObject)) {
	work := make(chan killObject)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for o := range work {
				fn(o)
			}
		})
	}
	for _, o := range objs {
		work <- o
	}
	close(work)
	wg.Wait()
}

// TestKillDuringFills SIGKILLs the node while 40 fills run (some done, some
// stalled mid-body with their disk records half written), restarts it on
// the same disk path and checks that every object then comes back whole and
// right, hit or miss, and that the restart removed the dead process's temp
// files.
func TestKillDuringFills(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	originAddr := startOrigin(t, binary)
	cfg := nodeConfig(t, originAddr, dir, `max_memory_object = "1MiB"`, `size = "512MiB"`)
	objs := killObjects()
	want := make(map[string][]byte, len(objs))
	var mu sync.Mutex
	each(objs, func(o killObject) {
		r := fetch(http.DefaultClient, "http://"+originAddr+o.pathQuery)
		if r.err != nil || r.status != http.StatusOK {
			t.Errorf("origin GET %s: status %d, err %v", o.pathQuery, r.status, r.err)
		}
		mu.Lock()
		want[o.pathQuery] = r.body
		mu.Unlock()
	})
	if t.Failed() {
		t.FailNow()
	}
	c := newClient(t)

	first := launch(t, binary, cfg)
	killed := make(chan struct{})
	release := sync.OnceFunc(func() { close(killed) })
	defer release() // on an early failure too
	var completed atomic.Int64
	var wg sync.WaitGroup
	for _, o := range objs {
		wg.Go(func() {
			req, err := http.NewRequest(http.MethodGet, first.url(o.pathQuery), nil)
			if err != nil {
				return
			}
			req.Host = cdnHost
			resp, err := c.Do(req)
			if err != nil {
				return
			}
			defer resp.Body.Close()
			if o.held {
				select { // the node blocks writing to us, its record half written
				case <-killed:
				case <-time.After(30 * time.Second):
				}
			}
			if _, err := io.Copy(io.Discard, resp.Body); err == nil {
				completed.Add(1)
			}
		})
	}
	// Kill once some fills are done and some records are half written.
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, temps := diskFiles(dir)
		if completed.Load() >= 10 && temps > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 20s: %d requests completed, %d temp files on disk; want >= 10 and > 0 before the kill", completed.Load(), temps)
		}
		time.Sleep(10 * time.Millisecond)
	}
	first.kill(t)
	release()
	wg.Wait() // bounded: the node is gone, so every read ends at once
	records, stale := diskFiles(dir)
	t.Logf("killed with %d of %d requests complete; left %d records and %d temp files", completed.Load(), len(objs), records, stale)

	second := launch(t, binary, cfg)
	each(objs, func(o killObject) {
		checkBody(t, "restarted node, GET "+o.pathQuery, fetch(c, second.url(o.pathQuery)), want[o.pathQuery])
	})
	// Each shard's rebuild logs the temp files it removed: every stale one.
	deadline = time.Now().Add(15 * time.Second)
	rebuiltRE := regexp.MustCompile(`"msg":"disk tier index rebuilt".*"temp_files_removed":(\d+)`)
	for {
		removed, shards := 0, 0
		for _, m := range rebuiltRE.FindAllStringSubmatch(second.log.String(), -1) {
			k, _ := strconv.Atoi(m[1])
			removed += k
			shards++
		}
		_, temps := diskFiles(dir)
		if shards == 2 && temps == 0 {
			if removed != stale {
				t.Errorf("rebuild removed %d temp files, want the %d the killed node left", removed, stale)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("15s after restart: %d of 2 shards rebuilt, %d temp files left; want 2 and 0", shards, temps)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// corrupt flips one byte in the middle of the body of the record file at
// path and returns the damaged file's bytes.
func corrupt(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Header: key length at 24, metadata length at 28, body length at 32;
	// the body starts after the 40-byte header, the key and the metadata.
	if len(b) < 40 {
		t.Fatalf("%s: %d bytes, too short for a record", path, len(b))
	}
	keyLen, metaLen := byteorder.LittleEndian.Uint32(b[24:]), byteorder.LittleEndian.Uint32(b[28:])
	bodyLen := byteorder.LittleEndian.Uint64(b[32:])
	at := 40 + uint64(keyLen) + uint64(metaLen) + bodyLen/2
	if bodyLen == 0 || at >= uint64(len(b)) {
		t.Fatalf("%s: body of %d bytes at %d in a %d-byte file", path, bodyLen, at-bodyLen/2, len(b))
	}
	b[at] ^= 0x01
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return b
}

// checkNotCorrupt fails if the damaged record is still at path; a missing
// file or a new record is fine.
func checkNotCorrupt(t *testing.T, path string, damaged []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(b, damaged) {
		t.Errorf("%s: the damaged record is still there after it was read", path)
	}
}

// waitGoodRecord waits until the record at path holds body, as a record
// written anew after a miss does.
func waitGoodRecord(t *testing.T, path string, body []byte) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if b, err := os.ReadFile(path); err == nil && bytes.Contains(b, body) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no record holding the origin's body 15s after a stored miss", path)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCorruptRecordIsMissAndRemoved damages the body of two stored records,
// one small (read whole on lookup) and one over max_memory_object
// (streamed), restarts the node cold and checks that no damaged byte is ever
// served: the small one is a miss, the large one is a miss or an aborted
// transfer whose bytes so far are right; both damaged files are removed and
// the next requests get the right body and store it again.
func TestCorruptRecordIsMissAndRemoved(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	originAddr := startOrigin(t, binary)
	cfg := nodeConfig(t, originAddr, dir, `max_memory_object = "1MiB"`, `size = "64MiB"`)
	// Stored as sent (not a compressible type), so a record holds the
	// origin's bytes as they are.
	const small, big = "/obj/corrupt-small?size=102400&type=application/octet-stream", "/obj/corrupt-big?size=3000000&type=application/octet-stream"
	want := map[string][]byte{small: originBody(t, originAddr, small), big: originBody(t, originAddr, big)}
	c := newClient(t)

	first := launch(t, binary, cfg)
	for _, u := range []string{small, big} {
		checkBody(t, "first node, GET "+u, fetch(c, first.url(u)), want[u])
	}
	waitDiskRecords(t, first, dir, 2)
	first.stop(t)
	damaged := map[string][]byte{}
	for _, u := range []string{small, big} {
		damaged[u] = corrupt(t, recordPath(dir, u))
	}

	second := launch(t, binary, cfg)
	// Large: the damaged block is found while streaming, after the header.
	r := fetch(c, second.url(big))
	switch {
	case r.err == nil:
		checkBody(t, "GET of the damaged large object", r, want[big])
		if cs := r.cacheStatus(); !strings.Contains(cs, "fwd=miss") {
			t.Errorf("GET of the damaged large object: whole body with Cache-Status %q, want fwd=miss", cs)
		}
	case r.status == 0:
		t.Errorf("GET of the damaged large object: %v before any response", r.err)
	default: // an aborted transfer: what arrived must be right
		if !bytes.HasPrefix(want[big], r.body) {
			t.Errorf("aborted GET of the damaged large object: wrong bytes at %d of the %d received", firstDiff(r.body, want[big]), len(r.body))
		}
		t.Logf("damaged large object: transfer aborted after %d bytes (%v), Cache-Status %q", len(r.body), r.err, r.cacheStatus())
	}
	checkNotCorrupt(t, recordPath(dir, big), damaged[big])
	r = fetch(c, second.url(big))
	checkBody(t, "second GET of the damaged large object", r, want[big])

	// Small: read whole on lookup, so the damage makes it a miss.
	r = fetch(c, second.url(small))
	checkBody(t, "GET of the damaged small object", r, want[small])
	if cs := r.cacheStatus(); !strings.Contains(cs, "fwd=miss") {
		t.Errorf("GET of the damaged small object: Cache-Status %q, want fwd=miss", cs)
	}
	checkNotCorrupt(t, recordPath(dir, small), damaged[small])

	// Both are stored again, whole, and hit.
	for _, u := range []string{small, big} {
		waitGoodRecord(t, recordPath(dir, u), want[u])
		r := fetch(c, second.url(u))
		checkBody(t, "GET after the repair of "+u, r, want[u])
		if cs := r.cacheStatus(); !strings.Contains(cs, "; hit") {
			t.Errorf("GET after the repair of %s: Cache-Status %q, want a hit", u, cs)
		}
	}
	if n := strings.Count(second.log.String(), "removed corrupt record"); n != 2 {
		t.Errorf("log reports %d corrupt records removed, want 2", n)
	}
	if v, ok := metricSum(t, second.admin, "cdnnode_disk_corrupt_total"); ok && v != 2 {
		t.Errorf("cdnnode_disk_corrupt_total = %v, want 2", v)
	}
}

// TestUnwritableDiskDegrades points the disk tier beneath a regular file,
// which no directory can be created in (even as root): the node starts
// with its disk tier degraded and serves every object right, small ones
// from memory on the second request.
func TestUnwritableDiskDegrades(t *testing.T) {
	file := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	originAddr := startOrigin(t, binary)
	cfg := nodeConfig(t, originAddr, filepath.Join(file, "cache"), `max_memory_object = "1MiB"`, `size = "64MiB"`)
	// Not a compressible type: the node knows from Content-Length that the
	// big one is beyond memory before it stores a byte.
	const small, big = "/obj/nodisk-small?size=10000&type=application/octet-stream", "/obj/nodisk-big?size=3000000&type=application/octet-stream"
	want := map[string][]byte{small: originBody(t, originAddr, small), big: originBody(t, originAddr, big)}
	c := newClient(t)

	n := launch(t, binary, cfg)
	if l := n.log.String(); !strings.Contains(l, "disk tier degraded") {
		t.Errorf("log does not report the disk tier degraded:\n%s", l)
	}
	if v, ok := metricSum(t, n.admin, "cdnnode_disk_degraded"); ok && v != 2 {
		t.Errorf("cdnnode_disk_degraded sums to %v over the shards, want 2 (both degraded)", v)
	}
	for i := range 2 {
		for _, u := range []string{small, big} {
			checkBody(t, fmt.Sprintf("GET %d of %s", i+1, u), fetch(c, n.url(u)), want[u])
		}
	}
	if r := fetch(c, n.url(small)); !strings.Contains(r.cacheStatus(), "; hit") {
		t.Errorf("GET of the small object again: Cache-Status %q, want a hit from memory", r.cacheStatus())
	}
	// The big object can only live on disk: the node must not claim it stored it.
	if cs := fetch(c, n.url(big)).cacheStatus(); strings.Contains(cs, "stored") || !strings.Contains(cs, "detail=store-error") {
		t.Errorf("GET of the big object with no usable disk: Cache-Status %q, want detail=store-error and no stored", cs)
	}
	if records, temps := diskFiles(file); records+temps != 0 {
		t.Errorf("found %d records and %d temp files beneath a regular file", records, temps)
	}
	n.stop(t)
}

// vmStatus reads a field of /proc/<pid>/status, in bytes.
func vmStatus(t *testing.T, pid int, field string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			f := strings.Fields(rest) // "123456 kB"
			kb, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil || len(f) != 2 || f[1] != "kB" {
				t.Fatalf("/proc/%d/status: %q", pid, line)
			}
			return kb << 10
		}
	}
	t.Fatalf("/proc/%d/status has no %s", pid, field)
	return 0
}

// streamCount GETs url through the node and counts the body's bytes.
func streamCount(c *http.Client, url string) (status int, cacheStatus string, n int64, err error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, "", 0, err
	}
	req.Host = cdnHost
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", 0, err
	}
	defer resp.Body.Close()
	n, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header.Get("Cache-Status"), n, err
}

// TestBigObjectStreamsWithBoundedMemory streams a 1 GiB object through a
// node whose memory tier is 64 MiB, first as a miss spilled to disk, then
// as a disk hit, and checks the node's peak resident memory grew by less
// than 64 MiB over its idle size. It runs a binary built without -race,
// whose memory the race runtime would otherwise inflate.
func TestBigObjectStreamsWithBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 1 GiB twice; skipped with -short")
	}
	tmp := t.TempDir()
	var fsStat syscall.Statfs_t
	if err := syscall.Statfs(tmp, &fsStat); err != nil {
		t.Fatal(err)
	}
	if free := int64(fsStat.Bavail) * fsStat.Bsize; free < 4<<30 {
		t.Skipf("%s has %d MiB free; the 1 GiB disk record needs 4 GiB", tmp, free>>20)
	}
	bin := filepath.Join(tmp, "cdnnode-norace")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build without -race: %v\n%s", err, out)
	}
	dir := filepath.Join(tmp, "cache")
	originAddr := startOrigin(t, bin)
	cfg := nodeConfig(t, originAddr, dir, `memory = "64MiB"
max_memory_object = "1MiB"
max_object = "2GiB"`, `size = "3GiB"`)
	c := newClient(t)
	n := launch(t, bin, cfg)
	pid := n.cmd.Process.Pid
	if r := fetch(c, n.url("/obj/warm-up?size=1024")); r.err != nil || r.status != http.StatusOK {
		t.Fatalf("warm-up GET: status %d, err %v", r.status, r.err)
	}
	before := vmStatus(t, pid, "VmRSS")

	// Sample VmRSS while streaming, for the log; VmHWM holds the peak.
	stopSampling := make(chan struct{})
	var peakRSS atomic.Int64
	var sampling sync.WaitGroup
	rssRE := regexp.MustCompile(`VmRSS:\s+(\d+) kB`)
	sampling.Go(func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
				if m := rssRE.FindSubmatch(b); m != nil {
					kb, _ := strconv.ParseInt(string(m[1]), 10, 64)
					if kb<<10 > peakRSS.Load() {
						peakRSS.Store(kb << 10)
					}
				}
			}
			select {
			case <-stopSampling:
				return
			case <-tick.C:
			}
		}
	})
	const huge = "/obj/huge?size=1073741824"
	start := time.Now()
	status, cs, got, err := streamCount(c, n.url(huge))
	if err != nil || status != http.StatusOK || got != 1<<30 {
		t.Errorf("GET %s (miss): status %d, %d bytes, err %v; want 200 with %d bytes", huge, status, got, err, 1<<30)
	}
	if !strings.Contains(cs, "fwd=miss") {
		t.Errorf("GET %s: Cache-Status %q, want a miss", huge, cs)
	}
	missTime := time.Since(start)
	// The record is committed once the body has been sent; wait for it.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if records, temps := diskFiles(dir); records == 2 && temps == 0 { // warm-up and huge
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the 1 GiB record was not committed 30s after its body was sent")
		}
		time.Sleep(20 * time.Millisecond)
	}
	start = time.Now()
	status, cs, got, err = streamCount(c, n.url(huge))
	if err != nil || status != http.StatusOK || got != 1<<30 {
		t.Errorf("GET %s (hit): status %d, %d bytes, err %v; want 200 with %d bytes", huge, status, got, err, 1<<30)
	}
	if !strings.Contains(cs, "; hit") {
		t.Errorf("GET %s again: Cache-Status %q, want a hit from disk", huge, cs)
	}
	hitTime := time.Since(start)
	close(stopSampling)
	sampling.Wait()
	hwm := vmStatus(t, pid, "VmHWM")
	growth := hwm - before
	t.Logf("node RSS %d MiB before; peak RSS sampled %d MiB, VmHWM %d MiB: growth %d MiB (miss %v, hit %v)",
		before>>20, peakRSS.Load()>>20, hwm>>20, growth>>20, missTime.Round(time.Millisecond), hitTime.Round(time.Millisecond))
	if growth >= 64<<20 {
		t.Errorf("node's peak RSS grew by %d MiB while streaming 1 GiB twice, want < 64 MiB", growth>>20)
	}
	n.stop(t)
}

// TestTwoWorkersAcceptConnections: with workers = 2 the kernel spreads new
// connections over both workers' SO_REUSEPORT listeners, and /metrics says
// how many each accepted.
func TestTwoWorkersAcceptConnections(t *testing.T) {
	originAddr := startOrigin(t, binary)
	n := launch(t, binary, nodeConfig(t, originAddr, filepath.Join(t.TempDir(), "cache"), "", ""))
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	const conns = 40
	for range conns {
		if r := fetch(c, n.url("/obj/spread")); r.err != nil || r.status != http.StatusOK {
			t.Fatalf("GET through the node: %d, %v", r.status, r.err)
		}
	}
	var total float64
	for _, w := range []string{"0", "1"} {
		got, ok := metricSum(t, n.admin, `cdnnode_worker_connections_accepted_total{worker="`+w+`"}`)
		if !ok || got == 0 {
			t.Errorf("worker %s accepted %v of %d connections, want some", w, got, conns)
		}
		total += got
	}
	if total != conns {
		t.Errorf("workers accepted %v connections in all, want %d", total, conns)
	}
	n.stop(t)
}
