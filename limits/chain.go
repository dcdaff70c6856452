package limits

import "context"

// Chain is a pool's limiter followed by one of its peer's; either may be
// nil. A request holds both permits for as long as it talks to the peer.
type Chain struct {
	Pool *Limiter
	Peer *Limiter
}

// Permits are the pool and peer permits a Chain granted. Their zero value
// holds nothing.
type Permits struct {
	pool Permit
	peer Permit
}

// Acquire takes a pool permit, then a peer permit, each waiting up to its
// own limiter's MaxWait (so up to the sum of both in all). If the peer
// refuses, the pool permit is released and the peer's error returned, so
// the caller holds nothing. Always pool first, so two requests can never
// each hold what the other awaits.
func (c Chain) Acquire(ctx context.Context) (Permits, error) {
	pool, err := c.Pool.Acquire(ctx)
	if err != nil {
		return Permits{}, err
	}
	peer, err := c.Peer.Acquire(ctx)
	if err != nil {
		pool.Release()
		return Permits{}, err
	}
	return Permits{pool: pool, peer: peer}, nil
}

// Release gives back the peer permit, then the pool permit, and clears p;
// calling it again on the same variable does nothing.
func (p *Permits) Release() {
	p.peer.Release()
	p.pool.Release()
}
