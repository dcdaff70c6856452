package health

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Passive configures ejection of peers whose real exchanges fail. The zero
// value disables it; set MaxFails, Window or both.
type Passive struct {
	// MaxFails is how many consecutive failed exchanges eject a peer; 0
	// means no limit.
	MaxFails int
	// Window is how many of the latest exchanges the error rate is taken
	// over, at most MaxWindow; 0 means no rate ejection.
	Window int
	// MinRequests is how many exchanges the window must hold before the
	// rate is judged, in 1-Window; default Window.
	MinRequests int
	// MaxErrorRate is the fraction of failed exchanges in the window,
	// strictly between 0 and 1, above which a peer is ejected; required
	// with Window.
	MaxErrorRate float64
	// CoolDown is how long an ejection lasts; default 10s. After it the
	// peer is on probation: its next failure ejects it again at once, its
	// next success ends the probation.
	CoolDown time.Duration
}

// DefaultCoolDown is the length of an ejection when Passive names none, as
// nginx's fail_timeout.
const DefaultCoolDown = 10 * time.Second

// MaxWindow bounds Passive.Window, and so the memory of each peer.
const MaxWindow = 4096

// enabled reports whether p ejects peers at all.
func (p Passive) enabled() bool { return p.MaxFails > 0 || p.Window > 0 }

// withDefaults validates p and fills in its defaults.
func (p Passive) withDefaults() (Passive, error) {
	if p.MaxFails < 0 || p.Window < 0 || p.MinRequests < 0 || p.CoolDown < 0 {
		return p, errors.New("passive: max fails, window, min requests and cool-down must not be negative")
	}
	if !p.enabled() {
		return p, nil
	}
	p.CoolDown = orDefault(p.CoolDown, DefaultCoolDown)
	if p.Window == 0 {
		return p, nil
	}
	if p.Window > MaxWindow {
		return p, fmt.Errorf("passive: window %d is over %d", p.Window, MaxWindow)
	}
	p.MinRequests = orDefault(p.MinRequests, p.Window)
	if p.MinRequests > p.Window {
		return p, fmt.Errorf("passive: min requests %d is over the window of %d", p.MinRequests, p.Window)
	}
	if !(p.MaxErrorRate > 0 && p.MaxErrorRate < 1) {
		return p, fmt.Errorf("passive: max error rate %v: want a fraction strictly between 0 and 1", p.MaxErrorRate)
	}
	return p, nil
}

// exchanges is what one peer's recent exchanges say.
type exchanges struct {
	fails     int    // consecutive failed exchanges
	probation bool   // an ejection just ended: the next failure ejects again
	ring      []bool // outcomes of the latest len(ring) exchanges, true = failed; nil without rate ejection
	next      int    // index in ring of the next outcome
	n         int    // outcomes in ring
	bad       int    // failed outcomes in ring
}

// newExchanges returns an empty record with room for window outcomes.
func newExchanges(window int) exchanges {
	if window == 0 {
		return exchanges{}
	}
	return exchanges{ring: make([]bool, window)}
}

// record adds one outcome, forgetting the oldest once the ring is full.
func (e *exchanges) record(failed bool) {
	if failed {
		e.fails++
	} else {
		e.fails = 0
		e.probation = false
	}
	if e.ring == nil {
		return
	}
	if e.n == len(e.ring) {
		if e.ring[e.next] {
			e.bad--
		}
	} else {
		e.n++
	}
	e.ring[e.next] = failed
	if failed {
		e.bad++
	}
	e.next = (e.next + 1) % len(e.ring)
}

// reset forgets every outcome, keeping the ring's memory.
func (e *exchanges) reset() {
	clear(e.ring)
	e.fails, e.probation, e.next, e.n, e.bad = 0, false, 0, 0, 0
}

// clone returns a copy that shares no memory with e.
func (e *exchanges) clone() exchanges {
	c := *e
	c.ring = slices.Clone(e.ring)
	return c
}

// Report records the outcome of one exchange with peer i: ok is false for
// a connect failure, a reset or a timeout, and for a 5xx if the pool
// counts those. It ejects the peer when Passive says so. Outcomes reported
// while the peer is ejected are of requests sent before, and are ignored.
// Without passive checks it does nothing.
func (m *Monitor) Report(i int, ok bool) {
	if !m.passive.enabled() {
		return
	}
	p := &m.peers[i]
	p.mu.Lock()
	defer p.mu.Unlock()
	m.expireLocked(i)
	if m.until[i].Load() != 0 {
		return
	}
	e, cfg := &p.ex, m.passive
	e.record(!ok)
	if ok {
		return
	}
	switch {
	case e.probation:
		m.ejectLocked(i, "passive: failed on probation after a cool-down")
	case cfg.MaxFails > 0 && e.fails >= cfg.MaxFails:
		m.ejectLocked(i, fmt.Sprintf("passive: %d consecutive failed exchanges", e.fails))
	case e.ring != nil && e.n >= cfg.MinRequests && float64(e.bad) > cfg.MaxErrorRate*float64(e.n):
		m.ejectLocked(i, fmt.Sprintf("passive: %d of the latest %d exchanges failed", e.bad, e.n))
	}
}

// ejectLocked ejects peer i for the cool-down, giving reason. The peer's mu
// is held.
func (m *Monitor) ejectLocked(i int, reason string) {
	m.until[i].Store(m.elapsed() + int64(m.passive.CoolDown))
	m.peers[i].ex.reset()
	m.settleLocked(i, reason)
}

// expireLocked ends peer i's ejection if its cool-down is over, putting it
// on probation. The peer's mu is held.
func (m *Monitor) expireLocked(i int) {
	end := m.until[i].Load()
	if end == 0 || m.elapsed() < end {
		return
	}
	m.until[i].Store(0)
	m.peers[i].ex.probation = true
	m.settleLocked(i, fmt.Sprintf("passive: cool-down of %v over", m.passive.CoolDown))
}

// sweepLoop ends ejections whose cool-down is over until ctx is done, so
// a peer nobody selects still comes back, and OnChange says so, within a
// quarter of a cool-down; Healthy and Report end them on time meanwhile.
func (m *Monitor) sweepLoop(ctx context.Context) {
	t := time.NewTicker(max(m.passive.CoolDown/4, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		m.sweep()
	}
}

// sweep ends every ejection whose cool-down is over: one round of
// sweepLoop.
func (m *Monitor) sweep() {
	for i := range m.peers {
		if m.until[i].Load() == 0 {
			continue // not ejected; no need to lock
		}
		p := &m.peers[i]
		p.mu.Lock()
		m.expireLocked(i)
		p.mu.Unlock()
	}
}
