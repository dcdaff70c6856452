package limits

import "errors"

// ErrLimited is wrapped by every refusal for a limit: a pool's or peer's
// (callers answer 503, or serve stale when they may) or a client's
// (ErrTotal, ErrPerKey: 503 and 429).
var ErrLimited = errors.New("limit reached")

// Reason names the limit that refused a request; its String is a metric
// label.
type Reason uint8

// The reasons a Limiter refuses a request.
const (
	// ReasonInFlight: no in-flight slot came free within MaxWait.
	ReasonInFlight Reason = iota
	// ReasonRate: no token would come within MaxWait (or ctx's deadline).
	ReasonRate
	// ReasonQueueFull: MaxQueue callers were already waiting.
	ReasonQueueFull

	numReasons
)

// String returns the reason as a metric label: "in_flight", "rate" or
// "queue_full".
func (r Reason) String() string {
	switch r {
	case ReasonInFlight:
		return "in_flight"
	case ReasonRate:
		return "rate"
	case ReasonQueueFull:
		return "queue_full"
	}
	return "unknown"
}

// LimitError is the refusal Acquire returns; it wraps ErrLimited. Callers
// read Reason with errors.As to count rejections.
type LimitError struct {
	Limiter string // the name given to New
	Reason  Reason
}

// Error describes the refusal, e.g. "limit peer 10.0.0.1:80: in_flight:
// limit reached".
func (e *LimitError) Error() string {
	return "limit " + e.Limiter + ": " + e.Reason.String() + ": " + ErrLimited.Error()
}

// Unwrap returns ErrLimited.
func (e *LimitError) Unwrap() error { return ErrLimited }
