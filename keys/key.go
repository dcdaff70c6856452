package keys

import (
	"math/bits"
	"strings"

	"github.com/cespare/xxhash/v2"

	"github.com/cdnnode/cdnnode/coding"
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
// normalised by normQuery. New allocates only the Full string.
func New(scheme, host, path, rawQuery string, o Options) Key {
	port := defaultPortOf(scheme)
	host, hostPort := splitPort(host)
	if hostPort == port {
		hostPort = ""
	}
	if path == "" {
		path = "/"
	}
	var b strings.Builder
	b.Grow(len(scheme) + len("://") + len(host) + 1 + len(hostPort) + len(path) + 1 + len(rawQuery))
	writeLower(&b, scheme)
	b.WriteString("://")
	writeLower(&b, host)
	if hostPort != "" {
		b.WriteByte(':')
		b.WriteString(hostPort)
	}
	b.WriteString(path)
	if rawQuery != "" {
		b.WriteByte('?')
		mark := b.Len()
		writeQuery(&b, rawQuery, o)
		if b.Len() == mark {
			// Nothing survived: drop the "?" again (a substring, no copy).
			full := b.String()[:mark-1]
			return Key{Hash: xxhash.Sum64String(full), Full: full}
		}
	}
	full := b.String()
	return Key{Hash: xxhash.Sum64String(full), Full: full}
}

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
func splitPort(hostport string) (host, port string) {
	if strings.HasPrefix(hostport, "[") {
		end := strings.IndexByte(hostport, ']')
		if end < 0 {
			return hostport, ""
		}
		rest := hostport[end+1:]
		if len(rest) > 0 && rest[0] == ':' {
			return hostport[:end+1], rest[1:]
		}
		return hostport, ""
	}
	i := strings.LastIndexByte(hostport, ':')
	if i < 0 || strings.IndexByte(hostport[:i], ':') >= 0 {
		return hostport, ""
	}
	return hostport[:i], hostport[i+1:]
}

// writeLower writes s to b with ASCII letters lower-cased.
func writeLower(b *strings.Builder, s string) {
	i := 0
	for i < len(s) && !('A' <= s[i] && s[i] <= 'Z') {
		i++
	}
	b.WriteString(s[:i]) // the common, already lower-case prefix in one copy
	for ; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b.WriteByte(c)
	}
}
