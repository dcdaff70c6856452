package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/pelletier/go-toml/v2"
)

// Load reads the file at path, strictly decodes it, applies defaults and
// validates it; see Parse. Errors other than failing to read the file are
// "path:line: reason".
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(path, data)
}

// Parse strictly decodes data, which came from the file name, applies
// defaults and validates the result. Unknown keys and tables, values of the
// wrong type, invalid values and broken rules are all errors of the form
// "name:line: reason", one *Error per problem (several are joined with
// errors.Join, in line order). Relative file names (TLS listeners,
// cache.disk.path, each pool's ca_file, client_cert, client_key and
// peers_file, and each site's error_page) are resolved against name's
// directory, server.workers = 0 becomes runtime.GOMAXPROCS(0), the variables
// purge.token_env and the sites' auth token_env and users_env name are read,
// pools' peers files are read and their CA and client certificates loaded,
// and sites' error pages parsed, all at the time of the call. Parse never
// panics, whatever data holds.
func Parse(name string, data []byte) (*Config, error) {
	var raw rawConfig
	dec := toml.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return nil, decodeError(name, scanPositions(data), err)
	}
	b := &builder{name: name, dir: filepath.Dir(name), ps: scanPositions(data)}
	cfg := b.build(&raw)
	if err := b.err(); err != nil {
		return nil, err
	}
	cfg.Path = name
	return cfg, nil
}

// The raw* types mirror the schema as written: pointers tell a missing key
// (take the default) from an explicit zero, and durations and sizes stay
// text until positions are known (see builder).
type rawConfig struct {
	Server      rawServer          `toml:"server"`
	Admin       rawAdmin           `toml:"admin"`
	Purge       rawPurge           `toml:"purge"`
	Log         rawLog             `toml:"log"`
	Cache       rawCache           `toml:"cache"`
	Compression rawCompression     `toml:"compression"`
	Pools       map[string]rawPool `toml:"pools"`
	Sites       []rawSite          `toml:"sites"`
}

type rawServer struct {
	Listen            *[]string `toml:"listen"`
	TLS               []rawTLS  `toml:"tls"`
	H2C               *bool     `toml:"h2c"`
	HTTP1             *string   `toml:"http1"`
	GracePeriod       *text     `toml:"grace_period"`
	ReadHeaderTimeout *text     `toml:"read_header_timeout"`
	ReadTimeout       *text     `toml:"read_timeout"`
	WriteTimeout      *text     `toml:"write_timeout"`
	IdleTimeout       *text     `toml:"idle_timeout"`
	MaxHeaderBytes    *text     `toml:"max_header_bytes"`
	Workers           *int      `toml:"workers"`
	Pin               *bool     `toml:"pin"`

	MaxURLBytes          *text     `toml:"max_url_bytes"`
	MaxHeaderCount       *int      `toml:"max_header_count"`
	MaxBody              *text     `toml:"max_body"`
	MaxConcurrentStreams *int      `toml:"max_concurrent_streams"`
	MaxInFlight          *int      `toml:"max_in_flight"`
	MaxInFlightPerClient *int      `toml:"max_in_flight_per_client"`
	TrustedProxies       *[]string `toml:"trusted_proxies"`
	ProxyProtocol        *string   `toml:"proxy_protocol"`
}

type rawTLS struct {
	Listen        *string `toml:"listen"`
	Cert          *string `toml:"cert"`
	Key           *string `toml:"key"`
	ProxyProtocol *string `toml:"proxy_protocol"`
}

type rawAdmin struct {
	Listen *string `toml:"listen"`
}

type rawPurge struct {
	Allow       *[]string `toml:"allow"`
	Token       *string   `toml:"token"`
	TokenEnv    *string   `toml:"token_env"`
	Peers       *[]string `toml:"peers"`
	PeerTimeout *text     `toml:"peer_timeout"`
	PeerRetries *int      `toml:"peer_retries"`
}

type rawLog struct {
	Format *string `toml:"format"`
	Level  *string `toml:"level"`
	Access *bool   `toml:"access"`
}

type rawCache struct {
	Memory          *text   `toml:"memory"`
	MaxMemoryObject *text   `toml:"max_memory_object"`
	MaxObject       *text   `toml:"max_object"`
	TargetedField   *string `toml:"targeted_field"`
	HeuristicMax    *text   `toml:"heuristic_max"`
	LockTimeout     *text   `toml:"lock_timeout"`
	LockAgeTimeout  *text   `toml:"lock_age_timeout"`
	HitForPass      *text   `toml:"hit_for_pass"`
	Revalidations   *int    `toml:"revalidations"`
	Disk            rawDisk `toml:"disk"`
}

type rawDisk struct {
	Path          *string `toml:"path"`
	Size          *text   `toml:"size"`
	RetryInterval *text   `toml:"retry_interval"`
}

type rawCompression struct {
	Types            *[]string `toml:"types"`
	MinSize          *text     `toml:"min_size"`
	ZstdLevel        *int      `toml:"zstd_level"`
	GzipLevel        *int      `toml:"gzip_level"`
	GzipVariantAfter *int      `toml:"gzip_variant_after"`
}

