package limits

import (
	"context"
	"errors"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// newLimiter builds a limiter or fails the test.
func newLimiter(t testing.TB, name string, o Options) *Limiter {
	t.Helper()
	l, err := New(name, o)
	if err != nil {
		t.Fatalf("New(%q, %+v): %v", name, o, err)
	}
	return l
}

// mustAcquire acquires a permit from l or fails the test.
func mustAcquire(t testing.TB, l *Limiter) Permit {
	t.Helper()
	p, err := l.Acquire(context.Background())
	if err != nil {
		t.Fatalf("Acquire: %v", err)
	}
	return p
}

// wantLimited fails the test unless err is a refusal by limiter name for
// reason.
func wantLimited(t testing.TB, err error, name string, reason Reason) {
	t.Helper()
	var le *LimitError
	if !errors.Is(err, ErrLimited) || !errors.As(err, &le) {
		t.Fatalf("err = %v, want a *LimitError wrapping ErrLimited", err)
	}
	if le.Limiter != name || le.Reason != reason {
		t.Fatalf("refused by %q for %v, want %q for %v", le.Limiter, le.Reason, name, reason)
	}
}

// result is what an Acquire run in its own goroutine returned.
type result struct {
	p   Permit
	err error
}

// acquireAsync runs l.Acquire(ctx) in a goroutine and delivers its result.
func acquireAsync(ctx context.Context, l *Limiter) <-chan result {
	got := make(chan result, 1)
	go func() {
		p, err := l.Acquire(ctx)
		got <- result{p, err}
	}()
	return got
}

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		o       Options
		wantErr bool
	}{
		{"zero limits nothing", Options{}, false},
		{"all set", Options{MaxInFlight: 8, Rate: 100, Burst: 10, MaxWait: time.Second, MaxQueue: 16}, false},
		{"queue without wait never waits", Options{MaxInFlight: 1, MaxQueue: 4}, false},
		{"negative in flight", Options{MaxInFlight: -1}, true},
		{"negative rate", Options{Rate: -1}, true},
		{"NaN rate", Options{Rate: math.NaN()}, true},
		{"infinite rate", Options{Rate: math.Inf(1)}, true},
		{"negative burst", Options{Rate: 1, Burst: -1}, true},
		{"negative wait", Options{MaxWait: -time.Second, MaxQueue: 1}, true},
		{"negative queue", Options{MaxQueue: -1}, true},
		{"wait without queue", Options{MaxInFlight: 1, MaxWait: time.Second}, true},
		{"in flight above int32", Options{MaxInFlight: math.MaxInt32 + 1}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New("pool a", tt.o)
			if (err != nil) != tt.wantErr {
				t.Errorf("New(%+v) error = %v, want error %v", tt.o, err, tt.wantErr)
			}
		})
	}
}

func TestReasonString(t *testing.T) {
	tests := []struct {
		r    Reason
		want string
	}{
		{ReasonInFlight, "in_flight"},
		{ReasonRate, "rate"},
		{ReasonQueueFull, "queue_full"},
		{numReasons, "unknown"},
	}
	for _, tt := range tests {
		if got := tt.r.String(); got != tt.want {
			t.Errorf("Reason(%d).String() = %q, want %q", tt.r, got, tt.want)
		}
	}
}

// TestInFlightCap walks one limiter through waiting, hand-over, a full
// queue and a timeout; fake time makes the waits free and exact.
func TestInFlightCap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const maxWait = 50 * time.Millisecond
		l := newLimiter(t, "pool a", Options{MaxInFlight: 2, MaxWait: maxWait, MaxQueue: 1})
		ctx := context.Background()
		p1, p2 := mustAcquire(t, l), mustAcquire(t, l)

		third := acquireAsync(ctx, l)
		synctest.Wait()
		if got := l.Waiting(); got != 1 {
			t.Fatalf("Waiting() = %d with a third caller blocked, want 1", got)
		}

		start := time.Now()
		_, err := l.Acquire(ctx)
		wantLimited(t, err, "pool a", ReasonQueueFull)
		if waited := time.Since(start); waited != 0 {
			t.Errorf("refusal for a full queue waited %v, want none", waited)
		}

		p1.Release()
		r := <-third
		if r.err != nil {
			t.Fatalf("third Acquire after a release: %v", r.err)
		}
		if got := l.InFlight(); got != 2 {
			t.Errorf("InFlight() = %d after hand-over, want 2", got)
		}

		start = time.Now()
		_, err = l.Acquire(ctx)
		wantLimited(t, err, "pool a", ReasonInFlight)
		if waited := time.Since(start); waited < maxWait {
			t.Errorf("in-flight refusal after %v, want after MaxWait %v", waited, maxWait)
		}

		r.p.Release()
		p2.Release()
		if l.InFlight() != 0 || l.Waiting() != 0 {
			t.Errorf("InFlight() = %d, Waiting() = %d at rest, want 0, 0", l.InFlight(), l.Waiting())
		}
		if l.Acquired() != 3 || l.Rejected(ReasonQueueFull) != 1 || l.Rejected(ReasonInFlight) != 1 {
			t.Errorf("Acquired %d, queue full %d, in flight %d; want 3, 1, 1",
				l.Acquired(), l.Rejected(ReasonQueueFull), l.Rejected(ReasonInFlight))
		}
	})
}

