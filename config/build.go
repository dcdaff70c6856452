package config

import (
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2/unstable"
	"golang.org/x/net/http/httpguts"

	"github.com/cdnnode/cdnnode/coding"
)

// Defaults, as documented on the Config fields and in config.toml.
const (
	defaultListen            = "127.0.0.1:8080"
	defaultAdminListen       = "127.0.0.1:9090"
	defaultGracePeriod       = Duration(10 * time.Second)
	defaultReadHeaderTimeout = Duration(10 * time.Second)
	defaultReadTimeout       = Duration(60 * time.Second)
	defaultIdleTimeout       = Duration(60 * time.Second)
	defaultMaxHeaderBytes    = Size(64 << 10)
	defaultMaxURLBytes       = Size(8 << 10)
	minMaxURLBytes           = Size(256)
	maxMaxURLBytes           = Size(1 << 20)
	defaultMaxHeaderCount    = 100
	maxMaxHeaderCount        = 10_000
	defaultMaxBody           = Size(100 << 20)
	defaultMaxStreams        = 100 // http2.Server's own default
	maxMaxStreams            = 10_000
	defaultMemory            = Size(256 << 20)
	minMemory                = Size(1 << 20)
	defaultMaxMemoryObject   = Size(1 << 20)
	defaultMaxObject         = Size(1 << 30)
	defaultDiskSize          = Size(10 << 30)
	minDiskSize              = Size(16 << 20)
	defaultDiskRetry         = Duration(30 * time.Second)
	maxWorkers               = 1024
	defaultTargetedField     = "Cdnnode-Cache-Control"
	defaultHeuristicMax      = Duration(24 * time.Hour)
	defaultLockTimeout       = Duration(5 * time.Second)
	defaultLockAgeTimeout    = Duration(10 * time.Second)
	defaultHitForPass        = Duration(120 * time.Second)
	defaultRevalidations     = 16
	defaultPurgeTokenEnv     = "CDNNODE_PURGE_TOKEN"
	defaultPeerTimeout       = Duration(5 * time.Second)
	defaultPeerRetries       = 2
	maxPeerRetries           = 10
	defaultMinCompressSize   = Size(512)
	maxMinCompressSize       = Size(1 << 20)
	maxZstdLevel             = 22 // zstd's own numbering, which coding.NewEncoder takes
	maxGzipLevel             = 9  // gzip.BestCompression
	defaultGzipVariantAfter  = 3
	maxGzipVariantAfter      = 1000
)

// builder turns a decoded rawConfig into a Config, applying defaults and
// collecting one *Error per broken rule, at the line positions gives.
type builder struct {
	name string     // the config file's, for messages
	dir  string     // relative file names (TLS, pools, cache.disk.path) are resolved against it
	ps   *positions // where each key is
	errs []*Error
}

// errorf records a problem with the key at.
func (b *builder) errorf(at path, format string, args ...any) {
	b.errs = append(b.errs, &Error{File: b.name, Line: b.ps.line(at), Msg: oneLine(at.String() + ": " + fmt.Sprintf(format, args...))})
}

// fail records err, the reason the value at at is invalid.
func (b *builder) fail(at path, err error) {
	b.errs = append(b.errs, &Error{File: b.name, Line: b.ps.line(at), Msg: oneLine(at.String() + ": " + err.Error()), Err: err})
}

// later returns the key of table at, k1 or k2, written on the later line:
// of two keys that exclude each other, the one to blame.
func (b *builder) later(at path, k1, k2 string) path {
	if b.ps.line(at.with(k1)) > b.ps.line(at.with(k2)) {
		return at.with(k1)
	}
	return at.with(k2)
}

// err returns the recorded problems, in line order, or nil.
func (b *builder) err() error { return joinErrors(b.errs) }

