package h1

import "fmt"

// ErrBadChunk is wrapped by the error a Guard's Read returns when a chunked
// body breaks RFC 9112 §7.1. As an *Error it carries 400 and "bad-chunk".
var ErrBadChunk error = &Error{Status: 400, Reason: "bad-chunk"}

func badChunk(what string) error {
	return fmt.Errorf("h1: chunked body: %s: %w", what, ErrBadChunk)
}

// Chunk framing bounds.
const (
	maxSizeDigits = 15   // hex digits of a chunk-size: below 2^60, no overflow
	maxChunkLine  = 4096 // bytes of a chunk-size line with its extensions, as net/http
)

// chunkState is where a chunkParser is in the grammar of RFC 9112 §7.1:
//
//	chunked-body = *chunk last-chunk trailer-section CRLF
//	chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
//	chunk-ext    = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
//	chunk-ext-val = token / quoted-string
type chunkState uint8

const (
	csSizeStart    chunkState = iota // first hex digit of a chunk-size
	csSize                           // more hex digits, or what follows them
	csBeforeSemi                     // BWS before ";"
	csExtNameWS                      // BWS after ";", before an extension name
	csExtName                        // an extension name
	csAfterName                      // BWS after a name, before "=" or ";"
	csValueWS                        // BWS after "=", before a value
	csValue                          // a token value
	csQuoted                         // inside a quoted-string value
	csQuotedPair                     // after a backslash in a quoted-string
	csAfterQuoted                    // after a quoted-string's closing quote
	csLineLF                         // LF ending a chunk-size line
	csData                           // chunk-data: size bytes left
	csDataCR                         // CR after chunk-data
	csDataLF                         // LF after chunk-data
	csTrailerStart                   // a trailer field line or the final CRLF
	csTrailerName                    // a trailer field name
	csTrailerValue                   // a trailer field value
	csTrailerLF                      // LF ending a trailer field line
	csEndLF                          // LF of the final CRLF
	csDone                           // the body is over
)

// chunkParser checks a chunked body as it streams past, byte by byte
// except for chunk-data, which it skips by count. It is stricter than the
// grammar in its bounds (maxSizeDigits, maxChunkLine, the trailer
// section's bytes and field lines), and in refusing whitespace right after
// a chunk-size, as net/http does.
type chunkParser struct {
	state     chunkState
	size      int64 // the chunk-size so far, then the chunk-data bytes left
	digits    int   // hex digits of the chunk-size
	line      int   // bytes of the chunk-size line so far
	trailer   int   // bytes of the trailer section so far
	fields    int   // trailer field lines so far
	maxBytes  int   // bound on the trailer section's bytes
	maxFields int   // bound on its field lines; 0 none
}

// reset readies p for a new body whose trailer section may take maxBytes
// bytes in at most maxFields field lines (0: no count limit).
func (p *chunkParser) reset(maxBytes, maxFields int) {
	*p = chunkParser{maxBytes: maxBytes, maxFields: maxFields}
}

func (p *chunkParser) done() bool { return p.state == csDone }

// dataLeft is how many bytes of chunk-data p expects before the next
// framing byte; 0 outside chunk-data.
func (p *chunkParser) dataLeft() int64 {
	if p.state != csData {
		return 0
	}
	return p.size
}

// skip accounts for n <= dataLeft() bytes of chunk-data checked elsewhere
// (there is nothing to check in them).
func (p *chunkParser) skip(n int) {
	p.size -= int64(n)
	if p.size == 0 {
		p.state = csDataCR
	}
}

// feed checks b, the body's next bytes, and returns how many of them
// belong to the body: all of b, unless the body ends inside it. Once it
// has returned an error, p is of no further use.
func (p *chunkParser) feed(b []byte) (int, error) {
	for i := 0; i < len(b); { // each pass consumes at least one byte
		if p.state == csDone {
			return i, nil
		}
		if p.state == csData {
			n := int(min(p.size, int64(len(b)-i)))
			p.skip(n)
			i += n
			continue
		}
		if err := p.step(b[i]); err != nil {
			return i, err
		}
		i++
	}
	return len(b), nil
}

