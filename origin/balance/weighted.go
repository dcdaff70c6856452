package balance

// newSchedule returns one cycle of nginx's smooth weighted round robin over
// the peers of a tier: sum-of-weights slots in which each peer appears
// exactly its weight times, interleaved (weights 5,1,1 give a a b a c a a).
//
// Precomputing the cycle, rather than running nginx's per-request update of
// every peer's current weight, makes selection one atomic add and an index,
// lock-free, and exact: over any whole number of cycles the shares equal
// the weights, which a random weighted choice only approaches.
func newSchedule(peers []Peer, order []int32) []int32 {
	total := 0
	for _, i := range order {
		total += peers[i].Weight
	}
	current := make([]int, len(order))
	schedule := make([]int32, 0, total)
	for range total {
		best := 0
		for k, i := range order {
			current[k] += peers[i].Weight
			if current[k] > current[best] {
				best = k
			}
		}
		current[best] -= total
		schedule = append(schedule, order[best])
	}
	return schedule
}
