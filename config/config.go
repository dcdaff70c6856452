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
)

// Config is a whole configuration file.
type Config struct {
	Path   string // file it was loaded from, as given
	Server Server
	Admin  Admin
	Purge  Purge
	Log    Log
	Cache  Cache
	Pools  map[string]Pool // [pools.NAME]
	Sites  []Site          // [[sites]], first match wins, in file order
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

// Pool is a group of origin servers ([pools.NAME]).
type Pool struct {
	Peers           []string // "host:port" with a port in 1-65535; at least one
	Scheme          string   // "http" (default) or "https"
	ConnectTimeout  Duration // default 5s, 0 = none
	ResponseTimeout Duration // until the response header arrives; default 30s, 0 = none
	ReadTimeout     Duration // longest wait for the next body bytes; default 30s, 0 = none
	IdleTimeout     Duration // idle upstream connections are closed after this; default 90s, 0 = never
	MaxIdlePerPeer  int      // idle connections kept per peer; default 64
	TLSVerify       bool     // verify peer certificates (https only); default true
	SNI             string   // server name sent and verified (https only); default: the peer's host
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
}
