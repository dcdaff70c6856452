package health

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"
)

// Kind says how an active check probes a peer.
type Kind string

const (
	// TCP probes pass when a connection is established (Layer 4): they
	// catch a crashed process or host, not a hung or broken application.
	TCP Kind = "tcp"
	// HTTP probes send GET Path and pass when the status is in Status and
	// the body matches Body or BodyRegexp (Layer 7).
	HTTP Kind = "http"
)

// MaxBody is how many bytes of an HTTP probe's response body are read and
// matched; a body longer than this is judged by its first MaxBody bytes.
const MaxBody = 64 << 10

// Defaults for the zero values of CheckOptions.
const (
	DefaultInterval = 5 * time.Second
	DefaultTimeout  = 2 * time.Second
	DefaultRise     = 2
	DefaultFall     = 3
)

// userAgent identifies probes in origin logs.
const userAgent = "cdnnode-health-check"

// CheckOptions configure a Checker. A zero field takes the default its
// comment names.
type CheckOptions struct {
	// Kind is TCP or HTTP; required.
	Kind Kind
	// Path is the request target of HTTP probes, with any query; default
	// "/".
	Path string
	// Host is the Host header of HTTP probes and, unless the Target's
	// Conn.TLS names one, the TLS server name; default the peer's
	// host:port, or "localhost" for a unix: peer.
	Host string
	// Status lists the statuses that pass an HTTP probe, as comma-separated
	// codes and inclusive ranges: "200", "200-399,404"; default "200-399".
	// Redirects are judged, never followed.
	Status string
	// Body, when set, must occur in the first MaxBody bytes of the body.
	Body string
	// BodyRegexp, when set, must match within the first MaxBody bytes of
	// the body (RE2 syntax). At most one of Body and BodyRegexp is set.
	BodyRegexp string
	// Scheme is "http" (default) or "https", for HTTP probes of peers
	// written "host:port" or "unix:/path"; "http://" and "https://" peers
	// name their own.
	Scheme string
	// Interval is the time between two probes of one peer, moved by up to
	// ±10% each time; default 5s.
	Interval time.Duration
	// Timeout bounds a whole probe: connect, TLS, response header and the
	// body read; default 2s.
	Timeout time.Duration
	// Rise is how many consecutive passing probes bring a down peer up;
	// default 2.
	Rise int
	// Fall is how many consecutive failing probes take an up peer down;
	// default 3.
	Fall int
}

// Target is a peer as a Checker probes it and a Monitor tracks it.
type Target struct {
	// Name is the peer: "host:port", "http://host:port",
	// "https://host:port" or "unix:/path". OnChange names the peer by it,
	// and Successor carries a peer's state over by it.
	Name string
	// Conn is how probes connect to the peer.
	Conn Conn
}

// Conn is how probes connect to one peer: given the peer's own dialer, TLS
// configuration and protocol, a probe passes only if the peer's requests
// could, so an origin reached from a bind address, trusted through a
// private CA, asking for a client certificate or speaking only h2c is
// judged as it is used. The zero value dials with a net.Dialer, uses Go's
// TLS defaults and speaks HTTP/1.1 in cleartext.
type Conn struct {
	// Dial opens every probe's connection (for https probes, the one TLS
	// runs over), with network "tcp" or "unix" and the peer's address; nil
	// means a net.Dialer. The probe's context carries its Timeout.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// TLS configures https probes; nil means Go's defaults. It is cloned,
	// so the caller may pass the peer's own configuration (CA, client
	// certificate, ServerName, verification) and keep it. Probes speak
	// HTTP/2 when its NextProtos offers "h2" and the peer picks it, else
	// HTTP/1.1; when it offers "h2" and not "http/1.1", a probe that did
	// not get HTTP/2 fails, as the peer's requests would.
	TLS *tls.Config
	// H2C makes HTTP probes of http and unix peers speak HTTP/2 with prior
	// knowledge (RFC 9113 §3.3), for origins that speak nothing else.
	// https probes ignore it.
	H2C bool
}

