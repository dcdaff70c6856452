package limits

import (
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"
)

// WindowOptions configure a Window.
type WindowOptions struct {
	// Limit is the number of requests allowed per window per key; > 0.
	Limit int
	// Window is the length of a window; > 0 and at most maxWindow
	// (about 73 years).
	Window time.Duration
	// Sliding selects the sliding window counter (Cloudflare's and
	// nginx-style limiters'): a request is allowed while the current
	// fixed window's count, plus the previous window's count weighted by
	// the share of it the sliding window still covers, plus the request
	// itself stays within Limit. A burst at the end of one window thus
	// still counts at the start of the next. false: fixed windows aligned
	// on multiples of Window since the Unix epoch, which let up to twice
	// Limit through across an edge.
	Sliding bool
	// MaxKeys bounds the keys tracked at once, and so the memory; > 0.
	MaxKeys int
}

// maxWindow is the longest Window allowed: window starts and the times
// computed from them stay far from int64 overflow in Unix nanoseconds.
const maxWindow = time.Duration(math.MaxInt64 / 4)

// Shards of a Window: at most windowMaxShards, each of at least
// windowMinShardKeys keys unless MaxKeys is smaller, so that a shard's
// least recently seen key is also nearly the least recent of all.
const (
	windowMaxShards    = 128
	windowMinShardKeys = 256
)

// Window limits requests per key (a client address, an API key) in fixed
// or sliding windows. Safe for concurrent use.
//
// Only allowed requests count, as in nginx and Cloudflare: a client that
// keeps sending while refused does not push back the time it is next
// allowed.
//
// Keys live in shards, each with its own lock, holding at most MaxKeys
// keys between them. A new key arriving at a full shard takes the place
// of that shard's least recently seen key (exact LRU within a shard, so
// approximately LRU overall since a key's shard is picked by its hash);
// the evicted key, if it comes back, starts afresh. A spray of distinct
// keys therefore churns the tables without growing them, while a key that
// keeps sending stays: to lose it, a shard would need as many new keys
// landing in it between two of its requests as the shard holds. Each
// tracked key costs 48 bytes of entry, 8 to 16 bytes of index and a copy
// of the key string; tables grow to that as keys arrive, not up front.
type Window struct {
	limit   int32
	width   int64 // Window in nanoseconds
	sliding bool
	seed    uint64 // scrambles key hashes, see keyHash
	shift   uint   // a hash's top bits, h>>shift, pick its shard
	shards  []windowShard
}

// windowShard is one share of a Window's keys.
type windowShard struct {
	mu   sync.Mutex // guards keys, newest and oldest
	keys keyTable[counter]
	// newest and oldest are the ends of the recency list threaded through
	// the counters by entry index; -1 while the shard is empty.
	newest, oldest int32
	_              [64]byte // keeps neighbouring shards' locks off one cache line
}

// counter is one key's state.
type counter struct {
	start int64 // Unix nanoseconds at which the window cur counts began
	cur   int32 // requests allowed in that window
	prev  int32 // requests allowed in the window just before it
	// newer and older link the recency list; -1 at its ends.
	newer, older int32
}

// NewWindow builds a Window from o. It refuses a Limit, Window or MaxKeys
// out of range (MaxKeys and Limit must fit an int32).
func NewWindow(o WindowOptions) (*Window, error) {
	switch {
	case o.Limit <= 0 || o.Limit > math.MaxInt32:
		return nil, fmt.Errorf("window: limit %d is not in 1..%d", o.Limit, math.MaxInt32)
	case o.Window <= 0 || o.Window > maxWindow:
		return nil, fmt.Errorf("window: length %v is not in (0, %v]", o.Window, maxWindow)
	case o.MaxKeys <= 0 || o.MaxKeys > math.MaxInt32:
		return nil, fmt.Errorf("window: max keys %d is not in 1..%d", o.MaxKeys, math.MaxInt32)
	}
	n := 1
	for n < windowMaxShards && o.MaxKeys/(2*n) >= windowMinShardKeys {
		n *= 2
	}
	w := &Window{
		limit:   int32(o.Limit),
		width:   int64(o.Window),
		sliding: o.Sliding,
		seed:    rand.Uint64(),
		shift:   uint(64 - bits.TrailingZeros(uint(n))),
		shards:  make([]windowShard, n),
	}
	for i := range w.shards {
		s := &w.shards[i]
		s.keys.maxLen = o.MaxKeys / n
		if i < o.MaxKeys%n {
			s.keys.maxLen++
		}
		s.newest, s.oldest = -1, -1
	}
	return w, nil
}

// Allow counts one request of key at now and reports whether it is within
// the limit. When it is not, the request is not counted and retryAfter
// (> 0) is how long until a request of key would next be allowed, if key
// sends nothing meanwhile; the sliding window's answer is exact to the
// nanosecond. A now earlier than the key's current window (callers whose
// clocks disagree) counts in that window.
//
// Allow allocates nothing for a key already tracked; a new key costs one
// copy of its string, as the caller's key may share memory with a larger
// buffer.
func (w *Window) Allow(key string, now time.Time) (ok bool, retryAfter time.Duration) {
	h := keyHash(w.seed, key)
	s := &w.shards[h>>w.shift]
	t := now.UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	ws := w.windowStart(t)
	c := s.lookup(h, key, ws)
	if ws > c.start {
		if ws == c.start+w.width {
			c.prev = c.cur
		} else {
			c.prev = 0
		}
		c.cur, c.start = 0, ws
	}
	if w.allows(c, max(t-c.start, 0)) {
		c.cur++
		return true, 0
	}
	return false, time.Duration(c.start + w.next(c) - t)
}

