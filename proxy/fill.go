package proxy

import (
	"errors"
	"io"

	"github.com/cdnnode/cdnnode/cachestore"
	"github.com/cdnnode/cdnnode/coding"
)

// originBody reads a fill's body from the origin and puts every chunk it
// reads into the sink, if any, so the cache gets the whole body whatever
// the client does with it. err is the origin's read error, if any.
type originBody struct {
	r    io.Reader
	sink *fillSink
	err  error
}

func (o *originBody) Read(p []byte) (int, error) {
	n, err := o.r.Read(p)
	if n > 0 && o.sink != nil {
		o.sink.write(p[:n])
	}
	if err != nil && !errors.Is(err, io.EOF) {
		o.err = err
	}
	return n, err
}

// fillSink is the cache side of a fill: the body as the origin sends it
// goes into the cache writer, through a zstd encoder when the node
// compresses it, and the fill's readers hear of every byte stored. A
// store that fails stops storing and ends the fill for its readers, never
// the client's response.
//
// A body the node means to compress is first probed: its first probeSize
// bytes are held and compressed, and unless that saves a tenth the body
// is stored as sent (an incompressible body would only cost its identity
// clients a decode per hit). The fill's readers get the head once that is
// decided, with the coding the body is stored in.
type fillSink struct {
	wr      *cachestore.Writer
	obj     *cachestore.Object // the object being filled
	head    *fillHead          // published to the fill's readers once the coding is decided
	enc     *coding.Encoder    // nil: stored as sent
	level   int
	fl      *fillRef
	x       *exchange
	n       int64  // body bytes from the origin
	pending int    // bytes given to enc since it last flushed
	probe   []byte // the body's first bytes while probing
	out     []byte // what enc made of them
	probing bool
	failed  bool
}

// probeSize is how much of a body the node compresses before it decides
// whether storing it compressed is worth it.
const probeSize = 16 << 10

// encoderFlush is how much input the store's encoder takes before it
// emits a block for the fill's readers.
const encoderFlush = 64 << 10

// newFillSink stores a fill's body into wr for obj (in obj.Coding, if
// the probe finds it worth it), publishing head to the fill's readers.
func (p *Proxy) newFillSink(x *exchange, wr *cachestore.Writer, obj *cachestore.Object, head *fillHead, fl *fillRef) *fillSink {
	s := &fillSink{wr: wr, obj: obj, head: head, fl: fl, x: x}
	if obj.Coding == coding.Identity {
		fl.stream(head, wr)
		return s
	}
	s.level = p.level(obj.Coding)
	s.probing = true
	return s
}

// write stores p, the next body bytes from the origin.
func (s *fillSink) write(p []byte) {
	s.n += int64(len(p))
	switch {
	case s.failed:
	case s.probing:
		s.probe = append(s.probe, p...)
		if len(s.probe) >= probeSize {
			s.decide()
		}
	case s.enc == nil:
		_, _ = storeWriter{s}.Write(p)
	default:
		_, err := s.enc.Write(p)
		if s.pending += len(p); err == nil && s.pending >= encoderFlush {
			s.pending = 0
			err = s.enc.Flush()
		}
		if err != nil {
			s.fail(err)
			s.enc.Abandon()
			s.enc = nil
		}
	}
}

// decide compresses the probe, keeps the coding if it saves at least a
// tenth and stores the body as sent otherwise, publishes the head and
// stores what the probe held.
func (s *fillSink) decide() {
	s.enc = coding.NewEncoder(encoderOut{s}, s.obj.Coding, s.level)
	_, err := s.enc.Write(s.probe)
	if err == nil {
		err = s.enc.Flush()
	}
	s.probing = false
	held := s.probe
	if err == nil && len(s.out) <= len(held)-len(held)/10 {
		held = s.out
	} else {
		s.enc.Abandon()
		s.enc = nil
		s.obj.Coding, s.obj.IdentitySize = coding.Identity, -1
		s.head.body.coded, s.head.body.identitySize = coding.Identity, -1
	}
	s.probe, s.out = nil, nil
	s.fl.stream(s.head, s.wr)
	_, _ = storeWriter{s}.Write(held)
}

// encoderOut is where the store's encoder writes: held while probing,
// then into the cache writer.
type encoderOut struct{ s *fillSink }

func (e encoderOut) Write(p []byte) (int, error) {
	if e.s.probing {
		e.s.out = append(e.s.out, p...)
		return len(p), nil
	}
	return storeWriter(e).Write(p)
}

// close ends the stored body and reports whether all of it was stored.
func (s *fillSink) close() bool {
	if s.probing && !s.failed {
		s.decide()
	}
	if s.enc != nil {
		if s.failed {
			s.enc.Abandon()
		} else if err := s.enc.Close(); err != nil {
			s.fail(err)
		}
		s.enc = nil
	}
	return !s.failed && s.wr.Err() == nil
}

// abort discards what was stored.
func (s *fillSink) abort() {
	if s.enc != nil {
		s.enc.Abandon()
		s.enc = nil
	}
	s.wr.Abort()
}

// fail stops storing after err: the fill's readers abort.
func (s *fillSink) fail(err error) {
	if !s.failed {
		s.failed = true
		s.x.out.detail = storeFailure(err)
		s.fl.finish(err)
	}
}

// storeWriter is the sink's writes into the cache writer.
type storeWriter struct{ s *fillSink }

func (sw storeWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if _, err := sw.s.wr.Write(p); err != nil {
		sw.s.fail(err)
		return 0, err
	}
	sw.s.fl.wrote(sw.s.wr.Written())
	return len(p), nil
}
