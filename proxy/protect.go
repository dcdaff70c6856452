package proxy

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cdnnode/cdnnode/config"
	"github.com/cdnnode/cdnnode/h1"
	"github.com/cdnnode/cdnnode/limits"
	"github.com/cdnnode/cdnnode/metrics"
)

// Rejection reasons, the label of cdnnode_rejections_total, besides the
// HTTP/1 guard's own (h1.Error reasons: "cl-and-te", "obs-fold", ...).
const (
	rejectConnect     = "connect-method"
	rejectURL         = "url-too-long"
	rejectFields      = "too-many-fields"
	rejectInFlight    = "in-flight"
	rejectClientLimit = "client-in-flight"
	rejectDenied      = "access-denied"
	rejectAuthMissing = "auth-missing"
	rejectAuthWrong   = "auth-wrong"
	rejectRate        = "rate-limited"
	rejectBody        = "body-too-large"
	rejectBadBody     = "bad-body"
)

// shield is a site's edge protection, resolved once from its config.
type shield struct {
	allow, deny []netip.Prefix
	maxBody     int64 // 0 = unlimited
	rates       []rateRule
	auth        []authRule
}

// rateRule is one [[sites.rate_limit]]: requests under prefix, counted
// per key.
type rateRule struct {
	prefix string
	header string // key by this request field; "" keys by client address
	window *limits.Window
}

// authRule is one [[sites.auth]]: requests under prefix must authenticate.
type authRule struct {
	prefix    string
	basic     bool
	token     [sha256.Size]byte            // bearer: the token's hash
	users     map[string][sha256.Size]byte // basic: each user's password hash
	challenge string                       // WWW-Authenticate of a 401
}

// newShield resolves cs's protections.
func newShield(cs *config.Site) (*shield, error) {
	s := &shield{allow: cs.Allow, deny: cs.Deny, maxBody: int64(cs.MaxBody)}
	for _, rl := range cs.RateLimits {
		w, err := limits.NewWindow(limits.WindowOptions{Limit: rl.Limit, Window: rl.Window.D(), Sliding: rl.Algorithm == "sliding", MaxKeys: rl.MaxKeys})
		if err != nil {
			return nil, fmt.Errorf("site %q: rate limit %s: %w", cs.Name, rl.Prefix, err)
		}
		header, _ := strings.CutPrefix(rl.Key, "header:")
		if rl.Key == "ip" {
			header = ""
		}
		s.rates = append(s.rates, rateRule{prefix: rl.Prefix, header: header, window: w})
	}
	for _, a := range cs.Auth {
		rule := authRule{prefix: a.Prefix, basic: a.Type == "basic"}
		if rule.basic {
			rule.users = make(map[string][sha256.Size]byte, len(a.Users))
			for _, u := range a.Users {
				rule.users[u.Name] = sha256.Sum256([]byte(u.Password))
			}
			rule.challenge = `Basic realm="` + a.Realm + `", charset="UTF-8"`
		} else {
			rule.token = sha256.Sum256([]byte(a.Token))
			rule.challenge = `Bearer realm="` + a.Realm + `"`
		}
		s.auth = append(s.auth, rule)
	}
	return s, nil
}

// admits reports whether the site serves client: in allow (when allow is
// set) and not in deny.
func (s *shield) admits(client netip.Addr) bool {
	if len(s.allow) > 0 && !contains(s.allow, client) {
		return false
	}
	return !contains(s.deny, client)
}

// contains reports whether any of nets holds a.
func contains(nets []netip.Prefix, a netip.Addr) bool {
	a = a.Unmap()
	for _, n := range nets {
		if n.Contains(a) {
			return true
		}
	}
	return false
}

// Admit reports whether any site would serve a client at a: the
// listeners close other connections as soon as they are accepted, before
// TLS. Safe for concurrent use.
func (p *Proxy) Admit(a netip.Addr) bool {
	for _, s := range p.sites {
		if s.shield.admits(a) {
			return true
		}
	}
	return false
}

