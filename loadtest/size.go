package loadtest

import (
	"fmt"
	"math"
	"strings"

	"github.com/cdnnode/cdnnode/config"
)

// MaxSize is the largest object size a Size may name: the demo origin's
// limit.
const MaxSize = 1 << 30

// Size is the body size of the objects requested, sent to the demo origin
// as size=N. With Min == Max every object has that size; otherwise each
// object's size is drawn once from a log-uniform distribution over
// [Min, Max] (every doubling about equally likely, as object sizes on the
// web are closer to log-normal than to uniform), by a hash of its key
// alone. So an object keeps its size, and its URL, from request to
// request, from seed to seed and from run to run: a second run finds the
// first one's objects in cache.
type Size struct{ Min, Max int64 }

// ParseSize parses a fixed size ("1024", "1KiB", "64KB") or a range
// ("1KiB-64KiB"), with config.ParseSize's units. Sizes are bytes in
// [0, MaxSize] and a range's low end is at most its high end.
func ParseSize(s string) (Size, error) {
	lo, hi, isRange := strings.Cut(s, "-")
	a, err := parseOneSize(lo)
	if err != nil {
		return Size{}, err
	}
	if !isRange {
		return Size{a, a}, nil
	}
	b, err := parseOneSize(hi)
	if err != nil {
		return Size{}, err
	}
	if a > b {
		return Size{}, fmt.Errorf("invalid size range %q: %s is more than %s", s, config.Size(a), config.Size(b))
	}
	return Size{a, b}, nil
}

func parseOneSize(s string) (int64, error) {
	n, err := config.ParseSize(s)
	if err != nil {
		return 0, err
	}
	if n > MaxSize {
		return 0, fmt.Errorf("invalid size %q: more than the demo origin's 1GiB", s)
	}
	return int64(n), nil
}

// String formats s as ParseSize reads it: "1KiB" or "1KiB-64KiB".
func (s Size) String() string {
	if s.Min == s.Max {
		return config.Size(s.Min).String()
	}
	return config.Size(s.Min).String() + "-" + config.Size(s.Max).String()
}

// of returns the size of the object with this key, in [Min, Max].
func (s Size) of(key int64) int64 {
	if s.Min >= s.Max {
		return s.Min
	}
	u := float64(mix64(uint64(key)^0x5851f42d4c957f2d)>>11) * 0x1p-53
	lo, hi := math.Log(float64(s.Min)+1), math.Log(float64(s.Max)+1)
	n := int64(math.Exp(lo+u*(hi-lo))) - 1
	return min(max(n, s.Min), s.Max)
}
