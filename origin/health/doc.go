// Package health tracks whether each peer of an origin pool may be sent
// requests, combining active checks (probes on a timer, as Pingora's
// TcpHealthCheck and HttpHealthCheck, nginx's health_check and HAProxy's
// check do) with passive checks (the outcomes of real origin exchanges, as
// nginx's max_fails/fail_timeout and Envoy's outlier detection do).
//
// A Checker probes one peer: a TCP connect, or an HTTP GET judged by its
// status and, optionally, a substring or regular expression in the first
// MaxBody bytes of its body. A Monitor owns the state of one list of peers:
// Run probes each peer on its own jittered timer, Report feeds it the
// proxy's outcomes, and Healthy answers the selection hot path with one
// atomic load.
//
// A peer is healthy when its active verdict is up (always, without a
// Checker) and it is not passively ejected. The active verdict falls after
// Fall consecutive failed probes and rises after Rise consecutive passing
// ones. A passive ejection starts after Passive.MaxFails consecutive failed
// exchanges, or when more than Passive.MaxErrorRate of the last
// Passive.Window exchanges failed, and lasts Passive.CoolDown; the peer
// then gets traffic again on probation, and its next failure ejects it at
// once.
//
// Peers start up by default. A node that starts, or a pool that is
// reconfigured, serves at once instead of answering 503 for the Rise
// probes (seconds) it would take to prove every peer; nginx and Pingora
// make the same choice. A dead peer costs little meanwhile: passive
// checks eject it after a few failed requests, the proxy retries
// idempotent requests on another peer, and the first probe runs within
// one interval. Options.InitialDown is for fleets where a peer that was
// never proved must never see a request.
//
// Peers are Targets: the names the pool was given ("host:port",
// "http://host:port", "https://host:port" or "unix:/path") and how probes
// connect to each (Conn: its dialer, TLS configuration and h2c), so a
// probe reaches a peer as the pool's requests do.
package health
