// Package config owns cdnnode's configuration: the TOML schema, its
// defaults, strict decoding and validation.
//
// Load and Parse accept only known keys with values of the right type and
// return a Config with every default applied and every rule checked, so
// callers use its fields as they are. Every error names the file and the
// line: that of the offending key, or of the enclosing table when a required
// key is missing ("config.toml:12: unknown key "listn" in [server]").
// Durations are strings ("30s"), sizes strings or integers ("256MiB", 1024).
//
// A Config is not modified after Parse returns; it is safe for concurrent
// reads, and Match is safe for concurrent use.
package config

import (
	"log/slog"
	"net/netip"
	"regexp"
)

// Config is a whole configuration file.
type Config struct {
	Path   string // file it was loaded from, as given
	Server Server
	Admin  Admin
	Purge  Purge
	Log    Log
	Cache  Cache
	// Compression is how sites with Compress on compress at fill.
	Compression Compression
	Pools       map[string]Pool // [pools.NAME]
	Sites       []Site          // [[sites]], first match wins, in file order
}

// Server configures the traffic listeners ([server]).
type Server struct {
	// Listen are the plain-text listeners, serving HTTP/1.1 and, if H2C,
	// HTTP/2 with prior knowledge. Default ["127.0.0.1:8080"], but only if
	// neither listen nor [[server.tls]] is given.
	Listen []string
	// TLS are the TLS listeners ([[server.tls]]), offering h2 and http/1.1
	// by ALPN.
	TLS []TLSListener
	// H2C accepts HTTP/2 with prior knowledge on the plain listeners
	// (RFC 9113 §3.3); default true.
	H2C bool
	// HTTP1 is the engine that serves HTTP/1.1: "fast" (default), the h1
	// package's own reading of each request, which answers fresh memory
	// hits itself and hands every other request to net/http's server; or
	// "stdlib", every request to net/http's server.
	HTTP1 string
	// GracePeriod is how long in-flight requests may run on SIGTERM before
	// connections are closed; default 10s.
	GracePeriod Duration
	// ReadHeaderTimeout bounds reading a request's header; default 10s.
	ReadHeaderTimeout Duration
	// ReadTimeout bounds reading a whole request, body included; default 60s,
	// 0 = none.
	ReadTimeout Duration
	// WriteTimeout bounds writing a response; default 0 = none, as
	// responses stream for as long as they take.
	WriteTimeout Duration
	// IdleTimeout closes keep-alive connections idle this long; default 60s.
	IdleTimeout Duration
	// MaxHeaderBytes caps a request's header block; default 64KiB.
	MaxHeaderBytes Size
	// MaxURLBytes caps a request's target (RFC 9112 §3.2); a longer one
	// gets 414. Default 8KiB, 256B to 1MiB.
	MaxURLBytes Size
	// MaxHeaderCount caps a request's header field lines; more get 431
	// (RFC 6585 §5). Default 100, 1-10000.
	MaxHeaderCount int
	// MaxBody caps a request body; a larger one gets 413. Default 100MiB,
	// 0 = unlimited. Each site may set its own (Site.MaxBody).
	MaxBody Size
	// MaxConcurrentStreams caps the HTTP/2 streams a client may open at
	// once on one connection (RFC 9113 §5.1.2); default 100, 1-10000.
	MaxConcurrentStreams int
	// MaxInFlight caps the requests the node serves at once; beyond it a
	// request gets 503. Default 0 = unlimited.
	MaxInFlight int
	// MaxInFlightPerClient caps the requests one client IP has in flight
	// at once; beyond it a request gets 429. Default 0 = unlimited.
	MaxInFlightPerClient int
	// TrustedProxies are the peers whose X-Forwarded-For and PROXY
	// protocol header are believed, parsed as Purge.Allow; default none.
	// Not empty when a listener's ProxyProtocol is on.
	TrustedProxies []netip.Prefix
	// ProxyProtocol is the PROXY protocol header expected at the start of
	// each connection on the plain listeners: "off" (default), "v1", "v2"
	// or "any" (either version). A connection without a valid header is
	// closed.
	ProxyProtocol string
	// Workers is the number of worker groups, 1-1024. The file's default,
	// 0, is resolved by Parse to runtime.GOMAXPROCS(0) (the CPUs the
	// process may use, capped at 1024), so Workers is never 0 here.
	Workers int
	// Pin pins shard-owner goroutines to CPUs; default true.
	Pin bool
}

