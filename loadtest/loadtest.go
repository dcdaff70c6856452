// Package loadtest is the load generator behind `cdnnode loadtest`: it
// sends a described workload of demo-origin object requests to a target
// (a cdnnode node, or any HTTP server in front of the demo origin) and
// measures what came back, in numbers an operator can trust.
//
// Run drives the load in one of two modes. In a closed loop each of
// Options.Connections workers sends its next request as soon as the last
// one is answered, which finds the target's throughput. In an open loop
// (Options.Rate > 0) request i is due at start + i/Rate whatever the
// target does; a bounded pool of connections takes requests as they fall
// due, and a request that finds every connection busy waits and has its
// latency measured from when it was due (coordinated-omission
// correction), so a stall shows in the percentiles instead of hiding in
// requests never sent. A request whose connection was free and waiting is
// measured from when it is actually sent, so the up to ~1ms that Go's
// timers oversleep on an idle process is not charged to the target.
//
// Request i is a function of the seed and i alone (see Options.Seed):
// which object (Options.Keys over Options.Objects), how big (Options.Size,
// fixed per object), and whether a GET, a conditional GET or a PURGE.
// Paths are the demo origin's: /obj/<Prefix><key>?size=<bytes>&<Query>.
//
// HTTP/1.1 goes through the package's own client (one keep-alive
// connection per worker, no allocation per request); HTTP/2 (TLS or h2c)
// through golang.org/x/net/http2.
//
// Latencies go into HDR histograms (1µs to 60s, 3 significant digits),
// overall and per second of the run, with status codes, Cache-Status
// classes by requests and by bytes, errors by kind, and, given the demo
// origin's stats URL, the origin requests the load caused: the Result.
// Report and WriteJSON present it.
package loadtest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/url"
	"strings"
	"time"
)

// Defaults for zero Options fields.
const (
	DefaultConnections = 64
	DefaultDuration    = 10 * time.Second
	DefaultObjects     = 1000
	DefaultZipfS       = 1.0
	DefaultTimeout     = 10 * time.Second
	DefaultPrefix      = "lt-"
)

// DefaultSize is the object size the CLI asks for unless told: 1KiB.
func DefaultSize() Size { return Size{1024, 1024} }

// Limits on Options.
const (
	// MaxConnections bounds Connections × Streams, the workers of a run.
	MaxConnections = 100_000
	// MaxRate bounds Rate, in requests per second.
	MaxRate = 10_000_000
	// MaxRun bounds Warmup + Duration, and a run bounded only by Requests.
	MaxRun = 7 * 24 * time.Hour
	// MaxObjects bounds Objects.
	MaxObjects = 1 << 40
)

// lateAfter is how far past its intended time a request must be sent to
// count as late.
const lateAfter = time.Millisecond

