//go:build race

package coding

// largeSize is the body TestTranscodeLarge streams: the race detector makes
// 100 MiB through four codecs take minutes, and 16 MiB still outruns the
// zstd window twice.
const largeSize = 16 << 20
