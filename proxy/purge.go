package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/cdnnode/cdnnode/keys"
	"github.com/cdnnode/cdnnode/purge"
)

// errNoSite: a purge names a host no site serves.
var errNoSite = errors.New("no site is configured for this host")

// Purge applies req on this node: each target becomes a ban, saved before
// Purge returns, that lookups apply to every object fetched before it
// (proxy.unbanned), in both tiers and every shard, fills in flight
// included, and that the sweeper (Sweep) settles in the background and
// then expires. An exact purge also removes (or, soft, finds) the URL's
// stored entries at once, for http and https, and counts them:
// Result.Purged is the number of URLs found (a Vary URL counts once; its
// variants go by the ban). A tag purge counts the objects carrying its
// surrogate keys. Prefix and site purges cost nothing at purge time
// whatever they name (Result.Swept). Errors wrap purge.ErrInvalid or
// errNoSite (the requester's fault) or are the ban file's.
func (p *Proxy) Purge(req purge.Request) (purge.Result, error) {
	start := p.now()
	kind, err := req.Kind()
	res := purge.Result{Kind: kind, Soft: req.Soft}
	if err == nil {
		err = p.applyPurge(&req, &res)
	}
	p.metrics.PurgeDuration.Observe(p.now().Sub(start).Seconds())
	outcome := "purged"
	switch {
	case errors.Is(err, purge.ErrInvalid), errors.Is(err, errNoSite):
		outcome = "invalid"
	case err != nil:
		outcome = "error"
	case kind == purge.Exact && res.Purged == 0:
		outcome = "not-found"
	}
	if kind == "" {
		kind = "unknown"
	}
	p.metrics.Purges.WithLabelValues(string(kind), outcome).Inc()
	if err == nil {
		p.log.Info("purge", "kind", kind, "soft", req.Soft, "purged", res.Purged,
			"urls", req.URLs, "prefix", req.Prefix, "tags", req.Tags, "all", req.All)
	}
	return res, err
}

// applyPurge bans what req names and, for exact purges, drops the stored
// entries now; it counts them in res.
func (p *Proxy) applyPurge(req *purge.Request, res *purge.Result) error {
	switch res.Kind {
	case purge.Exact:
		for _, raw := range req.URLs {
			u, opts, err := p.purgeTarget(raw)
			if err != nil {
				return err
			}
			k := keys.New(u.Scheme, u.Host, u.EscapedPath(), u.RawQuery, opts)
			// Found before the ban: once it is made, the sweeper may remove
			// the entries first. What is stored in between is stamped before
			// the ban, which names it.
			res.Purged += p.dropNow(u, opts, req.Soft)
			if err := p.ban(purge.Ban{Kind: purge.Exact, Target: purge.Rest(k.Full), Soft: req.Soft}); err != nil {
				return err
			}
		}
		return nil
	case purge.Prefix:
		u, opts, err := p.purgeTarget(req.Prefix)
		if err != nil {
			return err
		}
		k := keys.New(u.Scheme, u.Host, u.EscapedPath(), "", opts)
		res.Swept = true
		return p.ban(purge.Ban{Kind: purge.Prefix, Target: purge.Rest(k.Full), Soft: req.Soft})
	case purge.All:
		u, opts, err := p.purgeTarget("http://" + req.All + "/")
		if err != nil {
			return err
		}
		k := keys.New(u.Scheme, u.Host, "/", "", opts)
		res.Swept = true
		return p.ban(purge.Ban{Kind: purge.All, Target: purge.Rest(k.Full), Soft: req.Soft})
	}
	res.Purged = p.store.Tagged(req.Tags) // before the sweeper may remove them
	return p.ban(purge.Ban{Kind: purge.Tag, Tags: req.Tags, Soft: req.Soft})
}

// purgeTarget parses a purge's URL and finds the key options of the site
// serving its host.
func (p *Proxy) purgeTarget(raw string) (*url.URL, keys.Options, error) {
	u, err := purge.ParseURL(raw)
	if err != nil {
		return nil, keys.Options{}, err
	}
	cs := p.cfg.Match(u.Host)
	if cs == nil {
		return nil, keys.Options{}, fmt.Errorf("%w: %s", errNoSite, u.Host)
	}
	return u, p.sites[cs].keys, nil
}

// ban records a ban, now, and wakes the sweeper.
func (p *Proxy) ban(b purge.Ban) error {
	_, err := p.bans.Add(b, p.now())
	select {
	case p.sweepNow <- struct{}{}:
	default: // a pass is due already
	}
	if err != nil {
		return fmt.Errorf("proxy: purge: %w", err)
	}
	return nil
}

