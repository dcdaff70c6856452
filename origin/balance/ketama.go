package balance

import (
	"cmp"
	"slices"
	"strconv"
	"strings"

	"github.com/cespare/xxhash/v2"
)

// pointsPerWeight is the number of ring points per unit of weight, as in
// libketama and Pingora: enough that a peer's share of keys is within a few
// percent of its share of weight.
const pointsPerWeight = 160

// ring is a ketama continuum: sorted point hashes and, in parallel, the
// peer owning each point. Point v of a peer is the xxhash of "addr-v", so
// a peer's points depend only on its address and weight, and adding or
// removing a peer leaves every other peer's points where they were.
type ring struct {
	hashes []uint64
	owners []int32
}

// newRing builds the ring of the peers of one tier.
func newRing(peers []Peer, order []int32) ring {
	type point struct {
		hash uint64
		peer int32
	}
	n := 0
	for _, i := range order {
		n += peers[i].Weight * pointsPerWeight
	}
	points := make([]point, 0, n)
	var buf []byte
	for _, i := range order {
		p := peers[i]
		for v := range p.Weight * pointsPerWeight {
			buf = strconv.AppendInt(append(append(buf[:0], p.Addr...), '-'), int64(v), 10)
			points = append(points, point{hash: xxhash.Sum64(buf), peer: i})
		}
	}
	// Equal hashes of two peers are ordered by address, not index, so the
	// ring does not depend on the order of the configured list.
	slices.SortFunc(points, func(a, b point) int {
		if a.hash != b.hash {
			return cmp.Compare(a.hash, b.hash)
		}
		return strings.Compare(peers[a.peer].Addr, peers[b.peer].Addr)
	})
	r := ring{hashes: make([]uint64, n), owners: make([]int32, n)}
	for k, pt := range points {
		r.hashes[k], r.owners[k] = pt.hash, pt.peer
	}
	return r
}

// locate returns the position of the first point at or after key, wrapping
// past the last point to the first.
func (r *ring) locate(key uint64) int {
	k, _ := slices.BinarySearch(r.hashes, key)
	if k == len(r.hashes) {
		return 0
	}
	return k
}