// TrustRejects makes the proxy answer the requests the HTTP/1 guard put
// in place of rejected ones, which carry token (see h1.Guard); until then
// such requests are ordinary requests.
func (p *Proxy) TrustRejects(token string) { p.rejectToken = token }

// screen applies the node-wide checks to a request before it is routed:
// one the HTTP/1 guard rejected, CONNECT, an HTTP/2 target or field count
// over the limits, and the in-flight caps. It answers a request that goes no
// further and returns false; with true the caller must call p.release(x)
// when the request is done.
func (p *Proxy) screen(w http.ResponseWriter, r *http.Request, x *exchange) bool {
	if vs := r.Header[h1.RejectField]; len(vs) > 0 {
		if status, reason, ok := h1.ParseReject(vs[0], p.rejectToken); ok && p.rejectToken != "" {
			p.reject(w, x, status, reason, "the request is malformed or ambiguous ("+reason+") and was not forwarded")
			return false
		}
		delete(r.Header, h1.RejectField) // a client's own: meaningless
	}
	// The HTTP/1 guard enforced the target, Host and field rules already.
	h2 := r.ProtoMajor >= 2
	var bad *h1.Error
	if h2 && r.Method != http.MethodConnect {
		bad = h1.CheckOrigin(r.Method, r.RequestURI, r.Host)
	}
	switch {
	case r.Method == http.MethodConnect:
		p.reject(w, x, http.StatusMethodNotAllowed, rejectConnect, "CONNECT is not served here")
		return false
	case h2 && p.maxURL > 0 && len(r.RequestURI) > p.maxURL:
		p.reject(w, x, http.StatusRequestURITooLong, rejectURL, "the request target is longer than this node accepts")
		return false
	case h2 && p.maxFields > 0 && fieldLines(r.Header) > p.maxFields:
		p.reject(w, x, http.StatusRequestHeaderFieldsTooLarge, rejectFields, "the request has more header fields than this node accepts")
		return false
	case bad != nil:
		p.reject(w, x, bad.Status, bad.Reason, "the request's path or authority is malformed ("+bad.Reason+") and was not forwarded")
		return false
	}
	x.client = p.clientAddr(r)
	if p.inFlight == nil {
		return true
	}
	if p.perClient {
		x.flightKey = x.client.String()
	}
	if err := p.inFlight.Acquire(x.flightKey); err != nil {
		if errors.Is(err, limits.ErrPerKey) {
			p.reject(w, x, http.StatusTooManyRequests, rejectClientLimit, "too many requests from this client at once")
		} else {
			p.reject(w, x, http.StatusServiceUnavailable, rejectInFlight, "this node is serving as many requests as it can; try again")
		}
		return false
	}
	x.inFlight = true
	return true
}

// closeUnswitched ends an HTTP/1 connection after a CONNECT or upgrade
// request, whatever its answer, unless the protocol switches: the guard
// stops following the framing after one, so nothing that follows may be
// read as a request.
func closeUnswitched(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodConnect || r.Header.Get("Upgrade") != "" {
		endHTTP1(w, r)
	}
}

// endHTTP1 makes an HTTP/1 connection end with this answer (an HTTP/2
// stream is answered alone; its connection goes on).
func endHTTP1(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor == 1 {
		w.Header().Set("Connection", "close")
	}
}

// release ends what screen started.
func (p *Proxy) release(x *exchange) {
	if x.inFlight {
		p.inFlight.Release(x.flightKey)
	}
}

// fieldLines counts a header's field lines.
func fieldLines(h http.Header) int {
	n := 0
	for _, vs := range h {
		n += len(vs)
	}
	return n
}