// dropNow finds the entries stored for u under both schemes, removing them
// unless soft (the ban already makes them stale), and counts them.
func (p *Proxy) dropNow(u *url.URL, opts keys.Options, soft bool) int {
	n := 0
	for _, scheme := range [...]string{"http", "https"} {
		k := keys.New(scheme, u.Host, u.EscapedPath(), u.RawQuery, opts)
		obj, ok := p.store.Get(k)
		if !ok {
			continue
		}
		obj.Release()
		n++
		if !soft {
			p.store.Delete(k)
		}
	}
	p.metrics.PurgedObjects.WithLabelValues("purge").Add(float64(n))
	return n
}

// purgeFromRequest reads a PURGE request on the traffic listener: the
// request's URL with every variant; "/*" for the whole host, a path ending
// in "*" for a prefix; a Surrogate-Key field for tags instead; and
// "Purge-Mode: soft" for a soft purge.
func purgeFromRequest(scheme, host, requestURI string, tags, mode []string) purge.Request {
	req := purge.Request{Soft: len(mode) > 0 && strings.EqualFold(strings.TrimSpace(mode[0]), "soft")}
	base := scheme + "://" + host
	switch {
	case len(tags) > 0:
		for _, v := range tags {
			req.Tags = append(req.Tags, strings.Fields(v)...)
		}
	case requestURI == "/*":
		req.All = host
	case strings.HasSuffix(requestURI, "*") && !strings.Contains(requestURI, "?"):
		req.Prefix = base + strings.TrimSuffix(requestURI, "*")
	default:
		req.URLs = []string{base + requestURI}
	}
	return req
}

// maxPurgeBody bounds an admin API purge request's JSON body.
const maxPurgeBody = 1 << 20

// purgeHTTP answers a PURGE request on the traffic listener.
func (p *Proxy) purgeHTTP(w http.ResponseWriter, r *http.Request) {
	p.handlePurge(w, r, func(r *http.Request) (purge.Request, error) {
		return purgeFromRequest(scheme(r), r.Host, r.URL.RequestURI(), r.Header[purge.TagField], r.Header[purge.ModeField]), nil
	})
}

// PurgeAPI serves the admin API's POST /purge: a purge.Request as JSON.
func (p *Proxy) PurgeAPI() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.handlePurge(w, r, func(r *http.Request) (purge.Request, error) {
			var req purge.Request
			dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxPurgeBody))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&req); err != nil {
				return req, fmt.Errorf("%w: body: %w", purge.ErrInvalid, err)
			}
			return req, nil
		})
	})
}

// handlePurge authorises r, reads its purge with parse, applies it,
// forwards it to the fleet unless a peer forwarded it here, and answers
// with the purge.Result as JSON: 200, or 404 for an exact purge that
// found nothing, or 207 when a peer failed; 400 for a bad purge, 401 or
// 403 for a stranger (logged), 500 when the ban could not be saved.
func (p *Proxy) handlePurge(w http.ResponseWriter, r *http.Request, parse func(*http.Request) (purge.Request, error)) {
	if status, reason := p.purgeAuth.Check(r); status != 0 {
		p.metrics.Purges.WithLabelValues("unknown", "refused").Inc()
		p.log.Warn("purge refused", "remote", r.RemoteAddr, "method", r.Method, "uri", r.RequestURI, "status", status, "reason", reason)
		purge.Deny(w, status, reason)
		return
	}
	req, err := parse(r)
	if err != nil {
		p.metrics.Purges.WithLabelValues("unknown", "invalid").Inc()
		purgeError(w, http.StatusBadRequest, err.Error())
		return
	}
	res, err := p.Purge(req)
	switch {
	case err == nil:
		p.answerPurge(w, r, req, res)
		return
	case errors.Is(err, purge.ErrInvalid), errors.Is(err, errNoSite):
		purgeError(w, http.StatusBadRequest, err.Error())
		return
	}
	p.log.Error("purge failed", "err", err)
	purgeError(w, http.StatusInternalServerError, "purge not saved (it holds on this node until it restarts) or not applied: "+err.Error())
}

// answerPurge forwards an applied purge to the fleet, unless it came from
// a peer, and writes the result.
func (p *Proxy) answerPurge(w http.ResponseWriter, r *http.Request, req purge.Request, res purge.Result) {
	status := http.StatusOK
	if res.Kind == purge.Exact && res.Purged == 0 {
		status = http.StatusNotFound
	}
	if len(r.Header[purge.HopField]) == 0 {
		res.Peers = p.fanout.Send(context.WithoutCancel(r.Context()), req, string(p.cfg.Purge.Token))
		for _, peer := range res.Peers {
			if peer.Error != "" {
				p.metrics.PurgeFanoutFailures.Inc()
				status = http.StatusMultiStatus
			}
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(res)
}

// CloseIdle closes the idle connections to the purge peers.
func (p *Proxy) CloseIdle() { p.fanout.Close() }

// purgeError answers a purge the node did not apply.
func purgeError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(struct {
		Error string `json:"error"`
	}{msg})
}
