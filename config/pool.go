package config

import (
	"cmp"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"math"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2/unstable"
)

// Pool defaults and limits, as documented on the Pool fields and in
// config.toml.
const (
	defaultSelection         = "round_robin"
	defaultRetries           = 1
	maxRetries               = 5
	defaultRetryBudget       = 0.2
	maxRate                  = 1e9
	maxBurst                 = 1_000_000_000
	defaultMaxWait           = Duration(100 * time.Millisecond)
	defaultMaxQueue          = 64
	maxQueue                 = 1_000_000
	defaultConnectTimeout    = Duration(5 * time.Second)
	defaultResponseTimeout   = Duration(30 * time.Second)
	defaultOriginReadTimeout = Duration(30 * time.Second)
	defaultWriteTimeout      = Duration(30 * time.Second)
	defaultPoolIdleTimeout   = Duration(90 * time.Second)
	defaultTCPKeepAlive      = Duration(15 * time.Second)
	defaultMaxIdlePerPeer    = 64
	defaultALPN              = "h2h1"
	defaultResolveInterval   = Duration(30 * time.Second)
	defaultHealthPath        = "/"
	defaultHealthInterval    = Duration(5 * time.Second)
	defaultHealthTimeout     = Duration(2 * time.Second)
	defaultRise              = 2
	defaultFall              = 3
	defaultMaxFails          = 5
	defaultWindow            = 20
	maxWindow                = 4096 // origin/health.MaxWindow
	defaultMinRequests       = 10
	defaultCooldown          = Duration(10 * time.Second)
	maxCAFile                = Size(16 << 20)
	noMax                    = math.MaxInt // intIn: no upper bound
)

// defaultExpectStatus is the status range an http health check passes on
// by default.
var defaultExpectStatus = StatusRange{200, 399}

// PeerOptions returns the options peer is reached with: its overrides over
// the pool's settings. ALPN is "h1" for http and unix peers, which speak
// HTTP/1.1, or HTTP/2 with prior knowledge when H2C is set; H2C is false
// for https peers, and BindTo the zero Addr for unix ones. peer need not
// be one of p's, so the runtime can resolve peers from a peers file.
func (p Pool) PeerOptions(peer Peer) PeerOptions {
	o := PeerOptions{
		ConnectTimeout:      valueOr(peer.ConnectTimeout, p.ConnectTimeout),
		TotalConnectTimeout: valueOr(peer.TotalConnectTimeout, p.TotalConnectTimeout),
		ReadTimeout:         valueOr(peer.ReadTimeout, p.ReadTimeout),
		WriteTimeout:        valueOr(peer.WriteTimeout, p.WriteTimeout),
		IdleTimeout:         valueOr(peer.IdleTimeout, p.IdleTimeout),
		TCPKeepAlive:        valueOr(peer.TCPKeepAlive, p.TCPKeepAlive),
		BindTo:              p.BindTo,
		MaxIdlePerPeer:      valueOr(peer.MaxIdlePerPeer, p.MaxIdlePerPeer),
		SNI:                 cmp.Or(peer.SNI, p.SNI),
		VerifyCert:          valueOr(peer.VerifyCert, p.TLSVerify),
		VerifyHostname:      valueOr(peer.VerifyHostname, p.VerifyHostname),
		CAFile:              cmp.Or(peer.CAFile, p.CAFile),
		AlternativeCN:       cmp.Or(peer.AlternativeCN, p.AlternativeCN),
		ClientCert:          p.ClientCert,
		ClientKey:           p.ClientKey,
		ALPN:                cmp.Or(peer.ALPN, p.ALPN),
		H2C:                 valueOr(peer.H2C, p.H2C),
	}
	if peer.BindTo.IsValid() {
		o.BindTo = peer.BindTo
	}
	if peer.ClientCert != "" {
		o.ClientCert, o.ClientKey = peer.ClientCert, peer.ClientKey
	}
	switch peer.Scheme {
	case "https":
		o.H2C = false
	case "unix":
		o.BindTo = netip.Addr{}
		o.ALPN = "h1"
	default:
		o.ALPN = "h1"
	}
	return o
}

