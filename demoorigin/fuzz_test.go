package demoorigin

import (
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
