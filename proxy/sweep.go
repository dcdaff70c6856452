package proxy

import (
	"context"
	"time"

	"github.com/cdnnode/cdnnode/cachestore"
	"github.com/cdnnode/cdnnode/keys"
	"github.com/cdnnode/cdnnode/purge"
)

// sweepInterval is how often the sweeper passes while bans remain. A pass
// that found objects to settle leaves the bans to a later one that finds
// none: the disk tier applies deletes and refreshes in the background.
const sweepInterval = time.Second

// Sweep runs the purge sweeper until ctx ends: after each purge, and every
// sweepInterval while bans remain, it walks the store's catalog for the
// objects stored before the newest ban and settles those the bans name,
// deleting them (hard) or storing them stale and restamped (soft); a pass
// that finds none left expires every ban it covered, since nothing older
// they could name remains, except those a fill in flight could be named
// by (purge.Bans.Expire): a fill is in no catalog until it has stored.
// So the ban list stays short and lookups cheap, and purged objects free
// their space without waiting to be requested.
// It waits for the disk tier's start-up rebuild: a record not catalogued
// yet could still be named.
func (p *Proxy) Sweep(ctx context.Context) {
	t := time.NewTicker(sweepInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.sweepNow:
		case <-t.C:
		}
		p.sweepOnce(ctx)
	}
}

// sweepOnce is one pass of the sweeper.
func (p *Proxy) sweepOnce(ctx context.Context) {
	through, ok := p.bans.Newest()
	if !ok || !p.store.Ready() {
		return
	}
	start := p.now()
	named := 0
	err := p.store.Sweep(ctx, through, func(e cachestore.Entry) {
		if p.sweepEntry(e) {
			named++
		}
	})
	if err != nil || named > 0 {
		p.log.Debug("purge sweep", "settled", named, "err", err, "dur_ms", float64(p.now().Sub(start).Microseconds())/1000)
		return
	}
	// through was read before the sweep, as Expire needs; it keeps the
	// bans a fill in flight could be named by.
	n, err := p.bans.Expire(through)
	if err != nil {
		p.log.Error("purge: expired bans not saved (they expire again after a restart)", "err", err)
	}
	if n > 0 {
		p.log.Info("purge bans expired", "expired", n, "left", p.bans.Len(), "catalogued", p.store.Catalogued(),
			"dur_ms", float64(p.now().Sub(start).Microseconds())/1000)
	}
}

// sweepEntry settles the object e describes if a ban names it, and
// reports whether one did.
func (p *Proxy) sweepEntry(e cachestore.Entry) bool {
	v := p.bans.Check(e.Key.Full, e.Tags, e.Stamp)
	switch {
	case v.Purged:
		p.store.Delete(e.Key)
		p.metrics.PurgedObjects.WithLabelValues("sweep").Inc()
		return true
	case v.Stale.IsZero():
		return false
	}
	obj, ok := p.store.Peek(e.Key)
	if !ok {
		return true
	}
	// The object may have been stored since the catalog told of it, and
	// the copy the bans name may be another tier's: judge the one found.
	v = p.bans.Check(obj.Key, obj.Tags, obj.Stamp)
	if !v.Purged && v.Stale.IsZero() {
		// The memory tier's copy is newer than the disk's (its write-through
		// is queued, or was dropped): write it through over the old one.
		c := obj.Refreshed(obj.Header, obj.Targeted, obj.Policy) // stored objects are never modified
		obj.Release()
		p.store.Refresh(e.Key, c)
		c.Release()
		return true
	}
	p.enforce(e.Key, obj, v, "sweep").Release()
	return true
}

// enforce applies v, the bans' verdict on obj stored under k, to the store
// for good, and returns what is left to use, which the caller releases:
// nil for a purged object, deleted (and obj released); obj itself if no
// ban names it; for a soft purge, a copy of obj (obj released) stored in
// its place, stale since the purge and restamped past every ban v looked
// at, so that none names it any more. when labels the objects counted
// purged.
//
// A fill that stores a newer response for k while the copy is made may be
// overwritten by it: the copy is only ever served stale, so the cost is
// one more revalidation.
func (p *Proxy) enforce(k keys.Key, obj *cachestore.Object, v purge.Verdict, when string) *cachestore.Object {
	switch {
	case v.Purged:
		obj.Release()
		p.store.Delete(k)
		p.metrics.PurgedObjects.WithLabelValues(when).Inc()
		return nil
	case v.Stale.IsZero():
		return obj
	}
	c := obj.Refreshed(obj.Header, obj.Targeted, obj.Policy)
	obj.Release()
	if !c.IsVaryIndex() {
		c.Policy.Lifetime = min(c.Policy.Lifetime, c.Policy.Age(v.Stale))
	}
	c.Stamp = v.Through.Add(time.Nanosecond)
	p.store.Refresh(k, c)
	return c
}

// settleFill applies to what a fill began at stamp has just stored under
// k any purge accepted since that names it, as a lookup would (enforce: a
// hard one deletes it, a soft one stores it stale): lookups would apply it
// anyway, but the bans that name it may expire before then, once the
// fill's flight ends. Until then none that could name it has expired
// (purge.Bans.Begin), and the store holds it, so a sweep that misses it
// sees it through to a later pass. A gzip variant (storeVariant) has no
// flight: stamped as the object it transcodes, it is served only along
// that very object (codedVariant), which lookups still judge.
func (p *Proxy) settleFill(k keys.Key, tags []string, stamp time.Time) {
	if v := p.bans.Check(k.Full, tags, stamp); !v.Purged && v.Stale.IsZero() {
		return
	}
	obj, ok := p.store.Peek(k)
	if !ok {
		return
	}
	// Judge the object found: a later fill may have replaced this one's.
	p.enforce(k, obj, p.bans.Check(obj.Key, obj.Tags, obj.Stamp), "fill").Release()
}
