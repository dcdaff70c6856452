package demoorigin

import (
	"fmt"
	"io"
	"math/bits"
	"strings"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// coding is a content coding the origin sends a body in (RFC 9110 §8.4.1).
type coding uint8

const (
	identity coding = iota
	gzipCoding
	zstdCoding
	brCoding
	numCodings
)

// String is the coding's token, as in Content-Encoding and ce=.
func (c coding) String() string {
	switch c {
	case gzipCoding:
		return "gzip"
	case zstdCoding:
		return "zstd"
	case brCoding:
		return "br"
	default:
		return "identity"
	}
}

// preference is the order in which ce=auto breaks ties between codings.
var preference = [...]coding{brCoding, zstdCoding, gzipCoding}

// parseCoding parses a ce= value other than auto.
func parseCoding(v string) (coding, error) {
	for _, c := range preference {
		if v == c.String() {
			return c, nil
		}
	}
	return identity, fmt.Errorf("ce %q: want gzip, zstd, br or auto", v)
}

// negotiate picks the coding ce=auto sends in answer to the Accept-Encoding
// field lines of a request (RFC 9110 §12.5.3): of the codings it accepts,
// the one with the highest qvalue, ties going to br, then zstd, then gzip.
// "*" gives every coding not named its weight, q=0 rules a coding out,
// x-gzip is gzip (§8.4.1.3), a coding named twice keeps its higher weight,
// and a member that does not parse is ignored.
// With no acceptable coding, or no Accept-Encoding at all, it is identity:
// the RFC lets a server pick any coding when the field is absent, but
// servers send identity, and so does this one.
func negotiate(lines []string) coding {
	var q [numCodings]int // milli-qvalue of each coding named; -1 if none
	for i := range q {
		q[i] = -1
	}
	star := -1
	for _, line := range lines {
		for member := range strings.SplitSeq(line, ",") {
			name, params, _ := strings.Cut(member, ";")
			name = strings.TrimSpace(name)
			w, ok := weight(params)
			if !ok {
				continue
			}
			switch {
			case name == "*":
				star = max(star, w)
			case isToken(name, "x-gzip"):
				q[gzipCoding] = max(q[gzipCoding], w)
			default:
				for _, c := range preference {
					if isToken(name, c.String()) {
						q[c] = max(q[c], w)
					}
				}
			}
		}
	}
	best, bestQ := identity, 0
	for _, c := range preference {
		w := q[c]
		if w < 0 {
			w = star
		}
		if w > bestQ {
			best, bestQ = c, w
		}
	}
	return best
}

// weight parses the parameters after a coding in Accept-Encoding, such as
// " q=0.5", into thousandths: 1000 when there is no q. ok is false when q
// is not a qvalue (RFC 9110 §12.4.2). Other parameters are ignored.
func weight(params string) (w int, ok bool) {
	w = 1000
	for p := range strings.SplitSeq(params, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		if !isToken(strings.TrimSpace(k), "q") {
			continue
		}
		if w, ok = qvalue(strings.TrimSpace(v)); !ok {
			return 0, false
		}
	}
	return w, true
}

// isToken reports whether s is token, an ASCII token, ignoring ASCII case
// only: the "ſ" of "zſtd" folds to "s", but is not one byte long.
func isToken(s, token string) bool {
	return len(s) == len(token) && strings.EqualFold(s, token)
}

// qvalue parses "0", "0.5", "1.000" and the like into thousandths.
func qvalue(v string) (int, bool) {
	if v == "" || v[0] != '0' && v[0] != '1' {
		return 0, false
	}
	whole, frac := v[:1], v[1:]
	if frac != "" {
		if frac[0] != '.' || len(frac) > 4 {
			return 0, false
		}
		frac = frac[1:]
	}
	n := 0
	for i := range 3 {
		d := 0
		if i < len(frac) {
			if frac[i] < '0' || frac[i] > '9' {
				return 0, false
			}
			d = int(frac[i] - '0')
		}
		n = n*10 + d
	}
	if whole == "1" {
		if n != 0 {
			return 0, false
		}
		return 1000, true
	}
	return n, true
}

// encoder is a content-coding writer: Close ends the stream, Flush sends
// what it holds without ending it, and Reset starts a new stream.
type encoder interface {
	io.WriteCloser
	Flush() error
	Reset(w io.Writer)
}

// encoderWindow is the zstd and brotli window, in bytes: a quarter of
// their defaults, it keeps a pooled encoder's memory to some 5 MB (zstd) or
// 13 MB (brotli) instead of 20 and 28, and costs nothing here, as the
// generated bodies hold no repeats that far apart.
const encoderWindow = 1 << 20

// newEncoder makes an encoder of c, which is not identity, writing to w, at
// its library's default level: gzip 6, zstd 3 (SpeedDefault), brotli 6.
func newEncoder(c coding, w io.Writer) (encoder, error) {
	switch c {
	case gzipCoding:
		return gzip.NewWriterLevel(w, gzip.DefaultCompression)
	case zstdCoding:
		// One goroutine per stream, the caller's; a zero-length body is
		// still a valid frame.
		return zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithWindowSize(encoderWindow),
			zstd.WithEncoderConcurrency(1), zstd.WithZeroFrames(true))
	case brCoding:
		return brotli.NewWriterOptions(w, brotli.WriterOptions{
			Quality: brotli.DefaultCompression,
			LGWin:   bits.Len(encoderWindow) - 1,
		}), nil
	}
	return nil, fmt.Errorf("no encoder for %s", c)
}

// encoder returns an encoder of c writing to w, from the server's pool when
// it has one. Give it back with putEncoder.
func (s *Server) encoder(c coding, w io.Writer) (encoder, error) {
	if e, ok := s.encoders[c].Get().(encoder); ok {
		e.Reset(w)
		return e, nil
	}
	e, err := newEncoder(c, w)
	if err != nil {
		return nil, fmt.Errorf("%s encoder: %w", c, err)
	}
	return e, nil
}

// putEncoder pools e, an encoder of c, whether or not its stream was
// finished, after dropping its writer.
func (s *Server) putEncoder(c coding, e encoder) {
	e.Reset(io.Discard)
	s.encoders[c].Put(e)
}