// TLSListener is one [[server.tls]] listener.
type TLSListener struct {
	Listen string // "host:port", required
	Cert   string // PEM certificate chain, required; must exist; relative paths are resolved against the config file's directory
	Key    string // PEM private key, required; must exist; resolved like Cert
	// ProxyProtocol is as Server.ProxyProtocol, for this listener; the
	// header comes before the TLS handshake. Default "off".
	ProxyProtocol string
}

// Admin configures the admin listener ([admin]): /metrics, /healthz
// and /debug/pprof/.
type Admin struct {
	Listen string // "host:port", non-empty; default "127.0.0.1:9090" (loopback: the admin API has no authentication)
}

// Purge says who may purge and which other nodes an accepted purge is
// forwarded to ([purge]). It applies to PURGE requests on the traffic
// listeners and to POST /purge on the admin listener alike.
//
// A request is allowed when its client address (the connection's peer;
// X-Forwarded-For is not trusted) is in Allow, or when Token is set and the
// request carries "Authorization: Bearer <Token>", from any address. An
// empty Allow and an empty Token mean nobody may purge.
type Purge struct {
	// Allow are the networks that may purge without a token; default
	// 127.0.0.0/8 and ::1/128 (loopback), so `curl -X PURGE` works on the
	// node's own machine. A bare address in the file means that address
	// alone (/32, /128). Written as an explicit [] to allow no network.
	Allow []netip.Prefix
	// Token is the bearer token that allows a purge from any address: the
	// file's token, or if that is empty the value of the environment
	// variable TokenEnv when Parse ran. "" = no token. A token68 (RFC 6750
	// §2.1). It prints as "[redacted]".
	Token Secret
	// TokenEnv names the environment variable Token is read from when the
	// file gives none; default "CDNNODE_PURGE_TOKEN", "" = none.
	TokenEnv string
	// Peers are the admin base URLs of the fleet's other nodes
	// ("http://10.0.0.2:9090", http or https, no query or fragment, no
	// trailing slash), each sent every purge this node accepts that was not
	// itself forwarded; default none. Their admin listeners must be reachable
	// from this node, so not on loopback.
	Peers []string
	// PeerTimeout bounds one attempt to forward a purge to a peer; default
	// 5s, never 0.
	PeerTimeout Duration
	// PeerRetries is how many times a forward that failed on a connection
	// error, a timeout or a 5xx is tried again, 0-10; default 2. A 4xx is
	// never retried.
	PeerRetries int
}

// Secret is a credential. It formats as "[redacted]" (fmt, slog, encoding)
// unless empty, so a logged or printed Config never shows it; string(s) is
// the value.
type Secret string

const redacted = "[redacted]"

// String returns "[redacted]", or "" for an empty secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString is String, for %#v.
func (s Secret) GoString() string { return s.String() }

// LogValue keeps the value out of slog output.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText keeps the value out of JSON and other text encodings.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Log configures logging ([log]).
type Log struct {
	Format string // "text" (default) or "json"
	Level  string // "debug", "info" (default), "warn" or "error"
	Access bool   // one access-log line per request; default true
}

