package purge

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// ErrInvalid marks a purge request that names nothing valid (400).
var ErrInvalid = errors.New("purge: invalid request")

// Kind names what r purges, checking that exactly one target is set, that
// every URL is absolute http(s) with a host and every tag a ValidTag.
func (r *Request) Kind() (Kind, error) {
	set := 0
	var k Kind
	if len(r.URLs) > 0 {
		set, k = set+1, Exact
	}
	if r.Prefix != "" {
		set, k = set+1, Prefix
	}
	if len(r.Tags) > 0 {
		set, k = set+1, Tag
	}
	if r.All != "" {
		set, k = set+1, All
	}
	if set != 1 {
		return "", fmt.Errorf("%w: name exactly one of urls, prefix, tags and all (got %d)", ErrInvalid, set)
	}
	for _, raw := range append(r.URLs, r.Prefix) {
		if raw == "" {
			continue
		}
		if _, err := ParseURL(raw); err != nil {
			return "", err
		}
	}
	for _, t := range r.Tags {
		if !ValidTag(t) {
			return "", fmt.Errorf("%w: tag %q: a surrogate key is visible ASCII without spaces or commas", ErrInvalid, t)
		}
	}
	if strings.ContainsAny(r.All, "/ \t\r\n") {
		return "", fmt.Errorf("%w: host %q", ErrInvalid, r.All)
	}
	return k, nil
}

// ValidTag reports whether t can be a surrogate key: one or more bytes of
// visible ASCII (0x21-0x7E) other than the comma. Such a tag reads the
// same in every field that carries tags, the origin's Surrogate-Key
// (space-separated) and Cache-Tag (comma-separated) and a PURGE's
// Surrogate-Key, and in the API: the node stores no other tag (the proxy
// drops them) and Kind refuses a purge naming one, as it could match
// nothing.
func ValidTag(t string) bool {
	if t == "" {
		return false
	}
	for i := range len(t) {
		if c := t[i]; c <= ' ' || c > '~' || c == ',' {
			return false
		}
	}
	return true
}

// ParseURL parses an absolute http or https URL with a host.
func ParseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: %q is not an absolute http(s) URL", ErrInvalid, raw)
	}
	return u, nil
}