// TestNoWait checks that MaxWait 0 refuses at once, queueing nobody.
func TestNoWait(t *testing.T) {
	l := newLimiter(t, "peer b", Options{MaxInFlight: 1, MaxQueue: 8})
	p := mustAcquire(t, l)
	defer p.Release()
	_, err := l.Acquire(context.Background())
	wantLimited(t, err, "peer b", ReasonInFlight)
	if l.Waiting() != 0 || l.InFlight() != 1 {
		t.Errorf("Waiting() = %d, InFlight() = %d, want 0, 1", l.Waiting(), l.InFlight())
	}
}

// TestRate spends the bucket's burst, then asks once more: the extra
// request waits for its token only when the token comes in time. Time is
// fake, so "waited" is exact, but the checks allow any wait in bounds.
func TestRate(t *testing.T) {
	tests := []struct {
		name      string
		o         Options
		ctxWait   time.Duration // the caller's own deadline; 0 = none
		wantErr   bool          // the extra request is refused for rate
		wantDelay time.Duration // the least it waits when granted
	}{
		{
			name:      "waits for the next token",
			o:         Options{Rate: 10, Burst: 1, MaxWait: 200 * time.Millisecond, MaxQueue: 1},
			wantDelay: 100 * time.Millisecond,
		},
		{
			name:    "token later than MaxWait",
			o:       Options{Rate: 10, Burst: 1, MaxWait: 50 * time.Millisecond, MaxQueue: 1},
			wantErr: true,
		},
		{
			name:    "token later than the caller's deadline",
			o:       Options{Rate: 10, Burst: 1, MaxWait: time.Second, MaxQueue: 1},
			ctxWait: 50 * time.Millisecond,
			wantErr: true,
		},
		{
			name:    "no waiting allowed",
			o:       Options{Rate: 10, Burst: 1},
			wantErr: true,
		},
		{
			name:      "burst then wait, with an in-flight cap",
			o:         Options{MaxInFlight: 8, Rate: 10, Burst: 3, MaxWait: time.Second, MaxQueue: 1},
			wantDelay: 100 * time.Millisecond,
		},
		{
			name:      "zero burst means one",
			o:         Options{Rate: 10, MaxWait: time.Second, MaxQueue: 1},
			wantDelay: 100 * time.Millisecond,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := newLimiter(t, "pool a", tt.o)
				burst := max(tt.o.Burst, 1)
				start := time.Now()
				for range burst {
					p := mustAcquire(t, l)
					p.Release()
				}
				if waited := time.Since(start); waited != 0 {
					t.Fatalf("burst of %d waited %v, want none", burst, waited)
				}

				ctx := context.Background()
				if tt.ctxWait > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, tt.ctxWait)
					defer cancel()
				}
				p, err := l.Acquire(ctx)
				waited := time.Since(start)
				if tt.wantErr {
					wantLimited(t, err, "pool a", ReasonRate)
					if waited != 0 {
						t.Errorf("rate refusal waited %v, want none: the outcome was known", waited)
					}
					// The refusal gave its reserved token back: after one
					// interval the next request goes at once.
					time.Sleep(100 * time.Millisecond)
					start = time.Now()
					p = mustAcquire(t, l)
					if waited := time.Since(start); waited != 0 {
						t.Errorf("request one interval after a refusal waited %v, want none", waited)
					}
				} else {
					if err != nil {
						t.Fatalf("Acquire past the burst: %v", err)
					}
					if waited < tt.wantDelay || waited > tt.o.MaxWait {
						t.Errorf("Acquire past the burst waited %v, want between %v and %v",
							waited, tt.wantDelay, tt.o.MaxWait)
					}
				}
				p.Release()
				if l.InFlight() != 0 || l.Waiting() != 0 {
					t.Errorf("InFlight() = %d, Waiting() = %d at rest, want 0, 0", l.InFlight(), l.Waiting())
				}
			})
		})
	}
}

