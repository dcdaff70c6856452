package balance

import "fmt"

// Algorithm names how a Balancer chooses among the healthy peers of a tier.
type Algorithm string

// The selection algorithms, spelt as in configuration.
const (
	// Ketama hashes the caller's key (the cache key's xxhash) onto a ring
	// of 160 points per unit of weight, so a key keeps its peer while that
	// peer is healthy, and removing one of N peers moves only its keys.
	Ketama Algorithm = "ketama"
	// RoundRobin takes the peers in turn, one request each, ignoring
	// weights. The turn of a peer that is down passes to the next one.
	RoundRobin Algorithm = "round_robin"
	// Weighted is nginx's smooth weighted round robin: over every
	// sum-of-weights requests each peer gets exactly its weight, spread
	// evenly rather than in bursts. A down peer's slots pass to the peer
	// of the next slot.
	Weighted Algorithm = "weighted"
	// LeastInflight takes the peer with the fewest requests in flight per
	// unit of weight (nginx's least_conn); ties go round robin. Counts come
	// from Begin and Done and are read without a lock, so selections racing
	// each other may pick the same idle peer.
	LeastInflight Algorithm = "least_inflight"
	// Failover takes the first healthy peer in configured order.
	Failover Algorithm = "failover"
)

// ParseAlgorithm returns the Algorithm spelt s exactly, or an error naming
// the accepted spellings.
func ParseAlgorithm(s string) (Algorithm, error) {
	switch a := Algorithm(s); a {
	case Ketama, RoundRobin, Weighted, LeastInflight, Failover:
		return a, nil
	}
	return "", fmt.Errorf("balance: unknown algorithm %q: want %s, %s, %s, %s or %s",
		s, Ketama, RoundRobin, Weighted, LeastInflight, Failover)
}