// Cache configures the cache ([cache]).
type Cache struct {
	Memory Size // memory tier size in bytes; default 256MiB, minimum 1MiB
	// MaxMemoryObject is the largest object the memory tier holds; larger
	// ones go straight to the disk tier. Default 1MiB; positive, at most
	// Memory.
	MaxMemoryObject Size
	// MaxObject is the largest object cached at all; larger responses are
	// passed through uncached. Default 1GiB; at least MaxMemoryObject.
	MaxObject Size
	// TargetedField is an extra targeted cache-control field (RFC 9213)
	// that takes precedence over CDN-Cache-Control; a valid field name,
	// default "Cdnnode-Cache-Control".
	TargetedField string
	// HeuristicMax caps heuristic freshness (RFC 9111 §4.2.2); default 24h.
	HeuristicMax Duration
	// LockTimeout is how long a request waits for another request's
	// in-flight fetch of the same key to produce response headers before
	// fetching on its own; default 5s, never 0.
	LockTimeout Duration
	// LockAgeTimeout takes the lock from a fill that has made no progress
	// (no headers, no body bytes) for this long, so the next request
	// fetches anew; default 10s, never 0.
	LockAgeTimeout Duration
	// HitForPass is how long, after a response turns out uncacheable,
	// requests for its key skip coalescing and go to the origin in
	// parallel; default 120s, 0 = off (they keep queueing behind one fetch).
	HitForPass Duration
	// Revalidations caps the concurrent background revalidations
	// (stale-while-revalidate, RFC 5861 §3) per cache shard; default 16,
	// at least 1.
	Revalidations int
	// Disk is the disk tier ([cache.disk]); off when Disk.Path is "".
	Disk Disk
}

// Disk configures the disk tier ([cache.disk]).
type Disk struct {
	// Path is the directory holding the tier; default "" = no disk tier.
	// A relative path is resolved against the config file's directory.
	// Parse does not check that it exists.
	Path string
	// Size is the tier's capacity in bytes; default 10GiB, minimum 16MiB
	// when Path is set.
	Size Size
	// RetryInterval is how long a tier that hit a disk error waits before
	// trying the disk again; default 30s, never 0.
	RetryInterval Duration
}

// Compression configures compression at fill ([compression]), for the
// sites with Compress on: a response the origin sent unencoded, of a type
// in Types and not known to be shorter than MinSize, is compressed once as
// it is stored, and stored as zstd; clients get it as zstd, as gzip
// (transcoded) or decoded, whichever they accept.
type Compression struct {
	// Types are the media-type patterns of the responses compressed at
	// fill, in the forms coding.ParseTypes accepts ("text/*",
	// "application/json", "application/*+json"), which Parse has checked;
	// the runtime compiles them with coding.ParseTypes. Default
	// coding.DefaultTypes(); written as [] to compress no type.
	Types []string
	// MinSize: responses whose length is known (Content-Length) and below
	// it are stored as sent, as compressing them saves too little to pay
	// for the work. Default 512B, 0 to 1MiB; 0 = compress every length.
	MinSize Size
	// ZstdLevel is the zstd level objects are stored at, 1-22 as the zstd
	// command numbers them (klauspost/compress maps them onto its encoder
	// speeds); default 3.
	ZstdLevel int
	// GzipLevel is the level gzip is transcoded at, 1 (fastest) to 9
	// (smallest); default 6.
	GzipLevel int
	// GzipVariantAfter: once one object has been requested this many times
	// by clients that accept gzip but not zstd, its gzip transcode is
	// stored as a variant of its own, so later ones are served without
	// transcoding. 0-1000; default 3, 0 = never store one (transcode every
	// time).
	GzipVariantAfter int
}

