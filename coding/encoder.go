package coding

import (
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Compression levels: what 0 selects and the range others are clamped to.
const (
	DefaultZstdLevel = 3
	DefaultGzipLevel = 6
	maxZstdLevel     = 22
)

// maxWindow is the largest zstd window the node writes or reads: RFC 9659
// §3 limits the zstd content coding to 8 MiB so every client can decode it.
const maxWindow = 8 << 20

// Idle encoders, one pool per coding and effective level, kept in fixed
// arrays rather than a map behind a lock. zstd levels 1 to 22 map onto four
// encoder speeds (zstd.EncoderLevelFromZstd), so levels sharing a speed share
// a pool.
var (
	gzipEncoders [gzip.BestCompression + 1]sync.Pool      // by gzip level, 1 to 9
	zstdEncoders [zstd.SpeedBestCompression + 1]sync.Pool // by zstd.EncoderLevel
)

// codecWriter is what Encoder needs of *gzip.Writer and *zstd.Encoder.
type codecWriter interface {
	io.WriteCloser
	Flush() error
	Reset(w io.Writer)
}

// Encoder is a pooled streaming compressor writing gzip or zstd to an
// underlying writer. Write compresses; Flush emits what was written so far;
// Close finishes the stream and returns the Encoder to its pool. Exactly one
// of Close and Abandon must be called, once, and the Encoder not used after.
// Not safe for concurrent use.
type Encoder struct {
	c    Coding
	w    codecWriter
	pool *sync.Pool
	buf  []byte // ReadFrom's buffer when w has no ReadFrom; made on first use
}

// NewEncoder returns an Encoder writing c-coded data to w. c must be Gzip or
// Zstd; anything else is a programming error and panics. level 0 selects the
// default (DefaultZstdLevel, DefaultGzipLevel); other levels are clamped to
// the coding's range, 1 to 22 for zstd and 1 to 9 for gzip. zstd streams use
// one goroutine (the caller's), a window of at most 8 MiB and the encoder's
// low-memory mode.
func NewEncoder(w io.Writer, c Coding, level int) *Encoder {
	var pool *sync.Pool
	switch c {
	case Gzip:
		if level == 0 {
			level = DefaultGzipLevel
		}
		level = min(max(level, gzip.BestSpeed), gzip.BestCompression)
		pool = &gzipEncoders[level]
	case Zstd:
		if level == 0 {
			level = DefaultZstdLevel
		}
		level = min(max(level, 1), maxZstdLevel)
		pool = &zstdEncoders[zstd.EncoderLevelFromZstd(level)]
	default:
		panic(fmt.Sprintf("coding: NewEncoder(%s): only gzip and zstd are encoded", c))
	}
	e, _ := pool.Get().(*Encoder)
	if e == nil {
		e = &Encoder{c: c, w: newCodecWriter(c, level), pool: pool}
	}
	e.w.Reset(w)
	return e
}

// newCodecWriter builds the compressor behind a new pooled Encoder. level is
// already within the coding's range, so the options cannot be refused.
func newCodecWriter(c Coding, level int) codecWriter {
	if c == Gzip {
		gw, err := gzip.NewWriterLevel(nil, level)
		if err != nil {
			panic(fmt.Sprintf("coding: gzip level %d: %v", level, err))
		}
		return gw
	}
	zw, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(level)),
		zstd.WithEncoderConcurrency(1),
		zstd.WithWindowSize(maxWindow),
		zstd.WithLowerEncoderMem(true),
	)
	if err != nil {
		panic(fmt.Sprintf("coding: zstd level %d: %v", level, err))
	}
	return zw
}

// Write compresses p. Output reaches the underlying writer a block at a
// time, not necessarily before Write returns; an error is the underlying
// writer's, and the stream is then unusable (Abandon it).
func (e *Encoder) Write(p []byte) (int, error) {
	n, err := e.w.Write(p)
	if err != nil {
		return n, fmt.Errorf("coding: %s encoder: %w", e.c, err)
	}
	return n, nil
}

// ReadFrom compresses everything r yields until io.EOF, reading straight
// into the compressor's block buffer where it has one (zstd), so io.Copy to
// an Encoder uses no buffer of its own. An error is r's or the underlying
// writer's.
func (e *Encoder) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := e.w.(io.ReaderFrom); ok {
		n, err := rf.ReadFrom(r)
		if err != nil {
			return n, fmt.Errorf("coding: %s encoder: %w", e.c, err)
		}
		return n, nil
	}
	if e.buf == nil {
		e.buf = make([]byte, 32<<10)
	}
	var total int64
	for {
		n, rerr := r.Read(e.buf)
		if n > 0 {
			if _, err := e.Write(e.buf[:n]); err != nil {
				return total, err
			}
			total += int64(n)
		}
		if rerr == io.EOF {
			return total, nil
		}
		if rerr != nil {
			return total, fmt.Errorf("coding: %s encoder: %w", e.c, rerr)
		}
	}
}

// Flush writes everything written so far to the underlying writer as
// complete blocks, so a reader following the stream can decode it all; the
// stream stays open. Compression suffers if it is called often.
func (e *Encoder) Flush() error {
	if err := e.w.Flush(); err != nil {
		return fmt.Errorf("coding: flushing %s stream: %w", e.c, err)
	}
	return nil
}

// Close writes the end of the stream and returns the Encoder to its pool,
// whatever the outcome. The Encoder must not be used after.
func (e *Encoder) Close() error {
	err := e.w.Close()
	e.release()
	if err != nil {
		return fmt.Errorf("coding: closing %s stream: %w", e.c, err)
	}
	return nil
}

// Abandon returns the Encoder to its pool without finishing the stream, for
// a transfer that failed: what was written is not a valid stream. The
// Encoder must not be used after.
func (e *Encoder) Abandon() {
	e.release()
}

// release drops the reference to the underlying writer and pools e.
func (e *Encoder) release() {
	e.w.Reset(nil)
	e.pool.Put(e)
}
