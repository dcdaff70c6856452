package demoorigin

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"
)

// Limits and defaults of the object parameters.
const (
	defaultSize  = 1024
	maxSize      = 1 << 30
	maxDelay     = 60 * time.Second
	defaultCC    = "public, max-age=60"
	setCookieVal = "demo=1; Path=/"
)

// LastModified is the Last-Modified that lm=1 sends: a conditional request
// whose If-Modified-Since is this instant gets a 304, whether the server
// compares exactly (nginx's default) or by "not after" (RFC 9110 §13.1.3).
func LastModified() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }

// params are an object request's query parameters, validated.
type params struct {
	size     int64
	body     bodyKind
	ce       coding // sent whatever the request accepts, unless ceAuto
	ceAuto   bool   // ce=auto: negotiated from Accept-Encoding
	ctype    string
	cc       string // "" sends no Cache-Control
	cdncc    string // "" sends no CDN-Cache-Control
	delay    time.Duration
	status   int
	etag     bool
	lastMod  time.Time // zero: no Last-Modified
	vary     string    // request field name; "" when not varying
	tags     []string
	chunked  bool
	abort    int64 // body bytes to send before killing the connection; -1 for none
	setCook  bool
	raw      []rawField // sent as given
	hasAbort bool
}

// rawField is a response header field whose value a parameter gives verbatim.
type rawField struct{ name, value string }

// rawParams map parameters to the fields they set verbatim when non-empty.
var rawParams = []struct{ param, field string }{
	{"cdncc", "CDN-Cache-Control"},
	{"expires", "Expires"},
	{"age", "Age"},
	{"location", "Location"},
	{"clocation", "Content-Location"},
}

// parseParams validates the query of an object request. Unknown parameters
// are ignored, so tests can add their own to vary the cache key. The error
// is meant for a 400 body.
func parseParams(rawQuery string) (params, error) {
	// A malformed pair (say "a;b") is skipped: ParseQuery keeps the rest.
	q, _ := url.ParseQuery(rawQuery)
	p := params{size: defaultSize, cc: defaultCC, status: http.StatusOK, abort: -1}
	var err error
	if v, ok := lookup(q, "size"); ok {
		if p.size, err = strconv.ParseInt(v, 10, 64); err != nil || p.size < 0 || p.size > maxSize {
			return p, fmt.Errorf("size %q: want bytes in [0, %d]", v, maxSize)
		}
	}
	if v, ok := lookup(q, "body"); ok {
		if p.body, err = parseBodyKind(v); err != nil {
			return p, err
		}
	}
	if p.body == bodyJSON && p.size < minJSONSize {
		return p, fmt.Errorf("size %d: body=json needs at least %d bytes, the size of [], the smallest JSON document", p.size, minJSONSize)
	}
	p.ctype = p.body.defaultType()
	if v, ok := lookup(q, "type"); ok {
		p.ctype = v
	}
	if v, ok := lookup(q, "ce"); ok && v != "" {
		if v == "auto" {
			p.ceAuto = true
		} else if p.ce, err = parseCoding(v); err != nil {
			return p, err
		}
	}
	if v, ok := lookup(q, "cc"); ok {
		p.cc = v
	}
	if v, ok := lookup(q, "delay"); ok {
		if p.delay, err = time.ParseDuration(v); err != nil || p.delay < 0 || p.delay > maxDelay {
			return p, fmt.Errorf("delay %q: want a duration in [0, %v]", v, maxDelay)
		}
	}
	if v, ok := lookup(q, "status"); ok {
		// 101 would switch protocols mid-response; every other 1xx is sent
		// as an interim response before the 200.
		if p.status, err = strconv.Atoi(v); err != nil || p.status < 100 || p.status > 599 || p.status == http.StatusSwitchingProtocols {
			return p, fmt.Errorf("status %q: want 100-599 except 101", v)
		}
	}
	if p.etag, err = flag(q, "etag"); err != nil {
		return p, err
	}
	lm, err := flag(q, "lm")
	if err != nil {
		return p, err
	}
	if lm {
		p.lastMod = LastModified()
	}
	if v, ok := lookup(q, "lastmod"); ok {
		if p.lastMod, err = http.ParseTime(v); err != nil {
			return p, fmt.Errorf("lastmod %q: want an HTTP date: %w", v, err)
		}
	}
	if v, ok := lookup(q, "vary"); ok && v != "" {
		if !httpguts.ValidHeaderFieldName(v) {
			return p, fmt.Errorf("vary %q: want one header field name", v)
		}
		p.vary = http.CanonicalHeaderKey(v)
	}
	if v, ok := lookup(q, "tags"); ok {
		for t := range strings.SplitSeq(v, ",") {
			if t = strings.TrimSpace(t); t != "" {
				p.tags = append(p.tags, t)
			}
		}
	}
	if p.chunked, err = flag(q, "chunked"); err != nil {
		return p, err
	}
	if p.setCook, err = flag(q, "setcookie"); err != nil {
		return p, err
	}
	if v, ok := lookup(q, "abort"); ok {
		if p.abort, err = strconv.ParseInt(v, 10, 64); err != nil || p.abort < 0 {
			return p, fmt.Errorf("abort %q: want a byte count >= 0", v)
		}
		p.abort = min(p.abort, p.size)
		p.hasAbort = true
	}
	for _, f := range rawParams {
		if v, ok := lookup(q, f.param); ok && v != "" {
			p.raw = append(p.raw, rawField{f.field, v})
		}
	}
	for _, v := range append([]string{p.ctype, p.cc, strings.Join(p.tags, " ")}, rawValues(p.raw)...) {
		if !httpguts.ValidHeaderFieldValue(v) {
			return p, fmt.Errorf("%q: not a valid header field value", v)
		}
	}
	return p, nil
}

// lookup returns the first value of parameter name and whether it was sent.
func lookup(q url.Values, name string) (string, bool) {
	vs, ok := q[name]
	if !ok || len(vs) == 0 {
		return "", false
	}
	return vs[0], true
}

// flag parses boolean parameter name ("1", "true", "0", ...); absent is false.
func flag(q url.Values, name string) (bool, error) {
	v, ok := lookup(q, name)
	if !ok {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s %q: want 1 or 0", name, v)
	}
	return b, nil
}

// rawValues lists the values of fs.
func rawValues(fs []rawField) []string {
	vs := make([]string, len(fs))
	for i, f := range fs {
		vs[i] = f.value
	}
	return vs
}

// coding is the content coding of the answer to a request whose
// Accept-Encoding field lines are acceptEncoding.
func (p *params) coding(acceptEncoding []string) coding {
	if p.ceAuto {
		return negotiate(acceptEncoding)
	}
	return p.ce
}
