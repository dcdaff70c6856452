// Package balance chooses a peer of an origin pool for each request, as
// Pingora's load balancing does: consistent hashing on the cache key
// (ketama), round robin, smooth weighted round robin, least in flight and
// ordered failover. Every algorithm skips unhealthy peers and turns to the
// backup peers only when no primary can take the request.
//
// A Balancer is an immutable snapshot of one peer list. A membership change
// builds a new one with Rebuild, which the caller swaps in through an
// atomic.Pointer; requests that selected from the old snapshot finish
// against it. Health and in-flight counts live in per-peer state that a
// rebuilt Balancer shares with its source for every address both contain,
// so a swap loses neither. Select is lock-free and does not allocate.
package balance

import (
	"errors"
	"fmt"
	"sync/atomic"
)

// Peer is one member of a pool as the balancer sees it.
type Peer struct {
	// Addr identifies the peer. It is opaque here ("10.0.0.1:80",
	// "https://h:443", "unix:/p") but unique within a pool, and ketama
	// hashes it, so renaming a peer moves its keys.
	Addr string
	// Weight is the peer's relative share, 1..MaxWeight; 0 means 1.
	// RoundRobin and Failover ignore it.
	Weight int
	// Backup peers take requests only when no primary can.
	Backup bool
}

// Limits on weights. They bound the ketama ring (160 points of 12 bytes
// per unit of weight, under 8 MiB in all) and the weighted schedule.
const (
	// MaxWeight is the largest weight of one peer.
	MaxWeight = 1000
	// MaxTotalWeight is the largest sum of the weights of a pool's peers.
	MaxTotalWeight = 4096
)

// Balancer selects peers from one immutable peer list. Peer indices are
// positions in the list given to New or Rebuild. Safe for concurrent use.
type Balancer struct {
	algo  Algorithm
	peers []Peer       // weights normalised to 1..MaxWeight
	state []*peerState // parallel to peers; shared by address with rebuilds
	tiers [2]tier      // primaries, then backups
	turn  turnCounter  // rotates RoundRobin, Weighted and LeastInflight ties
}

// tier holds the peers of one rank, primaries or backups, and what the
// algorithm precomputed for them.
type tier struct {
	order    []int32 // peer indices in configured order
	ring     ring    // Ketama only
	schedule []int32 // Weighted only: one smooth cycle of peer indices
}

// peerState is the mutable part of a peer, shared by every Balancer built
// from a list containing its address. It fills one 64-byte cache line, so
// counting requests to one peer never contends with another peer.
type peerState struct {
	inflight atomic.Int64
	up       atomic.Bool
	_        [52]byte
}

// turnCounter is the rotating counter, padded to a cache line of its own
// so its writes do not evict the read-only fields beside it.
type turnCounter struct {
	_ [64]byte
	n atomic.Uint64
	_ [56]byte
}

// New builds a Balancer choosing among peers with algo. The list needs at
// least one primary, distinct non-empty addresses and weights within the
// limits. Every peer starts healthy with nothing in flight. New copies
// peers; the caller keeps the slice.
func New(algo Algorithm, peers []Peer) (*Balancer, error) {
	return build(algo, peers, nil)
}

// Rebuild builds a Balancer with b's algorithm for a new peer list. A peer
// whose address b also holds keeps its health and in-flight count, shared
// with b from then on, so Done on either Balancer counts on both; other
// peers start healthy and idle. b is unchanged and stays usable.
func (b *Balancer) Rebuild(peers []Peer) (*Balancer, error) {
	shared := make(map[string]*peerState, len(b.peers))
	for i, p := range b.peers {
		shared[p.Addr] = b.state[i]
	}
	return build(b.algo, peers, shared)
}

// build validates peers and precomputes the algorithm's tables, taking the
// state of known addresses from shared.
func build(algo Algorithm, peers []Peer, shared map[string]*peerState) (*Balancer, error) {
	if _, err := ParseAlgorithm(string(algo)); err != nil {
		return nil, err
	}
	if len(peers) == 0 {
		return nil, errors.New("balance: no peers")
	}
	b := &Balancer{algo: algo, peers: make([]Peer, len(peers)), state: make([]*peerState, len(peers))}
	seen := make(map[string]bool, len(peers))
	total := 0
	for i, p := range peers {
		switch {
		case p.Addr == "":
			return nil, fmt.Errorf("balance: peer %d: empty address", i)
		case seen[p.Addr]:
			return nil, fmt.Errorf("balance: peer %d: duplicate address %q", i, p.Addr)
		case p.Weight < 0 || p.Weight > MaxWeight:
			return nil, fmt.Errorf("balance: peer %d %q: weight %d: want 1..%d (0 means 1)", i, p.Addr, p.Weight, MaxWeight)
		}
		seen[p.Addr] = true
		if p.Weight == 0 {
			p.Weight = 1
		}
		if total += p.Weight; total > MaxTotalWeight {
			return nil, fmt.Errorf("balance: peer %d %q: total weight above %d", i, p.Addr, MaxTotalWeight)
		}
		b.peers[i] = p
		st := shared[p.Addr]
		if st == nil {
			st = new(peerState)
			st.up.Store(true)
		}
		b.state[i] = st
		t := &b.tiers[0]
		if p.Backup {
			t = &b.tiers[1]
		}
		t.order = append(t.order, int32(i))
	}
	if len(b.tiers[0].order) == 0 {
		return nil, errors.New("balance: every peer is a backup; want at least one primary")
	}
	for i := range b.tiers {
		t := &b.tiers[i]
		switch algo {
		case Ketama:
			t.ring = newRing(b.peers, t.order)
		case Weighted:
			t.schedule = newSchedule(b.peers, t.order)
		}
	}
	return b, nil
}

// Algorithm is the algorithm b selects with.
func (b *Balancer) Algorithm() Algorithm { return b.algo }

// Len is the number of peers; indices run from 0 to Len()-1.
func (b *Balancer) Len() int { return len(b.peers) }

// Peer returns peer i as configured, its weight normalised (0 became 1).
func (b *Balancer) Peer(i int) Peer { return b.peers[i] }

// SetUp records whether peer i is healthy and reports whether that changed,
// for the caller to log. Balancers sharing the peer's state (see Rebuild)
// see the change too. Safe for concurrent use.
func (b *Balancer) SetUp(i int, up bool) (changed bool) { return b.state[i].up.Swap(up) != up }

// Up reports whether peer i is healthy.
func (b *Balancer) Up(i int) bool { return b.state[i].up.Load() }

// Begin counts a request to peer i as in flight until the matching Done.
// LeastInflight selects on these counts; callers count under every
// algorithm so that Inflight stays meaningful and a change of algorithm
// needs no other change. Safe for concurrent use.
func (b *Balancer) Begin(i int) { b.state[i].inflight.Add(1) }

// Done ends a request counted by Begin(i); call it exactly once per Begin,
// on this Balancer or any sharing the peer's state.
func (b *Balancer) Done(i int) { b.state[i].inflight.Add(-1) }

// Inflight is the number of requests to peer i begun and not yet done.
func (b *Balancer) Inflight(i int) int64 { return b.state[i].inflight.Load() }