// Options describe a run. The zero value of each field but Size means its
// default; Run does not modify the caller's copy.
type Options struct {
	// Target is the base URL requests go to: http://host:port or
	// https://host:port, with an optional path put before /obj/. Several
	// base URLs separated by commas take turns: request i goes to the
	// (i mod n)th, and each worker keeps a connection to every one.
	Target string
	// Host replaces the target's host in the Host header (and is the TLS
	// server name); default: the target's.
	Host string
	// Connections is the number of keep-alive connections (default 64).
	// In a closed loop each has a worker sending back to back; in an open
	// loop they are the pool that takes requests as they fall due.
	Connections int
	// Streams is, with H2, the requests each connection carries at once
	// (default 1); so Connections × Streams workers.
	Streams int
	// Rate, when positive, makes an open loop of Rate requests per
	// second; zero is a closed loop.
	Rate float64

	// Duration is how long the measured part of the run lasts, after
	// Warmup; default 10s unless Requests is set.
	Duration time.Duration
	// Requests, when positive, ends the run after that many measured
	// requests (or at Duration if that comes first).
	Requests int64
	// Warmup is load sent before measuring starts and excluded from the
	// results; zero is none. DefaultWarmup suggests one.
	Warmup time.Duration

	// Keys is how requests pick an object: Single (default), Uniform or
	// Zipf over Objects objects.
	Keys KeyDist
	// ZipfS is the Zipf exponent, any s > 0 (default 1).
	ZipfS float64
	// Objects is how many objects Uniform and Zipf choose from (default
	// 1000); keys run from 0 to Objects-1.
	Objects int64
	// Size is the objects' body size. The zero Size is 0 bytes: empty
	// bodies, headers only (DefaultSize is the CLI's default).
	Size Size
	// Query is more demo-origin parameters for every object URL, e.g.
	// "cc=max-age%3D300&tags=a" (raw, already escaped).
	Query string
	// Prefix begins every object name (default "lt-"): /obj/lt-42.
	Prefix string

	// PurgePct is the percentage of requests that are PURGE of an object
	// URL (chosen by Keys like a GET).
	PurgePct float64
	// ConditionalPct is the percentage of requests that are GETs with
	// If-Modified-Since equal to the demo origin's Last-Modified, so a
	// cache holding the object answers 304. It adds lm=1 to every object
	// URL, so that stored objects have a Last-Modified to compare.
	ConditionalPct float64

	// Seed fixes the sequence of requests: the same seed sends the same
	// requests in the same order of request numbers (which worker sends
	// one, and so the order on the wire, varies with concurrency). Zero
	// picks a random seed; Result.Seed reports the one used.
	Seed uint64

	// H2 speaks HTTP/2: over TLS (ALPN h2) to an https target, with prior
	// knowledge (h2c) to an http one. Otherwise HTTP/1.1, with TLS for
	// https.
	H2 bool
	// TLS configures https connections; nil verifies the target's
	// certificate against the system's roots.
	TLS *tls.Config
	// Timeout bounds each request: connect, send and the whole response
	// (default 10s).
	Timeout time.Duration

	// OriginStats is the demo origin's stats URL
	// (http://host:port/__origin/stats), read when measuring starts and
	// when the run ends to count the origin requests the load caused.
	// Empty: not read.
	OriginStats string

	// Progress, when set, is called once a second of the measured run,
	// from a goroutine of Run's, with what that second saw.
	Progress func(Progress)
}

// Progress is one second of a run, for a live display.
type Progress struct {
	// Side is "A" or "B" in a comparison (see Compare), whose figures
	// cover both sides' slices so far: Elapsed and Total the whole
	// comparison, Requests and Errors the side's; "" in a single run.
	Side     string
	Elapsed  time.Duration // measured time so far
	Total    time.Duration // Duration, or 0 when the run is bounded by Requests only
	Requests int64         // measured requests so far
	Left     int64         // with Requests, how many are still to come
	Errors   int64         // errors so far
	Rate     float64       // requests per second in the last second
	P99      time.Duration // 99th percentile latency of the last second
}

// DefaultWarmup is the warm-up the CLI uses unless told: a tenth of the
// measured duration, at most 1s (none for a run bounded by Requests only).
func DefaultWarmup(duration time.Duration) time.Duration {
	return min(duration/10, time.Second)
}