// Checker probes peers as its options say. It holds no per-peer state and
// is safe for concurrent use; a Monitor owns the verdicts.
type Checker struct {
	o      CheckOptions // with defaults applied
	status statusSet
	re     *regexp.Regexp // compiled BodyRegexp; nil if none
}

// NewChecker validates o, compiles its status set and body pattern, and
// returns the Checker. Errors name the offending option.
func NewChecker(o CheckOptions) (*Checker, error) {
	switch o.Kind {
	case TCP, HTTP:
	default:
		return nil, fmt.Errorf("health check: kind %q: want %q or %q", o.Kind, TCP, HTTP)
	}
	if o.Interval < 0 || o.Timeout < 0 || o.Rise < 0 || o.Fall < 0 {
		return nil, errors.New("health check: interval, timeout, rise and fall must not be negative")
	}
	o.Interval = orDefault(o.Interval, DefaultInterval)
	o.Timeout = orDefault(o.Timeout, DefaultTimeout)
	o.Rise = orDefault(o.Rise, DefaultRise)
	o.Fall = orDefault(o.Fall, DefaultFall)
	o.Path = orDefault(o.Path, "/")
	o.Status = orDefault(o.Status, defaultStatus)
	o.Scheme = orDefault(o.Scheme, "http")
	c := &Checker{o: o}
	if o.Kind == TCP {
		return c, nil
	}
	if o.Scheme != "http" && o.Scheme != "https" {
		return nil, fmt.Errorf("health check: scheme %q: want \"http\" or \"https\"", o.Scheme)
	}
	if _, err := url.ParseRequestURI(o.Path); err != nil || !strings.HasPrefix(o.Path, "/") {
		return nil, fmt.Errorf("health check: path %q: want an origin-form target such as /healthz", o.Path)
	}
	if o.Host != "" && !httpguts.ValidHostHeader(o.Host) {
		return nil, fmt.Errorf("health check: host %q is not a valid Host header", o.Host)
	}
	var err error
	if c.status, err = parseStatus(o.Status); err != nil {
		return nil, fmt.Errorf("health check: %w", err)
	}
	if o.Body != "" && o.BodyRegexp != "" {
		return nil, errors.New("health check: body and body regexp are exclusive; set one")
	}
	if o.BodyRegexp != "" {
		if c.re, err = regexp.Compile(o.BodyRegexp); err != nil {
			return nil, fmt.Errorf("health check: body regexp: %w", err)
		}
	}
	return c, nil
}

// orDefault returns v, or def when v is the zero value.
func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Check probes t once and returns nil if it passed, or an error saying
// why not, fit for a log line. It stops early when ctx ends.
func (c *Checker) Check(ctx context.Context, t Target) error {
	return c.newProbe(t).run(ctx)
}

// endpoint is where a peer string says to connect, and how to speak there.
type endpoint struct {
	scheme  string // "http" or "https"; HTTP probes only
	network string // "tcp" or "unix"
	addr    string // host:port, or a socket path
}

// parsePeer splits peer into its endpoint; scheme applies unless the peer
// names its own.
func parsePeer(peer, scheme string) endpoint {
	if path, ok := strings.CutPrefix(peer, "unix:"); ok {
		return endpoint{scheme, "unix", path}
	}
	for _, s := range [...]string{"http", "https"} {
		if addr, ok := strings.CutPrefix(peer, s+"://"); ok {
			return endpoint{s, "tcp", addr}
		}
	}
	return endpoint{scheme, "tcp", peer}
}

// probe is a Checker bound to one peer, built once so repeated probes
// reuse its client. Safe for concurrent use.
type probe struct {
	c      *Checker
	peer   string // the Target's Name
	ep     endpoint
	dial   func(ctx context.Context, network, addr string) (net.Conn, error)
	url    string       // HTTP probes: the request URL
	client *http.Client // HTTP probes: dials ep whatever the URL says
	h2Only bool         // HTTP probes: only HTTP/2 passes (TLS offering h2 alone)
}