// TestSlotThenToken checks one Acquire that waits for a slot and then for
// a token, within a single MaxWait.
func TestSlotThenToken(t *testing.T) {
	tests := []struct {
		name      string
		releaseAt time.Duration // when the holder frees the only slot
	}{
		{"token still due after the slot", 50 * time.Millisecond},
		{"token ready by the time of the slot", 150 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := newLimiter(t, "peer b", Options{MaxInFlight: 1, Rate: 10, Burst: 1, MaxWait: time.Second, MaxQueue: 1})
				start := time.Now()
				held := mustAcquire(t, l) // spends the only token too
				got := acquireAsync(context.Background(), l)
				time.Sleep(tt.releaseAt)
				held.Release()
				r := <-got
				if r.err != nil {
					t.Fatalf("Acquire waiting for slot then token: %v", r.err)
				}
				want := max(tt.releaseAt, 100*time.Millisecond)
				if waited := time.Since(start); waited < want || waited > time.Second {
					t.Errorf("granted after %v, want between %v and MaxWait", waited, want)
				}
				r.p.Release()
			})
		})
	}
}

func TestLimitErrorMessage(t *testing.T) {
	err := error(&LimitError{Limiter: "peer 10.0.0.1:80", Reason: ReasonQueueFull})
	if got, want := err.Error(), "limit peer 10.0.0.1:80: queue_full: limit reached"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

// TestCancel checks that a caller whose context ends gets the context's
// error, wrapped, and leaves nothing taken behind.
func TestCancel(t *testing.T) {
	t.Run("before acquiring", func(t *testing.T) {
		l := newLimiter(t, "pool a", Options{MaxInFlight: 1})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := l.Acquire(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("Acquire with a done context: err = %v, want context.Canceled", err)
		}
		if l.InFlight() != 0 || l.Canceled() != 1 {
			t.Errorf("InFlight() = %d, Canceled() = %d, want 0, 1", l.InFlight(), l.Canceled())
		}
		p := mustAcquire(t, l) // the free slot is still free
		p.Release()
	})

	t.Run("waiting for a slot", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			l := newLimiter(t, "pool a", Options{MaxInFlight: 1, MaxWait: time.Minute, MaxQueue: 4})
			held := mustAcquire(t, l)
			ctx, cancel := context.WithCancel(context.Background())
			got := acquireAsync(ctx, l)
			synctest.Wait()
			cancel()
			r := <-got
			if !errors.Is(r.err, context.Canceled) || errors.Is(r.err, ErrLimited) {
				t.Fatalf("canceled wait: err = %v, want context.Canceled and not ErrLimited", r.err)
			}
			if l.InFlight() != 1 || l.Waiting() != 0 || l.Canceled() != 1 {
				t.Errorf("InFlight() = %d, Waiting() = %d, Canceled() = %d, want 1, 0, 1",
					l.InFlight(), l.Waiting(), l.Canceled())
			}
			r.p.Release() // a zero permit: must not free the held slot
			if got := l.InFlight(); got != 1 {
				t.Fatalf("InFlight() = %d after releasing the failed result, want 1", got)
			}
			held.Release()
			p := mustAcquire(t, l)
			p.Release()
		})
	})

	t.Run("waiting for a token", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			l := newLimiter(t, "pool a", Options{MaxInFlight: 1, Rate: 10, Burst: 1, MaxWait: time.Second, MaxQueue: 4})
			first := mustAcquire(t, l)
			first.Release()
			ctx, cancel := context.WithCancel(context.Background())
			got := acquireAsync(ctx, l) // takes the slot, then waits for a token
			synctest.Wait()
			cancel()
			r := <-got
			if !errors.Is(r.err, context.Canceled) {
				t.Fatalf("canceled wait: err = %v, want context.Canceled", r.err)
			}
			if l.InFlight() != 0 || l.Waiting() != 0 {
				t.Errorf("InFlight() = %d, Waiting() = %d, want 0, 0", l.InFlight(), l.Waiting())
			}
			// Slot and token were both given back: one interval on, a
			// request goes at once.
			time.Sleep(100 * time.Millisecond)
			start := time.Now()
			p := mustAcquire(t, l)
			if waited := time.Since(start); waited != 0 {
				t.Errorf("request after a canceled token wait waited %v, want none", waited)
			}
			p.Release()
		})
	})
}

