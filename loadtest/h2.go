package loadtest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"golang.org/x/net/http2"
)

// h2conn is one HTTP/2 connection, over TLS (ALPN h2) for https targets
// or with prior knowledge (h2c) for http ones: an http2.Transport of its
// own, which keeps a single connection to the target while it can take
// the Streams requests its workers send at once. net/http costs a few
// allocations per request; HTTP/1.1 has the allocation-free client.
type h2conn struct {
	t  *target
	tr *http2.Transport
}

func newH2(t *target, tlsConf *tls.Config, timeout time.Duration) *h2conn {
	tr := &http2.Transport{DisableCompression: true}
	if t.scheme == "https" {
		tr.TLSClientConfig = tlsConf.Clone()
		if tr.TLSClientConfig.ServerName == "" {
			tr.TLSClientConfig.ServerName = hostOnly(t.host)
		}
	} else {
		tr.AllowHTTP = true
		tr.DialTLSContext = func(ctx context.Context, network, _ string, _ *tls.Config) (net.Conn, error) {
			d := net.Dialer{Timeout: timeout}
			return d.DialContext(ctx, network, t.addr)
		}
	}
	return &h2conn{t: t, tr: tr}
}

// h2stream is one worker's use of an h2conn.
type h2stream struct{ c *h2conn }

func (s h2stream) do(ctx context.Context, rq request, deadline time.Time) outcome {
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, rq.method(), s.c.t.url(rq), nil)
	if err != nil {
		return outcome{kind: ErrWrite, err: err}
	}
	req.Host = s.c.t.host
	req.Header.Set("User-Agent", userAgent)
	if rq.kind == conditional {
		req.Header.Set("If-Modified-Since", s.c.t.ims)
	}
	resp, err := s.c.tr.RoundTrip(req)
	if err != nil {
		return outcome{kind: h2ErrorKind(err), err: err}
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return outcome{kind: h2ErrorKind(err), err: fmt.Errorf("reading body: %w", err)}
	}
	if resp.StatusCode < 100 || resp.StatusCode > 599 {
		return outcome{kind: ErrProtocol, err: protocolError(fmt.Sprintf("status %d", resp.StatusCode))}
	}
	o := outcome{status: resp.StatusCode, bytes: n, class: classify([]byte(resp.Header.Get("Cache-Status")))}
	if o.status >= 500 {
		o.kind = ErrStatus
	}
	return o
}

// h2ErrorKind classifies an error of net/http's HTTP/2 client. A stream
// the server reset is a read error, as a cut HTTP/1.1 connection is.
func h2ErrorKind(err error) ErrorKind {
	var op *net.OpError
	var ce http2.ConnectionError
	var cv *tls.CertificateVerificationError
	var rh tls.RecordHeaderError
	var al tls.AlertError
	switch {
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return ErrTimeout
	case errors.As(err, &op) && op.Op == "dial", errors.As(err, &cv), errors.As(err, &rh), errors.As(err, &al):
		return ErrConnect
	case errors.As(err, &ce):
		return ErrProtocol
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return ErrTimeout
	}
	return ErrRead
}
