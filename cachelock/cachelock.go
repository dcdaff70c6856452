// Package cachelock collapses concurrent misses on one key into a single
// origin fetch. The first request for a key becomes the fill's writer;
// later ones become readers that wait for the response head and then read
// the body along as the writer stores it, byte by byte as it arrives. A
// response that turns out uncacheable releases the readers and marks the
// key hit-for-pass for a while, so that later requests go to the origin in
// parallel instead of queueing behind each other.
//
// Each cache shard has its own table: a lock is never shared by all shards.
package cachelock

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cdnnode/cdnnode/keys"
)

// Options configure the tables.
type Options struct {
	// AgeTimeout is how long a fill may go without progress (head or body
	// bytes) before its lock expires: the next request becomes a new
	// writer, and readers of the stuck fill give up.
	AgeTimeout time.Duration
	// HitForPass is how long a key stays hit-for-pass after an
	// uncacheable response; 0 disables it.
	HitForPass time.Duration
	// MaxPass bounds the hit-for-pass entries per shard; when full, expired
	// entries are dropped, and if none have expired the new one is not
	// recorded. Default 65536.
	MaxPass int
	// MaxBackground bounds the background revalidations each shard runs at
	// once (AcquireBackground); default 16.
	MaxBackground int
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Locks are the per-shard tables. Safe for concurrent use.
type Locks struct {
	o      Options
	shards []*table
}

// table is one shard's fills in flight and hit-for-pass keys.
type table struct {
	mu         sync.Mutex
	fills      map[string]*Fill
	pass       map[string]time.Time // key → end of hit-for-pass
	background int                  // background fills not yet settled
}

// New builds tables for n shards (n >= 1).
func New(n int, o Options) *Locks {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxPass <= 0 {
		o.MaxPass = 1 << 16
	}
	if o.MaxBackground <= 0 {
		o.MaxBackground = 16
	}
	l := &Locks{o: o, shards: make([]*table, max(n, 1))}
	for i := range l.shards {
		l.shards[i] = &table{fills: make(map[string]*Fill), pass: make(map[string]time.Time)}
	}
	return l
}

func (l *Locks) table(k keys.Key) *table { return l.shards[k.Shard(len(l.shards))] }

// Acquire returns the fill in flight for k and writer = false, the caller
// then being one of its readers (it must call Leave when done); or a new
// fill with writer = true, the caller then owning it: it must settle it
// with exactly one of Stream (then Finish), Refresh, Pass or Fail. A fill
// without progress for AgeTimeout is replaced by a new one.
func (l *Locks) Acquire(k keys.Key) (f *Fill, writer bool) {
	t := l.table(k)
	now := l.o.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if cur := t.current(k, now, l.o.AgeTimeout); cur != nil {
		cur.mu.Lock()
		cur.refs++
		cur.mu.Unlock()
		return cur, false
	}
	return t.start(l, k, now, false), true
}

// Why AcquireBackground started nothing.
var (
	// ErrInFlight: a fill for the key is already under way; it will
	// refresh the object as well as a background one would.
	ErrInFlight = errors.New("cachelock: a fill for the key is in flight")
	// ErrBusy: the shard already runs Options.MaxBackground background
	// fills.
	ErrBusy = errors.New("cachelock: the shard's background fills are at their limit")
)

// AcquireBackground starts a fill for k that the caller runs in the
// background, as writer (settling it as Acquire's writer must), or
// returns ErrInFlight when a fill for k is under way, or ErrBusy when the
// shard already runs Options.MaxBackground of them. Requests for k that
// arrive meanwhile become its readers, as with any fill; so there is at
// most one background fill per key, and the shard bounds them all.
func (l *Locks) AcquireBackground(k keys.Key) (*Fill, error) {
	t := l.table(k)
	now := l.o.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.current(k, now, l.o.AgeTimeout) != nil {
		return nil, ErrInFlight
	}
	if t.background >= l.o.MaxBackground {
		return nil, ErrBusy
	}
	t.background++
	return t.start(l, k, now, true), nil
}

// current is k's fill in flight, nil if none or it is stuck. t.mu must be
// held.
func (t *table) current(k keys.Key, now time.Time, age time.Duration) *Fill {
	if cur, ok := t.fills[k.Full]; ok && !cur.stuck(now, age) {
		return cur
	}
	return nil
}

// start registers a new fill for k, held by its writer. t.mu must be held.
func (t *table) start(l *Locks, k keys.Key, now time.Time, background bool) *Fill {
	f := &Fill{Key: k, l: l, t: t, refs: 1, wake: make(chan struct{}), background: background}
	f.progress.Store(now.UnixNano())
	t.fills[k.Full] = f
	return f
}

// HitForPass reports whether k was recently found uncacheable.
func (l *Locks) HitForPass(k keys.Key) bool {
	t := l.table(k)
	t.mu.Lock()
	defer t.mu.Unlock()
	until, ok := t.pass[k.Full]
	if !ok {
		return false
	}
	if !l.o.Now().Before(until) {
		delete(t.pass, k.Full)
		return false
	}
	return true
}

// MarkPass makes k hit-for-pass for Options.HitForPass.
func (l *Locks) MarkPass(k keys.Key) {
	if l.o.HitForPass <= 0 {
		return
	}
	t := l.table(k)
	now := l.o.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.pass[k.Full]; !ok && len(t.pass) >= l.o.MaxPass {
		for key, until := range t.pass { // bounded: MaxPass entries
			if !now.Before(until) {
				delete(t.pass, key)
			}
		}
		if len(t.pass) >= l.o.MaxPass {
			return
		}
	}
	t.pass[k.Full] = now.Add(l.o.HitForPass)
}

// ClearPass ends k's hit-for-pass, as when a cacheable response was stored.
func (l *Locks) ClearPass(k keys.Key) {
	t := l.table(k)
	t.mu.Lock()
	delete(t.pass, k.Full)
	t.mu.Unlock()
}

// PassEntries counts hit-for-pass entries, expired ones included until
// they are dropped.
func (l *Locks) PassEntries() int { return l.count(func(t *table) int { return len(t.pass) }) }

// InFlight counts fills holding a lock.
func (l *Locks) InFlight() int { return l.count(func(t *table) int { return len(t.fills) }) }

// Background counts background fills not yet settled.
func (l *Locks) Background() int { return l.count(func(t *table) int { return t.background }) }

// count sums n over the tables, each read under its lock.
func (l *Locks) count(n func(*table) int) int {
	sum := 0
	for _, t := range l.shards {
		t.mu.Lock()
		sum += n(t)
		t.mu.Unlock()
	}
	return sum
}

// State is how far a fill got.
type State uint8

// The states. Every state but Pending and Streaming is final and releases
// the lock; Streaming releases it when the writer calls Finish.
const (
	Pending   State = iota // waiting for the origin's response head
	Streaming              // head published; the body arrives (Done reports its end)
	Refreshed              // a revalidation refreshed the stored object: readers serve it
	Passed                 // the response is not cacheable: readers fetch for themselves
	Failed                 // the origin failed before a head: readers fetch for themselves
)

// Errors readers see.
var (
	// ErrTimeout: no head within the reader's wait.
	ErrTimeout = errors.New("cachelock: timed out waiting for the fill's response head")
	// ErrAborted: the body stopped short (origin failure, store failure,
	// or the fill made no progress for AgeTimeout). The reader must abort
	// its response.
	ErrAborted = errors.New("cachelock: fill aborted")
)

// Body is a fill's body as stored so far. ReadAt returns bytes in
// [off, off+len(p)) that have been written (possibly none) and is safe
// for use concurrently with the writer; Close releases it once no reader
// needs it.
type Body interface {
	ReadAt(p []byte, off int64) (int, error)
	Close()
}

// Fill is one key's fetch in flight, shared by its writer and readers.
type Fill struct {
	Key keys.Key // the key locked (the primary key for a Vary response)

	l          *Locks
	t          *table
	background bool         // counted in t.background until settled
	progress   atomic.Int64 // unix nanoseconds of the last progress

	mu      sync.Mutex
	wake    chan struct{} // closed and replaced at every change
	watched bool          // someone holds wake
	state   State
	head    any    // what Stream or Refresh published
	body    Body   // set by Stream
	release func() // set by Refresh
	size    int64  // body bytes readable
	done    bool   // the body is complete, or err says why not
	err     error
	refs    int // the writer and readers still using the fill
}

func (f *Fill) stuck(now time.Time, age time.Duration) bool {
	return age > 0 && now.UnixNano()-f.progress.Load() >= int64(age)
}

func (f *Fill) touch() { f.progress.Store(f.l.o.Now().UnixNano()) }

// changed wakes every waiter. f.mu must be held.
func (f *Fill) changed() {
	if f.watched {
		close(f.wake)
		f.wake = make(chan struct{})
		f.watched = false
	}
}

// unlock removes the fill from its table, if it still holds the lock, so
// the next request for the key starts afresh; a background fill stops
// counting against the shard's limit. The writer's settling calls it once.
func (f *Fill) unlock() {
	f.t.mu.Lock()
	if f.t.fills[f.Key.Full] == f {
		delete(f.t.fills, f.Key.Full)
	}
	if f.background {
		f.t.background--
	}
	f.t.mu.Unlock()
}

// settle ends a fill that never streams, releasing the lock and the
// writer's reference.
func (f *Fill) settle(s State, head any) {
	f.unlock()
	f.mu.Lock()
	f.state, f.head, f.done = s, head, true
	f.changed()
	f.mu.Unlock()
	f.Leave()
}

// Stream publishes the response head (opaque to this package: readers get
// it back from Wait) and the body readers read along. The writer then
// reports progress with Wrote and ends with Finish.
func (f *Fill) Stream(head any, body Body) {
	f.touch()
	f.mu.Lock()
	f.state, f.head, f.body = Streaming, head, body
	f.changed()
	f.mu.Unlock()
}

// Wrote reports that the first n body bytes are readable.
func (f *Fill) Wrote(n int64) {
	f.touch()
	f.mu.Lock()
	f.size = n
	f.changed()
	f.mu.Unlock()
}

// Finish ends a streaming fill: err nil means the body is complete,
// otherwise readers abort. It releases the lock and the writer's
// reference.
func (f *Fill) Finish(err error) {
	f.unlock()
	f.mu.Lock()
	f.done, f.err = true, err
	f.changed()
	f.mu.Unlock()
	f.Leave()
}

// Refresh settles a revalidation: readers serve head (the refreshed
// object) without a body from the fill. release, if not nil, runs when
// the last of them leaves: head stays usable until then.
func (f *Fill) Refresh(head any, release func()) {
	f.mu.Lock()
	f.release = release
	f.mu.Unlock()
	f.settle(Refreshed, head)
}

// Pass settles a fill whose response is not to be shared: readers fetch
// for themselves.
func (f *Fill) Pass() { f.settle(Passed, nil) }

// Fail settles a fill whose origin failed before a head: readers fetch for
// themselves (one of them becoming the next writer).
func (f *Fill) Fail() { f.settle(Failed, nil) }

// Leave drops a reference: a reader's when it is done, or the writer's
// (Finish and the settling methods call it). The last one out closes the
// body, or runs Refresh's release.
func (f *Fill) Leave() {
	f.mu.Lock()
	f.refs--
	last := f.refs == 0
	body, release := f.body, f.release
	f.mu.Unlock()
	if !last {
		return
	}
	if body != nil {
		body.Close()
	}
	if release != nil {
		release()
	}
}

// Wait blocks until the fill leaves Pending, done closes (ErrAborted), or
// timeout passes (ErrTimeout), and returns the state and the published
// head.
func (f *Fill) Wait(done <-chan struct{}, timeout time.Duration) (State, any, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for { // bounded by timeout
		f.mu.Lock()
		if f.state != Pending {
			s, h := f.state, f.head
			f.mu.Unlock()
			return s, h, nil
		}
		ch := f.wake
		f.watched = true
		f.mu.Unlock()
		select {
		case <-ch:
		case <-done:
			return Pending, nil, ErrAborted
		case <-timer.C:
			return Pending, nil, ErrTimeout
		}
	}
}

// NewReader reads the body of a streaming fill from the start, as it
// arrives. Its Read waits for more bytes until the body is complete
// (io.EOF), aborted or stuck for AgeTimeout (ErrAborted), or done is
// closed (ErrAborted).
func (f *Fill) NewReader(done <-chan struct{}) *Reader {
	return &Reader{f: f, done: done}
}

// Reader reads a fill's body along; see NewReader.
type Reader struct {
	f    *Fill
	done <-chan struct{}
	off  int64
}

// Read implements io.Reader.
func (r *Reader) Read(p []byte) (int, error) {
	f := r.f
	for { // bounded: each pass returns or waits for progress, which ends within AgeTimeout
		f.mu.Lock()
		size, finished, err, body := f.size, f.done, f.err, f.body
		var ch chan struct{}
		if r.off >= size && !finished {
			ch = f.wake
			f.watched = true
		}
		f.mu.Unlock()
		if r.off < size {
			n, rerr := body.ReadAt(p[:min(int64(len(p)), size-r.off)], r.off)
			r.off += int64(n)
			if rerr != nil {
				return n, errors.Join(ErrAborted, rerr)
			}
			return n, nil
		}
		if finished {
			if err != nil {
				return 0, errors.Join(ErrAborted, err)
			}
			return 0, io.EOF
		}
		if err := r.wait(ch); err != nil {
			return 0, err
		}
	}
}

// wait blocks until ch closes, the reader's done closes, or the fill has
// made no progress for AgeTimeout.
func (r *Reader) wait(ch <-chan struct{}) error {
	age := r.f.l.o.AgeTimeout
	var timeout <-chan time.Time
	if age > 0 {
		t := time.NewTimer(age)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-ch:
		return nil
	case <-r.done:
		return ErrAborted
	case <-timeout:
		return errors.Join(ErrAborted, errors.New("cachelock: fill made no progress"))
	}
}