// normalize fills in defaults and checks o.
func (o *Options) normalize() error {
	if o.Connections == 0 {
		o.Connections = DefaultConnections
	}
	if o.Streams == 0 {
		o.Streams = 1
	}
	if o.Duration == 0 && o.Requests == 0 {
		o.Duration = DefaultDuration
	}
	if o.Keys == "" {
		o.Keys = Single
	}
	if o.ZipfS == 0 {
		o.ZipfS = DefaultZipfS
	}
	if o.Objects == 0 {
		o.Objects = DefaultObjects
	}
	if o.Keys == Single {
		o.Objects = 1
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Seed == 0 {
		o.Seed = rand.Uint64() | 1 // never 0, which would mean "pick one" again
	}
	if o.TLS == nil {
		o.TLS = &tls.Config{}
	}
	switch {
	case o.Target == "":
		return errors.New("no target URL")
	case o.Connections < 0 || o.Streams < 0 || o.Connections > MaxConnections || o.Streams > MaxConnections || o.Connections*o.Streams > MaxConnections:
		return fmt.Errorf("connections %d × streams %d: want 1 to %d workers", o.Connections, o.Streams, MaxConnections)
	case o.Streams > 1 && !o.H2:
		return fmt.Errorf("streams %d: more than one stream per connection needs h2", o.Streams)
	case !(o.Rate >= 0 && o.Rate <= MaxRate): // also NaN
		return fmt.Errorf("rate %v: want 0 (closed loop) to %d requests per second", o.Rate, MaxRate)
	case o.Duration < 0 || o.Requests < 0 || o.Warmup < 0:
		return errors.New("duration, requests and warm-up must not be negative")
	case o.Warmup > MaxRun || o.Duration > MaxRun || o.Warmup+o.Duration > MaxRun:
		return fmt.Errorf("warm-up plus duration: want at most %v", MaxRun)
	case o.Keys != Single && o.Keys != Uniform && o.Keys != Zipf:
		return fmt.Errorf("keys %q: want single, uniform or zipf", o.Keys)
	case !(o.ZipfS > 0 && o.ZipfS <= 100):
		return fmt.Errorf("zipf exponent %v: want more than 0 (and at most 100)", o.ZipfS)
	case o.Objects < 1 || o.Objects > MaxObjects:
		return fmt.Errorf("objects %d: want 1 to %d", o.Objects, int64(MaxObjects))
	case o.Size.Min < 0 || o.Size.Min > o.Size.Max || o.Size.Max > MaxSize:
		return fmt.Errorf("size %d-%d: want 0 <= min <= max <= 1GiB", o.Size.Min, o.Size.Max)
	case !(o.PurgePct >= 0 && o.ConditionalPct >= 0 && o.PurgePct+o.ConditionalPct <= 100):
		return fmt.Errorf("purge %v%% + conditional %v%%: want percentages adding up to at most 100", o.PurgePct, o.ConditionalPct)
	case o.Timeout < 0:
		return fmt.Errorf("timeout %v: must not be negative", o.Timeout)
	}
	if o.OriginStats != "" {
		if u, err := url.Parse(o.OriginStats); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("invalid origin stats URL %q: want http://host:port/__origin/stats", o.OriginStats)
		}
	}
	return nil
}

// Validate reports what Run would refuse in o: a bad option or target.
func (o Options) Validate() error {
	if err := o.normalize(); err != nil {
		return err
	}
	_, err := newTargets(o.Target, &o)
	return err
}

// Run sends the load o describes and returns what it measured. It returns
// an error, and no Result, for invalid options or when no connection to
// the target could be made; failed requests are counted in the Result.
// Cancelling ctx stops the run early: in-flight requests are cut and not
// counted, and the Result covers what was measured (Interrupted is set).
func Run(ctx context.Context, o Options) (*Result, error) {
	if err := o.normalize(); err != nil {
		return nil, err
	}
	r, err := newRunner(&o)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cs := r.clients()
	defer cs.close()
	if err := r.connect(ctx, cs); err != nil {
		return nil, err
	}
	return r.run(ctx, cs), nil
}

// protocol names the protocol a run speaks.
func (o *Options) protocol() string {
	if !o.H2 {
		return "HTTP/1.1"
	}
	tls, clear := false, false
	for t := range strings.SplitSeq(o.Target, ",") {
		if strings.HasPrefix(strings.TrimSpace(t), "https://") {
			tls = true
		} else {
			clear = true
		}
	}
	switch {
	case tls && clear:
		return "h2 and h2c"
	case tls:
		return "h2"
	}
	return "h2c"
}

// openLoop reports whether o asks for a constant arrival rate.
func (o *Options) openLoop() bool { return o.Rate > 0 }

// endOffset is when, from the start of the run, no request may start.
func (o *Options) endOffset() time.Duration {
	if o.Duration == 0 {
		return o.Warmup + MaxRun
	}
	return o.Warmup + o.Duration
}

// interval is the time between two intended sends of an open loop, in
// nanoseconds.
func (o *Options) interval() float64 { return 1e9 / o.Rate }

// due is request i's intended send time, from the start of an open loop.
func (o *Options) due(i int64) time.Duration {
	return time.Duration(math.Round(float64(i) * o.interval()))
}

// warmRequests is how many requests of an open loop fall in the warm-up:
// the first request number due at or after Warmup.
func (o *Options) warmRequests() int64 {
	n := int64(math.Ceil(float64(o.Warmup) / o.interval()))
	for range 4 { // rounding can be off by one either way
		switch {
		case n > 0 && o.due(n-1) >= o.Warmup:
			n--
		case o.due(n) < o.Warmup:
			n++
		}
	}
	return n
}