func (b *builder) build(r *rawConfig) *Config {
	c := &Config{
		Server: b.server(path{"server"}, &r.Server),
		Admin:  b.admin(path{"admin"}, &r.Admin),
		Purge:  b.purge(path{"purge"}, &r.Purge),
		Log:    b.log(path{"log"}, &r.Log),
		Cache:  b.cache(path{"cache"}, &r.Cache),
		Pools:  make(map[string]Pool, len(r.Pools)),

		Compression: b.compression(path{"compression"}, &r.Compression),
	}
	names := make([]string, 0, len(r.Pools))
	for name := range r.Pools {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		rp := r.Pools[name]
		c.Pools[name] = b.pool(path{"pools", name}, &rp)
	}
	if len(r.Sites) == 0 {
		b.errorf(path{"sites"}, "at least one site is required: add a [[sites]] table")
	}
	b.arrayOfTables(path{"sites"}, len(r.Sites))
	seen := make(map[string]bool, len(r.Sites))
	for i := range r.Sites {
		at := path{"sites"}.index(i)
		s := b.site(at, &r.Sites[i], c.Pools, c.Server.MaxBody)
		if s.Name != "" && seen[s.Name] {
			b.errorf(at.with("name"), "duplicate site name %q", s.Name)
		}
		seen[s.Name] = true
		c.Sites = append(c.Sites, s)
	}
	b.distinctListeners(c)
	return c
}

func (b *builder) server(at path, r *rawServer) Server {
	s := Server{
		H2C:               boolOr(r.H2C, true),
		HTTP1:             b.http1(at.with("http1"), r.HTTP1),
		GracePeriod:       b.duration(at.with("grace_period"), r.GracePeriod, defaultGracePeriod),
		ReadHeaderTimeout: b.duration(at.with("read_header_timeout"), r.ReadHeaderTimeout, defaultReadHeaderTimeout),
		ReadTimeout:       b.duration(at.with("read_timeout"), r.ReadTimeout, defaultReadTimeout),
		WriteTimeout:      b.duration(at.with("write_timeout"), r.WriteTimeout, 0),
		IdleTimeout:       b.duration(at.with("idle_timeout"), r.IdleTimeout, defaultIdleTimeout),
		MaxHeaderBytes:    b.size(at.with("max_header_bytes"), r.MaxHeaderBytes, defaultMaxHeaderBytes),
		Workers:           min(runtime.GOMAXPROCS(0), maxWorkers),
		Pin:               boolOr(r.Pin, true),

		MaxURLBytes:          b.sizeIn(at.with("max_url_bytes"), r.MaxURLBytes, defaultMaxURLBytes, minMaxURLBytes, maxMaxURLBytes),
		MaxHeaderCount:       b.intIn(at.with("max_header_count"), r.MaxHeaderCount, defaultMaxHeaderCount, 1, maxMaxHeaderCount),
		MaxBody:              b.size(at.with("max_body"), r.MaxBody, defaultMaxBody),
		MaxConcurrentStreams: b.intIn(at.with("max_concurrent_streams"), r.MaxConcurrentStreams, defaultMaxStreams, 1, maxMaxStreams),
		MaxInFlight:          b.intIn(at.with("max_in_flight"), r.MaxInFlight, 0, 0, noMax),
		MaxInFlightPerClient: b.intIn(at.with("max_in_flight_per_client"), r.MaxInFlightPerClient, 0, 0, noMax),
		TrustedProxies:       b.networks(at.with("trusted_proxies"), valueOr(r.TrustedProxies, nil)),
		ProxyProtocol:        b.proxyProtocol(at.with("proxy_protocol"), r.ProxyProtocol),
	}
	if s.MaxHeaderBytes <= 0 {
		b.errorf(at.with("max_header_bytes"), "must be positive")
	}
	if r.Workers != nil {
		switch n := *r.Workers; {
		case n < 0 || n > maxWorkers:
			b.errorf(at.with("workers"), "%d is out of range: want 0 (one per CPU) to %d", n, maxWorkers)
		case n > 0:
			s.Workers = n
		}
	}
	b.arrayOfTables(at.with("tls"), len(r.TLS))
	for i, rt := range r.TLS {
		s.TLS = append(s.TLS, b.tlsListener(at.with("tls").index(i), &rt))
	}
	switch {
	case r.Listen != nil:
		s.Listen = slices.Clone(*r.Listen)
	case len(s.TLS) == 0:
		s.Listen = []string{defaultListen}
	}
	for i, addr := range s.Listen {
		if err := checkListen(addr); err != nil {
			b.fail(at.with("listen").index(i), err)
		}
	}
	if len(s.Listen) == 0 && len(s.TLS) == 0 {
		b.errorf(at.with("listen"), "no listeners: listen is empty and there is no [[server.tls]]")
	}
	if len(s.Listen) == 0 && s.ProxyProtocol != "off" {
		b.errorf(at.with("proxy_protocol"), "applies to the plain listeners, and listen is empty; set it in [[server.tls]]")
	}
	// Judged by what is written, so an invalid entry gets one error, its own.
	trusted := r.TrustedProxies != nil && len(*r.TrustedProxies) > 0
	b.proxyTrust(at.with("proxy_protocol"), s.ProxyProtocol, trusted)
	for i, t := range s.TLS {
		b.proxyTrust(at.with("tls").index(i).with("proxy_protocol"), t.ProxyProtocol, trusted)
	}
	return s
}