// step takes one framing byte c.
func (p *chunkParser) step(c byte) error {
	if p.state < csData {
		if p.line++; p.line > maxChunkLine {
			return badChunk("chunk-size line too long")
		}
	} else if p.state >= csTrailerStart {
		if p.trailer++; p.trailer > p.maxBytes {
			return badChunk("trailer section too large")
		}
	}
	k := class[c]
	switch p.state {
	case csSizeStart, csSize:
		switch {
		case k&isHex != 0:
			if p.digits++; p.digits > maxSizeDigits {
				return badChunk("chunk-size too long")
			}
			p.size = p.size<<4 | int64(unhex(c))
			p.state = csSize
		case p.state == csSizeStart:
			return badChunk("chunk-size is not hex")
		case c == ';':
			p.state = csExtNameWS
		case c == '\r':
			p.state = csLineLF
		default:
			// Whitespace too: the grammar has BWS before ";", but net/http,
			// which reads the body next, refuses it.
			return badChunk("bad byte after chunk-size")
		}
	case csBeforeSemi:
		switch c {
		case ' ', '\t':
		case ';':
			p.state = csExtNameWS
		default:
			return badChunk("bad chunk extension")
		}
	case csExtNameWS, csExtName:
		switch {
		case k&isTchar != 0:
			p.state = csExtName
		case p.state == csExtNameWS && (c == ' ' || c == '\t'):
		case p.state == csExtName:
			return p.afterExt(c, true)
		default:
			return badChunk("bad chunk extension name")
		}
	case csAfterName:
		switch c {
		case ' ', '\t':
		case '=':
			p.state = csValueWS
		case ';':
			p.state = csExtNameWS
		default:
			return badChunk("bad chunk extension")
		}
	case csValueWS:
		switch {
		case c == ' ' || c == '\t':
		case c == '"':
			p.state = csQuoted
		case k&isTchar != 0:
			p.state = csValue
		default:
			return badChunk("bad chunk extension value")
		}
	case csValue:
		if k&isTchar == 0 {
			return p.afterExt(c, false)
		}
	case csQuoted:
		switch {
		case c == '"':
			p.state = csAfterQuoted
		case c == '\\':
			p.state = csQuotedPair
		case k&isQdtext == 0:
			return badChunk("bad byte in quoted chunk extension")
		}
	case csQuotedPair:
		if k&isValue == 0 {
			return badChunk("bad quoted-pair in chunk extension")
		}
		p.state = csQuoted
	case csAfterQuoted:
		return p.afterExt(c, false)
	case csLineLF:
		if c != '\n' {
			return badChunk("bare CR in chunk-size line")
		}
		p.line, p.digits = 0, 0
		if p.size == 0 {
			p.state = csTrailerStart // last-chunk
		} else {
			p.state = csData
		}
	case csDataCR:
		if c != '\r' {
			return badChunk("chunk-data longer than its size")
		}
		p.state = csDataLF
	case csDataLF:
		if c != '\n' {
			return badChunk("bare CR after chunk-data")
		}
		p.state = csSizeStart
	case csTrailerStart:
		switch {
		case c == '\r':
			p.state = csEndLF
		case k&isTchar != 0:
			if p.fields++; p.maxFields > 0 && p.fields > p.maxFields {
				return badChunk("too many trailer fields")
			}
			p.state = csTrailerName
		default:
			return badChunk("bad trailer field line") // obs-fold, bare LF, empty name
		}
	case csTrailerName:
		switch {
		case c == ':':
			p.state = csTrailerValue
		case k&isTchar == 0:
			return badChunk("bad trailer field name")
		}
	case csTrailerValue:
		switch {
		case c == '\r':
			p.state = csTrailerLF
		case k&isValue == 0:
			return badChunk("bad trailer field value")
		}
	case csTrailerLF, csEndLF:
		if c != '\n' {
			return badChunk("bare CR in trailer section")
		}
		if p.state == csEndLF {
			p.state = csDone
		} else {
			p.state = csTrailerStart
		}
	}
	return nil
}

// afterExt takes c, the byte after an extension name (afterName) or value:
// BWS, ";" or the CR ending the line; "=" only after a name.
func (p *chunkParser) afterExt(c byte, afterName bool) error {
	switch {
	case c == ' ' || c == '\t':
		if afterName {
			p.state = csAfterName
		} else {
			p.state = csBeforeSemi
		}
	case c == ';':
		p.state = csExtNameWS
	case c == '=' && afterName:
		p.state = csValueWS
	case c == '\r':
		p.state = csLineLF
	default:
		return badChunk("bad chunk extension")
	}
	return nil
}

// unhex is the value of the hex digit c.
func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}