func (b *builder) pool(at path, r *rawPool) Pool {
	p := Pool{
		Scheme:              strings.ToLower(stringOr(r.Scheme, "http")),
		Selection:           stringOr(r.Selection, defaultSelection),
		Retries:             b.intIn(at.with("retries"), r.Retries, defaultRetries, 0, maxRetries),
		RetryBudget:         b.number(at.with("retry_budget"), r.RetryBudget, defaultRetryBudget, 0, 1),
		Limits:              b.limits(at, r),
		ConnectTimeout:      b.duration(at.with("connect_timeout"), r.ConnectTimeout, defaultConnectTimeout),
		TotalConnectTimeout: b.duration(at.with("total_connect_timeout"), r.TotalConnectTimeout, 0),
		ResponseTimeout:     b.duration(at.with("response_timeout"), r.ResponseTimeout, defaultResponseTimeout),
		ReadTimeout:         b.duration(at.with("read_timeout"), r.ReadTimeout, defaultOriginReadTimeout),
		WriteTimeout:        b.duration(at.with("write_timeout"), r.WriteTimeout, defaultWriteTimeout),
		IdleTimeout:         b.duration(at.with("idle_timeout"), r.IdleTimeout, defaultPoolIdleTimeout),
		TCPKeepAlive:        b.duration(at.with("tcp_keepalive"), r.TCPKeepAlive, defaultTCPKeepAlive),
		BindTo:              b.bindTo(at.with("bind_to"), r.BindTo),
		MaxIdlePerPeer:      valueOr(b.optCount(at.with("max_idle_per_peer"), r.MaxIdlePerPeer), defaultMaxIdlePerPeer),
		TLSVerify:           true,
		VerifyHostname:      boolOr(r.VerifyHostname, true),
		SNI:                 stringOr(r.SNI, ""),
		AlternativeCN:       stringOr(r.AlternativeCN, ""),
		ALPN:                stringOr(r.ALPN, defaultALPN),
		H2C:                 boolOr(r.H2C, false),
		HeaderPolicy:        b.headerPolicy(at, r),
		ResolveInterval:     b.duration(at.with("resolve_interval"), r.ResolveInterval, defaultResolveInterval),
		Health:              b.health(at.with("health"), r.Health),
		Passive:             b.passive(at.with("passive"), &r.Passive),
	}
	if at[len(at)-1] == "" {
		b.errorf(at, "a pool name must not be empty")
	}
	if p.Scheme != "http" && p.Scheme != "https" {
		b.errorf(at.with("scheme"), "invalid scheme %q: want \"http\" or \"https\"", p.Scheme)
		p.Scheme = "http" // parse the peers all the same
	}
	switch p.Selection {
	case "round_robin", "ketama", "weighted", "least_inflight", "failover":
	default:
		b.errorf(at.with("selection"), "invalid selection %q: want \"round_robin\", \"ketama\", \"weighted\", \"least_inflight\" or \"failover\"", p.Selection)
	}
	if p.TotalConnectTimeout > 0 && p.ConnectTimeout > 0 && p.TotalConnectTimeout < p.ConnectTimeout {
		b.errorf(at.with("total_connect_timeout"), "%s is shorter than connect_timeout (%s), which it includes", p.TotalConnectTimeout, p.ConnectTimeout)
	}
	b.poolTLS(at, r, &p)
	b.members(at, r, &p)
	return p
}

// poolTLS sets and checks p's TLS settings: the verify_cert alias, names,
// ALPN and the CA and client certificate files.
func (b *builder) poolTLS(at path, r *rawPool, p *Pool) {
	switch {
	case r.TLSVerify != nil && r.VerifyCert != nil:
		b.errorf(b.later(at, "tls_verify", "verify_cert"), "verify_cert is an alias of tls_verify: set one of them")
	case r.VerifyCert != nil:
		p.TLSVerify = *r.VerifyCert
	case r.TLSVerify != nil:
		p.TLSVerify = *r.TLSVerify
	}
	if p.SNI != "" && !validHostname(p.SNI) {
		b.errorf(at.with("sni"), "invalid server name %q", p.SNI)
	}
	if p.AlternativeCN != "" && !validIPOrHostname(p.AlternativeCN) {
		b.errorf(at.with("alternative_cn"), "invalid name %q: want a host name or an IP address", p.AlternativeCN)
	}
	if err := checkALPN(p.ALPN); err != nil {
		b.fail(at.with("alpn"), err)
	}
	p.CAFile = b.caFile(at.with("ca_file"), r.CAFile)
	p.ClientCert, p.ClientKey = b.clientCert(at, r.ClientCert, r.ClientKey)
}

