package demoorigin

import "github.com/cespare/xxhash/v2"

// bodyGen generates an object's body: printable ASCII (0x20-0x7e) from a
// splitmix64 stream seeded by the object's name (and Vary value). The bytes
// depend only on the seed and their offset, so bodies of one name and
// different sizes share a prefix, and a body can be generated in chunks of
// any multiple of 8 bytes without ever holding all of it.
type bodyGen struct{ state uint64 }

// newBodyGen seeds a generator with name and, when the object varies, the
// request's value of the Vary field.
func newBodyGen(name string, varies bool, varyValue string) bodyGen {
	var d xxhash.Digest
	d.Reset()
	_, _ = d.WriteString(name)
	if varies {
		_, _ = d.WriteString("\x00vary\x00")
		_, _ = d.WriteString(varyValue)
	}
	return bodyGen{state: d.Sum64()}
}

// next is one splitmix64 step.
func (g *bodyGen) next() uint64 {
	g.state += 0x9e3779b97f4a7c15
	z := g.state
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// fill writes the next len(p) body bytes into p. Every call but the last must
// have len(p) a multiple of 8, or the stream loses its place.
func (g *bodyGen) fill(p []byte) {
	for len(p) >= 8 {
		x := g.next()
		for i := range 8 {
			p[i] = printable(byte(x >> (8 * i)))
		}
		p = p[8:]
	}
	if len(p) > 0 {
		x := g.next()
		for i := range p {
			p[i] = printable(byte(x >> (8 * i)))
		}
	}
}

// printable maps a random byte onto the 95 printable ASCII characters.
func printable(b byte) byte {
	return 0x20 + byte((uint32(b)*95)>>8)
}
