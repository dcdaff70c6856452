package coding

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// ErrCorrupt is wrapped by every error a Decoder (or Transcode) returns
// because the encoded input is invalid: corrupt, truncated, followed by
// garbage, or a zstd window above 8 MiB.
var ErrCorrupt = errors.New("coding: corrupt encoded stream")

// decoders holds idle Decoders, one pool per Coding (Identity unused).
var decoders [numCodings]sync.Pool

// codecReader is what Decoder needs of *gzip.Reader, *zstd.Decoder and
// *brotli.Reader.
type codecReader interface {
	io.Reader
	Reset(r io.Reader) error
}

// Decoder is a pooled streaming decompressor of gzip, zstd or br input. The
// input comes from origins and is not trusted: an invalid stream ends in an
// error wrapping ErrCorrupt, never a panic, and memory stays within the
// coding's window (32 KiB gzip, 8 MiB zstd, 16 MiB br). An error of the
// source itself is returned wrapped, without ErrCorrupt. Errors are sticky.
// An input of zero bytes decodes to an empty body, as browsers and Go's
// http.Transport take it. Close must be called exactly once. Not safe for
// concurrent use.
type Decoder struct {
	c   Coding
	dec codecReader
	src countReader // the codec reads through it, so the caller's reader can be dropped
	dst CountWriter // WriteTo's writer, to tell its errors from the codec's
	buf []byte      // WriteTo's buffer when dec has no WriteTo (br); made on first use
	err error       // sticky: io.EOF once the stream ended well
}

// NewDecoder returns a Decoder of c-coded data read from r. c must be Gzip,
// Zstd or Br. For gzip it reads the stream header at once, and a bad header
// is an error wrapping ErrCorrupt; no Decoder is then returned.
func NewDecoder(r io.Reader, c Coding) (*Decoder, error) {
	if c != Gzip && c != Zstd && c != Br {
		return nil, fmt.Errorf("coding: no decoder for %s", c)
	}
	d, _ := decoders[c].Get().(*Decoder)
	if d == nil {
		dec, err := newCodecReader(c)
		if err != nil {
			return nil, err
		}
		d = &Decoder{c: c, dec: dec}
	}
	d.src = countReader{r: r}
	if err := d.dec.Reset(&d.src); err != nil {
		if d.err = d.classify(err); d.err != io.EOF {
			err := d.err
			d.Close()
			return nil, err
		}
	}
	return d, nil
}

// newCodecReader builds the decompressor behind a new pooled Decoder. zstd
// decodes on the caller's goroutine (concurrency 1), so a pooled decoder
// owns no goroutine.
func newCodecReader(c Coding) (codecReader, error) {
	switch c {
	case Gzip:
		return new(gzip.Reader), nil
	case Zstd:
		zr, err := zstd.NewReader(nil,
			zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderMaxWindow(maxWindow),
			zstd.WithDecoderLowmem(true),
		)
		if err != nil {
			return nil, fmt.Errorf("coding: zstd decoder: %w", err)
		}
		return zr, nil
	default:
		return new(brotli.Reader), nil
	}
}

// Read decodes into p. It returns io.EOF once the stream ended well.
func (d *Decoder) Read(p []byte) (int, error) {
	if d.err != nil {
		return 0, d.err
	}
	n, err := d.dec.Read(p)
	if err != nil {
		d.err = d.classify(err)
		return n, d.err
	}
	return n, nil
}

// WriteTo decodes the rest of the stream into w, straight from the codec's
// own buffers where it has them (gzip, zstd), so io.Copy from a Decoder uses
// no buffer of its own. An error writing w is returned wrapped (errors.Is
// finds it), not as ErrCorrupt.
func (d *Decoder) WriteTo(w io.Writer) (int64, error) {
	if d.err != nil {
		if d.err == io.EOF {
			return 0, nil
		}
		return 0, d.err
	}
	d.dst = CountWriter{W: w}
	var n int64
	var err error
	if wt, ok := d.dec.(io.WriterTo); ok {
		n, err = wt.WriteTo(&d.dst)
	} else {
		n, err = d.copyTo(&d.dst)
	}
	werr := d.dst.Err
	d.dst = CountWriter{}
	switch {
	case werr != nil:
		d.err = fmt.Errorf("coding: writing decoded %s: %w", d.c, werr)
		return n, d.err
	case err != nil:
		d.err = d.classify(err)
	default:
		d.err = io.EOF
	}
	if d.err == io.EOF {
		return n, nil
	}
	return n, d.err
}

// copyTo copies the decoded stream to w through d.buf, for a codec without
// WriteTo. It returns the codec's error, io.EOF included.
func (d *Decoder) copyTo(w io.Writer) (int64, error) {
	if d.buf == nil {
		d.buf = make([]byte, 32<<10)
	}
	var total int64
	for {
		n, err := d.dec.Read(d.buf)
		if n > 0 {
			m, werr := w.Write(d.buf[:n])
			total += int64(m)
			if werr != nil {
				return total, werr
			}
		}
		if err != nil {
			return total, err
		}
	}
}

// classify turns a codec's error into the Decoder's: io.EOF for a stream
// that ended well or an empty input, the source's own error wrapped, or
// ErrCorrupt wrapped around the codec's complaint.
func (d *Decoder) classify(err error) error {
	switch {
	case err == io.EOF:
		return io.EOF
	case d.src.err != nil:
		return fmt.Errorf("coding: reading %s stream: %w", d.c, d.src.err)
	case d.src.n == 0 && errors.Is(err, io.ErrUnexpectedEOF):
		return io.EOF // nothing at all: an empty body
	}
	return fmt.Errorf("%w: %s: %w", ErrCorrupt, d.c, err)
}

// Close returns the Decoder to its pool, dropping its reference to the
// source. It does not close the source. The Decoder must not be used after.
func (d *Decoder) Close() {
	d.src = countReader{}
	d.err = nil
	decoders[d.c].Put(d)
}

// countReader counts the bytes read through it and keeps the first error
// other than io.EOF, so a Decoder tells a failing source from a corrupt one.
type countReader struct {
	r   io.Reader
	n   int64
	err error
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if err != nil && err != io.EOF && c.err == nil {
		c.err = err
	}
	return n, err
}

// CountWriter counts the bytes written through it to W and keeps the
// first error W returned, so a copy that fails can tell a failing
// destination from a failing source or codec.
type CountWriter struct {
	W   io.Writer
	N   int64
	Err error
}

func (c *CountWriter) Write(p []byte) (int, error) {
	n, err := c.W.Write(p)
	c.N += int64(n)
	if err != nil && c.Err == nil {
		c.Err = err
	}
	return n, err
}