// TestRelease checks that releasing twice is harmless and that a stale
// copy cannot free a slot someone else holds.
func TestRelease(t *testing.T) {
	t.Run("same permit twice", func(t *testing.T) {
		l := newLimiter(t, "pool a", Options{MaxInFlight: 1})
		p := mustAcquire(t, l)
		p.Release()
		p.Release()
		if l.InFlight() != 0 || l.BadReleases() != 0 {
			t.Errorf("InFlight() = %d, BadReleases() = %d, want 0, 0", l.InFlight(), l.BadReleases())
		}
		q := mustAcquire(t, l)
		if _, err := l.Acquire(context.Background()); err == nil {
			t.Fatal("second permit granted past MaxInFlight 1 after a double release")
		}
		q.Release()
	})

	t.Run("stale copy", func(t *testing.T) {
		l := newLimiter(t, "pool a", Options{MaxInFlight: 1})
		p := mustAcquire(t, l)
		stale := p
		p.Release()
		q := mustAcquire(t, l) // holds the same slot again
		stale.Release()
		if l.InFlight() != 1 || l.BadReleases() != 1 {
			t.Errorf("InFlight() = %d, BadReleases() = %d, want 1, 1", l.InFlight(), l.BadReleases())
		}
		_, err := l.Acquire(context.Background())
		wantLimited(t, err, "pool a", ReasonInFlight)
		q.Release()
	})

	t.Run("zero permit", func(t *testing.T) {
		var p Permit
		p.Release()
	})
}

// TestNilLimiter checks that a nil limiter grants everything and counts
// nothing.
func TestNilLimiter(t *testing.T) {
	var l *Limiter
	p, err := l.Acquire(context.Background())
	if err != nil {
		t.Fatalf("nil Limiter Acquire: %v", err)
	}
	p.Release()
	if l.InFlight() != 0 || l.Waiting() != 0 || l.Acquired() != 0 || l.Rejected(ReasonRate) != 0 ||
		l.Canceled() != 0 || l.BadReleases() != 0 {
		t.Error("nil Limiter reports non-zero counters")
	}
}

// TestUnlimitedInFlightCounts checks that a rate-only limiter still counts
// the permits held.
func TestUnlimitedInFlightCounts(t *testing.T) {
	l := newLimiter(t, "pool a", Options{Rate: 1000, Burst: 10})
	p, q := mustAcquire(t, l), mustAcquire(t, l)
	if got := l.InFlight(); got != 2 {
		t.Errorf("InFlight() = %d with two permits held, want 2", got)
	}
	p.Release()
	q.Release()
	if got := l.InFlight(); got != 0 {
		t.Errorf("InFlight() = %d at rest, want 0", got)
	}
}

// peak records the highest value it has been shown. Safe for concurrent
// use.
type peak struct{ v atomic.Int64 }

// see raises the peak to n if n is higher. Each failed swap means another
// goroutine raised it, so the loop ends within as many rounds as there are
// distinct values below n.
func (p *peak) see(n int64) {
	for m := p.v.Load(); n > m && !p.v.CompareAndSwap(m, n); m = p.v.Load() {
	}
}

// TestConcurrentCap runs 64 goroutines against one limiter and checks that
// the permits held at once never exceed MaxInFlight.
func TestConcurrentCap(t *testing.T) {
	const (
		goroutines = 64
		rounds     = 100
		maxIn      = 4
	)
	l := newLimiter(t, "pool a", Options{MaxInFlight: maxIn, MaxWait: 30 * time.Second, MaxQueue: goroutines})
	var cur atomic.Int64
	var top peak
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range rounds {
				p, err := l.Acquire(context.Background())
				if err != nil {
					t.Errorf("Acquire: %v", err)
					return
				}
				top.see(cur.Add(1))
				top.see(l.InFlight())
				runtime.Gosched() // hold the slot while others try
				cur.Add(-1)
				p.Release()
			}
		})
	}
	wg.Wait()
	if got := top.v.Load(); got > maxIn {
		t.Errorf("peak in flight = %d, want at most %d", got, maxIn)
	}
	if l.InFlight() != 0 || l.Waiting() != 0 || l.Acquired() != goroutines*rounds {
		t.Errorf("InFlight() = %d, Waiting() = %d, Acquired() = %d, want 0, 0, %d",
			l.InFlight(), l.Waiting(), l.Acquired(), goroutines*rounds)
	}
}