// Pool is a group of origin servers ([pools.NAME]) and how requests reach
// them: which peer is chosen, how often a request is retried, how hard the
// origin may be pushed, how connections are made and which header fields
// go upstream.
type Pool struct {
	// Peers are the peers as written, in order: the entries of peers, then
	// the addr of each [[pools.NAME.peer]]. PeerList[i] is Peers[i] parsed.
	// The peers of PeersFile are in FilePeers, not here.
	Peers []string
	// PeerList are the pool's peers from the file: the peers entries
	// ("host:port", "https://host:port", "unix:/path"), then the
	// [[pools.NAME.peer]] tables. No two have the same scheme and address,
	// and with FilePeers they hold at least one peer, at least one of them
	// not a backup, with weights adding up to at most 4096.
	PeerList []Peer
	// FilePeers are the peers PeersFile listed at start-up, in file order,
	// none of them in PeerList; nil without PeersFile. The runtime reads
	// the file again with ParsePeersFile when it changes.
	FilePeers []Peer
	// Scheme is the scheme of peers entries written without one: "http"
	// (default) or "https".
	Scheme string
	// Selection is how a peer is chosen among the healthy ones:
	// "round_robin" (default), "ketama" (consistent hashing of the cache
	// key), "weighted", "least_inflight" or "failover" (the first healthy
	// peer in order). Backup peers are chosen only when no primary can be.
	Selection string
	// Retries is how many other peers an idempotent request is tried on
	// after a connect failure or a reset before the response header
	// arrived, 0-5; default 1.
	Retries int
	// RetryBudget caps retries as a fraction of the pool's requests, 0-1,
	// so a failing origin does not see a retry storm; default 0.2.
	RetryBudget float64
	// Limits protect the origin: in-flight caps and request rates.
	Limits Limits

	// ConnectTimeout bounds a TCP (or unix socket) connect; default 5s,
	// 0 = none. Per-peer override.
	ConnectTimeout Duration
	// TotalConnectTimeout bounds a connect and its TLS handshake together;
	// default 0 = ConnectTimeout for the connect and ConnectTimeout again
	// for the handshake. Not below ConnectTimeout. Per-peer override.
	TotalConnectTimeout Duration
	// ResponseTimeout bounds the wait for the response header after the
	// request is sent; default 30s, 0 = none.
	ResponseTimeout Duration
	// ReadTimeout is the longest wait for the next body bytes (each read);
	// default 30s, 0 = none. Per-peer override.
	ReadTimeout Duration
	// WriteTimeout bounds each write of the request to the peer; default
	// 30s, 0 = none. Per-peer override.
	WriteTimeout Duration
	// IdleTimeout closes upstream connections idle this long; default
	// 90s, 0 = never. Per-peer override.
	IdleTimeout Duration
	// TCPKeepAlive is the TCP keep-alive probe interval on upstream
	// connections; default 15s, 0 = off. Per-peer override.
	TCPKeepAlive Duration
	// BindTo is the local address outgoing TCP connections are bound to;
	// the zero Addr (default) lets the system choose. Per-peer override.
	BindTo netip.Addr
	// MaxIdlePerPeer is how many idle connections are kept per peer;
	// default 64, 0 = none (no connection reuse). Per-peer override.
	MaxIdlePerPeer int

	// TLSVerify verifies https peers' certificate chains; default true.
	// Written tls_verify or verify_cert (an alias), not both. Per-peer
	// override (verify_cert).
	TLSVerify bool
	// VerifyHostname checks that an https peer's certificate names the
	// SNI (or AlternativeCN); default true; moot when TLSVerify is false.
	// Per-peer override.
	VerifyHostname bool
	// SNI is the server name sent to https peers and verified; default ""
	// = the peer's host. Per-peer override.
	SNI string
	// CAFile is a PEM file of the CA certificates https peers are verified
	// against, resolved against the config file's directory; it held at
	// least one certificate at start-up. "" (default) = the system roots.
	// Per-peer override.
	CAFile string
	// AlternativeCN is a name a peer's certificate may carry instead of
	// the SNI; default "" = none. Per-peer override.
	AlternativeCN string
	// ClientCert and ClientKey are the PEM certificate and key presented to
	// https peers (mTLS), resolved like CAFile; both or neither, and they
	// loaded as a key pair at start-up. Default "" = no client certificate.
	// Per-peer override, of both together.
	ClientCert string
	ClientKey  string
	// ALPN is the protocol offered to https peers: "h1", "h2" or "h2h1"
	// (default, h2 preferred). Cleartext peers speak HTTP/1.1, or HTTP/2
	// with H2C. Per-peer override.
	ALPN string
	// H2C speaks HTTP/2 with prior knowledge (RFC 9113 §3.3) to http and
	// unix peers; default false. Per-peer override.
	H2C bool

	// HeaderPolicy is what happens to hop-by-hop fields and upgrades on the
	// way upstream.
	HeaderPolicy HeaderPolicy

	// ResolveInterval is how often peers' DNS names are resolved again;
	// default 30s, 0 = once, at start-up.
	ResolveInterval Duration
	// PeersFile is a file of more peers, one per line (see
	// ParsePeersFile), resolved against the config file's directory; it
	// existed and parsed at start-up, and the runtime watches it. Default
	// "" = none.
	PeersFile string

	// Health configures active health checks ([pools.NAME.health]).
	Health Health
	// Passive configures ejection on failed requests
	// ([pools.NAME.passive]).
	Passive Passive
}

