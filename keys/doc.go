// Package keys owns cache keys: the normalised primary key of a request
// (scheme, host, path and query), the secondary key of a variant selected by
// the response's Vary field (RFC 9111 §4.1), the key of a copy the node
// transcoded into another content coding, their 64-bit xxhash and the shard
// a key belongs to. A variant on Accept-Encoding is keyed by the coding the
// node would serve the client (zstd, gzip or identity), not by the header's
// text, so an object has at most three such variants.
//
// A Key is a small value: copy it freely. Its Hash is what maps and shards
// index by; its Full text is stored beside the object so a lookup can rule
// out a hash collision by comparing Full. Every function is pure, safe for
// concurrent use and never panics, whatever its input.
package keys