// protect applies the site's protections to a routed request: access
// lists, authentication, rate limits and the body limit. It answers a
// request that goes no further and returns false.
func (p *Proxy) protect(w http.ResponseWriter, r *http.Request, x *exchange) bool {
	s := x.site.shield
	if !s.admits(x.client) {
		p.reject(w, x, http.StatusForbidden, rejectDenied, "this client may not use this site")
		return false
	}
	path := r.URL.Path
	if a := s.authFor(path); a != nil && !p.authenticate(w, r, x, a) {
		return false
	}
	var wait time.Duration
	for _, rl := range s.rates {
		if !strings.HasPrefix(path, rl.prefix) {
			continue
		}
		key := ""
		if rl.header != "" {
			key = r.Header.Get(rl.header)
		}
		if key == "" {
			key = x.client.String()
		}
		if ok, after := rl.window.Allow(key, x.start); !ok {
			wait = max(wait, after)
		}
	}
	if wait > 0 {
		w.Header().Set("Retry-After", strconv.FormatInt(int64(math.Ceil(wait.Seconds())), 10))
		p.reject(w, x, http.StatusTooManyRequests, rejectRate, "too many requests; slow down")
		return false
	}
	if s.maxBody > 0 && r.ContentLength > s.maxBody {
		p.rejectBody(w, r, x)
		return false
	}
	if r.Body != nil && r.Body != http.NoBody {
		var body io.Reader = r.Body
		if s.maxBody > 0 {
			body = http.MaxBytesReader(w, r.Body, s.maxBody)
		}
		r.Body = &bodyLimit{r: body, c: r.Body, x: x}
		if r.ContentLength < 0 {
			return p.readAhead(w, r, x)
		}
	}
	return true
}

// readAheadBytes is how much of a body of unknown length (chunked) the
// node reads before it forwards the request.
const readAheadBytes = 64 << 10

// readAhead reads up to readAheadBytes of a chunked request body before
// anything goes upstream: a body that ends within them is forwarded whole
// (still chunked, as DESIGN's header policy says of a body that came
// without a length), and one whose framing breaks or that passes the site's
// limit within them is answered (400, 413) without the origin ever seeing
// the request. A longer body streams; if it breaks later, the upstream
// request is cut off and the client answered the same way.
func (p *Proxy) readAhead(w http.ResponseWriter, r *http.Request, x *exchange) bool {
	head := make([]byte, 0, 4<<10)
	for len(head) < readAheadBytes {
		if len(head) == cap(head) {
			head = slices.Grow(head, len(head))
		}
		n, err := r.Body.Read(head[len(head):min(cap(head), readAheadBytes)])
		head = head[:len(head)+n]
		if errors.Is(err, io.EOF) {
			r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(head)), int64(len(head))
			return true
		}
		if err != nil {
			return !p.bodyFailure(w, r, x)
		}
	}
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(head), r.Body), r.Body}
	return true
}

// rejectBody answers a request whose body is over the site's limit, and
// ends an HTTP/1 connection: the rest of the body is not read.
func (p *Proxy) rejectBody(w http.ResponseWriter, r *http.Request, x *exchange) {
	endHTTP1(w, r)
	p.reject(w, x, http.StatusRequestEntityTooLarge, rejectBody, "the request body is larger than this site accepts")
}

// authFor is the auth rule with the longest prefix of path, or nil: a
// nested prefix (/api/admin/ under /api/) has its own credentials.
func (s *shield) authFor(path string) *authRule {
	var best *authRule
	for i := range s.auth {
		if a := &s.auth[i]; strings.HasPrefix(path, a.prefix) && (best == nil || len(a.prefix) > len(best.prefix)) {
			best = a
		}
	}
	return best
}

