package node_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cdnnode/cdnnode/internal/testnode"
	"golang.org/x/net/websocket"
)

// wsOrigin echoes WebSocket messages at /ws and, elsewhere, answers with
// the Upgrade and Connection fields it received.
func wsOrigin() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/ws", websocket.Handler(func(ws *websocket.Conn) { _, _ = io.Copy(ws, ws) }))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		fmt.Fprintf(w, "upgrade=%q connection=%q", r.Header.Get("Upgrade"), r.Header.Get("Connection"))
	})
	return mux
}

// dialWS opens a WebSocket to url through the node at addr.
func dialWS(t *testing.T, addr, url string) *websocket.Conn {
	t.Helper()
	cfg, err := websocket.NewConfig(url, "http://localhost/")
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	ws, err := websocket.NewClient(cfg, c)
	if err != nil {
		c.Close()
		t.Fatalf("WebSocket handshake through the node: %v", err)
	}
	t.Cleanup(func() { ws.Close() })
	return ws
}

// idleNode starts a node in front of wsOrigin whose pool's read timeout,
// and so the tunnels' idle limit, is 200ms, and returns its address.
func idleNode(t *testing.T) string {
	t.Helper()
	o := httptest.NewServer(wsOrigin())
	t.Cleanup(o.Close)
	n := testnode.Start(t, fmt.Sprintf(`
[pools.idle]
peers = [%q]
read_timeout = "200ms"
[[sites]]
name = "idle"
hosts = ["*"]
pool = "idle"
`, o.Listener.Addr().String()))
	return n.Addrs()[0].String()
}

// TestWebSocketThroughNode proves that a WebSocket handshake is forwarded
// and the connection relayed both ways, that a tunnel idle for the pool's
// read timeout is closed, and that no other upgrade reaches the origin.
func TestWebSocketThroughNode(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "h1", wsOrigin())
	addr := strings.TrimPrefix(h.base, "http://")

	ws := dialWS(t, addr, "ws://echo.example/ws")
	for i := range 3 {
		msg := fmt.Sprintf("message %d", i)
		if err := websocket.Message.Send(ws, msg); err != nil {
			t.Fatalf("send: %v", err)
		}
		var got string
		if err := websocket.Message.Receive(ws, &got); err != nil || got != msg {
			t.Fatalf("echo = %q, %v; want %q", got, err, msg)
		}
	}

	idle := dialWS(t, idleNode(t), "ws://idle.example/ws")
	if err := websocket.Message.Send(idle, "ping"); err != nil {
		t.Fatal(err)
	}
	var got string
	if err := websocket.Message.Receive(idle, &got); err != nil || got != "ping" {
		t.Fatalf("echo on the idle site = %q, %v", got, err)
	}
	// Nothing more is sent: the node closes the tunnel (the read deadline
	// set by dialWS bounds the wait).
	if err := websocket.Message.Receive(idle, &got); err == nil {
		t.Fatalf("an idle tunnel stayed open and sent %q", got)
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the idle tunnel was not closed by the node")
	}

	for _, tc := range []struct{ name, req string }{
		{"h2c upgrade", "GET /plain HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n"},
		{"websocket without a key", "GET /plain HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\r\n"},
		{"websocket with a short key", "GET /plain HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: c2hvcnQ=\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := io.WriteString(c, tc.req); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || string(body) != `upgrade="" connection=""` {
				t.Errorf("%d %s; want 200 with no upgrade forwarded", resp.StatusCode, body)
			}
		})
	}
}
