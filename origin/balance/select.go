package balance

// memoPeers is how many peer indices walk remembers as rejected, in a
// bitmap on the stack; pools larger than this are still bounded by the
// length of the sequence walked.
const memoPeers = 256

// Select returns the index of the peer that should take a request whose
// key hash is key (used by Ketama only; others ignore it). It considers
// only peers that are up and for which exclude, if not nil, returns false:
// a retry passes an exclude that reports the peers already tried, so it
// reaches a different peer. Primaries are preferred; backups are chosen
// only when no primary qualifies, be it down or excluded. ok is false when
// no peer qualifies.
//
// Select is lock-free, does not allocate and is safe for concurrent use.
// It asks exclude about each peer at most once; in pools of more than 256
// peers, Ketama and Weighted may ask again but stop after one ring or
// schedule cycle.
func (b *Balancer) Select(key uint64, exclude func(i int) bool) (i int, ok bool) {
	var turn uint64
	if b.algo == RoundRobin || b.algo == Weighted || b.algo == LeastInflight {
		turn = b.turn.n.Add(1) - 1
	}
	for t := range b.tiers {
		if i, ok := b.selectIn(&b.tiers[t], key, turn, exclude); ok {
			return i, true
		}
	}
	return -1, false
}

// selectIn applies the algorithm to one tier.
func (b *Balancer) selectIn(t *tier, key, turn uint64, exclude func(int) bool) (int, bool) {
	n := len(t.order)
	if n == 0 {
		return -1, false
	}
	switch b.algo {
	case Ketama:
		return b.walk(t.ring.owners, t.ring.locate(key), n, exclude)
	case Weighted:
		return b.walk(t.schedule, int(turn%uint64(len(t.schedule))), n, exclude)
	case RoundRobin:
		return b.walk(t.order, int(turn%uint64(n)), n, exclude)
	case LeastInflight:
		return b.least(t.order, int(turn%uint64(n)), exclude)
	default: // Failover
		return b.walk(t.order, 0, n, exclude)
	}
}

// walk returns the first acceptable peer of seq from position start on,
// wrapping once at most. seq may name a peer many times (ring points,
// schedule slots); walk asks about each peer once while the memo holds,
// and stops when all distinct peers of the tier have been refused.
func (b *Balancer) walk(seq []int32, start, distinct int, exclude func(int) bool) (int, bool) {
	var refused [memoPeers / 64]uint64
	nrefused := 0
	j := start
	for range len(seq) {
		i := int(seq[j])
		if j++; j == len(seq) {
			j = 0
		}
		memo := i < memoPeers
		if memo && refused[i/64]&(1<<(i%64)) != 0 {
			continue
		}
		if b.accept(i, exclude) {
			return i, true
		}
		if memo {
			refused[i/64] |= 1 << (i % 64)
			if nrefused++; nrefused == distinct {
				break
			}
		}
	}
	return -1, false
}

// least returns the acceptable peer of order with the fewest requests in
// flight per unit of weight, taking the first such from position start on,
// so ties rotate with start.
func (b *Balancer) least(order []int32, start int, exclude func(int) bool) (int, bool) {
	best, bestLoad, bestWeight := -1, int64(0), int64(1)
	j := start
	for range len(order) {
		i := int(order[j])
		if j++; j == len(order) {
			j = 0
		}
		if !b.accept(i, exclude) {
			continue
		}
		// load/weight < bestLoad/bestWeight, without division.
		load, w := b.state[i].inflight.Load(), int64(b.peers[i].Weight)
		if best < 0 || load*bestWeight < bestLoad*w {
			best, bestLoad, bestWeight = i, load, w
		}
	}
	return best, best >= 0
}

// accept reports whether peer i is up and not excluded.
func (b *Balancer) accept(i int, exclude func(int) bool) bool {
	return b.state[i].up.Load() && (exclude == nil || !exclude(i))
}