// bindTo parses the bind_to at at: an IP address; the zero Addr when r is
// nil or invalid.
func (b *builder) bindTo(at path, r *string) netip.Addr {
	if r == nil {
		return netip.Addr{}
	}
	a, err := netip.ParseAddr(*r)
	if err != nil {
		b.errorf(at, "invalid address %q: want an IP address such as \"10.0.0.5\" or \"fd00::5\"", *r)
	}
	return a
}

// caFile resolves the ca_file at at against the config file's directory
// and checks it holds certificates; "" when r is nil.
func (b *builder) caFile(at path, r *string) string {
	if r == nil {
		return ""
	}
	name, ok := b.file(at, *r)
	if ok {
		if err := checkCAFile(name); err != nil {
			b.fail(at, err)
		}
	}
	return name
}

// clientCert resolves and checks the client_cert and client_key of the
// table at at: both or neither, loading as a key pair. It returns their
// file names; "" when neither is set.
func (b *builder) clientCert(at path, cert, key *string) (certFile, keyFile string) {
	switch {
	case cert != nil && key == nil:
		b.errorf(at.with("client_cert"), "client_key is missing: set both or neither")
	case cert == nil && key != nil:
		b.errorf(at.with("client_key"), "client_cert is missing: set both or neither")
	case cert != nil:
		var certOK, keyOK bool
		certFile, certOK = b.file(at.with("client_cert"), *cert)
		keyFile, keyOK = b.file(at.with("client_key"), *key)
		if certOK && keyOK {
			if _, err := tls.LoadX509KeyPair(certFile, keyFile); err != nil {
				b.errorf(at.with("client_cert"), "client_cert and client_key do not load as a key pair: %v", err)
			}
		}
	}
	return certFile, keyFile
}

// checkALPN checks an alpn value.
func checkALPN(s string) error {
	switch s {
	case "h1", "h2", "h2h1":
		return nil
	}
	return fmt.Errorf("invalid alpn %q: want \"h1\", \"h2\" or \"h2h1\"", s)
}

// checkCAFile checks that name is a PEM file of one or more certificates,
// each of which parses.
func checkCAFile(name string) error {
	rest, err := readSmallFile(name, maxCAFile)
	if err != nil {
		return err
	}
	n := 0
	for len(rest) > 0 { // each Decode consumes input
		var blk *pem.Block
		if blk, rest = pem.Decode(rest); blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		if _, err := x509.ParseCertificate(blk.Bytes); err != nil {
			return fmt.Errorf("%s: certificate %d: %w", name, n+1, err)
		}
		n++
	}
	if n == 0 {
		return fmt.Errorf("%s holds no PEM certificate", name)
	}
	return nil
}

// members parses and checks the pool's peers: the peers entries, the
// [[pools.NAME.peer]] tables and the peers file. It runs after the pool's
// other settings are known, which the peers' are checked against.
func (b *builder) members(at path, r *rawPool, p *Pool) {
	var where []path // where each peer of p.PeerList is written
	if r.Peers != nil {
		for i, s := range *r.Peers {
			pe, err := parsePeer(s, p.Scheme)
			if err != nil {
				b.fail(at.with("peers").index(i), err)
				continue
			}
			p.Peers = append(p.Peers, s)
			p.PeerList = append(p.PeerList, pe)
			where = append(where, at.with("peers").index(i))
		}
	}
	b.arrayOfTables(at.with("peer"), len(r.Peer))
	for i := range r.Peer {
		pat := at.with("peer").index(i)
		if pe, ok := b.peer(pat, &r.Peer[i], p); ok {
			p.Peers = append(p.Peers, *r.Peer[i].Addr)
			p.PeerList = append(p.PeerList, pe)
			where = append(where, pat.with("addr"))
		}
	}
	seen := make(map[string]int, len(p.PeerList)) // Peer.String → index in PeerList
	total := 0                                    // sum of weights so far
	for i, pe := range p.PeerList {
		if j, ok := seen[pe.String()]; ok {
			b.errorf(where[i], "peer %s is listed twice (first at %s, line %d)", pe, where[j], b.ps.line(where[j]))
		} else {
			seen[pe.String()] = i
		}
		if total += pe.Weight; total > maxTotalWeight && total-pe.Weight <= maxTotalWeight {
			b.errorf(where[i], "the weights of the pool's peers add up to more than %d", maxTotalWeight)
		}
	}
	fileOK := b.peersFile(at.with("peers_file"), r.PeersFile, p, seen, where, total)
	// An empty pool is an error of its own only when nothing was written:
	// entries that failed to parse have been reported already.
	switch {
	case len(p.PeerList)+len(p.FilePeers) > 0:
		b.peerChecks(at, r, p, where)
	case r.PeersFile != nil && fileOK:
		b.errorf(at.with("peers_file"), "a pool needs at least one peer, and %s lists none", p.PeersFile)
	case (r.Peers == nil || len(*r.Peers) == 0) && len(r.Peer) == 0 && r.PeersFile == nil:
		b.errorf(at.with("peers"), "a pool needs at least one peer: add peers, [[%s]] tables or a peers_file", at.with("peer"))
	}
}