type rawPool struct {
	Peers                    *[]string  `toml:"peers"`
	Peer                     []rawPeer  `toml:"peer"`
	Scheme                   *string    `toml:"scheme"`
	Selection                *string    `toml:"selection"`
	Retries                  *int       `toml:"retries"`
	RetryBudget              *float64   `toml:"retry_budget"`
	MaxInFlight              *int       `toml:"max_in_flight"`
	Rate                     *float64   `toml:"rate"`
	Burst                    *int       `toml:"burst"`
	PeerMaxInFlight          *int       `toml:"peer_max_in_flight"`
	PeerRate                 *float64   `toml:"peer_rate"`
	PeerBurst                *int       `toml:"peer_burst"`
	MaxWait                  *text      `toml:"max_wait"`
	MaxQueue                 *int       `toml:"max_queue"`
	ConnectTimeout           *text      `toml:"connect_timeout"`
	TotalConnectTimeout      *text      `toml:"total_connect_timeout"`
	ResponseTimeout          *text      `toml:"response_timeout"`
	ReadTimeout              *text      `toml:"read_timeout"`
	WriteTimeout             *text      `toml:"write_timeout"`
	IdleTimeout              *text      `toml:"idle_timeout"`
	TCPKeepAlive             *text      `toml:"tcp_keepalive"`
	BindTo                   *string    `toml:"bind_to"`
	MaxIdlePerPeer           *int       `toml:"max_idle_per_peer"`
	TLSVerify                *bool      `toml:"tls_verify"`
	VerifyCert               *bool      `toml:"verify_cert"`
	VerifyHostname           *bool      `toml:"verify_hostname"`
	SNI                      *string    `toml:"sni"`
	CAFile                   *string    `toml:"ca_file"`
	AlternativeCN            *string    `toml:"alternative_cn"`
	ClientCert               *string    `toml:"client_cert"`
	ClientKey                *string    `toml:"client_key"`
	ALPN                     *string    `toml:"alpn"`
	H2C                      *bool      `toml:"h2c"`
	HeaderPolicy             *string    `toml:"header_policy"`
	StripConnectionNominated *bool      `toml:"strip_connection_nominated"`
	H1Upgrade                *string    `toml:"h1_upgrade"`
	ResolveInterval          *text      `toml:"resolve_interval"`
	PeersFile                *string    `toml:"peers_file"`
	Health                   *rawHealth `toml:"health"` // nil: no table, no active checks
	Passive                  rawPassive `toml:"passive"`
}

type rawPeer struct {
	Addr                *string `toml:"addr"`
	Weight              *int    `toml:"weight"`
	Backup              *bool   `toml:"backup"`
	ConnectTimeout      *text   `toml:"connect_timeout"`
	TotalConnectTimeout *text   `toml:"total_connect_timeout"`
	ReadTimeout         *text   `toml:"read_timeout"`
	WriteTimeout        *text   `toml:"write_timeout"`
	IdleTimeout         *text   `toml:"idle_timeout"`
	TCPKeepAlive        *text   `toml:"tcp_keepalive"`
	BindTo              *string `toml:"bind_to"`
	MaxIdlePerPeer      *int    `toml:"max_idle_per_peer"`
	SNI                 *string `toml:"sni"`
	VerifyCert          *bool   `toml:"verify_cert"`
	VerifyHostname      *bool   `toml:"verify_hostname"`
	CAFile              *string `toml:"ca_file"`
	AlternativeCN       *string `toml:"alternative_cn"`
	ClientCert          *string `toml:"client_cert"`
	ClientKey           *string `toml:"client_key"`
	ALPN                *string `toml:"alpn"`
	H2C                 *bool   `toml:"h2c"`
}

type rawHealth struct {
	Kind             *string `toml:"kind"`
	Path             *string `toml:"path"`
	Host             *string `toml:"host"`
	ExpectStatus     *[]text `toml:"expect_status"` // integers and strings ("200-399"), told apart by positions
	ExpectBody       *string `toml:"expect_body"`
	ExpectBodyRegexp *string `toml:"expect_body_regexp"`
	Interval         *text   `toml:"interval"`
	Timeout          *text   `toml:"timeout"`
	Rise             *int    `toml:"rise"`
	Fall             *int    `toml:"fall"`
}

type rawPassive struct {
	MaxFails    *int     `toml:"max_fails"`
	ErrorRate   *float64 `toml:"error_rate"`
	Window      *int     `toml:"window"`
	MinRequests *int     `toml:"min_requests"`
	Cooldown    *text    `toml:"cooldown"`
}

