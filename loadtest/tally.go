package loadtest

import (
	"bytes"
	"sync"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// Latencies are recorded in microseconds from 1µs to 60s with three
// significant digits (0.1% resolution); a slower response counts as 60s.
const (
	histLowest  = 1
	histHighest = 60_000_000
	histDigits  = 3
)

func newHist() *hdr.Histogram { return hdr.New(histLowest, histHighest, histDigits) }

// CacheClass is what the last cache on the path said it did with a GET,
// read from the response's Cache-Status (RFC 9211).
type CacheClass uint8

const (
	// Other: no Cache-Status, or one saying neither of the below.
	Other CacheClass = iota
	// Hit: served from cache ("hit"), not stale.
	Hit
	// Stale: a stale copy served ("hit" or "fwd=..." with a detail
	// naming stale, such as stale-while-revalidate or stale-if-error).
	Stale
	// Miss: forwarded to the origin ("fwd=miss", "fwd=stale" revalidated,
	// "fwd=bypass", ...), including requests collapsed onto another's
	// fetch.
	Miss
	numClasses
)

var classNames = [numClasses]string{"other", "hit", "stale", "miss"}

func (c CacheClass) String() string { return classNames[c] }

// classify reads a Cache-Status field value. Only its last member counts:
// RFC 9211 lists caches from the origin's side to the client's, so the
// last is the one the client talked to.
func classify(v []byte) CacheClass {
	if i := bytes.LastIndexByte(v, ','); i >= 0 {
		v = v[i+1:]
	}
	hit, fwd, stale := false, false, false
	first := true
	for range 32 { // parameters of one member; a longer list is not a cache's
		p := v
		if i := bytes.IndexByte(v, ';'); i >= 0 {
			p, v = v[:i], v[i+1:]
		} else {
			v = nil
		}
		p = bytes.TrimSpace(p)
		switch {
		case first: // the cache's name
		case bytes.Equal(p, []byte("hit")):
			hit = true
		case bytes.HasPrefix(p, []byte("fwd=")):
			fwd = true
		case bytes.HasPrefix(p, []byte("detail=")):
			stale = stale || bytes.Contains(p, []byte("stale"))
		}
		first = false
		if len(v) == 0 {
			break
		}
	}
	switch {
	case (hit || fwd) && stale:
		return Stale
	case hit:
		return Hit
	case fwd:
		return Miss
	}
	return Other
}

// ErrorKind is why a request failed.
type ErrorKind uint8

const (
	noError ErrorKind = iota
	// ErrConnect: the connection (or its TLS handshake) failed.
	ErrConnect
	// ErrTimeout: no complete response within Options.Timeout.
	ErrTimeout
	// ErrWrite: sending the request failed.
	ErrWrite
	// ErrRead: the connection failed or closed while reading the response.
	ErrRead
	// ErrProtocol: the response was not valid HTTP.
	ErrProtocol
	// ErrStatus: a response with status 500 or more; it is also counted
	// as a response, with its latency.
	ErrStatus
	numErrorKinds
)

var errorNames = [numErrorKinds]string{"", "connect", "timeout", "write", "read", "protocol", "status>=500"}

func (k ErrorKind) String() string { return errorNames[k] }

// outcome is what a client reports of one request.
type outcome struct {
	status int // 0 when no response came
	bytes  int64
	class  CacheClass
	kind   ErrorKind
	err    error // the transport error; nil for a response
}

// tally counts what requests got. A tally is not safe for concurrent use:
// a recorder guards one, the collector owns the others.
type tally struct {
	lat          *hdr.Histogram // responses' latencies, µs
	requests     int64          // responses + transport errors
	responses    int64
	bytes        int64 // response body bytes
	status       [600]int64
	cache        [numClasses]int64 // GETs only, conditional ones included
	cacheBytes   [numClasses]int64
	errors       [numErrorKinds]int64
	late         int64 // sent more than lateAfter past their intended time
	purges       int64
	conditionals int64
	samples      [numErrorKinds]string // the first error message of each kind
}

func newTally() *tally { return &tally{lat: newHist()} }

// add counts one request that took lat.
func (t *tally) add(rq request, o *outcome, lat time.Duration, late bool) {
	t.requests++
	if late {
		t.late++
	}
	switch rq.kind {
	case purgeKind:
		t.purges++
	case conditional:
		t.conditionals++
	}
	if o.kind != noError {
		t.errors[o.kind]++
		if t.samples[o.kind] == "" && o.err != nil {
			t.samples[o.kind] = o.err.Error()
		}
	}
	if o.status == 0 {
		return
	}
	t.responses++
	t.bytes += o.bytes
	t.status[o.status]++
	if rq.kind != purgeKind {
		t.cache[o.class]++
		t.cacheBytes[o.class] += o.bytes
	}
	us := int64(lat / time.Microsecond)
	_ = t.lat.RecordValue(min(max(us, 0), histHighest)) // in range: cannot fail
}

// merge adds u's counts to t.
func (t *tally) merge(u *tally) {
	t.lat.Merge(u.lat)
	t.requests += u.requests
	t.responses += u.responses
	t.bytes += u.bytes
	for i, n := range u.status {
		t.status[i] += n
	}
	for i := range numClasses {
		t.cache[i] += u.cache[i]
		t.cacheBytes[i] += u.cacheBytes[i]
	}
	for i := range numErrorKinds {
		t.errors[i] += u.errors[i]
		if t.samples[i] == "" {
			t.samples[i] = u.samples[i]
		}
	}
	t.late += u.late
	t.purges += u.purges
	t.conditionals += u.conditionals
}

// reset zeroes t, keeping its histogram's storage.
func (t *tally) reset() {
	lat := t.lat
	lat.Reset()
	*t = tally{lat: lat}
}

func (t *tally) errorCount() int64 {
	var n int64
	for _, e := range t.errors {
		n += e
	}
	return n
}

// recorder is where workers count their requests: a few workers share
// one, so that a histogram (140 KB) is not kept per connection, and the
// collector drains them all once a second.
type recorder struct {
	mu sync.Mutex // guards t
	t  tally
}

func (r *recorder) add(rq request, o *outcome, lat time.Duration, late bool) {
	r.mu.Lock()
	r.t.add(rq, o, lat, late)
	r.mu.Unlock()
}

// drainInto adds r's counts to dst and zeroes them.
func (r *recorder) drainInto(dst *tally) {
	r.mu.Lock()
	dst.merge(&r.t)
	r.t.reset()
	r.mu.Unlock()
}