// proxyProtocol returns the optional proxy_protocol at at, or "off".
func (b *builder) proxyProtocol(at path, r *string) string {
	switch v := stringOr(r, "off"); v {
	case "off", "v1", "v2", "any":
		return v
	default:
		b.errorf(at, "invalid proxy_protocol %q: want \"off\", \"v1\", \"v2\" or \"any\"", v)
		return "off"
	}
}

// The HTTP/1.1 engines ([server] http1).
const (
	HTTP1Fast   = "fast"
	HTTP1Stdlib = "stdlib"
)

func (b *builder) http1(at path, r *string) string {
	switch v := stringOr(r, HTTP1Fast); v {
	case HTTP1Fast, HTTP1Stdlib:
		return v
	default:
		b.errorf(at, "invalid http1 %q: want %q or %q", v, HTTP1Fast, HTTP1Stdlib)
		return HTTP1Fast
	}
}

// proxyTrust rejects a PROXY protocol listener, whose proxy_protocol at at
// is v, when no proxy is trusted: no header would ever be believed.
func (b *builder) proxyTrust(at path, v string, trusted bool) {
	if v != "off" && !trusted {
		b.errorf(at, "%q needs server.trusted_proxies: a PROXY header is believed only from a trusted proxy", v)
	}
}

func (b *builder) tlsListener(at path, r *rawTLS) TLSListener {
	t := TLSListener{Listen: stringOr(r.Listen, ""), ProxyProtocol: b.proxyProtocol(at.with("proxy_protocol"), r.ProxyProtocol)}
	if r.Listen == nil {
		b.errorf(at, "missing required key listen")
	} else if err := checkListen(t.Listen); err != nil {
		b.fail(at.with("listen"), err)
	}
	t.Cert = b.requiredFile(at, "cert", r.Cert)
	t.Key = b.requiredFile(at, "key", r.Key)
	return t
}

// requiredFile returns the required file name at key of table at, resolved
// against the config's directory, and checks that it names a regular file.
func (b *builder) requiredFile(at path, key string, r *string) string {
	if r == nil || *r == "" {
		b.errorf(at, "missing required key %s", key)
		return ""
	}
	name, _ := b.file(at.with(key), *r)
	return name
}

// file returns the file name written at at, resolved against the config's
// directory, and reports whether it names a regular file.
func (b *builder) file(at path, name string) (string, bool) {
	if name == "" {
		b.errorf(at, "empty file name")
		return "", false
	}
	name = b.resolve(name)
	fi, err := os.Stat(name)
	switch {
	case err != nil:
		b.fail(at, err)
		return name, false
	case !fi.Mode().IsRegular():
		b.errorf(at, "%s is not a regular file", name)
		return name, false
	}
	return name, true
}

