package loadtest

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/cdnnode/cdnnode/demoorigin"
)

// kind is what a request does.
type kind uint8

const (
	get         kind = iota
	conditional      // a GET with If-Modified-Since: a cache holding the object answers 304
	purgeKind        // PURGE of the object's URL
)

// request is one planned request: what to send, not how.
type request struct {
	kind   kind
	target int // which of the run's targets it goes to
	key    int64
	size   int64
}

// plan turns request numbers into requests. Read-only once built: every
// worker shares it.
type plan struct {
	seed    uint64
	keys    keys
	size    Size
	purge   float64 // fraction of requests that are PURGE
	cond    float64 // fraction that are conditional GETs
	targets uint64  // how many targets requests take turns over; 0 is 1
}

// at returns request number i of the run, a function of the seed and i
// alone (see stream). Request i goes to target i mod the number of
// targets: round-robin by request number.
func (p *plan) at(i int64) request {
	r := newStream(p.seed, uint64(i))
	k := get
	if p.purge > 0 || p.cond > 0 {
		switch u := r.float64(); {
		case u < p.purge:
			k = purgeKind
		case u < p.purge+p.cond:
			k = conditional
		}
	}
	key := p.keys.next(&r)
	rq := request{kind: k, key: key, size: p.size.of(key)}
	if p.targets > 1 {
		rq.target = int(uint64(i) % p.targets)
	}
	return rq
}

// target is where requests go and how their URLs are spelled. Read-only
// once built.
type target struct {
	scheme string // "http" or "https"
	addr   string // host:port to dial
	auth   string // the base URL's host[:port], for net/http's URLs
	host   string // Host header field
	base   string // URL path before /obj/, without a trailing slash
	prefix string // object names are prefix + key
	query  string // "&..." after size=N: lm=1 for conditionals, then Options.Query
	// ims is what conditional requests send as If-Modified-Since: exactly
	// the Last-Modified of the demo origin's lm=1, so both caches that
	// compare dates exactly (nginx's default) and those that take any
	// later date answer 304. (Some servers ignore a date in the future.)
	ims string
}

// MaxTargets bounds the base URLs of Options.Target.
const MaxTargets = 256

// newTargets checks list, one base URL or several separated by commas
// (see Options.Target), and returns a target for each.
func newTargets(list string, o *Options) ([]*target, error) {
	parts := strings.Split(list, ",")
	if len(parts) > MaxTargets || len(parts)*o.Connections > MaxConnections {
		return nil, fmt.Errorf("%d targets × %d connections: want at most %d targets and %d connections in all", len(parts), o.Connections, MaxTargets, MaxConnections)
	}
	ts := make([]*target, len(parts))
	for i, base := range parts {
		t, err := newTarget(strings.TrimSpace(base), o)
		if err != nil {
			return nil, err
		}
		ts[i] = t
	}
	return ts, nil
}

// newTarget checks base (an http or https URL with a host and no query)
// and the parts of o that end up in request URLs.
func newTarget(base string, o *Options) (*target, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("invalid target %q: want an http or https base URL such as http://127.0.0.1:8080", base)
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	t := &target{
		scheme: u.Scheme,
		addr:   net.JoinHostPort(u.Hostname(), port),
		auth:   u.Host,
		host:   u.Host,
		base:   strings.TrimSuffix(u.EscapedPath(), "/"),
		prefix: o.Prefix,
		ims:    demoorigin.LastModified().Format(http.TimeFormat),
	}
	if o.Host != "" {
		t.host = o.Host
	}
	if err := checkURLPart("host", t.host, "/?#@"); err != nil {
		return nil, err
	}
	if err := checkURLPart("prefix", o.Prefix, "/?#&%"); err != nil {
		return nil, err
	}
	if err := checkURLPart("query", o.Query, "#"); err != nil {
		return nil, err
	}
	if o.ConditionalPct > 0 {
		t.query = "&lm=1"
	}
	if q := strings.TrimPrefix(o.Query, "&"); q != "" {
		t.query += "&" + q
	}
	return t, nil
}

// checkURLPart refuses what would break the request line or header: bytes
// outside printable ASCII, spaces, and the characters in bad.
func checkURLPart(what, s, bad string) error {
	for i := range len(s) {
		if c := s[i]; c <= ' ' || c >= 0x7f || strings.IndexByte(bad, c) >= 0 {
			return fmt.Errorf("invalid %s %q: %q is not allowed", what, s, c)
		}
	}
	return nil
}

// appendTarget appends the request target of rq: its path and query.
func (t *target) appendTarget(b []byte, rq request) []byte {
	b = append(b, t.base...)
	b = append(b, "/obj/"...)
	b = append(b, t.prefix...)
	b = strconv.AppendInt(b, rq.key, 10)
	b = append(b, "?size="...)
	b = strconv.AppendInt(b, rq.size, 10)
	return append(b, t.query...)
}

// url returns the absolute URL of rq, for net/http.
func (t *target) url(rq request) string {
	b := make([]byte, 0, 128)
	b = append(b, t.scheme...)
	b = append(b, "://"...)
	b = append(b, t.auth...)
	return string(t.appendTarget(b, rq))
}

// method returns the HTTP method of rq.
func (rq request) method() string {
	if rq.kind == purgeKind {
		return "PURGE"
	}
	return http.MethodGet
}