// peersFile reads the pool's peers file into p.FilePeers and checks that
// none of its peers is in seen (PeerList's, written at where) and that the
// weights, adding to total so far, stay within bounds. It reports whether
// the file was read without error.
func (b *builder) peersFile(at path, r *string, p *Pool, seen map[string]int, where []path, total int) bool {
	if r == nil {
		return true
	}
	name, ok := b.file(at, *r)
	if !ok {
		return false
	}
	p.PeersFile = name
	def := p.Scheme
	if def == "https" {
		def = "" // entries must name their scheme; see readPeersFile
	}
	fps, err := readPeersFile(p.PeersFile, def)
	if err != nil {
		for _, e := range splitErrors(err) {
			b.fail(at, e)
		}
		return false
	}
	for _, fp := range fps {
		if j, ok := seen[fp.String()]; ok {
			b.errorf(at, "%s:%d: peer %s is listed twice (first at %s, line %d)", p.PeersFile, fp.line, fp.Peer, where[j], b.ps.line(where[j]))
			continue
		}
		if total++; total == maxTotalWeight+1 {
			b.errorf(at, "%s:%d: the weights of the pool's peers add up to more than %d", p.PeersFile, fp.line, maxTotalWeight)
		}
		p.FilePeers = append(p.FilePeers, fp.Peer)
	}
	return true
}

// peer builds the [[pools.NAME.peer]] table at, of pool p. ok is false when
// its addr is missing or invalid.
func (b *builder) peer(at path, r *rawPeer, p *Pool) (pe Peer, ok bool) {
	if r.Addr == nil {
		b.errorf(at, "missing required key addr")
	} else {
		var err error
		if pe, err = parsePeer(*r.Addr, p.Scheme); err != nil {
			b.fail(at.with("addr"), err)
		} else {
			ok = true
		}
	}
	pe.Weight = b.intIn(at.with("weight"), r.Weight, 1, 1, maxWeight)
	pe.Backup = boolOr(r.Backup, false)
	pe.ConnectTimeout = b.optDuration(at.with("connect_timeout"), r.ConnectTimeout)
	pe.TotalConnectTimeout = b.optDuration(at.with("total_connect_timeout"), r.TotalConnectTimeout)
	pe.ReadTimeout = b.optDuration(at.with("read_timeout"), r.ReadTimeout)
	pe.WriteTimeout = b.optDuration(at.with("write_timeout"), r.WriteTimeout)
	pe.IdleTimeout = b.optDuration(at.with("idle_timeout"), r.IdleTimeout)
	pe.TCPKeepAlive = b.optDuration(at.with("tcp_keepalive"), r.TCPKeepAlive)
	pe.BindTo = b.bindTo(at.with("bind_to"), r.BindTo)
	pe.MaxIdlePerPeer = b.optCount(at.with("max_idle_per_peer"), r.MaxIdlePerPeer)
	pe.SNI = stringOr(r.SNI, "")
	pe.VerifyCert = r.VerifyCert
	pe.VerifyHostname = r.VerifyHostname
	pe.CAFile = b.caFile(at.with("ca_file"), r.CAFile)
	pe.AlternativeCN = stringOr(r.AlternativeCN, "")
	pe.ClientCert, pe.ClientKey = b.clientCert(at, r.ClientCert, r.ClientKey)
	pe.ALPN = stringOr(r.ALPN, "")
	pe.H2C = r.H2C
	sniOK := r.SNI == nil || validHostname(pe.SNI)
	if !sniOK {
		b.errorf(at.with("sni"), "invalid server name %q", pe.SNI)
	}
	altOK := r.AlternativeCN == nil || validIPOrHostname(pe.AlternativeCN)
	if !altOK {
		b.errorf(at.with("alternative_cn"), "invalid name %q: want a host name or an IP address", pe.AlternativeCN)
	}
	alpnOK := r.ALPN == nil || checkALPN(pe.ALPN) == nil
	if !alpnOK {
		b.fail(at.with("alpn"), checkALPN(pe.ALPN))
	}
	if !ok {
		return pe, false
	}
	b.peerScheme(at, r, pe, sniOK, altOK, alpnOK)
	o := p.PeerOptions(pe)
	if (r.ConnectTimeout != nil || r.TotalConnectTimeout != nil) && o.TotalConnectTimeout > 0 && o.ConnectTimeout > 0 && o.TotalConnectTimeout < o.ConnectTimeout {
		if r.TotalConnectTimeout != nil {
			b.errorf(at.with("total_connect_timeout"), "%s is shorter than connect_timeout (%s), which it includes", o.TotalConnectTimeout, o.ConnectTimeout)
		} else {
			b.errorf(at.with("connect_timeout"), "%s is longer than total_connect_timeout (%s, the pool's)", o.ConnectTimeout, o.TotalConnectTimeout)
		}
	}
	return pe, true
}