// resolve returns name, joined to the config file's directory when
// relative.
func (b *builder) resolve(name string) string {
	if filepath.IsAbs(name) {
		return name
	}
	return filepath.Join(b.dir, name)
}

func (b *builder) admin(at path, r *rawAdmin) Admin {
	a := Admin{Listen: stringOr(r.Listen, defaultAdminListen)}
	if err := checkListen(a.Listen); err != nil {
		b.fail(at.with("listen"), err)
	}
	return a
}

func (b *builder) purge(at path, r *rawPurge) Purge {
	p := Purge{
		TokenEnv:    stringOr(r.TokenEnv, defaultPurgeTokenEnv),
		PeerTimeout: b.duration(at.with("peer_timeout"), r.PeerTimeout, defaultPeerTimeout),
		PeerRetries: defaultPeerRetries,
	}
	p.Allow = b.networks(at.with("allow"), valueOr(r.Allow, []string{"127.0.0.0/8", "::1/128"}))
	envOK := p.TokenEnv == "" || b.envName(at.with("token_env"), p.TokenEnv)
	switch {
	case r.Token != nil && *r.Token != "":
		p.Token = b.token(at.with("token"), *r.Token)
	case p.TokenEnv != "" && envOK:
		p.Token = b.envToken(at.with("token_env"), p.TokenEnv)
	}
	if r.Peers != nil {
		seen := make(map[string]bool, len(*r.Peers))
		for i, s := range *r.Peers {
			u, err := parsePeerURL(s)
			if err != nil {
				b.fail(at.with("peers").index(i), err)
				continue
			}
			if seen[u] {
				b.errorf(at.with("peers").index(i), "peer %s is listed twice", u)
			}
			seen[u] = true
			p.Peers = append(p.Peers, u)
		}
	}
	if p.PeerTimeout <= 0 {
		b.errorf(at.with("peer_timeout"), "must be positive")
	}
	if r.PeerRetries != nil {
		p.PeerRetries = *r.PeerRetries
		if p.PeerRetries < 0 || p.PeerRetries > maxPeerRetries {
			b.errorf(at.with("peer_retries"), "%d is out of range: want 0 to %d", p.PeerRetries, maxPeerRetries)
		}
	}
	return p
}

// networks parses the list of networks written at at, each as
// parseNetwork does; nil when it is empty.
func (b *builder) networks(at path, list []string) []netip.Prefix {
	var ns []netip.Prefix
	for i, s := range list {
		n, err := parseNetwork(s)
		if err != nil {
			b.fail(at.index(i), err)
			continue
		}
		ns = append(ns, n)
	}
	return ns
}

// parseNetwork parses an entry of a list of networks (purge.allow,
// server.trusted_proxies, a site's allow and deny): a CIDR with no bits set
// past its prefix ("10.0.0.0/8"), or one address ("10.0.0.7", "::1").
// IPv4 is written as IPv4: clients are matched by their unmapped address.
func parseNetwork(s string) (netip.Prefix, error) {
	bad := fmt.Errorf("invalid network %q: want a CIDR such as \"10.0.0.0/8\" or \"fd00::/8\", or one address", s)
	var n netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		if n, err = netip.ParsePrefix(s); err != nil {
			return netip.Prefix{}, bad
		}
		if m := n.Masked(); m != n {
			return netip.Prefix{}, fmt.Errorf("invalid network %q: address bits set past /%d; did you mean %s?", s, n.Bits(), m)
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, bad
		}
		n = netip.PrefixFrom(a, a.BitLen())
	}
	if n.Addr().Is4In6() {
		return netip.Prefix{}, fmt.Errorf("invalid network %q: write IPv4 networks in IPv4 form, such as \"10.0.0.0/8\"", s)
	}
	return n, nil
}

