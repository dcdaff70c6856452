//go:build !race

package coding

// largeSize is the body TestTranscodeLarge streams.
const largeSize = 100 << 20
