package coding

import (
	"math/rand/v2"
	"strconv"
)

// records is an endless NDJSON stream like an API's output: the same keys on
// every line, counters, prices, booleans, dates and words drawn from a small
// vocabulary by a seeded PCG, so it compresses like real JSON text and every
// run sees the same bytes for a seed.
type records struct {
	rng  *rand.Rand
	id   int
	buf  []byte // the current record
	rest []byte // what Read has not yet returned of buf
}

var words = [...]string{
	"alpha", "bravo", "cache", "delta", "edge", "fresh", "gamma", "hotel",
	"index", "juliet", "kilo", "lima", "metro", "node", "origin", "proxy",
	"quota", "route", "shard", "tango", "uniform", "vary", "whiskey", "xray",
	"yankee", "zulu", "stale", "purge", "vector", "matrix", "signal", "orbit",
}

func newRecords(seed uint64) *records {
	return &records{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// Read fills p with the stream; it never fails and never ends.
func (g *records) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(g.rest) == 0 {
			g.next()
		}
		c := copy(p[n:], g.rest)
		g.rest = g.rest[c:]
		n += c
	}
	return n, nil
}

// next formats the following record into buf.
func (g *records) next() {
	g.id++
	word := func() string { return words[g.rng.IntN(len(words))] }
	b := g.buf[:0]
	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, int64(g.id), 10)
	b = append(b, `,"name":"`...)
	b = append(b, word()...)
	b = append(b, ' ')
	b = append(b, word()...)
	b = append(b, `","email":"`...)
	b = append(b, word()...)
	b = strconv.AppendInt(b, int64(g.rng.IntN(1000)), 10)
	b = append(b, `@example.com","price":`...)
	b = strconv.AppendFloat(b, float64(g.rng.IntN(100000))/100, 'f', 2, 64)
	b = append(b, `,"stock":`...)
	b = strconv.AppendInt(b, int64(g.rng.IntN(500)), 10)
	b = append(b, `,"active":`...)
	b = strconv.AppendBool(b, g.rng.IntN(4) != 0)
	b = append(b, `,"created":"2025-`...)
	b = append(b, byte('0'+g.rng.IntN(2)), byte('1'+g.rng.IntN(9)), '-', byte('0'+g.rng.IntN(3)), byte('1'+g.rng.IntN(9)))
	b = append(b, `T12:00:00Z","tags":["`...)
	b = append(b, word()...)
	b = append(b, `","`...)
	b = append(b, word()...)
	b = append(b, `"],"description":"`...)
	for i := range 4 + g.rng.IntN(8) {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, word()...)
	}
	b = append(b, "\"}\n"...)
	g.buf = b
	g.rest = b
}
