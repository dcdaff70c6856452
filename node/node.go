// Package node assembles a cdnnode from its configuration: the cache store,
// origin pools, metrics, request pipeline, traffic listeners and admin
// listener. The binary builds one Node; tests build as many as they like.
package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"

	"github.com/cdnnode/cdnnode/admin"
	"github.com/cdnnode/cdnnode/cachelock"
	"github.com/cdnnode/cdnnode/cachestore"
	"github.com/cdnnode/cdnnode/config"
	"github.com/cdnnode/cdnnode/metrics"
	"github.com/cdnnode/cdnnode/origin"
	"github.com/cdnnode/cdnnode/proxy"
	"github.com/cdnnode/cdnnode/purge"
	"github.com/cdnnode/cdnnode/worker"
)

// Node is one running cache node.
type Node struct {
	cfg     *config.Config
	log     *slog.Logger
	store   *cachestore.Store
	proxy   *proxy.Proxy
	pools   map[string]*origin.Pool
	traffic *worker.Group
	admin   *http.Server
	adminL  net.Listener

	stopOwners context.CancelFunc // ends the shard owners' loops, the purge sweeper and the pools' health checks
	owners     sync.WaitGroup
}

// New builds a node for cfg; Start binds and serves it.
func New(cfg *config.Config, log *slog.Logger) (*Node, error) {
	store, err := cachestore.New(cachestore.Options{
		Shards:               cfg.Server.Workers,
		MemoryBytes:          int64(cfg.Cache.Memory),
		MaxMemoryObjectBytes: int64(cfg.Cache.MaxMemoryObject),
		MaxObjectBytes:       int64(cfg.Cache.MaxObject),
		Disk: cachestore.DiskOptions{
			Dir:           cfg.Cache.Disk.Path,
			Bytes:         int64(cfg.Cache.Disk.Size),
			RetryInterval: cfg.Cache.Disk.RetryInterval.D(),
		},
		Logger: log,
	})
	if err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	m := metrics.New(cfg.Server.Workers, func() []metrics.CacheStats {
		shards := store.Shards()
		out := make([]metrics.CacheStats, len(shards))
		for i, sh := range shards {
			out[i] = sh.Stats()
		}
		return out
	})
	locks := cachelock.New(cfg.Server.Workers, cachelock.Options{
		AgeTimeout:    cfg.Cache.LockAgeTimeout.D(),
		HitForPass:    cfg.Cache.HitForPass.D(),
		MaxBackground: cfg.Cache.Revalidations,
	})
	m.WatchLocks(locks.InFlight, locks.PassEntries, locks.Background)
	pools := make(map[string]*origin.Pool, len(cfg.Pools))
	for name, pc := range cfg.Pools {
		pool, err := origin.NewPool(name, &pc, m, log)
		if err != nil {
			closePools(pools)
			store.Close()
			return nil, fmt.Errorf("node: %w", err)
		}
		pools[name] = pool
	}
	// With a disk tier, bans persist beside it: its records outlive a
	// restart, so must the purges of them.
	bansFile := ""
	if cfg.Cache.Disk.Path != "" {
		bansFile = filepath.Join(cfg.Cache.Disk.Path, "bans.json")
	}
	bans, err := purge.Open(bansFile)
	if err != nil {
		closePools(pools)
		store.Close()
		return nil, fmt.Errorf("node: %w", err)
	}
	m.WatchBans(bans.Len)
	p, err := proxy.New(cfg, store, locks, bans, pools, m, log)
	if err != nil {
		closePools(pools)
		store.Close()
		return nil, fmt.Errorf("node: %w", err)
	}
	traffic := worker.New(cfg.Server, p.Handler, p.Responder, p.Admit, m, log)
	p.TrustRejects(traffic.RejectToken())
	return &Node{
		cfg:     cfg,
		log:     log,
		store:   store,
		proxy:   p,
		pools:   pools,
		traffic: traffic,
		admin: &http.Server{
			Handler:           admin.Handler(m.Handler(), p.PurgeAPI(), origin.PeersAPI(pools, authorizer(cfg.Purge, log))),
			ReadHeaderTimeout: cfg.Server.ReadHeaderTimeout.D(),
		},
	}, nil
}

