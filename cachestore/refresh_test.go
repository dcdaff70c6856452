package cachestore

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/cdnnode/cdnnode/cachepolicy"
	"github.com/cdnnode/cdnnode/keys"
)

// manualStore is tieredStore without running the shard owners: the test
// applies queued disk jobs itself, in order, with applyQueued.
func manualStore(tb testing.TB, dir string) *Store {
	tb.Helper()
	return newStore(tb, Options{
		MemoryBytes:          8 << 20,
		MaxMemoryObjectBytes: 64 << 10,
		MaxObjectBytes:       16 << 20,
		Disk:                 DiskOptions{Dir: dir, Bytes: 256 << 20, RetryInterval: time.Second},
	})
}

// recordPath is where shard id of shards keeps k's disk record.
func recordPath(dir string, id, shards int, k keys.Key) string {
	return fmt.Sprintf("%s/shard-%d-of-%d/%02x/%016x", dir, id, shards, k.Hash>>56, k.Hash)
}

// applyQueued applies every disk job queued so far, as the owner would.
func applyQueued(s *Store) {
	for _, sh := range s.Shards() {
		for range len(sh.jobs) {
			sh.apply(<-sh.jobs)
		}
	}
}

// pattern is n deterministic bytes that differ per seed.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7+i/251) ^ seed
	}
	return b
}

// versioned fills body under k as an object whose X-Version field is v.
func versioned(tb testing.TB, s *Store, k keys.Key, v string, body []byte) {
	tb.Helper()
	obj := &Object{Status: http.StatusOK, Header: http.Header{"Content-Type": {"text/plain"}, "X-Version": {v}}}
	w := s.NewWriter(k, obj, int64(len(body)))
	defer w.Abort()
	if _, err := w.Write(body); err != nil {
		tb.Fatal(err)
	}
	if !w.Commit() {
		tb.Fatalf("Commit of %s: nothing stored", k.Full)
	}
}

// refreshedPolicy is the reuse state a 304 gives in these tests.
var refreshedPolicy = cachepolicy.Entry{Lifetime: time.Hour, ResponseTime: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}

// refreshed is o after a 304 that sets X-Version 2 and refreshedPolicy.
func refreshed(o *Object) *Object {
	h := o.Header.Clone()
	h.Set("X-Version", "2")
	return o.Refreshed(h, nil, refreshedPolicy)
}

// checkObject looks k up and checks its version, policy and body; a nil
// want means a miss.
func checkObject(t *testing.T, s *Store, k keys.Key, version string, want []byte) {
	t.Helper()
	o, tier := s.Lookup(k)
	if want == nil {
		if tier != Missed {
			o.Release()
			t.Errorf("Lookup(%s) = a hit from tier %d, want a miss", k.Full, tier)
		}
		return
	}
	if tier == Missed {
		t.Fatalf("Lookup(%s) missed", k.Full)
	}
	defer o.Release()
	if got := o.Header.Get("X-Version"); got != version {
		t.Errorf("X-Version = %q, want %q", got, version)
	}
	if wantRefreshed := version == "2"; (o.Policy.Lifetime == refreshedPolicy.Lifetime && o.Policy.ResponseTime.Equal(refreshedPolicy.ResponseTime)) != wantRefreshed {
		t.Errorf("Policy = %+v; want refreshed: %v", o.Policy, wantRefreshed)
	}
	if got := body(t, o); !bytes.Equal(got, want) {
		t.Errorf("body = %d bytes, want the %d expected", len(got), len(want))
	}
}

