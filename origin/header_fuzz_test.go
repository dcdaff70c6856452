package origin

import (
	"errors"
	"net/http"
	"net/textproto"
	"slices"
	"strings"
	"testing"
)

// FuzzCheckConnection checks CheckConnection on any two Connection lines
// against what StripHopByHop does with them: it never panics; it refuses
// every request with ten or more nominations; below that it refuses
// exactly those where stripping would remove a field the proxy sets, or
// where a nomination is shaped like a pseudo-header; and what it accepts
// loses every nominated field to stripping.
func FuzzCheckConnection(f *testing.F) {
	f.Add("keep-alive, X-Trace", "")                    // accepted: X-Trace is stripped
	f.Add("close", "x-forwarded-for")                   // a protected field, lower-case, on the second line
	f.Add("\tHOST ", "")                                // case and whitespace do not hide Host
	f.Add(":authority", "")                             // pseudo-header shaped
	f.Add("a, b, c, d, e, f, g, h, i", "")              // nine: the most allowed
	f.Add("a, b, c, d, e", "f, g, h, i, j")             // ten, over two lines
	f.Add("a,b,c,d,e,f,g,h,i, , ,,", " , ")             // nine, and empty elements that do not count
	f.Add("X-Forwarded-For\x00", "X-Forwarded-Host x")  // not field names: stripping leaves the real fields
	f.Add("Connection, Transfer-Encoding, Upgrade", "") // hop-by-hop fields nominated again
	f.Fuzz(func(t *testing.T, a, b string) {
		h := http.Header{"Connection": {a, b}}
		for name := range protected {
			h.Set(name, "set by the proxy")
		}
		var nominated []string
		for _, line := range []string{a, b} {
			for e := range strings.SplitSeq(line, ",") {
				if e = textproto.TrimString(e); e != "" {
					nominated = append(nominated, e)
				}
			}
		}
		err := CheckConnection(h)
		if err != nil && !errors.Is(err, ErrBadConnection) {
			t.Fatalf("CheckConnection(%q, %q) = %v, want nil or ErrBadConnection", a, b, err)
		}
		if len(nominated) >= maxNominations {
			if err == nil {
				t.Fatalf("CheckConnection(%q, %q) accepted %d nominations", a, b, len(nominated))
			}
			return
		}
		stripped := h.Clone()
		StripHopByHop(stripped)
		lost := false
		for name := range protected {
			lost = lost || stripped.Get(name) == ""
		}
		pseudo := slices.ContainsFunc(nominated, func(e string) bool { return strings.HasPrefix(e, ":") })
		if refused := err != nil; refused != (lost || pseudo) {
			t.Fatalf("CheckConnection(%q, %q) = %v, but stripping removes a protected field: %v, pseudo-header nominated: %v", a, b, err, lost, pseudo)
		}
		if err != nil {
			return
		}
		for _, e := range nominated {
			if v := stripped.Values(e); len(v) != 0 {
				t.Fatalf("Connection: %q, %q accepted, and nominated %q survives stripping: %q", a, b, e, v)
			}
		}
	})
}