type rawSite struct {
	Name                 *string   `toml:"name"`
	Hosts                *[]string `toml:"hosts"`
	Pool                 *string   `toml:"pool"`
	Cache                *bool     `toml:"cache"`
	DefaultTTL           *text     `toml:"default_ttl"`
	StaleWhileRevalidate *text     `toml:"stale_while_revalidate"`
	StaleIfError         *text     `toml:"stale_if_error"`
	AllowSetCookie       *bool     `toml:"allow_set_cookie"`
	QuerySort            *bool     `toml:"query_sort"`
	QueryDrop            *[]string `toml:"query_drop"`
	Compress             *bool     `toml:"compress"`

	Allow     *[]string      `toml:"allow"`
	Deny      *[]string      `toml:"deny"`
	MaxBody   *text          `toml:"max_body"`
	Errors    *string        `toml:"errors"`
	ErrorPage *string        `toml:"error_page"`
	RateLimit []rawRateLimit `toml:"rate_limit"`
	Auth      []rawAuth      `toml:"auth"`
}

type rawRateLimit struct {
	Prefix    *string `toml:"prefix"`
	Key       *string `toml:"key"`
	Algorithm *string `toml:"algorithm"`
	Limit     *int    `toml:"limit"`
	Window    *text   `toml:"window"`
	MaxKeys   *int    `toml:"max_keys"`
}

type rawAuth struct {
	Prefix   *string   `toml:"prefix"`
	Type     *string   `toml:"type"`
	Token    *string   `toml:"token"`
	TokenEnv *string   `toml:"token_env"`
	Users    *[]string `toml:"users"`
	UsersEnv *string   `toml:"users_env"`
	Realm    *string   `toml:"realm"`
}

// text holds a scalar's text as decoded (a string's value, an integer's
// digits), whatever its TOML type; builder checks the type against the
// document, where a line number is at hand.
type text string

// UnmarshalText keeps b; it never fails.
func (t *text) UnmarshalText(b []byte) error {
	*t = text(b)
	return nil
}

// mismatch matches go-toml's type-mismatch message.
var mismatch = regexp.MustCompile(`^cannot decode TOML (.+?) into .*of type (\S+)$`)

// decodeError turns go-toml's error into *Errors naming name and a line.
func decodeError(name string, ps *positions, err error) error {
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) {
		errs := make([]*Error, 0, len(strict.Errors))
		for i := range strict.Errors {
			de := &strict.Errors[i]
			line, _ := de.Position()
			errs = append(errs, &Error{File: name, Line: line, Msg: unknownMsg(ps, de), Err: de})
		}
		return joinErrors(errs)
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		line, _ := de.Position()
		if line <= 1 {
			// go-toml gives no position for some mismatches inside arrays.
			line = ps.line(path(de.Key()))
		}
		key := path(de.Key()).String()
		msg := strings.TrimPrefix(de.Error(), "toml: ")
		if m := mismatch.FindStringSubmatch(msg); m != nil {
			msg = fmt.Sprintf("wrong type: got %s, want %s", m[1], tomlType(m[2]))
		}
		if key != "" && !strings.Contains(msg, key) {
			msg = key + ": " + msg
		}
		return &Error{File: name, Line: line, Msg: oneLine(msg), Err: de}
	}
	return &Error{File: name, Line: 1, Msg: oneLine(err.Error()), Err: err}
}

// unknownMsg describes a key or table the schema does not have.
func unknownMsg(ps *positions, de *toml.DecodeError) string {
	k := path(de.Key())
	if len(k) == 0 {
		return oneLine(strings.TrimPrefix(de.Error(), "toml: "))
	}
	if strings.Contains(de.Error(), "table") {
		return fmt.Sprintf("unknown table [%s]", k)
	}
	parent := k[:len(k)-1]
	switch {
	case len(parent) == 0:
		return fmt.Sprintf("unknown key %q", k[len(k)-1])
	case ps.defined(parent.index(0)) || ps.arrayTable(parent):
		return fmt.Sprintf("unknown key %q in [[%s]]", k[len(k)-1], parent)
	default:
		return fmt.Sprintf("unknown key %q in [%s]", k[len(k)-1], parent)
	}
}

// tomlType names the TOML type wanted for a field of the Go type goType.
func tomlType(goType string) string {
	switch {
	case goType == "bool":
		return "boolean"
	case goType == "string":
		return "string"
	case goType == "int":
		return "integer"
	case goType == "float64":
		return "number"
	case goType == "[]string":
		return "array of strings"
	case goType == "[]config.text":
		return "array"
	case strings.HasSuffix(goType, ".text"):
		return "string"
	case strings.HasPrefix(goType, "[]"):
		return "array of tables"
	default:
		return "table"
	}
}

// joinErrors returns errs sorted by line: nil, the one *Error, or all of
// them joined.
func joinErrors(errs []*Error) error {
	slices.SortStableFunc(errs, func(a, b *Error) int { return a.Line - b.Line })
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	all := make([]error, len(errs))
	for i, e := range errs {
		all[i] = e
	}
	return errors.Join(all...)
}

// oneLine escapes control characters in a message taken from the document,
// so each error stays one line of output.
func oneLine(s string) string {
	if !strings.ContainsFunc(s, unicode.IsControl) {
		return s
	}
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}