// authenticate checks r against rule a: a bearer token (401 without one,
// 403 for a wrong one) or Basic credentials (401 with the challenge
// otherwise). Credentials are compared in constant time, by their
// SHA-256 hashes so that length does not show, and never logged. An
// accepted Authorization field is not forwarded: it was for this node.
func (p *Proxy) authenticate(w http.ResponseWriter, r *http.Request, x *exchange, a *authRule) bool {
	scheme, cred, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	want := "Bearer"
	if a.basic {
		want = "Basic"
	}
	if !strings.EqualFold(scheme, want) || cred == "" {
		w.Header().Set("WWW-Authenticate", a.challenge)
		p.reject(w, x, http.StatusUnauthorized, rejectAuthMissing, "authentication required")
		return false
	}
	ok := false
	if a.basic {
		ok = a.checkBasic(strings.TrimSpace(cred))
	} else {
		sum := sha256.Sum256([]byte(strings.TrimSpace(cred)))
		ok = subtle.ConstantTimeCompare(sum[:], a.token[:]) == 1
	}
	switch {
	case ok:
		r.Header.Del("Authorization")
		return true
	case a.basic:
		w.Header().Set("WWW-Authenticate", a.challenge)
		p.reject(w, x, http.StatusUnauthorized, rejectAuthWrong, "wrong credentials")
	default:
		p.reject(w, x, http.StatusForbidden, rejectAuthWrong, "wrong credentials")
	}
	return false
}

// checkBasic reports whether cred (base64 "user:password") names a user
// of a with the right password.
func (a *authRule) checkBasic(cred string) bool {
	raw, err := base64.StdEncoding.DecodeString(cred)
	if err != nil {
		return false
	}
	user, pass, found := strings.Cut(string(raw), ":")
	want, known := a.users[user]
	sum := sha256.Sum256([]byte(pass))
	return subtle.ConstantTimeCompare(sum[:], want[:]) == 1 && found && known
}

// bodyLimit is a request body, cut at the site's limit when it has one
// (http.MaxBytesReader); it records a failed read so the answer can say
// why.
type bodyLimit struct {
	r io.Reader
	c io.Closer
	x *exchange
}

func (b *bodyLimit) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) && b.x.bodyErr == nil {
		b.x.bodyErr = err
	}
	return n, err
}

func (b *bodyLimit) Close() error { return b.c.Close() }

// bodyFailure answers a request whose own body failed while it was sent
// upstream, if it did: 413 past the site's limit, 400 for a body that
// broke its framing. It reports whether it answered.
func (p *Proxy) bodyFailure(w http.ResponseWriter, r *http.Request, x *exchange) bool {
	var tooLarge *http.MaxBytesError
	switch {
	case x.bodyErr == nil:
		return false
	case errors.As(x.bodyErr, &tooLarge):
		p.rejectBody(w, r, x)
	default:
		endHTTP1(w, r)
		p.reject(w, x, http.StatusBadRequest, rejectBadBody, "the request body is malformed or ended early")
	}
	return true
}

// reject answers a request the node refuses, counting it by reason.
func (p *Proxy) reject(w http.ResponseWriter, x *exchange, code int, reason, msg string) {
	p.metrics.Rejections.WithLabelValues(reason).Inc()
	x.out = outcome{cache: metrics.Error, detail: reason}
	p.refuse(w, x, code, msg)
}

// trustedPeer reports whether r came straight from a trusted proxy.
func (p *Proxy) trustedPeer(r *http.Request) bool {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	return err == nil && contains(p.trusted, peer.Addr())
}

// clientAddr is the client's address: the connection's peer, or, when
// that peer is a trusted proxy, the last address in X-Forwarded-For that
// is not a trusted proxy itself (RFC 7239 §5.2 reasoning: only hops we
// trust could have appended what follows it).
func (p *Proxy) clientAddr(r *http.Request) netip.Addr {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.IPv6Unspecified()
	}
	client := peer.Addr().Unmap()
	if !contains(p.trusted, client) {
		return client
	}
	xff := r.Header["X-Forwarded-For"]
	for i := len(xff) - 1; i >= 0; i-- {
		elems := strings.Split(xff[i], ",")
		for j := len(elems) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(elems[j]))
			if err != nil {
				return client // a hop we cannot read: trust no further
			}
			client = a.Unmap()
			if !contains(p.trusted, client) {
				return client
			}
		}
	}
	return client
}
