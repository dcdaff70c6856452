//go:build !race

package demoorigin

// bigSize is the body TestBigBody streams.
const bigSize = 64 << 20
