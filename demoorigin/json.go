package demoorigin

import (
	"strconv"
	"time"
)

// minJSONSize is the smallest body=json document, "[]": smaller sizes are
// refused with a 400.
const minJSONSize = 2

// jsonBody is body=json: an array of records, one a line (wrapped here),
//
//	[{"id":1,"name":"This Of","email":"this.of@example.com","active":false,
//	"age":34,"balance":9987.22,"created":"2026-01-01T00:09:15Z",
//	"tags":["with","for"],"address":{"street":"452 For Street","city":"Inch",
//	"zip":"00615"},"about":"Came set for hour eye said in of any went close."},
//	{"id":2,...},
//	{"pad":"shape horse had first never stead where a dog wait began"}]
//
// made exactly size bytes long: the records that fit whole come first, then
// a last record {"pad":"..."} whose string of words takes up the rest, or,
// when even that does not fit, spaces before the closing bracket. It
// generates one record at a time, each under 512 bytes.
type jsonBody struct {
	rng     splitmix
	out     pending
	size    int64 // the document's length, at least minJSONSize
	made    int64 // bytes generated so far
	records int64 // whole records generated
}

func newJSONBody(seed uint64, size int64) *jsonBody {
	g := &jsonBody{rng: splitmix{seed}, size: size}
	g.out.buf = make([]byte, 0, 512)
	return g
}

func (g *jsonBody) fill(p []byte) { g.out.fillFrom(p, g.appendNext) }

// appendNext appends the next record to b, or the end of the document when
// the record and the closing bracket would not fit in size.
func (g *jsonBody) appendNext(b []byte) []byte {
	if g.made == 0 {
		b = append(b, '[')
	}
	mark := len(b)
	if g.records > 0 {
		b = append(b, ",\n"...)
	}
	b = g.appendRecord(b)
	if g.made+int64(len(b))+1 <= g.size {
		g.records++
		g.made += int64(len(b))
		return b
	}
	b = g.appendEnd(b[:mark], int(g.size-g.made-int64(mark)))
	g.made = g.size
	return b
}

// appendEnd appends the document's last n bytes (n >= 1) to b.
func (g *jsonBody) appendEnd(b []byte, n int) []byte {
	const open, end = `{"pad":"`, `"}]`
	sep := ""
	if g.records > 0 {
		sep = ",\n"
	}
	pad := n - len(sep) - len(open) - len(end)
	if pad < 0 {
		for range n - 1 {
			b = append(b, ' ')
		}
		return append(b, ']')
	}
	b = append(b, sep...)
	b = append(b, open...)
	start := len(b)
	for len(b)-start < pad {
		if len(b) > start {
			b = append(b, ' ')
		}
		b = append(b, wordAt(g.rng.next())...)
	}
	return append(b[:start+pad], end...)
}

// appendRecord appends one record, the next id's, to b.
func (g *jsonBody) appendRecord(b []byte) []byte {
	id := g.records + 1
	first, last := wordAt(g.rng.next()), wordAt(g.rng.next())
	x, y := g.rng.next(), g.rng.next()

	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, id, 10)
	b = append(b, `,"name":"`...)
	b = appendCapital(b, first)
	b = append(b, ' ')
	b = appendCapital(b, last)
	b = append(b, `","email":"`...)
	b = append(b, first...)
	b = append(b, '.')
	b = append(b, last...)
	b = append(b, `@example.com","active":`...)
	b = strconv.AppendBool(b, x&1 == 0)
	b = append(b, `,"age":`...)
	b = strconv.AppendUint(b, 18+(x>>1)%70, 10)
	cents := (x >> 8) % 1_000_000
	b = append(b, `,"balance":`...)
	b = strconv.AppendUint(b, cents/100, 10)
	b = append(b, '.', byte('0'+cents/10%10), byte('0'+cents%10))
	b = append(b, `,"created":"`...)
	b = time.Unix(LastModified().Unix()+id*300+int64(y%300), 0).UTC().AppendFormat(b, time.RFC3339)
	b = append(b, `","tags":[`...)
	for i := range 1 + (x>>32)%4 {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, wordAt(g.rng.next())...)
		b = append(b, '"')
	}
	b = append(b, `],"address":{"street":"`...)
	b = strconv.AppendUint(b, 1+(x>>40)%999, 10)
	b = append(b, ' ')
	b = appendCapital(b, wordAt(g.rng.next()))
	b = append(b, ` Street","city":"`...)
	b = appendCapital(b, wordAt(g.rng.next()))
	b = append(b, `","zip":"`...)
	zip := (y >> 16) % 100_000
	for d := uint64(10_000); d > 0; d /= 10 {
		b = append(b, byte('0'+zip/d%10))
	}
	b = append(b, `"},"about":"`...)
	for i := range 6 + (y>>40)%9 {
		w := wordAt(g.rng.next())
		if i == 0 {
			b = appendCapital(b, w)
			continue
		}
		b = append(b, ' ')
		b = append(b, w...)
	}
	return append(b, `."}`...)
}
