//go:build race

package demoorigin

// bigSize is the body TestBigBody streams: the race detector makes a big one slow.
const bigSize = 8 << 20
