package purge

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Ban is an accepted purge kept as a rule: an object it names whose fetch
// began at or before At is purged (gone, or with Soft only stale from At
// on). Checking bans at lookup is what makes a purge instant whatever it
// names, and race-safe: a fill in flight when the purge came began before
// it, so what it stores is purged too.
type Ban struct {
	Kind Kind      `json:"kind"`
	At   time.Time `json:"at"`
	Soft bool      `json:"soft,omitempty"`
	// Target is matched against a cache key without its "scheme://", so a
	// purge covers http and https alike: the key of the URL for Exact
	// (matching its Vary variants too), host + path prefix for Prefix,
	// host + "/" for All.
	Target string   `json:"target,omitempty"`
	Tags   []string `json:"tags,omitempty"` // for Tag
}

// matches reports whether b names the object with key rest (its cache key
// without the scheme) and tags.
func (b *Ban) matches(rest string, tags []string) bool {
	switch b.Kind {
	case Exact:
		// A Vary variant's key is its primary key, a NUL, then the fields.
		return strings.HasPrefix(rest, b.Target) && (len(rest) == len(b.Target) || rest[len(b.Target)] == 0)
	case Prefix, All:
		return strings.HasPrefix(rest, b.Target)
	case Tag:
		for _, t := range tags {
			if slices.Contains(b.Tags, t) {
				return true
			}
		}
	}
	return false
}

// Verdict is what the bans say about one object.
type Verdict struct {
	Purged bool      // a hard ban names it: it is gone
	Stale  time.Time // else, if not zero: a soft ban names it; stale from then on
	// Through is the newest ban looked at: an object stamped after it is
	// named by none of them (ban times only grow).
	Through time.Time
}

// Bans is the node's list of bans, oldest first, and the fills in flight
// that hold back their expiry (Begin). Check is lock-free: it reads a
// snapshot the writers replace (copy on write). Safe for concurrent use.
type Bans struct {
	list atomic.Pointer[[]Ban]
	mu   sync.Mutex // serialises writers and the file
	path string     // where the list persists; "" = memory only

	flights [flightShards]flightShard // spread by key hash
}

// flightShards is how many locks the fills in flight are spread over, so
// that fills of different keys seldom share one and none is shared by all.
const flightShards = 64

// flightShard is one share of the fills in flight.
type flightShard struct {
	mu     sync.Mutex           // guards next and stamps
	next   uint64               // the id of the last flight begun
	stamps map[uint64]time.Time // flight id -> stamp, for each flight not ended
	_      [40]byte             // to a cache line of its own
}

// Flight is a fill in flight (Bans.Begin), or a request that holds a
// stored object it has yet to ask the bans about again. Until it ends, no
// ban made at or after its Stamp expires: none that could name what the
// fill stores, what its readers are about to check, or what the request
// holds.
type Flight struct {
	Stamp time.Time // when the fill began: what it stores is stamped so
	sh    *flightShard
	id    uint64
}