// newProbe binds c to t.
func (c *Checker) newProbe(t Target) *probe {
	p := &probe{c: c, peer: t.Name, ep: parsePeer(t.Name, c.o.Scheme), dial: t.Conn.Dial}
	if p.dial == nil {
		p.dial = (&net.Dialer{}).DialContext
	}
	if c.o.Kind != HTTP {
		return p
	}
	host := c.o.Host
	if host == "" {
		host = p.ep.addr
		if p.ep.network == "unix" {
			host = "localhost"
		}
	}
	p.url = p.ep.scheme + "://" + host + c.o.Path
	protocols := new(http.Protocols)
	switch {
	case p.ep.scheme == "https":
		// Offer h2 only when the peer's requests do.
		var next []string
		if t.Conn.TLS != nil {
			next = t.Conn.TLS.NextProtos
		}
		h2, h1 := slices.Contains(next, "h2"), slices.Contains(next, "http/1.1")
		p.h2Only = h2 && !h1
		protocols.SetHTTP1(true) // net/http speaks HTTP/1.1 unless h2 is negotiated
		protocols.SetHTTP2(h2)
	case t.Conn.H2C:
		// Without HTTP1, http:// requests use HTTP/2 with prior knowledge.
		protocols.SetUnencryptedHTTP2(true)
	default:
		protocols.SetHTTP1(true)
	}
	tr := &http.Transport{
		// The URL names the site; the connection goes to the peer.
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return p.dial(ctx, p.ep.network, p.ep.addr)
		},
		// Each transport its own copy: net/http adds to a transport's
		// config (NextProtos) the first time it is used.
		TLSClientConfig: t.Conn.TLS.Clone(),
		// Every probe opens a new connection, as a new request would
		// after the pool's idle ones are gone: a listener that stopped
		// accepting must fail, not hide behind a kept-alive connection.
		DisableKeepAlives:  true,
		DisableCompression: true,
		Protocols:          protocols,
	}
	p.client = &http.Client{
		Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	return p
}

// run probes the peer once, within the Checker's timeout.
func (p *probe) run(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, p.c.o.Timeout)
	defer cancel()
	if p.c.o.Kind == HTTP {
		return p.runHTTP(ctx)
	}
	conn, err := p.dial(ctx, p.ep.network, p.ep.addr)
	if err != nil {
		return fmt.Errorf("tcp check %s: %w", p.peer, err)
	}
	// The handshake was the whole test; a failed close says nothing more.
	_ = conn.Close()
	return nil
}

// runHTTP sends the probe request and judges the response.
func (p *probe) runHTTP(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url, nil)
	if err != nil {
		return fmt.Errorf("http check %s: %w", p.peer, err)
	}
	req.Header.Set("User-Agent", userAgent)
	resp, err := p.client.Do(req)
	if err != nil {
		return fmt.Errorf("http check %s: %w", p.peer, err)
	}
	defer resp.Body.Close()
	if p.h2Only && resp.ProtoMajor != 2 {
		return fmt.Errorf("http check %s: answered over %s, and the peer's TLS offers only h2", p.peer, resp.Proto)
	}
	if !p.c.status.contains(resp.StatusCode) {
		return fmt.Errorf("http check %s: status %d not in %s", p.peer, resp.StatusCode, p.c.status)
	}
	if p.c.o.Body == "" && p.c.re == nil {
		return nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody))
	if err != nil {
		return fmt.Errorf("http check %s: read body: %w", p.peer, err)
	}
	if p.c.o.Body != "" && !bytes.Contains(body, []byte(p.c.o.Body)) {
		return fmt.Errorf("http check %s: body lacks %q in its first %d bytes", p.peer, p.c.o.Body, MaxBody)
	}
	if p.c.re != nil && !p.c.re.Match(body) {
		return fmt.Errorf("http check %s: body does not match %q in its first %d bytes", p.peer, p.c.re, MaxBody)
	}
	return nil
}