// Peer is one origin server: a peers entry, a [[pools.NAME.peer]] table
// or a line of a peers file. The overrides are nil, "" or the zero Addr
// when the peer takes the pool's setting; Pool.PeerOptions resolves them.
// Only [[pools.NAME.peer]] tables set overrides.
type Peer struct {
	// Addr is "host:port" for http and https peers, with the host in lower
	// case (IP addresses in canonical form, IPv6 in brackets), or an
	// absolute socket path for unix peers.
	Addr string
	// Scheme is "http", "https" or "unix" (HTTP over a unix socket).
	Scheme string
	// Weight is the peer's share of requests relative to the others, used
	// by ketama, weighted and least_inflight, 1-1000; default 1.
	Weight int
	// Backup peers take requests only when no primary peer can; default
	// false.
	Backup bool

	ConnectTimeout      *Duration  // overrides Pool.ConnectTimeout
	TotalConnectTimeout *Duration  // overrides Pool.TotalConnectTimeout
	ReadTimeout         *Duration  // overrides Pool.ReadTimeout
	WriteTimeout        *Duration  // overrides Pool.WriteTimeout
	IdleTimeout         *Duration  // overrides Pool.IdleTimeout
	TCPKeepAlive        *Duration  // overrides Pool.TCPKeepAlive
	BindTo              netip.Addr // overrides Pool.BindTo; http and https only
	MaxIdlePerPeer      *int       // overrides Pool.MaxIdlePerPeer
	SNI                 string     // overrides Pool.SNI; https only
	VerifyCert          *bool      // overrides Pool.TLSVerify; https only
	VerifyHostname      *bool      // overrides Pool.VerifyHostname; https only
	CAFile              string     // overrides Pool.CAFile; https only
	AlternativeCN       string     // overrides Pool.AlternativeCN; https only
	// ClientCert and ClientKey override the pool's pair together: both or
	// neither; https only.
	ClientCert string
	ClientKey  string
	ALPN       string // overrides Pool.ALPN; https only, or "h1"
	H2C        *bool  // overrides Pool.H2C; http and unix only
}

// PeerOptions are the per-peer options of one peer, with its overrides
// applied over its pool's settings; see Pool.PeerOptions. The TLS options
// are set for every peer, and used only for https ones.
type PeerOptions struct {
	ConnectTimeout      Duration
	TotalConnectTimeout Duration
	ReadTimeout         Duration
	WriteTimeout        Duration
	IdleTimeout         Duration   // 0 = idle connections are kept until the peer closes them
	TCPKeepAlive        Duration   // 0 = off
	BindTo              netip.Addr // the zero Addr = the system chooses; always zero for unix peers
	MaxIdlePerPeer      int        // idle connections kept; 0 = none, no connection reuse
	SNI                 string     // "" = the peer's host
	VerifyCert          bool
	VerifyHostname      bool
	CAFile              string // "" = the system roots
	AlternativeCN       string // "" = none
	ClientCert          string // "" = no client certificate; set with ClientKey
	ClientKey           string
	ALPN                string // "h1", "h2" or "h2h1"; always "h1" for http and unix peers
	H2C                 bool   // always false for https peers, which negotiate h2 by ALPN
}

// Limits cap the requests a pool sends to its origin, as a whole and to
// each peer. A request over a limit waits up to MaxWait in a queue of at
// most MaxQueue, then fails (503, or stale when available).
type Limits struct {
	MaxInFlight int     // requests in flight to the pool at once; default 0 = unlimited
	Rate        float64 // requests started per second, 0-1e9; default 0 = unlimited
	// Burst is how many requests may start back-to-back under Rate;
	// default max(1, ceil(Rate)), at least 1; set only with Rate.
	Burst           int
	PeerMaxInFlight int     // as MaxInFlight, for each peer
	PeerRate        float64 // as Rate, for each peer
	PeerBurst       int     // as Burst, for each peer and PeerRate
	// MaxWait is how long a request waits for a slot or a token; default
	// 100ms, 0 = fail at once.
	MaxWait Duration
	// MaxQueue caps the requests waiting at once, 0-1000000; default 64.
	// Not 0 while MaxWait is not.
	MaxQueue int
}