// peerScheme checks that the overrides of the [[pools.NAME.peer]] table at
// are ones pe's scheme uses: TLS options for https peers, h2c for http and
// unix ones, bind_to for TCP ones. The ok flags say which values were
// valid, as an invalid one has had its error.
func (b *builder) peerScheme(at path, r *rawPeer, pe Peer, sniOK, altOK, alpnOK bool) {
	if pe.Scheme != "https" {
		for _, k := range []struct {
			key string
			set bool
		}{
			{"sni", r.SNI != nil && sniOK},
			{"verify_cert", r.VerifyCert != nil},
			{"verify_hostname", r.VerifyHostname != nil},
			{"ca_file", r.CAFile != nil},
			{"alternative_cn", r.AlternativeCN != nil && altOK},
			{"client_cert", r.ClientCert != nil},
			{"client_key", r.ClientCert == nil && r.ClientKey != nil}, // one error for the pair
			{"alpn", alpnOK && pe.ALPN != "" && pe.ALPN != "h1"},
		} {
			if k.set {
				b.errorf(at.with(k.key), "only https peers use TLS, and %s is %s", pe, pe.Scheme)
			}
		}
	}
	switch {
	case pe.Scheme == "https" && r.H2C != nil && *r.H2C:
		b.errorf(at.with("h2c"), "h2c is for http and unix peers, and %s is https; https peers negotiate h2 by alpn", pe)
	case r.H2C != nil && *r.H2C && pe.ALPN == "h1":
		b.errorf(b.later(at, "h2c", "alpn"), "h2c = true speaks HTTP/2 and alpn = \"h1\" HTTP/1.1: set one of them")
	}
	if pe.Scheme == "unix" && r.BindTo != nil {
		b.errorf(at.with("bind_to"), "%s is a unix socket, and bind_to is the local address of TCP connections", pe)
	}
}

// peerChecks applies the rules that need the whole, non-empty peer list:
// a primary peer, and pool settings that some peer must use.
func (b *builder) peerChecks(at path, r *rawPool, p *Pool, where []path) {
	var primary, tlsPeer, cleartext bool
	for _, pe := range slices.Concat(p.PeerList, p.FilePeers) {
		primary = primary || !pe.Backup
		tlsPeer = tlsPeer || pe.Scheme == "https"
		cleartext = cleartext || pe.Scheme != "https"
	}
	if !primary {
		// Only [[pools.NAME.peer]] tables make backups: where[0] is the addr
		// of the first.
		b.errorf(where[0][:len(where[0])-1].with("backup"), "every peer of the pool is a backup: at least one must be a primary")
	}
	if r.ALPN != nil && p.ALPN != "h1" && checkALPN(p.ALPN) == nil && !tlsPeer {
		b.errorf(at.with("alpn"), "%q is negotiated in TLS, and the pool has no https peer; for cleartext HTTP/2 set h2c = true", p.ALPN)
	}
	if p.H2C && !cleartext {
		b.errorf(at.with("h2c"), "h2c is for http and unix peers, and every peer of the pool is https; https peers negotiate h2 by alpn")
	}
}

