package demoorigin

import (
	"math"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/net/http/httpguts"
)

func FuzzParseParams(f *testing.F) {
	f.Add("size=10&etag=1&lm=1")                             // common validators
	f.Add("size=-1")                                         // invalid size
	f.Add("cc=&cdncc=max-age%3D1&tags=a,,b&vary=Accept")     // empty cc, targeted field, tags, vary
	f.Add("status=103&delay=1ms&abort=5&size=3")             // interim status, abort past size
	f.Add("type=a%0d%0ab&lastmod=Mon,+02+Jan+2006+15:04:05") // control characters, date
	f.Add("a;b=%zz&&=&size=1073741824")                      // malformed pairs, max size
	f.Add("body=json&size=1&ce=zstd")                        // json below its smallest size
	f.Add("body=text&ce=auto&vary=accept-encoding")          // negotiated coding, varying body
	f.Fuzz(func(t *testing.T, q string) {
		p, err := parseParams(q)
		if err != nil {
			return
		}
		if p.size < 0 || p.size > maxSize {
			t.Fatalf("size %d accepted", p.size)
		}
		if p.delay < 0 || p.delay > maxDelay {
			t.Fatalf("delay %v accepted", p.delay)
		}
		if p.status < 100 || p.status > 599 || p.status == 101 {
			t.Fatalf("status %d accepted", p.status)
		}
		if p.hasAbort && (p.abort < 0 || p.abort > p.size) {
			t.Fatalf("abort %d of %d accepted", p.abort, p.size)
		}
		if p.body == bodyJSON && p.size < minJSONSize {
			t.Fatalf("json of %d bytes accepted", p.size)
		}
		if p.ce >= numCodings || p.body > bodyJSON {
			t.Fatalf("ce %d, body %d accepted", p.ce, p.body)
		}
		if p.vary != "" && !httpguts.ValidHeaderFieldName(p.vary) {
			t.Fatalf("vary %q accepted", p.vary)
		}
		for _, v := range append([]string{p.ctype, p.cc, strings.Join(p.tags, " ")}, rawValues(p.raw)...) {
			if !httpguts.ValidHeaderFieldValue(v) {
				t.Fatalf("field value %q accepted", v)
			}
		}
	})
}

func FuzzEtagMatch(f *testing.F) {
	f.Add(`"abc"`, `"abc"`)        // exact
	f.Add(`W/"abc", "x"`, `"abc"`) // weak, in a list
	f.Add(`*`, `"abc"`)            // any
	f.Add(`junk, "unterm`, `"a"`)  // malformed
	f.Add(`,,,W/W/""`, `""`)       // empty tag, repeated prefix
	f.Fuzz(func(t *testing.T, list, tag string) {
		got := etagMatch(list, tag)
		if strings.Contains(list, tag) || !got {
			return
		}
		if !strings.Contains(list, "*") && !strings.Contains(list, strings.TrimPrefix(tag, "W/")) {
			t.Fatalf("etagMatch(%q, %q) = true, but the tag is not in the list", list, tag)
		}
	})
}

func FuzzNegotiate(f *testing.F) {
	f.Add("gzip, deflate, br, zstd")   // a browser
	f.Add("br;q=0, gzip;q=0.5, *;q=0") // refusals and weights
	f.Add("X-GZIP ; Q=1.000,, ;")      // alias, case, empty members
	f.Add("zstd;q=1.0001, br;q=")      // malformed weights
	f.Fuzz(func(t *testing.T, ae string) {
		c := negotiate([]string{ae})
		if c == identity {
			return
		}
		if !strings.Contains(strings.ToLower(ae), c.String()) && !strings.Contains(ae, "*") {
			t.Fatalf("negotiate(%q) = %v, which it does not name", ae, c)
		}
		if again := negotiate(strings.Split(ae, ",")); again != c {
			t.Fatalf("negotiate(%q) = %v as one line, %v as lines", ae, c, again)
		}
	})
}

func FuzzQvalue(f *testing.F) {
	f.Add("0.5")   // plain
	f.Add("1.000") // most decimals
	f.Add("1.001") // above 1
	f.Add("0.")    // no decimals after the point
	f.Fuzz(func(t *testing.T, v string) {
		n, ok := qvalue(v)
		if !ok {
			return
		}
		x, err := strconv.ParseFloat(v, 64)
		if err != nil || n < 0 || n > 1000 || math.Round(x*1000) != float64(n) {
			t.Fatalf("qvalue(%q) = %d, but it reads as %v, %v", v, n, x, err)
		}
	})
}
