package coding

import (
	"errors"
	"fmt"
	"io"
)

// Transcode streams src, encoded with from, to dst encoded with to, level
// being the encoder's (see NewEncoder): it decodes unless from is Identity,
// encodes unless to is Identity, and copies as is when from == to (Br only
// then: the node does not encode br). Memory stays bounded by the codecs'
// windows whatever the size of the body. It returns the bytes written to
// dst.
//
// An error writing dst is returned wrapped, so errors.Is finds it; an invalid
// src wraps ErrCorrupt; an error reading src is returned wrapped too. On
// error, what reached dst is not a complete stream.
func Transcode(dst io.Writer, src io.Reader, from, to Coding, level int) (int64, error) {
	if from == to {
		n, err := io.Copy(dst, src) // keeps dst's ReadFrom (sendfile, splice)
		if err != nil {
			return n, fmt.Errorf("coding: copying %s: %w", from, err)
		}
		return n, nil
	}
	if from >= numCodings || (to != Identity && to != Gzip && to != Zstd) {
		return 0, fmt.Errorf("coding: cannot transcode %s to %s", from, to)
	}
	out := &CountWriter{W: dst}
	err := transcode(out, src, from, to, level)
	switch {
	case err == nil:
		return out.N, nil
	case out.Err != nil:
		return out.N, fmt.Errorf("coding: %s to %s: writing: %w", from, to, out.Err)
	case errors.Is(err, ErrCorrupt):
		return out.N, fmt.Errorf("coding: %s to %s: %w", from, to, err)
	}
	return out.N, fmt.Errorf("coding: %s to %s: reading: %w", from, to, err)
}

// transcode does Transcode's work for from != to, both valid, writing to
// out.
func transcode(out io.Writer, src io.Reader, from, to Coding, level int) error {
	if from == Identity {
		e := NewEncoder(out, to, level)
		if _, err := e.ReadFrom(src); err != nil {
			e.Abandon()
			return err
		}
		return e.Close()
	}
	d, err := NewDecoder(src, from)
	if err != nil {
		return err
	}
	defer d.Close()
	if to == Identity {
		_, err = d.WriteTo(out)
		return err
	}
	e := NewEncoder(out, to, level)
	if _, err := d.WriteTo(e); err != nil {
		e.Abandon()
		return err
	}
	return e.Close()
}