// HeaderPolicy is the upstream request header policy. The default is
// Pingora's (see DESIGN.md): strip hop-by-hop and Connection-nominated
// fields, reject requests nominating protected fields, forward only valid
// WebSocket upgrades.
type HeaderPolicy struct {
	// Mode is "strip" (default) or "preserve": forward the request's
	// fields and upgrades as they came, which is not RFC 9110 compliant.
	Mode string
	// StripConnectionNominated strips the fields Connection nominates and
	// rejects requests that nominate Host, X-Forwarded-For,
	// X-Forwarded-Host, X-Forwarded-Proto or a pseudo-header, or ten or
	// more fields; default true, false when Mode is "preserve".
	StripConnectionNominated bool
	// H1Upgrade is "websocket" (default: only a valid WebSocket upgrade is
	// forwarded, normalised) or "preserve" (every HTTP/1 upgrade handshake
	// is forwarded whole); "preserve" when Mode is.
	H1Upgrade string
}

// Health configures active health checks. The zero Health (no
// [pools.NAME.health] table) means none: peers are up unless passive
// ejection takes them down.
type Health struct {
	// Kind is "tcp" (a connect passes) or "http" (a GET passes on an
	// expected status and body); "" = no active checks.
	Kind string
	// Path is the request target of http checks, starting with "/";
	// default "/". "" for tcp checks.
	Path string
	// Host is the Host field of http checks; default "" = the peer's.
	Host string
	// ExpectStatus are the statuses that pass an http check; default
	// 200-399.
	ExpectStatus []StatusRange
	// ExpectBody, when not "", must occur in the body of an http check.
	ExpectBody string
	// ExpectBodyRegexp, when not nil, must match the body of an http check;
	// at most one of ExpectBody and ExpectBodyRegexp is set.
	ExpectBodyRegexp *regexp.Regexp
	// Interval is the time between two checks of a peer; default 5s,
	// positive.
	Interval Duration
	// Timeout bounds one check; default 2s, positive, at most Interval.
	Timeout Duration
	// Rise is how many passing checks in a row bring a peer up; default 2,
	// at least 1.
	Rise int
	// Fall is how many failing checks in a row take a peer down; default
	// 3, at least 1.
	Fall int
}

// StatusRange is an inclusive range of HTTP status codes, 100-599: a
// status s is in it when Lo <= s && s <= Hi.
type StatusRange struct{ Lo, Hi int }

// Passive configures passive health: a peer whose requests fail is ejected
// (taken down) for Cooldown, then tried again.
type Passive struct {
	// MaxFails ejects a peer after this many failed requests in a row;
	// default 5, 0 = off.
	MaxFails int
	// ErrorRate ejects a peer when at least this fraction of its last
	// Window requests failed, 0-1; default 0 = off.
	ErrorRate float64
	// Window is how many of a peer's latest requests ErrorRate looks at,
	// 1-4096; default 20.
	Window int
	// MinRequests is how many requests a peer must have in its window
	// before ErrorRate applies, 1 to Window; default 10.
	MinRequests int
	// Cooldown is how long an ejected peer stays down; default 10s,
	// positive.
	Cooldown Duration
}