// parsePeerURL checks a peer's admin base URL and returns it with the
// scheme in lower case and no trailing slash, ready for "/purge" to be
// appended.
func parsePeerURL(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || u.Opaque != "" {
		return "", fmt.Errorf("invalid peer URL %q: want an admin base URL such as \"http://10.0.0.2:9090\"", s)
	}
	switch u.Scheme = strings.ToLower(u.Scheme); {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("invalid peer URL %q: want scheme http or https, such as \"http://10.0.0.2:9090\"", s)
	case u.Host == "":
		return "", fmt.Errorf("invalid peer URL %q: no host", s)
	case u.User != nil:
		return "", fmt.Errorf("invalid peer URL %q: credentials do not belong in the URL; set purge.token", s)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return "", fmt.Errorf("invalid peer URL %q: a base URL has no query or fragment", s)
	case !validIPOrHostname(u.Hostname()):
		return "", fmt.Errorf("invalid peer URL %q: bad host %q", s, u.Hostname())
	}
	if port := u.Port(); port != "" || strings.HasSuffix(u.Host, ":") {
		if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
			return "", fmt.Errorf("invalid peer URL %q: port %q is not a number in 1-65535", s, port)
		}
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u.String(), nil
}

// token68Rule says what a bearer token may hold. No message quotes a
// token: error output ends up in logs.
const token68Rule = "want letters, digits and -._~+/, then optional = padding (RFC 6750 §2.1)"

// token returns the bearer token written at at, checked.
func (b *builder) token(at path, tok string) Secret {
	if !validToken68(tok) {
		b.errorf(at, "not a valid bearer token: %s", token68Rule)
	}
	return Secret(tok)
}

// envToken returns the bearer token in the environment variable name,
// written at at, checked; "" when the variable is unset or empty.
func (b *builder) envToken(at path, name string) Secret {
	v := envValue(name)
	if v != "" && !validToken68(v) {
		b.errorf(at, "$%s does not hold a valid bearer token: %s", name, token68Rule)
	}
	return Secret(v)
}

// envValue returns the value of the environment variable name without
// surrounding whitespace, which no credential holds: a trailing newline
// from a secrets file is not a mistake worth failing on.
func envValue(name string) string { return strings.TrimSpace(os.Getenv(name)) }

// envName reports whether name, written at at, is a valid environment
// variable name, recording an error if not.
func (b *builder) envName(at path, name string) bool {
	if validEnvName(name) {
		return true
	}
	b.errorf(at, "invalid environment variable name %q: want letters, digits and _, not starting with a digit", name)
	return false
}

// validToken68 reports whether s is a bearer token as RFC 6750 §2.1 writes
// it: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func validToken68(s string) bool {
	body := strings.TrimRight(s, "=")
	if body == "" {
		return false
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~+/", c) >= 0) {
			return false
		}
	}
	return true
}

// validEnvName reports whether s is a portable environment variable name.
func validEnvName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' || i > 0 && '0' <= c && c <= '9') {
			return false
		}
	}
	return s != ""
}

func (b *builder) log(at path, r *rawLog) Log {
	l := Log{
		Format: strings.ToLower(stringOr(r.Format, "text")),
		Level:  strings.ToLower(stringOr(r.Level, "info")),
		Access: boolOr(r.Access, true),
	}
	if l.Format != "text" && l.Format != "json" {
		b.errorf(at.with("format"), "invalid format %q: want \"text\" or \"json\"", l.Format)
	}
	switch l.Level {
	case "debug", "info", "warn", "error":
	default:
		b.errorf(at.with("level"), "invalid level %q: want \"debug\", \"info\", \"warn\" or \"error\"", l.Level)
	}
	return l
}

