package health

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure a Monitor. The zero value tracks nothing: every peer
// stays up.
type Options struct {
	// Check runs active checks; nil means none, so peers are up unless
	// passively ejected.
	Check *Checker
	// Passive configures ejection on failed exchanges; the zero value
	// disables it.
	Passive Passive
	// InitialDown starts every peer down, to come up after Check.Rise
	// passing probes, instead of up (see the package comment for why up is
	// the default). It needs Check.
	InitialDown bool
	// OnChange, if set, is called once for every change of a peer's
	// verdict, with a reason fit for a log line. It runs on the goroutine
	// that caused the change (a probe, Report or Healthy), with that
	// peer's state locked so changes arrive in order: it must be quick and
	// must not call the Monitor.
	OnChange func(peer string, up bool, reason string)
	// Now is the clock of passive ejections; default time.Now. Tests pass
	// a fake one to end a cool-down without sleeping.
	Now func() time.Time
}

// Monitor owns the health verdicts of one list of peers (Targets), indexed
// as that list. Its methods are safe for concurrent use. Peers never
// change; for a new list, build its Successor.
type Monitor struct {
	check       *Checker // nil without active checks
	passive     Passive  // with defaults applied
	initialDown bool
	onChange    func(peer string, up bool, reason string)
	now         func() time.Time
	base        time.Time // ejection ends are kept as offsets from base, a nanosecond before the first Monitor's creation

	// Written only with the peer's mu held; read by anyone.
	up    []atomic.Bool  // the verdict Healthy returns
	until []atomic.Int64 // end of the peer's ejection, as an offset from base; 0 = not ejected

	peers []peer
}

// peer is the mutable state of one peer.
type peer struct {
	addr  string
	probe *probe // nil without active checks

	mu       sync.Mutex // guards the fields below and changes of the verdict
	activeUp bool       // the active verdict; true without active checks
	passes   int        // consecutive passing probes
	fails    int        // consecutive failing probes
	ex       exchanges  // recent exchanges, for passive ejection
	retired  bool       // a Successor took this peer over: OnChange is its to call
}

// NewMonitor returns a Monitor for peers, each starting as o.InitialDown
// says and probed as its Conn says. OnChange is not called for the
// initial verdicts; read them with Healthy. Call Run to start active
// checks and the ending of ejections.
func NewMonitor(peers []Target, o Options) (*Monitor, error) {
	if o.InitialDown && o.Check == nil {
		return nil, errors.New("health monitor: initial down needs an active check to bring peers up")
	}
	p, err := o.Passive.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("health monitor: %w", err)
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	m := &Monitor{
		check:       o.Check,
		passive:     p,
		initialDown: o.InitialDown,
		onChange:    o.OnChange,
		now:         now,
		base:        now().Add(-time.Nanosecond),
	}
	m.setPeers(peers)
	return m, nil
}

// setPeers gives m the list peers, each in its initial state.
func (m *Monitor) setPeers(peers []Target) {
	m.up = make([]atomic.Bool, len(peers))
	m.until = make([]atomic.Int64, len(peers))
	m.peers = make([]peer, len(peers))
	for i, t := range peers {
		p := &m.peers[i]
		p.addr = t.Name
		if m.check != nil {
			p.probe = m.check.newProbe(t)
		}
		p.activeUp = !m.initialDown
		p.ex = newExchanges(m.passive.Window)
		m.up[i].Store(!m.initialDown)
	}
}

// Successor returns a Monitor for peers with m's options, clock and
// callback, for when the pool's peer list is replaced. A peer whose name
// m also tracks starts from m's state for it (verdicts, probe counts,
// ejection), and is probed as its new Conn says; a new one starts as
// NewMonitor would start it. From this call on m is retired: its verdicts
// still change for the readers that hold it, silently, and are not
// carried over, so OnChange hears of each change once, from m before the
// call or from the successor after.
// The caller runs the successor, swaps it in beside the new peer list,
// then stops m. Call it once per Monitor.
func (m *Monitor) Successor(peers []Target) *Monitor {
	next := &Monitor{
		check:       m.check,
		passive:     m.passive,
		initialDown: m.initialDown,
		onChange:    m.onChange,
		now:         m.now,
		base:        m.base,
	}
	next.setPeers(peers)
	at := make(map[string][]int, len(peers)) // indexes in next of each name
	for i, t := range peers {
		at[t.Name] = append(at[t.Name], i)
	}
	for j := range m.peers {
		from := &m.peers[j]
		from.mu.Lock()
		from.retired = true
		for _, i := range at[from.addr] {
			to := &next.peers[i]
			to.activeUp, to.passes, to.fails = from.activeUp, from.passes, from.fails
			to.ex = from.ex.clone()
			next.until[i].Store(m.until[j].Load())
			next.up[i].Store(m.up[j].Load())
		}
		from.mu.Unlock()
	}
	return next
}

