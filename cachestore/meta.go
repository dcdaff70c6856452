package cachestore

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/cdnnode/cdnnode/cachepolicy"
	"github.com/cdnnode/cdnnode/coding"
)

// metaVersion is the layout of the metadata a disk record carries; a record
// of another version is not read.
const metaVersion = 1

// meta is everything about an object but its body, as a disk record stores
// it. Times are kept absolute, so Age stays right across restarts.
type meta struct {
	Version  int         `json:"v"`
	Key      string      `json:"key"`
	Status   int         `json:"status"`
	Header   http.Header `json:"header,omitempty"`
	Tags     []string    `json:"tags,omitempty"`
	Stamp    time.Time   `json:"stamp"`
	Vary     []string    `json:"vary,omitempty"`
	Targeted http.Header `json:"targeted,omitempty"`
	// Coding and IdentitySize are set only for a body the node coded.
	Coding       string `json:"coding,omitempty"`
	IdentitySize int64  `json:"identity_size,omitempty"`

	Lifetime             time.Duration `json:"lifetime"`
	InitialAge           time.Duration `json:"initial_age"`
	ResponseTime         time.Time     `json:"response_time"`
	NoCache              bool          `json:"no_cache,omitempty"`
	MustRevalidate       bool          `json:"must_revalidate,omitempty"`
	StaleWhileRevalidate time.Duration `json:"swr,omitempty"`
	StaleIfError         time.Duration `json:"sie,omitempty"`
}

// encodeMeta serialises o's metadata (not its body).
func encodeMeta(o *Object) ([]byte, error) {
	m := meta{
		Version: metaVersion, Key: o.Key, Status: o.Status, Header: o.Header,
		Tags: o.Tags, Stamp: o.Stamp, Vary: o.Vary, Targeted: o.Targeted,
		Lifetime: o.Policy.Lifetime, InitialAge: o.Policy.InitialAge, ResponseTime: o.Policy.ResponseTime,
		NoCache: o.Policy.NoCache, MustRevalidate: o.Policy.MustRevalidate,
		StaleWhileRevalidate: o.Policy.StaleWhileRevalidate, StaleIfError: o.Policy.StaleIfError,
	}
	if o.Coding != coding.Identity {
		m.Coding, m.IdentitySize = o.Coding.String(), o.IdentitySize
	}
	b, err := json.Marshal(&m)
	if err != nil {
		return nil, fmt.Errorf("cachestore: encode metadata of %s: %w", o.Key, err)
	}
	return b, nil
}

// decodeMeta rebuilds an object without its body from encodeMeta's bytes,
// which come from disk and are not trusted: anything malformed or
// inconsistent is an error, never a panic.
func decodeMeta(b []byte) (*Object, error) {
	var m meta
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("cachestore: decode metadata: %w", err)
	}
	if len(m.Vary) == 0 {
		m.Vary = nil // a Vary index names at least one field
	}
	switch {
	case m.Version != metaVersion:
		return nil, fmt.Errorf("cachestore: metadata version %d, want %d", m.Version, metaVersion)
	case m.Key == "":
		return nil, fmt.Errorf("cachestore: metadata without a key")
	case m.Vary == nil && (m.Status < 100 || m.Status > 999):
		return nil, fmt.Errorf("cachestore: metadata of %s: status %d", m.Key, m.Status)
	case m.Lifetime < 0 || m.InitialAge < 0:
		return nil, fmt.Errorf("cachestore: metadata of %s: negative lifetime or age", m.Key)
	}
	c := coding.Identity
	switch m.Coding {
	case "":
		if m.IdentitySize != 0 {
			return nil, fmt.Errorf("cachestore: metadata of %s: identity size without a coding", m.Key)
		}
	case coding.Gzip.String():
		c = coding.Gzip
	case coding.Zstd.String():
		c = coding.Zstd
	default:
		return nil, fmt.Errorf("cachestore: metadata of %s: coding %q", m.Key, m.Coding)
	}
	if m.IdentitySize < -1 {
		return nil, fmt.Errorf("cachestore: metadata of %s: identity size %d", m.Key, m.IdentitySize)
	}
	o := &Object{
		Key: m.Key, Status: m.Status, Header: m.Header, Tags: m.Tags, Stamp: m.Stamp, Vary: m.Vary, Targeted: m.Targeted,
		Policy: cachepolicy.Entry{
			Lifetime: m.Lifetime, InitialAge: m.InitialAge, ResponseTime: m.ResponseTime,
			NoCache: m.NoCache, MustRevalidate: m.MustRevalidate,
			StaleWhileRevalidate: m.StaleWhileRevalidate, StaleIfError: m.StaleIfError,
		},
		Coding: c, IdentitySize: m.IdentitySize,
	}
	o.prepare()
	return o, nil
}
