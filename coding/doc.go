// Package coding owns content codings (RFC 9110 §8.4): what a client accepts,
// what a response carries, and pooled streaming codecs between them.
//
// A Coding names one of the codings the node knows: identity, gzip, zstd and
// br. Of reads a response's Content-Encoding, ParseAccept a request's
// Accept-Encoding; Accept.Best is what the node serves that client. Encoder
// and Decoder stream one body each and go back to package-level pools when
// closed, so a fill or a hit allocates no codec state after warm-up; Transcode
// composes them. Origin bodies are untrusted: a Decoder reports a corrupt or
// truncated stream as an error wrapping ErrCorrupt and never holds more than
// a bounded window (8 MiB for zstd, RFC 9659; 16 MiB for br; 32 KiB for
// gzip).
//
// Parsing functions are pure and safe for concurrent use; an Encoder or a
// Decoder belongs to one goroutine at a time.
package coding