func (b *builder) cache(at path, r *rawCache) Cache {
	c := Cache{
		Memory:          b.size(at.with("memory"), r.Memory, defaultMemory),
		MaxMemoryObject: b.size(at.with("max_memory_object"), r.MaxMemoryObject, defaultMaxMemoryObject),
		MaxObject:       b.size(at.with("max_object"), r.MaxObject, defaultMaxObject),
		TargetedField:   stringOr(r.TargetedField, defaultTargetedField),
		HeuristicMax:    b.duration(at.with("heuristic_max"), r.HeuristicMax, defaultHeuristicMax),
		LockTimeout:     b.duration(at.with("lock_timeout"), r.LockTimeout, defaultLockTimeout),
		LockAgeTimeout:  b.duration(at.with("lock_age_timeout"), r.LockAgeTimeout, defaultLockAgeTimeout),
		HitForPass:      b.duration(at.with("hit_for_pass"), r.HitForPass, defaultHitForPass),
		Revalidations:   defaultRevalidations,
		Disk:            b.disk(at.with("disk"), &r.Disk),
	}
	memOK := c.Memory >= minMemory
	if !memOK {
		b.errorf(at.with("memory"), "%s is below the minimum of %s", c.Memory, minMemory)
	}
	switch {
	case c.MaxMemoryObject <= 0:
		b.errorf(at.with("max_memory_object"), "must be positive")
	case memOK && c.MaxMemoryObject > c.Memory:
		// The default (1MiB) never exceeds a valid memory, so the key is written.
		b.errorf(at.with("max_memory_object"), "%s is larger than cache.memory (%s)", c.MaxMemoryObject, c.Memory)
	case c.MaxObject < c.MaxMemoryObject:
		// Blame the key the user wrote: max_object, or else max_memory_object.
		if r.MaxObject != nil {
			b.errorf(at.with("max_object"), "%s is smaller than cache.max_memory_object (%s)", c.MaxObject, c.MaxMemoryObject)
		} else {
			b.errorf(at.with("max_memory_object"), "%s is larger than cache.max_object (%s, the default)", c.MaxMemoryObject, c.MaxObject)
		}
	}
	if !httpguts.ValidHeaderFieldName(c.TargetedField) {
		b.errorf(at.with("targeted_field"), "invalid field name %q (RFC 9110 §5.1: a token)", c.TargetedField)
	}
	if c.LockTimeout <= 0 {
		b.errorf(at.with("lock_timeout"), "must be positive")
	}
	if c.LockAgeTimeout <= 0 {
		b.errorf(at.with("lock_age_timeout"), "must be positive")
	}
	if r.Revalidations != nil {
		c.Revalidations = *r.Revalidations
		if c.Revalidations < 1 {
			b.errorf(at.with("revalidations"), "%d is out of range: want at least 1", c.Revalidations)
		}
	}
	return c
}

func (b *builder) disk(at path, r *rawDisk) Disk {
	d := Disk{
		Path:          stringOr(r.Path, ""),
		Size:          b.size(at.with("size"), r.Size, defaultDiskSize),
		RetryInterval: b.duration(at.with("retry_interval"), r.RetryInterval, defaultDiskRetry),
	}
	if d.Path != "" {
		d.Path = b.resolve(d.Path)
	}
	if d.Path != "" && d.Size < minDiskSize {
		b.errorf(at.with("size"), "%s is below the minimum of %s", d.Size, minDiskSize)
	}
	if d.RetryInterval <= 0 {
		b.errorf(at.with("retry_interval"), "must be positive")
	}
	return d
}

func (b *builder) compression(at path, r *rawCompression) Compression {
	c := Compression{
		Types:            coding.DefaultTypes(),
		MinSize:          b.sizeIn(at.with("min_size"), r.MinSize, defaultMinCompressSize, 0, maxMinCompressSize),
		ZstdLevel:        b.intIn(at.with("zstd_level"), r.ZstdLevel, coding.DefaultZstdLevel, 1, maxZstdLevel),
		GzipLevel:        b.intIn(at.with("gzip_level"), r.GzipLevel, coding.DefaultGzipLevel, 1, maxGzipLevel),
		GzipVariantAfter: b.intIn(at.with("gzip_variant_after"), r.GzipVariantAfter, defaultGzipVariantAfter, 0, maxGzipVariantAfter),
	}
	if r.Types != nil {
		c.Types = slices.Clone(*r.Types)
		// One pattern at a time, so each error names its own line.
		for i, p := range c.Types {
			if _, err := coding.ParseTypes([]string{p}); err != nil {
				b.fail(at.with("types").index(i), err)
			}
		}
	}
	return c
}