// windowStart returns the start of the fixed window holding t (Unix
// nanoseconds), a multiple of the window's length.
func (w *Window) windowStart(t int64) int64 {
	ws := t - t%w.width
	if ws > t { // t before 1970: % truncates toward zero
		ws -= w.width
	}
	return ws
}

// allows reports whether c has room for one more request elapsed
// nanoseconds into its window. The sliding test is prev·(W-elapsed)/W +
// cur + 1 <= limit, kept in integers: prev·(W-elapsed) <= (limit-cur-1)·W.
func (w *Window) allows(c *counter, elapsed int64) bool {
	room := w.limit - c.cur - 1
	if room < 0 {
		return false
	}
	return !w.sliding || mulLE(uint64(c.prev), uint64(w.width-elapsed), uint64(room), uint64(w.width))
}

// next returns how long after c.start a request is next allowed, if no
// other is counted meanwhile. Only for a c that allows has just refused.
func (w *Window) next(c *counter) int64 {
	if !w.sliding {
		return w.width
	}
	width := uint64(w.width)
	// Later in this window: the weighted previous count shrinks until
	// prev·(W-e) <= room·W, i.e. from e = W - floor(room·W/prev). A refusal
	// with room >= 0 means room·W < prev·(W-elapsed), so room < prev.
	if room := w.limit - c.cur - 1; room >= 0 {
		if q := mulDiv(uint64(room), width, uint64(c.prev)); q > 0 {
			return int64(width - q)
		}
	}
	// In the next window, cur becomes its previous count and nothing is
	// counted yet: room is limit-1. cur <= limit, as only allowed requests
	// count, so room < cur unless the next window starts allowed.
	room := w.limit - 1
	if room >= c.cur {
		return w.width
	}
	return int64(2*width - mulDiv(uint64(room), width, uint64(c.cur)))
}

// lookup returns the counter of key, whose hash is h, and marks it the
// shard's most recently seen. A key not tracked gets a fresh counter for
// the window starting at start: in a free entry, or in the least recently
// seen key's when the shard is full. The pointer is valid until s.mu is
// unlocked.
func (s *windowShard) lookup(h uint64, key string, start int64) *counter {
	i := s.keys.find(h, key)
	switch {
	case i >= 0:
		if i == s.newest {
			return s.at(i)
		}
		s.unlink(i)
	case len(s.keys.entries) < s.keys.maxLen:
		i = s.keys.add(h, strings.Clone(key))
		*s.at(i) = counter{start: start}
	default:
		i = s.oldest
		s.unlink(i)
		s.keys.rekey(i, h, strings.Clone(key))
		*s.at(i) = counter{start: start}
	}
	c := s.at(i)
	c.newer, c.older = -1, s.newest
	if s.newest >= 0 {
		s.at(s.newest).newer = i
	} else {
		s.oldest = i
	}
	s.newest = i
	return c
}

// at returns entry i's counter.
func (s *windowShard) at(i int32) *counter { return &s.keys.entries[i].val }

// unlink takes entry i out of the recency list.
func (s *windowShard) unlink(i int32) {
	c := s.at(i)
	if c.newer >= 0 {
		s.at(c.newer).older = c.older
	} else {
		s.newest = c.older
	}
	if c.older >= 0 {
		s.at(c.older).newer = c.newer
	} else {
		s.oldest = c.newer
	}
}

// Len reports the keys tracked now, including those whose windows have
// passed: a key leaves only when a new one needs its place.
func (w *Window) Len() int {
	n := 0
	for i := range w.shards {
		s := &w.shards[i]
		s.mu.Lock()
		n += len(s.keys.entries)
		s.mu.Unlock()
	}
	return n
}

// mulLE reports whether a·b <= c·d, comparing the 128-bit products.
func mulLE(a, b, c, d uint64) bool {
	hi1, lo1 := bits.Mul64(a, b)
	hi2, lo2 := bits.Mul64(c, d)
	return hi1 < hi2 || hi1 == hi2 && lo1 <= lo2
}

// mulDiv returns floor(a·b/c) for a < c, so the quotient fits 64 bits.
func mulDiv(a, b, c uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	q, _ := bits.Div64(hi, lo, c)
	return q
}

// keyHash hashes key with xxhash, then scrambles the result with seed
// through murmur3's 64-bit finaliser, a bijection. The bits that pick a
// key's shard and slot thus differ per table, so a client choosing its
// keys cannot pile them onto one probe run without full 64-bit xxhash
// collisions among all of them. (A seeded xxhash Digest costs three times
// as much for an address-sized key.)
func keyHash(seed uint64, key string) uint64 {
	h := xxhash.Sum64String(key) ^ seed
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// minTableCap is the fewest entries a keyTable makes room for.
const minTableCap = 8