// Begin records a fill in flight and returns it, stamped with now() read
// once the fill is recorded: an Expire that has not seen the fill drops
// only bans made before the stamp, none of which names the fill. hash
// spreads the fills over the locks (a key's hash). The caller must End
// the flight exactly once, when whatever the fill stored is in the
// store's catalog, checked against the bans (the sweeper sees to it from
// then on), and no reader of the fill is left to check it: a flight never
// ended keeps every later ban forever.
func (b *Bans) Begin(hash uint64, now func() time.Time) Flight {
	sh := &b.flights[hash%flightShards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.next++
	f := Flight{Stamp: now(), sh: sh, id: sh.next}
	sh.stamps[f.id] = f.Stamp
	return f
}

// End ends the flight f; see Begin.
func (f Flight) End() {
	f.sh.mu.Lock()
	delete(f.sh.stamps, f.id)
	f.sh.mu.Unlock()
}

// oldestFlight is the stamp of the oldest fill in flight; false if there
// is none. It takes each shard's lock in turn, never all at once.
func (b *Bans) oldestFlight() (time.Time, bool) {
	var oldest time.Time
	found := false
	for i := range b.flights {
		sh := &b.flights[i]
		sh.mu.Lock()
		for _, s := range sh.stamps {
			if !found || s.Before(oldest) {
				oldest, found = s, true
			}
		}
		sh.mu.Unlock()
	}
	return oldest, found
}

// Open loads the bans persisted at path (none if the file does not exist)
// and keeps saving them there; an empty path keeps them in memory only.
func Open(path string) (*Bans, error) {
	b := &Bans{path: path}
	for i := range b.flights {
		b.flights[i].stamps = make(map[uint64]time.Time)
	}
	var list []Ban
	if path != "" {
		data, err := os.ReadFile(path)
		switch {
		case errors.Is(err, os.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
			// No bans yet; and with no directory, no records either.
		case err != nil:
			return nil, fmt.Errorf("purge: read bans: %w", err)
		default:
			if err := json.Unmarshal(data, &list); err != nil {
				return nil, fmt.Errorf("purge: bans file %s: %w", path, err)
			}
			if err := validate(list); err != nil {
				return nil, fmt.Errorf("purge: bans file %s: %w", path, err)
			}
		}
	}
	b.list.Store(&list)
	return b, nil
}

// validate rejects a persisted list that is not one Add could have built.
func validate(list []Ban) error {
	for i, ban := range list {
		switch {
		case ban.Kind == Tag && len(ban.Tags) == 0,
			ban.Kind != Tag && ban.Kind != Exact && ban.Kind != Prefix && ban.Kind != All,
			ban.Kind != Tag && ban.Target == "":
			return fmt.Errorf("ban %d: invalid %+v", i, ban)
		case i > 0 && !ban.At.After(list[i-1].At):
			return fmt.Errorf("ban %d: out of order", i)
		}
	}
	return nil
}

// Add records ban (its At set to now, but always after the newest ban's)
// and persists the list before returning: once Add succeeds, the purge
// holds, across restarts too. If the list cannot be saved, the ban holds
// until the process ends and Add reports the error.
func (b *Bans) Add(ban Ban, now time.Time) (Ban, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	cur := *b.list.Load()
	if n := len(cur); n > 0 && !now.After(cur[n-1].At) {
		now = cur[n-1].At.Add(time.Nanosecond)
	}
	ban.At = now
	next := append(slices.Clip(cur), ban)
	b.list.Store(&next)
	return ban, b.save(next)
}

// save writes list to the bans file, atomically (temp file, fsync, rename).
func (b *Bans) save(list []Ban) error {
	if b.path == "" {
		return nil
	}
	data, err := json.Marshal(list)
	if err != nil {
		return fmt.Errorf("purge: encode bans: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(b.path), ".bans-*.tmp")
	if err != nil {
		return fmt.Errorf("purge: save bans: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("purge: save bans: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("purge: save bans: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("purge: save bans: %w", err)
	}
	if err := os.Rename(tmp.Name(), b.path); err != nil {
		return fmt.Errorf("purge: save bans: %w", err)
	}
	return nil
}

// Len is the number of active bans.
func (b *Bans) Len() int { return len(*b.list.Load()) }

// Newest is the time of the newest ban; false if there is none.
func (b *Bans) Newest() (time.Time, bool) {
	list := *b.list.Load()
	if len(list) == 0 {
		return time.Time{}, false
	}
	return list[len(list)-1].At, true
}

// Expire drops the bans made at or before through, once nothing they name
// can be stored any more (the caller's sweep has seen to it), but none
// that a fill in flight could be named by: none made at or after the
// oldest flight's stamp (Begin). It persists the list and returns how
// many it dropped. If the list cannot be saved, they are dropped until the
// process ends and Expire reports the error.
//
// The caller reads through (Newest) before its sweep: a fill that begins
// after Expire has looked at it is stamped after every ban made by then.
func (b *Bans) Expire(through time.Time) (int, error) {
	if oldest, ok := b.oldestFlight(); ok && !through.Before(oldest) {
		through = oldest.Add(-time.Nanosecond) // a ban at the stamp names the fill (Check)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	cur := *b.list.Load()
	n, _ := slices.BinarySearchFunc(cur, through, func(ban Ban, t time.Time) int {
		if ban.At.After(t) {
			return 1
		}
		return -1
	})
	if n == 0 {
		return 0, nil
	}
	next := slices.Clone(cur[n:])
	b.list.Store(&next)
	return n, b.save(next)
}

// Check returns what the bans say about an object with cache key key and
// tags, whose fetch began at stamp. Only bans not older than stamp are
// looked at, newest first: none at all for an object fetched since the
// last purge, which costs one atomic load and a compare.
func (b *Bans) Check(key string, tags []string, stamp time.Time) Verdict {
	list := *b.list.Load()
	var v Verdict
	if len(list) > 0 {
		v.Through = list[len(list)-1].At
	}
	rest := ""
	for i := len(list) - 1; i >= 0 && !list[i].At.Before(stamp); i-- {
		ban := &list[i]
		if rest == "" {
			rest = Rest(key)
		}
		if !ban.matches(rest, tags) {
			continue
		}
		if !ban.Soft {
			return Verdict{Purged: true, Through: v.Through}
		}
		v.Stale = ban.At // the oldest matching soft ban wins: stale since then
	}
	return v
}

// Rest is a cache key without its "scheme://", as bans match it.
func Rest(key string) string {
	if i := strings.Index(key, "://"); i >= 0 {
		return key[i+3:]
	}
	return key
}
