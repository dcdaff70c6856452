// Package cachepolicy owns the HTTP caching rules of a shared cache: RFC 9111
// (storing, freshness, age, reuse, invalidation, freshening with a 304), the
// RFC 9110 conditional and range requests a cache answers itself, and the
// RFC 9213 targeted cache-control fields (CDN-Cache-Control and friends).
//
// Every function is pure: it reads the header maps it is given, never
// modifies them, takes the current time as a `now` argument and does no I/O.
// The caller stores, evicts and serves. Functions that return a header map
// return a new one the caller owns. All functions are safe for concurrent use
// and never panic on malformed input: a malformed field is either reported
// as an error or ignored, as each function's comment says.
package cachepolicy
