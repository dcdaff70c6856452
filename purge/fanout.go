package purge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/cdnnode/cdnnode/config"
)

// Backoff between attempts to forward to one peer: the first retry waits
// firstBackoff, each later one twice as long as the last, at most
// maxBackoff.
const (
	firstBackoff = 100 * time.Millisecond
	maxBackoff   = time.Second
)

// Fanout forwards accepted purges to the fleet's other nodes ([purge]
// peers), so a purge sent to any node reaches all of them. The caller
// forwards only purges that did not arrive with HopField: a forwarded
// purge goes no further, so a fleet whose nodes all list each other sends
// each purge to each node once. Safe for concurrent use; Close releases
// its idle connections.
type Fanout struct {
	peers   []string      // admin base URLs, as config normalised them
	timeout time.Duration // bounds one attempt
	retries int           // attempts after the first
	backoff time.Duration // first retry's wait; tests shorten it
	client  *http.Client
}

// NewFanout builds the Fanout for c.Peers, c.PeerTimeout and
// c.PeerRetries. With no peers, Send does nothing.
func NewFanout(c config.Purge) *Fanout {
	timeout := c.PeerTimeout.D()
	t := &http.Transport{
		// No Proxy: fleet traffic goes straight to the peers, whatever
		// HTTP_PROXY says.
		DialContext:         (&net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout: timeout,
		MaxIdleConnsPerHost: 2,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   true,
	}
	return &Fanout{
		peers:   c.Peers,
		timeout: timeout,
		retries: c.PeerRetries,
		backoff: firstBackoff,
		client:  &http.Client{Transport: t, CheckRedirect: noRedirect},
	}
}

// Send forwards req to every peer at once, as POST <peer>/purge with req
// as JSON, the HopField field set to "1" (the peer applies it and forwards
// it no further) and, when token is not "", "Authorization: Bearer
// <token>". It returns one PeerResult per peer, in the configured order,
// or nil when there are no peers.
//
// A peer that answers 2xx has purged. A connection error, a timeout or a
// 5xx is tried again up to the configured retries, after a short backoff;
// any other answer (a 4xx: refused, or a request the peer finds invalid)
// is final. Each attempt is bounded by the peer timeout, and Send returns
// within (retries+1) × timeout plus the backoffs, sooner when ctx is done.
func (f *Fanout) Send(ctx context.Context, req Request, token string) []PeerResult {
	if len(f.peers) == 0 {
		return nil
	}
	results := make([]PeerResult, len(f.peers))
	body, err := json.Marshal(req)
	if err != nil { // not for a Request's field types; kept for safety
		for i, p := range f.peers {
			results[i] = PeerResult{Peer: p, Error: err.Error()}
		}
		return results
	}
	budget := f.budget()
	ctx, cancel := context.WithTimeoutCause(ctx, budget, fmt.Errorf("fan-out time budget (%s) spent", budget))
	defer cancel()
	var wg sync.WaitGroup
	for i, p := range f.peers {
		wg.Go(func() { results[i] = f.sendPeer(ctx, p, body, token) })
	}
	wg.Wait()
	return results
}

// Close closes the idle connections to the peers. Send may still be used.
func (f *Fanout) Close() { f.client.CloseIdleConnections() }

// Failed counts the peers that failed to purge.
func Failed(results []PeerResult) int {
	n := 0
	for _, r := range results {
		if r.Error != "" {
			n++
		}
	}
	return n
}

// budget is the longest Send may take: every attempt timing out, every
// backoff waited, plus a little slack so that a last attempt's own timeout,
// not the budget, ends it.
func (f *Fanout) budget() time.Duration {
	d := time.Duration(f.retries+1)*f.timeout + 250*time.Millisecond
	for i, w := 0, f.backoff; i < f.retries; i, w = i+1, min(2*w, maxBackoff) {
		d += w
	}
	return d
}

// sendPeer forwards body to one peer, retrying as Send describes.
func (f *Fanout) sendPeer(ctx context.Context, peer string, body []byte, token string) PeerResult {
	res := PeerResult{Peer: peer}
	wait := f.backoff
	for {
		res.Attempts++
		retry := f.attempt(ctx, &res, body, token)
		if !retry || res.Attempts > f.retries {
			return res
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			res.Error += fmt.Sprintf("; gave up before attempt %d: %v", res.Attempts+1, context.Cause(ctx))
			return res
		case <-t.C:
		}
		wait = min(2*wait, maxBackoff)
	}
}

// attempt sends body to res.Peer once and records the outcome in res. It
// reports whether another attempt may succeed where this one failed.
func (f *Fanout) attempt(ctx context.Context, res *PeerResult, body []byte, token string) (retry bool) {
	actx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	a, err := post(actx, f.client, res.Peer, body, token, true)
	res.Status, res.Purged, res.Error = 0, 0, ""
	switch {
	case err != nil && ctx.Err() != nil:
		res.Error = fmt.Sprintf("attempt %d: %v", res.Attempts, context.Cause(ctx))
		return false
	case err != nil && errors.Is(err, context.DeadlineExceeded):
		res.Error = fmt.Sprintf("attempt %d: no answer within %s", res.Attempts, f.timeout)
		return true
	case err != nil:
		res.Error = fmt.Sprintf("attempt %d: %v", res.Attempts, err)
		return true
	}
	res.Status = a.Status
	switch {
	case a.Applied():
		res.Purged = a.Result.Purged
		return false
	case a.Status >= 200 && a.Status < 300:
		res.Error = fmt.Sprintf("answered %d with a body that is not a purge result: %q", a.Status, a.Reason())
		return false
	case a.Status >= 500:
		res.Error = fmt.Sprintf("attempt %d: %s", res.Attempts, answered(a))
		return true
	default:
		res.Error = answered(a)
		return false
	}
}

// answered describes a refusal: "answered 403 Forbidden: <reason>".
func answered(a *Answer) string {
	s := fmt.Sprintf("answered %d %s", a.Status, http.StatusText(a.Status))
	if r := a.Reason(); r != "" {
		s += ": " + r
	}
	return s
}
