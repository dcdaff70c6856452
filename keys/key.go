package keys

import (
	"math/bits"
	"slices"
	"strings"

	"github.com/cespare/xxhash/v2"

	"github.com/cdnnode/cdnnode/coding"
	"github.com/cdnnode/cdnnode/internal/ascii"
)

// Key identifies one cached response. Hash is xxhash64 of Full; Full is kept
// in the stored object so a hash collision is detected by comparing Full.
type Key struct {
	Hash uint64
	Full string
}

// Options are a site's key choices. The zero value keeps the query as sent,
// less empty parameters.
type Options struct {
	SortQuery  bool     // sort query parameters (stable by name then by original order of values)
	DropParams []string // query parameter names removed from the key (exact, case-sensitive)
}

// New builds the primary key: scheme (lower-cased) + "://" + host
// (lower-cased, default port dropped: 80 for http, 443 for https; IPv6
// literals keep brackets) + path (empty → "/") + "?" + query (only when
// non-empty after normalisation). Path is kept as given (escaped form,
// r.URL.EscapedPath()): RFC 3986 §6.2.2 normalisations of the path are left
// to the origin's judgement.
//
// Scheme and host compare case-insensitively and an empty or default port
// equals no port (RFC 3986 §6.2.3), so these are folded. The query is
// normalised by appendQuery. New allocates the Full string, and a buffer
// besides for a key longer than 256 bytes.
func New(scheme, host, path, rawQuery string, o Options) Key {
	var buf [256]byte
	full := AppendFull(buf[:0], scheme, host, path, rawQuery, o)
	return Key{Hash: xxhash.Sum64(full), Full: string(full)}
}

// AppendFull appends to dst the Full text of the key New builds from the
// same arguments and returns the extended slice: host, path and rawQuery
// may be bytes, such as a request head's, so that a key is built and
// looked up (with HashOf) without a string of its own. It allocates only
// to grow dst, and, as appendQuery says, for a sorted query of more than
// 32 parameters or an escaped parameter name checked against DropParams.
func AppendFull[S ~string | ~[]byte](dst []byte, scheme string, host, path, rawQuery S, o Options) []byte {
	port := defaultPortOf(scheme)
	host, hostPort := splitPort(host)
	if string(hostPort) == port {
		hostPort = hostPort[:0]
	}
	dst = slices.Grow(dst, len(scheme)+len("://")+len(host)+1+len(hostPort)+len(path)+1+len(rawQuery))
	dst = appendLower(dst, scheme)
	dst = append(dst, "://"...)
	dst = appendLower(dst, host)
	if len(hostPort) > 0 {
		dst = append(dst, ':')
		dst = append(dst, hostPort...)
	}
	if len(path) == 0 {
		dst = append(dst, '/')
	} else {
		dst = append(dst, path...)
	}
	if len(rawQuery) > 0 {
		dst = append(dst, '?')
		mark := len(dst)
		if dst = appendQuery(dst, rawQuery, o); len(dst) == mark {
			dst = dst[:mark-1] // nothing survived: drop the "?" again
		}
	}
	return dst
}

// HashOf is the Hash of the Key whose Full is full (as AppendFull builds
// it).
func HashOf(full []byte) uint64 { return xxhash.Sum64(full) }

// Shard maps the key to one of n shards from its hash, uniformly (Lemire's
// multiply-shift range reduction). n must be > 0; for n <= 0 Shard returns 0.
func (k Key) Shard(n int) int {
	if n <= 0 {
		return 0
	}
	hi, _ := bits.Mul64(k.Hash, uint64(n))
	return int(hi)
}

// Of rebuilds the Key whose Full is full, as an Object stores it.
func Of(full string) Key { return Key{Hash: xxhash.Sum64String(full), Full: full} }

// Coded returns the key under which the node stores its own c-coded copy of
// the object stored at k (a transcoded variant): k.Full + "\x00;coding=" +
// c.String(), hashed anew. It never equals a Variant key, as ";" cannot
// start a field name, nor the primary key of a request net/http accepts,
// which holds no NUL.
func (k Key) Coded(c coding.Coding) Key {
	full := k.Full + "\x00;coding=" + c.String()
	return Key{Hash: xxhash.Sum64String(full), Full: full}
}

// String returns Full.
func (k Key) String() string { return k.Full }

// defaultPortOf is the port a URI of scheme implies (case-insensitive), or ""
// for a scheme without one we know.
func defaultPortOf(scheme string) string {
	switch {
	case strings.EqualFold(scheme, "http"), strings.EqualFold(scheme, "ws"):
		return "80"
	case strings.EqualFold(scheme, "https"), strings.EqualFold(scheme, "wss"):
		return "443"
	}
	return ""
}

// splitPort splits authority host into host and port. A bracketed IPv6
// literal keeps its brackets; an unbracketed host with several colons is
// taken as having no port. An empty port ("host:") is returned as "", so it
// is dropped like a default one.
func splitPort[S ~string | ~[]byte](hostport S) (host, port S) {
	if len(hostport) > 0 && hostport[0] == '[' {
		end := ascii.IndexByte(hostport, ']')
		if end < 0 {
			return hostport, hostport[:0]
		}
		rest := hostport[end+1:]
		if len(rest) > 0 && rest[0] == ':' {
			return hostport[:end+1], rest[1:]
		}
		return hostport, hostport[:0]
	}
	i := ascii.LastIndexByte(hostport, ':')
	if i < 0 || ascii.IndexByte(hostport[:i], ':') >= 0 {
		return hostport, hostport[:0]
	}
	return hostport[:i], hostport[i+1:]
}

// appendLower appends s to dst with ASCII letters lower-cased.
func appendLower[S ~string | ~[]byte](dst []byte, s S) []byte {
	i := 0
	for i < len(s) && !('A' <= s[i] && s[i] <= 'Z') {
		i++
	}
	dst = append(dst, s[:i]...) // the common, already lower-case prefix in one copy
	for ; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}
