// Package purge owns PURGE semantics: what a purge names (one URL with all
// its variants, a URL prefix, a whole site, surrogate keys), hard or soft;
// who may ask for one; and the fan-out of an accepted purge to the other
// nodes of a fleet. The proxy applies purges to the cache.
package purge

// Kind is what a purge names.
type Kind string

// The kinds of purge.
const (
	Exact  Kind = "exact"  // one URL, every Vary variant of it
	Prefix Kind = "prefix" // every URL of a host under a path prefix
	All    Kind = "all"    // every URL of a host
	Tag    Kind = "tag"    // every object carrying one of the surrogate keys
)

// Request is a purge as the admin API takes it (POST /purge, JSON) and as
// a node forwards it to its peers. Exactly one of URLs, Prefix, Tags and
// All is set.
type Request struct {
	URLs   []string `json:"urls,omitempty"`   // absolute URLs, exact purge
	Prefix string   `json:"prefix,omitempty"` // absolute URL whose path is the prefix
	Tags   []string `json:"tags,omitempty"`   // surrogate keys
	All    string   `json:"all,omitempty"`    // a host: everything of it
	Soft   bool     `json:"soft,omitempty"`   // mark stale instead of removing
}

// Result is the admin API's answer: what this node purged and, when it
// forwarded the purge, each peer's outcome.
type Result struct {
	Kind Kind `json:"kind"`
	Soft bool `json:"soft,omitempty"`
	// Purged counts the objects the purge named when it was accepted: the
	// URLs found for an exact purge, the objects carrying the surrogate
	// keys for a tag purge. A prefix or site purge is not counted (Swept):
	// counting would mean scanning the cache while the purge waits.
	Purged int          `json:"purged"`
	Swept  bool         `json:"swept,omitempty"` // what it names is found and removed in the background
	Peers  []PeerResult `json:"peers,omitempty"`
}

// PeerResult is one peer's answer to a forwarded purge.
type PeerResult struct {
	Peer     string `json:"peer"`             // the peer's admin base URL
	Status   int    `json:"status,omitempty"` // its HTTP status, 0 if none came
	Purged   int    `json:"purged"`           // what it reported purging
	Attempts int    `json:"attempts"`         // requests sent, retries included
	Error    string `json:"error,omitempty"`  // why it failed, empty on success
}

// Fields of a PURGE request on the traffic listener, and of a forwarded one.
const (
	// ModeField "soft" makes a purge mark objects stale.
	ModeField = "Purge-Mode"
	// TagField lists surrogate keys (space-separated) to purge.
	TagField = "Surrogate-Key"
	// HopField marks a purge forwarded by a peer: applied locally, never
	// forwarded again.
	HopField = "Cdnnode-Purge-Hop"
)
