package proxy

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/http/httpguts"

	"github.com/cdnnode/cdnnode/h1"
	"github.com/cdnnode/cdnnode/purge"
)

// FuzzPurgeFromRequest feeds purgeFromRequest what a PURGE request on the
// traffic listener can bring it: a Host and an origin-form target that
// h1.CheckOrigin admits (screen holds HTTP/2 to HTTP/1.1's rules), the
// target as r.URL.RequestURI() gives it, and any Surrogate-Key and
// Purge-Mode field lines (tags and modes hold one value a line). It must
// never panic; what Kind refuses is refused as invalid (400); and what it
// accepts names one target of the request's shape, on the request's own
// host: the Surrogate-Key's tags when that field came, the site for "/*",
// a prefix for a path ending in "*", else the URL requested.
func FuzzPurgeFromRequest(f *testing.F) {
	for _, s := range []struct {
		https            bool
		host, target     string
		tags, modes      string
		hasTags, hasMode bool
	}{
		{host: "a.example", target: "/a/b?x=1"},                                             // exact
		{https: true, host: "a.example:8443", target: "/a", modes: " Soft ", hasMode: true}, // soft, a port
		{host: "a.example", target: "/img/*"},                                               // prefix
		{host: "a.example", target: "/*"},                                                   // the whole site
		{host: "a.example", target: "/q?x=*"},                                               // a star in the query is exact
		{host: "a.example", target: "/", tags: "red  blue\ngreen", hasTags: true},           // two field lines
		{host: "a.example", target: "/x", tags: " ", hasTags: true},                         // an empty tag field
		{host: "a.example", target: "/x", tags: "a,b", hasTags: true},                       // a comma is not a separator here
		{host: "[::1]:8080", target: "/%2F/*"},                                              // IPv6, an escaped slash
		{host: "a.example", target: "//b.example/x"},                                        // looks like an authority
		{host: "a.example", target: "/a*b"},                                                 // a star inside the path is exact
		{host: "a.example", target: "/a?"},                                                  // an empty query
		{host: "a.example", target: "/x", modes: "hard\nsoft", hasMode: true},               // only the first mode counts
	} {
		f.Add(s.https, s.host, s.target, s.tags, s.hasTags, s.modes, s.hasMode)
	}
	f.Fuzz(func(t *testing.T, https bool, host, target, tags string, hasTags bool, modes string, hasMode bool) {
		// Only what screen admits, over any protocol, reaches the parser.
		if !strings.HasPrefix(target, "/") || h1.CheckOrigin(http.MethodGet, target, host) != nil {
			return
		}
		u, err := url.ParseRequestURI(target)
		if err != nil {
			return
		}
		uri := u.RequestURI()
		tagValues, ok := purgeFieldValues(tags, hasTags)
		if !ok {
			return
		}
		modeValues, ok := purgeFieldValues(modes, hasMode)
		if !ok {
			return
		}
		scheme := "http"
		if https {
			scheme = "https"
		}

		req := purgeFromRequest(scheme, host, uri, tagValues, modeValues)
		if want := len(modeValues) > 0 && strings.EqualFold(strings.TrimSpace(modeValues[0]), "soft"); req.Soft != want {
			t.Errorf("Soft = %v for Purge-Mode %q, want %v", req.Soft, modeValues, want)
		}
		k, err := req.Kind()
		if err != nil {
			if !errors.Is(err, purge.ErrInvalid) {
				t.Errorf("Kind() of %+v = %v, want an error wrapping purge.ErrInvalid", req, err)
			}
			return
		}
		switch {
		case hasTags:
			if k != purge.Tag || !slices.Equal(req.Tags, strings.Fields(strings.Join(tagValues, " "))) {
				t.Errorf("Surrogate-Key %q: %q purge of %q, want a tag purge of its tags", tagValues, k, req.Tags)
			}
		case uri == "/*":
			if k != purge.All || req.All != host {
				t.Errorf("PURGE /* on %q: %q purge of %q, want the host's site", host, k, req.All)
			}
		case strings.HasSuffix(uri, "*") && !strings.Contains(uri, "?"):
			if k != purge.Prefix {
				t.Fatalf("PURGE %s: %q purge, want a prefix purge", uri, k)
			}
			if p := onHost(t, req.Prefix, scheme, host); p.EscapedPath() != strings.TrimSuffix(uri, "*") || p.RawQuery != "" || p.ForceQuery {
				t.Errorf("PURGE %s: prefix %q, want the target less its star", uri, req.Prefix)
			}
		default:
			if k != purge.Exact || len(req.URLs) != 1 {
				t.Fatalf("PURGE %s: %q purge of %q, want an exact purge of one URL", uri, k, req.URLs)
			}
			if got := onHost(t, req.URLs[0], scheme, host).RequestURI(); got != uri {
				t.Errorf("PURGE %s: purges %q, whose target is %q", uri, req.URLs[0], got)
			}
		}
	})
}

// purgeFieldValues are the values of a field sent once per line of lines, or
// none when the field was not sent; ok is false when a value could not be
// a field line's (RFC 9110 §5.5).
func purgeFieldValues(lines string, sent bool) (values []string, ok bool) {
	if !sent {
		return nil, true
	}
	values = strings.Split(lines, "\n")
	for _, v := range values {
		if !httpguts.ValidHeaderFieldValue(v) {
			return nil, false
		}
	}
	return values, true
}

// onHost parses a purge's URL and checks that it has the request's scheme
// and host: a PURGE names URLs of its own host only.
func onHost(t *testing.T, raw, scheme, host string) *url.URL {
	t.Helper()
	u, err := purge.ParseURL(raw)
	if err != nil {
		t.Fatalf("Kind accepted %q, which ParseURL refuses: %v", raw, err)
	}
	if u.Scheme != scheme || u.Host != host {
		t.Fatalf("purge URL %q is on %s://%s, want the request's %s://%s", raw, u.Scheme, u.Host, scheme, host)
	}
	return u
}