// Start binds the traffic and admin listeners and serves them in the
// background. On error nothing stays bound.
func (n *Node) Start() error {
	if err := n.traffic.Listen(); err != nil {
		return fmt.Errorf("node: %w", err)
	}
	l, err := net.Listen("tcp", n.cfg.Admin.Listen)
	if err != nil {
		n.traffic.Close()
		return fmt.Errorf("node: admin listen %s: %w", n.cfg.Admin.Listen, err)
	}
	n.adminL = l
	ctx, cancel := context.WithCancel(context.Background())
	n.stopOwners = cancel
	for i, sh := range n.store.Shards() {
		for _, owner := range sh.Owners() {
			n.owners.Go(func() {
				if err := worker.RunPinned(ctx, i, n.cfg.Server.Pin, owner); err != nil {
					n.log.Warn("shard owner not pinned", "shard", i, "err", err)
					owner(ctx)
				}
			})
		}
	}
	n.owners.Go(func() { n.proxy.Sweep(ctx) })
	for _, p := range n.pools {
		n.owners.Go(func() { p.Run(ctx) })
	}
	n.traffic.Serve()
	go func() {
		if err := n.admin.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("admin listener stopped", "err", err)
		}
	}()
	addrs := make([]string, 0, len(n.traffic.Addrs()))
	for _, a := range n.traffic.Addrs() {
		addrs = append(addrs, a.String())
	}
	n.log.Info("cdnnode serving", "traffic", addrs, "admin", l.Addr().String(), "config", n.cfg.Path)
	return nil
}

// Addrs are the traffic listeners' addresses: plain ones, then TLS ones.
func (n *Node) Addrs() []net.Addr { return n.traffic.Addrs() }

// AdminAddr is the admin listener's address.
func (n *Node) AdminAddr() net.Addr { return n.adminL.Addr() }

// Shutdown stops accepting and drains in-flight requests until ctx ends,
// then releases everything. A non-nil error means requests were cut short.
func (n *Node) Shutdown(ctx context.Context) error {
	err := n.traffic.Shutdown(ctx)
	n.release()
	return err
}

// Close stops at once, cutting in-flight requests.
func (n *Node) Close() {
	n.traffic.Close()
	n.release()
}

func (n *Node) release() {
	_ = n.admin.Close()
	if n.stopOwners != nil {
		n.stopOwners()
		n.owners.Wait()
	}
	n.proxy.StopBackground()
	closePools(n.pools)
	n.proxy.CloseIdle()
	n.store.Close()
}

// authorizer admits the admin API's changes as purges are admitted
// (purge.Authorizer), refusing and logging the others.
func authorizer(c config.Purge, log *slog.Logger) func(http.ResponseWriter, *http.Request) bool {
	auth := purge.NewAuthorizer(c)
	return func(w http.ResponseWriter, r *http.Request) bool {
		status, reason := auth.Check(r)
		if status == 0 {
			return true
		}
		log.Warn("admin request refused", "remote", r.RemoteAddr, "method", r.Method, "uri", r.RequestURI, "status", status, "reason", reason)
		purge.Deny(w, status, reason)
		return false
	}
}

// closePools closes the pools' idle connections.
func closePools(pools map[string]*origin.Pool) {
	for _, p := range pools {
		p.Close()
	}
}

// NewLogger builds the node's logger for the configured format and level.
func NewLogger(c config.Log, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.Level)); err != nil {
		return nil, fmt.Errorf("log level %q: %w", c.Level, err)
	}
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return slog.New(slog.NewTextHandler(w, opts)), nil
}