// site builds the site at at; a site that sets no max_body gets maxBody,
// the server's.
func (b *builder) site(at path, r *rawSite, pools map[string]Pool, maxBody Size) Site {
	s := Site{
		Name:                 stringOr(r.Name, ""),
		Pool:                 stringOr(r.Pool, ""),
		Cache:                boolOr(r.Cache, true),
		DefaultTTL:           b.duration(at.with("default_ttl"), r.DefaultTTL, 0),
		StaleWhileRevalidate: b.duration(at.with("stale_while_revalidate"), r.StaleWhileRevalidate, 0),
		StaleIfError:         b.duration(at.with("stale_if_error"), r.StaleIfError, 0),
		AllowSetCookie:       boolOr(r.AllowSetCookie, false),
		QuerySort:            boolOr(r.QuerySort, false),
		Compress:             boolOr(r.Compress, true),
		Allow:                b.networks(at.with("allow"), valueOr(r.Allow, nil)),
		Deny:                 b.networks(at.with("deny"), valueOr(r.Deny, nil)),
		MaxBody:              b.size(at.with("max_body"), r.MaxBody, maxBody),
	}
	if s.Name == "" {
		b.errorf(at.with("name"), "a site needs a non-empty name")
	}
	if r.Hosts == nil || len(*r.Hosts) == 0 {
		b.errorf(at.with("hosts"), "a site needs at least one host pattern")
	} else {
		for i, h := range *r.Hosts {
			p, err := normalizePattern(h)
			if err != nil {
				b.fail(at.with("hosts").index(i), err)
			}
			s.Hosts = append(s.Hosts, p)
		}
	}
	switch _, ok := pools[s.Pool]; {
	case r.Pool == nil || s.Pool == "":
		b.errorf(at.with("pool"), "a site needs a pool")
	case !ok:
		b.errorf(at.with("pool"), "no pool %q: define it as [%s]", s.Pool, path{"pools", s.Pool})
	}
	if r.QueryDrop != nil {
		s.QueryDrop = slices.Clone(*r.QueryDrop)
		for i, q := range s.QueryDrop {
			if q == "" {
				b.errorf(at.with("query_drop").index(i), "empty parameter name")
			}
		}
	}
	s.Errors, s.ErrorPage = b.errorBodies(at, r)
	b.arrayOfTables(at.with("rate_limit"), len(r.RateLimit))
	for i := range r.RateLimit {
		s.RateLimits = append(s.RateLimits, b.rateLimit(at.with("rate_limit").index(i), &r.RateLimit[i]))
	}
	b.arrayOfTables(at.with("auth"), len(r.Auth))
	protected := make(map[string]path, len(r.Auth)) // prefix → where
	for i := range r.Auth {
		aat := at.with("auth").index(i)
		a := b.auth(aat, &r.Auth[i])
		if first, ok := protected[a.Prefix]; ok && a.Prefix != "" {
			b.errorf(aat.with("prefix"), "%q is already protected by %s", a.Prefix, first)
		} else {
			protected[a.Prefix] = aat
		}
		s.Auth = append(s.Auth, a)
	}
	return s
}

// distinctListeners rejects an address given twice, which would fail to
// bind at start-up; port 0 (any free port) may repeat.
func (b *builder) distinctListeners(c *Config) {
	seen := map[string]bool{}
	check := func(at path, addr string) {
		if strings.HasSuffix(addr, ":0") || checkListen(addr) != nil {
			return
		}
		if seen[addr] {
			b.errorf(at, "address %s is already used by another listener", addr)
		}
		seen[addr] = true
	}
	for i, a := range c.Server.Listen {
		check(path{"server", "listen"}.index(i), a)
	}
	for i, t := range c.Server.TLS {
		check(path{"server", "tls"}.index(i).with("listen"), t.Listen)
	}
	check(path{"admin", "listen"}, c.Admin.Listen)
}