// limits builds the pool's Limits from its keys.
func (b *builder) limits(at path, r *rawPool) Limits {
	l := Limits{
		MaxInFlight:     b.intIn(at.with("max_in_flight"), r.MaxInFlight, 0, 0, noMax),
		Rate:            b.number(at.with("rate"), r.Rate, 0, 0, maxRate),
		PeerMaxInFlight: b.intIn(at.with("peer_max_in_flight"), r.PeerMaxInFlight, 0, 0, noMax),
		PeerRate:        b.number(at.with("peer_rate"), r.PeerRate, 0, 0, maxRate),
		MaxWait:         b.duration(at.with("max_wait"), r.MaxWait, defaultMaxWait),
		MaxQueue:        b.intIn(at.with("max_queue"), r.MaxQueue, defaultMaxQueue, 0, maxQueue),
	}
	l.Burst = b.burst(at.with("burst"), r.Burst, r.Rate, l.Rate, "rate")
	l.PeerBurst = b.burst(at.with("peer_burst"), r.PeerBurst, r.PeerRate, l.PeerRate, "peer_rate")
	if l.MaxWait > 0 && l.MaxQueue == 0 {
		b.errorf(at.with("max_queue"), "0 lets no request wait, but max_wait is %s; set max_wait = \"0s\" to fail at once", l.MaxWait)
	}
	return l
}

// burst returns the token bucket size at at, for the rate of the key
// rateKey, written as rawRate and valued rate: by default max(1,
// ceil(rate)).
func (b *builder) burst(at path, r *int, rawRate *float64, rate float64, rateKey string) int {
	def := max(1, int(math.Ceil(rate)))
	if r == nil {
		return def
	}
	if rawRate == nil || *rawRate == 0 { // an invalid rate has its own error
		b.errorf(at, "set without %s: a burst applies only to a rate", rateKey)
		return def
	}
	return b.intIn(at, r, def, 1, maxBurst)
}

// headerPolicy builds the pool's upstream request header policy.
func (b *builder) headerPolicy(at path, r *rawPool) HeaderPolicy {
	h := HeaderPolicy{Mode: stringOr(r.HeaderPolicy, "strip")}
	switch h.Mode {
	case "strip":
		h.StripConnectionNominated = boolOr(r.StripConnectionNominated, true)
		h.H1Upgrade = stringOr(r.H1Upgrade, "websocket")
		if h.H1Upgrade != "websocket" && h.H1Upgrade != "preserve" {
			b.errorf(at.with("h1_upgrade"), "invalid h1_upgrade %q: want \"websocket\" or \"preserve\"", h.H1Upgrade)
		}
	case "preserve":
		h.H1Upgrade = "preserve"
		for _, k := range []struct {
			key string
			set bool
		}{{"strip_connection_nominated", r.StripConnectionNominated != nil}, {"h1_upgrade", r.H1Upgrade != nil}} {
			if k.set {
				b.errorf(at.with(k.key), "has no effect with header_policy = \"preserve\", which forwards every field and upgrade")
			}
		}
	default:
		b.errorf(at.with("header_policy"), "invalid header_policy %q: want \"strip\" or \"preserve\"", h.Mode)
	}
	return h
}

