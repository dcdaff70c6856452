package purge

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// ErrInvalid marks a purge request that names nothing valid (400).
var ErrInvalid = errors.New("purge: invalid request")

// Kind names what r purges, checking that exactly one target is set and
// that every URL is absolute http(s) with a host.
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
		if t == "" || strings.ContainsAny(t, " \t\r\n,") {
			return "", fmt.Errorf("%w: tag %q", ErrInvalid, t)
		}
	}
	if strings.ContainsAny(r.All, "/ \t\r\n") {
		return "", fmt.Errorf("%w: host %q", ErrInvalid, r.All)
	}
	return k, nil
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
