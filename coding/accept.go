package coding

import "github.com/cdnnode/cdnnode/internal/ascii"

// Accept is a request's Accept-Encoding (RFC 9110 §12.5.3) reduced to the
// codings this package knows: the weight the client gives each, in
// thousandths. It is a small comparable value; its zero value accepts
// nothing, not even identity, so build one with ParseAccept.
type Accept struct {
	q [numCodings]uint16 // weight per Coding, 0 (not acceptable) to 1000
}

// identityDefault is the weight of identity when the client neither lists it
// nor sends "*": acceptable (RFC 9110 §12.5.3), but below any coding the
// client does name, so "gzip;q=0.1" still prefers gzip.
const identityDefault = 1

// ParseAccept parses a request's Accept-Encoding field lines
// (r.Header["Accept-Encoding"], or the values of a request head's field
// lines as bytes). It never fails and does not allocate.
//
// Elements are "coding" or "coding;q=VALUE" with the weight of RFC 9110
// §12.4.2 (0, 1, or 0. or 1. with up to three decimals), OWS allowed around
// ";" and "=", tokens and "q" case-insensitive. An element with an invalid
// weight or anything else after the coding is ignored, as are codings this
// package does not know. "x-gzip" is gzip. "*" gives its weight to every
// coding not listed. A coding listed more than once keeps its highest
// weight, so the order of elements never matters. Identity is acceptable
// unless excluded by "identity;q=0", or by "*;q=0" without identity listed.
//
// No field at all gives identity only, as does an empty one. RFC 9110
// §12.5.3 lets a server send any coding to a client that sends no
// Accept-Encoding, but clients that send none, such as curl without
// --compressed, expect an identity body, so the node treats them as asking
// for one.
func ParseAccept[S ~string | ~[]byte](values []S) Accept {
	const unset = -1
	listed := [numCodings]int{unset, unset, unset, unset}
	star := unset
	for elem := range elements(values) {
		token, q, ok := parseElement(elem)
		if !ok {
			continue
		}
		if string(token) == "*" {
			star = max(star, q)
		} else if c, known := lookup(token); known {
			listed[c] = max(listed[c], q)
		}
	}
	var a Accept
	for c := range listed {
		switch {
		case listed[c] != unset:
			a.q[c] = uint16(listed[c])
		case star != unset:
			a.q[c] = uint16(star)
		case Coding(c) == Identity:
			a.q[c] = identityDefault
		}
	}
	return a
}

// parseElement splits an Accept-Encoding element (OWS already trimmed) into
// its coding token and weight in thousandths (1000 when absent). ok is false
// when anything but a valid weight follows the token.
func parseElement[S ~string | ~[]byte](elem S) (token S, q int, ok bool) {
	semi := ascii.IndexByte(elem, ';')
	if semi < 0 {
		return elem, 1000, true
	}
	token = trimOWS(elem[:semi])
	param := trimOWS(elem[semi+1:])
	if len(param) == 0 || (param[0] != 'q' && param[0] != 'Q') {
		return token, 0, false
	}
	param = trimOWS(param[1:])
	if len(param) == 0 || param[0] != '=' {
		return token, 0, false
	}
	q, ok = parseQValue(trimOWS(param[1:]))
	return token, q, ok
}

// parseQValue parses a qvalue (RFC 9110 §12.4.2) into thousandths:
// "0" [ "." 0*3DIGIT ] or "1" [ "." 0*3"0" ].
func parseQValue[S ~string | ~[]byte](s S) (int, bool) {
	if len(s) == 0 || (s[0] != '0' && s[0] != '1') {
		return 0, false
	}
	whole := int(s[0] - '0')
	s = s[1:]
	if len(s) == 0 {
		return whole * 1000, true
	}
	if s[0] != '.' || len(s) > 4 {
		return 0, false
	}
	frac, scale := 0, 100
	for i := 1; i < len(s); i++ {
		d := s[i]
		if d < '0' || d > '9' || (whole == 1 && d != '0') {
			return 0, false
		}
		frac += int(d-'0') * scale
		scale /= 10
	}
	return whole*1000 + frac, true
}

// Allows reports whether the client accepts a response in coding c, that is
// whether its weight is above zero.
func (a Accept) Allows(c Coding) bool {
	return c < numCodings && a.q[c] > 0
}

// Best returns the coding the node serves this client: of Zstd, Gzip and
// Identity (never Br, which the node does not encode), the one with the
// highest weight above zero, ties going to Zstd, then Gzip, then Identity.
// When none is acceptable (identity;q=0 and neither gzip nor zstd), it
// returns Identity: RFC 9110 §12.5.3 lets a server send an unencoded
// response rather than 406 (Not Acceptable).
func (a Accept) Best() Coding {
	best, bestQ := Identity, uint16(0)
	for _, c := range [...]Coding{Zstd, Gzip, Identity} { // preference on a tie
		if a.q[c] > bestQ {
			best, bestQ = c, a.q[c]
		}
	}
	return best
}