// health builds the active health checks of [at]; r is nil when the table
// is absent.
func (b *builder) health(at path, r *rawHealth) Health {
	if r == nil {
		return Health{}
	}
	h := Health{
		Kind:     stringOr(r.Kind, ""),
		Interval: b.duration(at.with("interval"), r.Interval, defaultHealthInterval),
		Timeout:  b.duration(at.with("timeout"), r.Timeout, defaultHealthTimeout),
		Rise:     b.intIn(at.with("rise"), r.Rise, defaultRise, 1, noMax),
		Fall:     b.intIn(at.with("fall"), r.Fall, defaultFall, 1, noMax),
	}
	switch {
	case r.Kind == nil:
		b.errorf(at, "missing required key kind: want \"tcp\" or \"http\"")
	case h.Kind != "tcp" && h.Kind != "http":
		b.errorf(at.with("kind"), "invalid kind %q: want \"tcp\" or \"http\"", h.Kind)
	}
	switch {
	case h.Interval <= 0:
		b.errorf(at.with("interval"), "must be positive")
	case h.Timeout <= 0:
		b.errorf(at.with("timeout"), "must be positive")
	case h.Timeout > h.Interval && r.Timeout != nil:
		b.errorf(at.with("timeout"), "%s is longer than interval (%s)", h.Timeout, h.Interval)
	case h.Timeout > h.Interval:
		b.errorf(at.with("interval"), "%s is shorter than timeout (%s, the default)", h.Interval, h.Timeout)
	}
	if h.Kind == "http" {
		b.httpCheck(at, r, &h)
		return h
	}
	if h.Kind == "tcp" {
		for _, k := range []struct {
			key string
			set bool
		}{{"path", r.Path != nil}, {"host", r.Host != nil}, {"expect_status", r.ExpectStatus != nil}, {"expect_body", r.ExpectBody != nil}, {"expect_body_regexp", r.ExpectBodyRegexp != nil}} {
			if k.set {
				b.errorf(at.with(k.key), "applies only to kind = \"http\"")
			}
		}
	}
	return h
}

// httpCheck sets and checks the keys of an http health check.
func (b *builder) httpCheck(at path, r *rawHealth, h *Health) {
	h.Path = stringOr(r.Path, defaultHealthPath)
	switch {
	case !strings.HasPrefix(h.Path, "/"):
		b.errorf(at.with("path"), "invalid path %q: must start with \"/\"", h.Path)
	case strings.ContainsFunc(h.Path, func(c rune) bool { return c <= ' ' || c == 0x7f || c == '#' }):
		b.errorf(at.with("path"), "invalid path %q: no spaces, control characters or fragment", h.Path)
	}
	if r.Host != nil {
		h.Host = *r.Host
		if err := checkHostField(h.Host); err != nil {
			b.fail(at.with("host"), err)
		}
	}
	h.ExpectStatus = b.statuses(at.with("expect_status"), r.ExpectStatus)
	h.ExpectBody = stringOr(r.ExpectBody, "")
	if r.ExpectBodyRegexp != nil {
		if r.ExpectBody != nil {
			b.errorf(at.with("expect_body_regexp"), "set expect_body or expect_body_regexp, not both")
		}
		if *r.ExpectBodyRegexp != "" {
			re, err := regexp.Compile(*r.ExpectBodyRegexp)
			if err != nil {
				b.errorf(at.with("expect_body_regexp"), "invalid regexp %q: %v", *r.ExpectBodyRegexp, err)
			}
			h.ExpectBodyRegexp = re
		}
	}
}

// checkHostField checks a Host field value: a host name or IP address,
// IPv6 in brackets, with an optional port.
func checkHostField(s string) error {
	host := s
	if h, port, err := net.SplitHostPort(s); err == nil {
		if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
			return fmt.Errorf("invalid host %q: port %q is not a number in 1-65535", s, port)
		}
		host = h
	} else if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		host = s[1 : len(s)-1]
	}
	if a, err := netip.ParseAddr(host); err == nil && a.Zone() == "" {
		if a.Is6() && host == s {
			return fmt.Errorf("invalid host %q: write an IPv6 address in brackets, \"[%s]\"", s, s)
		}
		return nil
	}
	if !validHostname(host) {
		return fmt.Errorf("invalid host %q: want a host name or IP address, with an optional port", s)
	}
	return nil
}

// statuses builds the status ranges of expect_status at at: integers
// (200) and strings ("204", "200-399").
func (b *builder) statuses(at path, r *[]text) []StatusRange {
	if r == nil {
		return []StatusRange{defaultExpectStatus}
	}
	if len(*r) == 0 {
		b.errorf(at, "want at least one status, such as 200 or \"200-399\"")
	}
	var srs []StatusRange
	for i, t := range *r {
		eat := at.index(i)
		var (
			sr  StatusRange
			err error
		)
		switch k := b.ps.kind(eat); k {
		case unstable.Integer:
			n, perr := strconv.ParseInt(strings.ReplaceAll(string(t), "_", ""), 0, 64)
			if perr != nil {
				b.errorf(eat, "invalid status %s", t)
				continue
			}
			sr, err = parseStatusRange(strconv.FormatInt(n, 10))
		case unstable.String, unstable.Invalid:
			sr, err = parseStatusRange(string(t))
		default:
			b.errorf(eat, "wrong type: got %s, want a status such as 200 or \"200-399\"", kindName(k))
			continue
		}
		if err != nil {
			b.fail(eat, err)
			continue
		}
		srs = append(srs, sr)
	}
	return srs
}