// Healthy reports whether peer i may be sent requests: its active verdict
// is up and it is not passively ejected. It does not allocate and, while
// the peer is up, is one atomic load. i indexes the list the Monitor was
// built with.
func (m *Monitor) Healthy(i int) bool {
	if m.up[i].Load() {
		return true
	}
	end := m.until[i].Load()
	if end == 0 || m.elapsed() < end {
		return false
	}
	p := &m.peers[i]
	p.mu.Lock()
	m.expireLocked(i)
	p.mu.Unlock()
	return m.up[i].Load()
}

// Run probes every peer on its own timer, if the Monitor has a Checker,
// and ends passive ejections on time, if it has passive checks, until ctx
// is done; it returns when all its goroutines have, at once if it has
// neither. Call it once.
func (m *Monitor) Run(ctx context.Context) {
	var wg sync.WaitGroup
	if m.check != nil {
		for i := range m.peers {
			wg.Go(func() { m.probeLoop(ctx, i) })
		}
	}
	if m.passive.enabled() {
		wg.Go(func() { m.sweepLoop(ctx) })
	}
	wg.Wait()
}

// probeLoop probes peer i once per jittered interval until ctx is done.
// The first probe comes at a random point of the first interval, so peers
// listed together are not probed together.
func (m *Monitor) probeLoop(ctx context.Context, i int) {
	t := time.NewTimer(rand.N(m.check.o.Interval))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		m.probe(ctx, i)
		t.Reset(jitter(m.check.o.Interval))
	}
}

// jitter returns d moved by a random amount of up to ±10%, so peers drift
// apart instead of settling into lockstep.
func jitter(d time.Duration) time.Duration {
	spread := d / 5
	if spread <= 0 {
		return d
	}
	return d - spread/2 + rand.N(spread)
}

// probe checks peer i once and applies the result: one round of
// probeLoop, called directly by tests.
func (m *Monitor) probe(ctx context.Context, i int) {
	p := &m.peers[i]
	err := p.probe.run(ctx)
	if ctx.Err() != nil {
		return // the Monitor is stopping; the probe was cut short, not failed
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	m.expireLocked(i)
	rise, fall := m.check.o.Rise, m.check.o.Fall
	if err == nil {
		p.fails = 0
		p.passes++
		if !p.activeUp && p.passes >= rise {
			p.activeUp = true
			m.settleLocked(i, fmt.Sprintf("active: %d consecutive passing checks", rise))
		}
		return
	}
	p.passes = 0
	p.fails++
	if p.activeUp && p.fails >= fall {
		p.activeUp = false
		m.settleLocked(i, fmt.Sprintf("active: %d consecutive failing checks, last: %v", fall, err))
	}
}

// settleLocked recomputes peer i's verdict from its active verdict and
// ejection, and reports a change to OnChange with reason. The peer's mu is
// held, so verdicts change, and are reported, one at a time and in order.
func (m *Monitor) settleLocked(i int, reason string) {
	up := m.peers[i].activeUp && m.until[i].Load() == 0
	if m.up[i].Load() == up {
		return
	}
	m.up[i].Store(up)
	if m.onChange != nil && !m.peers[i].retired {
		m.onChange(m.peers[i].addr, up, reason)
	}
}

// elapsed is the Monitor's clock as an offset from base: monotonic with
// the default clock, and never 0, which means "not ejected" (base precedes
// every reading; the bound guards a fake clock that goes back).
func (m *Monitor) elapsed() int64 {
	return max(int64(m.now().Sub(m.base)), 1)
}