// arrayOfTables rejects a single [at] table where the schema has an array
// of tables: go-toml would take it as one element, but its keys would have
// no positions under at[0].
func (b *builder) arrayOfTables(at path, n int) {
	if n > 0 && !b.ps.defined(at.index(0)) {
		b.errorf(at, "want an array of tables: write [[%s]], not [%s]", at.header(), at.header())
	}
}

// duration converts the optional duration at at, or returns def.
func (b *builder) duration(at path, t *text, def Duration) Duration {
	if d, ok := b.durationAt(at, t); ok {
		return d
	}
	return def
}

// durationIn converts the optional duration at at, or returns def; it
// must be in lo-hi.
func (b *builder) durationIn(at path, t *text, def, lo, hi Duration) Duration {
	if d, ok := b.durationAt(at, t); ok {
		return within(b, at, d, def, lo, hi)
	}
	return def
}

// within returns v when it is in lo-hi; otherwise it records why at at and
// returns def.
func within[T interface {
	~int64
	String() string
}](b *builder, at path, v, def, lo, hi T) T {
	switch {
	case v < lo:
		b.errorf(at, "%s is below the minimum of %s", v, lo)
	case v > hi:
		b.errorf(at, "%s is above the maximum of %s", v, hi)
	default:
		return v
	}
	return def
}

// durationAt converts the duration at at; ok is false when there is none
// (t is nil) or it is invalid, which is recorded.
func (b *builder) durationAt(at path, t *text) (d Duration, ok bool) {
	if t == nil {
		return 0, false
	}
	if k := b.ps.kind(at); k != unstable.String && k != unstable.Invalid {
		b.errorf(at, "wrong type: got %s, want a duration string such as \"30s\"", kindName(k))
		return 0, false
	}
	d, err := parseDuration(string(*t))
	if err != nil {
		b.fail(at, err)
		return 0, false
	}
	return d, true
}

// size converts the optional size at at, or returns def.
func (b *builder) size(at path, t *text, def Size) Size {
	if s, ok := b.sizeAt(at, t); ok {
		return s
	}
	return def
}

// sizeIn converts the optional size at at, or returns def; it must be in
// lo-hi.
func (b *builder) sizeIn(at path, t *text, def, lo, hi Size) Size {
	if s, ok := b.sizeAt(at, t); ok {
		return within(b, at, s, def, lo, hi)
	}
	return def
}

// sizeAt converts the size at at; ok is false when there is none (t is
// nil) or it is invalid, which is recorded.
func (b *builder) sizeAt(at path, t *text) (s Size, ok bool) {
	if t == nil {
		return 0, false
	}
	var err error
	switch k := b.ps.kind(at); k {
	case unstable.String, unstable.Invalid:
		s, err = ParseSize(string(*t))
	case unstable.Integer:
		s, err = sizeFromInteger(string(*t))
	default:
		b.errorf(at, "wrong type: got %s, want a size such as \"256MiB\" or an integer", kindName(k))
		return 0, false
	}
	if err != nil {
		b.fail(at, err)
		return 0, false
	}
	return s, true
}

// kindName names a TOML value kind for messages.
func kindName(k unstable.Kind) string {
	switch k {
	case unstable.String:
		return "string"
	case unstable.Bool:
		return "boolean"
	case unstable.Integer:
		return "integer"
	case unstable.Float:
		return "float"
	case unstable.Array:
		return "array"
	case unstable.InlineTable:
		return "table"
	case unstable.LocalDate, unstable.LocalTime, unstable.LocalDateTime, unstable.DateTime:
		return "date-time"
	default:
		return k.String()
	}
}

func boolOr(p *bool, def bool) bool {
	if p == nil {
		return def
	}
	return *p
}

func stringOr(p *string, def string) string {
	if p == nil {
		return def
	}
	return *p
}
