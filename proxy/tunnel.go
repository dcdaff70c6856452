package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// tunnel forwards an upgrade handshake the site's pool takes
// (origin.Pool.Upgrade: WebSocket, normalised, or any with h1_upgrade =
// "preserve") and, when the origin switches protocols, relays the 101 to
// the client and then bytes both ways until either side closes or the
// tunnel has been idle, both ways, for the pool's read timeout. An origin
// that refuses the upgrade is answered as any uncached response. Never
// cached.
func (p *Proxy) tunnel(w http.ResponseWriter, r *http.Request, x *exchange) {
	out := p.upstreamRequest(r, x, false, false)
	x.site.pool.SetUpgrade(out.Header, r.Header)
	resp, err := x.site.pool.RoundTrip(out, x.key.Hash)
	if err != nil {
		p.upstreamError(w, r, x, err)
		return
	}
	defer resp.Body.Close()
	upstream, ok := resp.Body.(io.ReadWriteCloser)
	if resp.StatusCode != http.StatusSwitchingProtocols || !ok {
		x.out.fwdStatus = resp.StatusCode
		p.relay(w, r, x, resp, p.clientHeader(resp.Header, x), &fillRef{})
		return
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		x.out.detail = "websocket-no-hijack"
		p.log.Warn("websocket: cannot take over the client connection", "err", err)
		return
	}
	defer conn.Close()
	x.rw.status = http.StatusSwitchingProtocols
	hdr := p.clientHeader(resp.Header, x)
	x.site.pool.SetUpgrade(hdr, resp.Header)
	if err := switchProtocols(brw, hdr); err != nil {
		return
	}
	splice(conn, brw.Reader, upstream, x.site.pool.ReadTimeout())
}

// switchProtocols writes the 101 with hdr to the hijacked client.
func switchProtocols(brw *bufio.ReadWriter, hdr http.Header) error {
	if _, err := brw.WriteString("HTTP/1.1 101 Switching Protocols\r\n"); err != nil {
		return fmt.Errorf("websocket: write 101: %w", err)
	}
	if err := hdr.Write(brw); err != nil {
		return fmt.Errorf("websocket: write 101: %w", err)
	}
	if _, err := brw.WriteString("\r\n"); err != nil {
		return fmt.Errorf("websocket: write 101: %w", err)
	}
	if err := brw.Flush(); err != nil {
		return fmt.Errorf("websocket: write 101: %w", err)
	}
	return nil
}

// splice copies client (whose already-buffered bytes are in buffered) to
// upstream and back until either side ends, then closes both. With idle >
// 0, a tunnel that read nothing either way for idle is closed too.
func splice(client net.Conn, buffered *bufio.Reader, upstream io.ReadWriteCloser, idle time.Duration) {
	var last atomic.Int64
	last.Store(time.Now().UnixNano())
	var once sync.Once
	done := make(chan struct{})
	stop := func() {
		once.Do(func() {
			close(done)
			client.Close()
			upstream.Close()
		})
	}
	var wg sync.WaitGroup
	wg.Go(func() { pump(upstream, io.MultiReader(buffered, client), &last); stop() })
	wg.Go(func() { pump(client, upstream, &last); stop() })
	if idle > 0 {
		t := time.NewTicker(idle / 4)
		defer t.Stop()
	watch:
		for { // ends with the tunnel: done closes when either pump returns
			select {
			case <-done:
				break watch
			case now := <-t.C:
				if now.UnixNano()-last.Load() > int64(idle) {
					stop()
				}
			}
		}
	}
	wg.Wait()
}

// pump copies src to dst, noting the time of every read in last, until
// src ends or either side fails.
func pump(dst io.Writer, src io.Reader, last *atomic.Int64) {
	buf := make([]byte, 32<<10)
	for { // ends when src or dst fails, which closing them forces
		n, err := src.Read(buf)
		if n > 0 {
			last.Store(time.Now().UnixNano())
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