// TestRefresh: a refresh replaces only the metadata of the record holding
// the refreshed body; without one, an in-memory object is written whole and
// a disk-only one is dropped. Each case then restarts on the same directory.
func TestRefresh(t *testing.T) {
	small, large := pattern(1000, 1), pattern(200<<10, 2) // in memory; on disk only
	deleteRecord := func(t *testing.T, s *Store, k keys.Key) { s.shard(k).disk.Delete(k.Hash) }
	// replaceBody stores another body as a fill that spilled to disk does:
	// straight into the disk tier, past the queue.
	replaceBody := func(n int) func(t *testing.T, s *Store, k keys.Key) {
		return func(t *testing.T, s *Store, k keys.Key) {
			m, err := encodeMeta(&Object{Key: k.Full, Status: 200, Header: http.Header{"X-Version": {"replaced"}}})
			if err != nil {
				t.Fatal(err)
			}
			w, err := s.shard(k).disk.Create(k.Hash, k.Full, m, int64(n))
			if err != nil {
				t.Fatal(err)
			}
			defer w.Abort()
			w.Write(pattern(n, 9))
			if err := w.Commit(); err != nil {
				t.Fatal(err)
			}
		}
	}
	tests := []struct {
		name      string
		body      []byte
		queued    bool                                     // the fill's write-through is still queued at the refresh
		meanwhile func(t *testing.T, s *Store, k keys.Key) // between the lookup and the refresh
		version   string                                   // X-Version after a restart
		want      []byte                                   // body after a restart; nil: a miss
		rewritten bool                                     // the refresh replaced the record it found
	}{
		{"in memory, on disk", small, false, nil, "2", small, false},
		{"in memory, write-through still queued", small, true, nil, "2", small, true},
		{"in memory, record deleted", small, false, deleteRecord, "2", small, true},
		{"in memory, record holds another body", small, false, replaceBody(len(small)), "2", small, true},
		{"on disk only", large, false, nil, "2", large, false},
		{"on disk only, record deleted", large, false, deleteRecord, "", nil, false},
		{"on disk only, record holds another body", large, false, replaceBody(len(large)), "replaced", pattern(len(large), 9), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := manualStore(t, dir)
			k := keys.New("http", "a", "/r", "", keys.Options{})
			versioned(t, s, k, "1", tt.body)
			if !tt.queued {
				applyQueued(s)
			}

			stale, tier := s.Lookup(k)
			if want := map[bool]Tier{true: Memory, false: Disk}[len(tt.body) <= 64<<10]; tier != want {
				t.Fatalf("Lookup before the refresh: tier %d, want %d", tier, want)
			}
			if tt.meanwhile != nil {
				tt.meanwhile(t, s, k)
			}
			fresh := refreshed(stale)
			if !s.Refresh(k, fresh) {
				t.Fatal("Refresh = false")
			}
			stale.Release() // the job must not need the record
			if o, tier := s.Lookup(k); tier == Memory {
				if fresh.record != nil || o != fresh {
					t.Errorf("Lookup right after the refresh: a memory hit on %p, want the refreshed %p, and only with its body in memory", o, fresh)
				}
			} else if fresh.record == nil {
				t.Errorf("Lookup right after refreshing an in-memory object: tier %d, want memory", tier)
			} else {
				o.Release()
			}

			// Held open, so that its inode cannot be reused meanwhile.
			found, err := os.Open(recordPath(dir, 0, 1, k))
			if err == nil {
				defer found.Close()
			}
			applyQueued(s)
			if found != nil {
				before, err := found.Stat()
				if err != nil {
					t.Fatal(err)
				}
				after, err := os.Stat(recordPath(dir, 0, 1, k))
				if rewritten := err != nil || !os.SameFile(before, after); rewritten != tt.rewritten {
					t.Errorf("the refresh replaced the record: %v, want %v", rewritten, tt.rewritten)
				}
			}
			if tt.want != nil && tt.version == "2" && len(tt.body) > 64<<10 {
				checkObject(t, s, k, tt.version, tt.want) // the next Lookup, before any restart
			}
			checkObject(t, manualStore(t, dir), k, tt.version, tt.want)
		})
	}
}

// TestRefreshDiskOnlySurvivesRestart: with the shard owners running, a
// refresh of an object whose body is only on disk serves the new header and
// freshness with the same body at the next lookup, keeps nothing in memory,
// does not rewrite the record, and survives a restart.
func TestRefreshDiskOnlySurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	s, stop := stoppableStore(t, dir, 1)
	k := keys.New("http", "a", "/large", "", keys.Options{})
	large := pattern(3<<20, 5) // past MaxMemoryObjectBytes
	versioned(t, s, k, "1", large)
	path := recordPath(dir, 0, 1, k)
	before, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	stale, tier := s.Lookup(k)
	if tier != Disk || stale.record == nil {
		t.Fatalf("Lookup = tier %d, record %v; want a disk-only object", tier, stale.record != nil)
	}
	if !s.Refresh(k, refreshed(stale)) {
		t.Fatal("Refresh = false")
	}
	stale.Release()
	stop() // applies the queued refresh, as a graceful shutdown does
	if st := s.Stats(); st.Objects != 0 || st.DiskObjects != 1 {
		t.Errorf("memory objects %d, disk records %d; want 0 and 1", st.Objects, st.DiskObjects)
	}
	if after, err := os.Stat(path); err != nil || !os.SameFile(before, after) || !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("the refresh rewrote the record (%v)", err)
	}
	checkObject(t, s, k, "2", large)
	s.Close()

	checkObject(t, tieredStore(t, dir, 1), k, "2", large)
}

// TestRefreshMemoryOnly: without a disk tier a refresh is a memory store.
func TestRefreshMemoryOnly(t *testing.T) {
	s := newStore(t, Options{MemoryBytes: 1 << 20})
	k := keys.New("http", "a", "/m", "", keys.Options{})
	versioned(t, s, k, "1", []byte("body"))
	stale, _ := s.Get(k)
	if !s.Refresh(k, refreshed(stale)) {
		t.Fatal("Refresh = false")
	}
	checkObject(t, s, k, "2", []byte("body"))
}