// Site maps request hosts to a pool and says how to cache them ([[sites]]).
type Site struct {
	Name string // unique among sites
	// Hosts are lower-case patterns, no port: "example.com" (exactly),
	// "*.example.com" (any subdomain, not example.com itself) or "*" (any
	// host).
	Hosts          []string
	Pool           string   // a key of Config.Pools
	Cache          bool     // cache responses; default true
	DefaultTTL     Duration // freshness for responses with no explicit lifetime; default 0 = none
	AllowSetCookie bool     // store responses that carry Set-Cookie; default false
	QuerySort      bool     // sort query parameters in the cache key; default false
	QueryDrop      []string // query parameters left out of the cache key, e.g. utm_source
	// StaleWhileRevalidate is the stale-while-revalidate window (RFC 5861
	// §3) given to responses that do not carry the directive; default 0 =
	// none.
	StaleWhileRevalidate Duration
	// StaleIfError is the stale-if-error window (RFC 5861 §4) given to
	// responses that do not carry the directive; default 0 = none.
	StaleIfError Duration
	// Compress compresses compressible responses (see Compression) that
	// the origin sends unencoded, once, at fill, and stores them as zstd;
	// default true.
	Compress bool

	// Allow are the client networks that may use the site, parsed as
	// Purge.Allow; default none = every client.
	Allow []netip.Prefix
	// Deny are the client networks refused, even when Allow holds them;
	// default none. A client is let in when Allow is empty or holds it,
	// and Deny does not.
	Deny []netip.Prefix
	// MaxBody caps a request body for this site, as Server.MaxBody does;
	// default Server.MaxBody, 0 = unlimited.
	MaxBody Size
	// Errors is the format of the error bodies the node itself generates
	// for this site: "text" (default), "json" or "html".
	Errors string
	// ErrorPage is the html/template file (resolved against the config
	// file's directory) html error bodies are made from, executed with an
	// ErrorPageData; it parsed and executed at start-up. Set only with
	// Errors "html"; default "" = the built-in page.
	ErrorPage string
	// RateLimits are the site's request rate limits ([[sites.rate_limit]]),
	// in file order; a request is counted by each whose Prefix it has.
	RateLimits []RateLimit
	// Auth are the site's protected paths ([[sites.auth]]), in file order,
	// no two with the same Prefix.
	Auth []Auth
}

// ErrorPageData is what a site's ErrorPage template is executed with.
type ErrorPageData struct {
	Status  int    // the status code, such as 404
	Title   string // its reason phrase, such as "Not Found"
	Message string // why the node refused the request
}

// RateLimit caps the rate of a site's requests under a path prefix, per
// client ([[sites.rate_limit]]). A request over the limit gets 429 with
// Retry-After.
type RateLimit struct {
	// Prefix is the path prefix the limit applies to, starting with "/",
	// with no query; default "/" (the whole site).
	Prefix string
	// Key is what a client is: "ip" (default: its address) or
	// "header:NAME", the value of the request's field NAME (a valid field
	// name, e.g. an API key); requests without the field are keyed by ip.
	Key string
	// Algorithm is "sliding" (sliding window, default) or "fixed" (fixed
	// window).
	Algorithm string
	// Limit is how many requests a client may make per Window; required,
	// 1-1e9.
	Limit int
	// Window is the window the limit counts over; required, 1s-24h.
	Window Duration
	// MaxKeys caps the clients tracked at once, bounding memory; default
	// 65536, 16-10000000.
	MaxKeys int
}

// Auth requires credentials for a site's requests under a path prefix
// ([[sites.auth]]).
type Auth struct {
	// Prefix is the path prefix protected, starting with "/", with no
	// query; required.
	Prefix string
	// Type is "bearer" (RFC 6750: 401 without a token, 403 with a wrong
	// one) or "basic" (RFC 7617: 401 with a challenge); required.
	Type string
	// Token is the bearer token: the file's token, or the value of the
	// environment variable token_env names, read when Parse ran, where it
	// was set and not empty. Exactly one of the two is written; a token68
	// (RFC 6750 §2.1). "" for basic.
	Token Secret
	// Users are the basic users, in order, no name twice: the file's users
	// ("name:password") or those of the environment variable users_env
	// names ("alice:pw1,bob:pw2"), read when Parse ran. Exactly one of the
	// two is written; at least one user. Nil for bearer.
	Users []User
	// Realm is the basic challenge's realm (RFC 7617 §2), with no '"',
	// '\' or control characters; default "cdnnode". "" for bearer.
	Realm string
}

// User is one basic-auth user.
type User struct {
	Name     string // not empty, no ':' or control characters
	Password Secret // not empty, no control characters (RFC 7617 §2)
}