// parseStatusRange parses "200" or "200-399": codes 100-599, low to high.
func parseStatusRange(s string) (StatusRange, error) {
	code := func(c string) (int, error) {
		n, err := strconv.Atoi(c)
		switch {
		case err != nil || c == "" || c[0] < '0' || c[0] > '9':
			return 0, fmt.Errorf("invalid status %q: want a code such as 200 or a range such as \"200-399\"", s)
		case n < 100 || n > 599:
			return 0, fmt.Errorf("status %d is out of range: want 100 to 599", n)
		}
		return n, nil
	}
	lo, hi, isRange := strings.Cut(s, "-")
	l, err := code(lo)
	if err != nil {
		return StatusRange{}, err
	}
	if !isRange {
		return StatusRange{l, l}, nil
	}
	h, err := code(hi)
	if err != nil {
		return StatusRange{}, err
	}
	if l > h {
		return StatusRange{}, fmt.Errorf("invalid status range %q: %d is above %d", s, l, h)
	}
	return StatusRange{l, h}, nil
}

// passive builds the passive health settings of [at].
func (b *builder) passive(at path, r *rawPassive) Passive {
	p := Passive{
		MaxFails:    b.intIn(at.with("max_fails"), r.MaxFails, defaultMaxFails, 0, noMax),
		ErrorRate:   b.number(at.with("error_rate"), r.ErrorRate, 0, 0, 1),
		Window:      b.intIn(at.with("window"), r.Window, defaultWindow, 1, maxWindow),
		MinRequests: b.intIn(at.with("min_requests"), r.MinRequests, defaultMinRequests, 1, maxWindow),
		Cooldown:    b.duration(at.with("cooldown"), r.Cooldown, defaultCooldown),
	}
	if p.MinRequests > p.Window {
		if r.MinRequests != nil {
			b.errorf(at.with("min_requests"), "%d is more than window (%d)", p.MinRequests, p.Window)
		} else {
			b.errorf(at.with("window"), "%d is less than min_requests (%d, the default)", p.Window, p.MinRequests)
		}
	}
	if p.Cooldown <= 0 {
		b.errorf(at.with("cooldown"), "must be positive")
	}
	return p
}

// intIn returns the optional integer at at, or def; it must be in lo-hi
// (hi = noMax: no upper bound).
func (b *builder) intIn(at path, r *int, def, lo, hi int) int {
	if r == nil {
		return def
	}
	switch n := *r; {
	case n >= lo && n <= hi:
		return n
	case hi == noMax:
		b.errorf(at, "%d is out of range: want at least %d", n, lo)
	default:
		b.errorf(at, "%d is out of range: want %d to %d", n, lo, hi)
	}
	return def
}

// number returns the optional number at at, or def; it must be finite and
// in lo-hi.
func (b *builder) number(at path, r *float64, def, lo, hi float64) float64 {
	if r == nil {
		return def
	}
	f := strconv.FormatFloat
	switch x := *r; {
	case math.IsNaN(x) || math.IsInf(x, 0):
		b.errorf(at, "%v is not a finite number", x)
	case x < lo || x > hi:
		b.errorf(at, "%s is out of range: want %s to %s", f(x, 'f', -1, 64), f(lo, 'f', -1, 64), f(hi, 'f', -1, 64))
	default:
		return x
	}
	return def
}

// optCount returns the optional count at at, or nil when it is not set;
// it must not be negative.
func (b *builder) optCount(at path, r *int) *int {
	if r == nil {
		return nil
	}
	if *r < 0 {
		b.errorf(at, "must not be negative")
	}
	n := *r
	return &n
}

// optDuration returns the optional duration at at, or nil when it is not
// set.
func (b *builder) optDuration(at path, t *text) *Duration {
	if t == nil {
		return nil
	}
	d := b.duration(at, t, 0)
	return &d
}

// valueOr returns *p, or def when p is nil.
func valueOr[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}
