package health

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// mustChecker returns NewChecker(o) or ends the test.
func mustChecker(t testing.TB, o CheckOptions) *Checker {
	t.Helper()
	c, err := NewChecker(o)
	if err != nil {
		t.Fatalf("NewChecker(%+v): %v", o, err)
	}
	return c
}

// peerOf returns the host:port of srv.
func peerOf(srv *httptest.Server) string { return srv.Listener.Addr().String() }

func TestNewCheckerRejects(t *testing.T) {
	tests := []struct {
		name string
		o    CheckOptions
		want string // in the error
	}{
		{name: "no kind", o: CheckOptions{}, want: "kind"},
		{name: "unknown kind", o: CheckOptions{Kind: "udp"}, want: "kind"},
		{name: "negative rise", o: CheckOptions{Kind: TCP, Rise: -1}, want: "negative"},
		{name: "negative interval", o: CheckOptions{Kind: HTTP, Interval: -time.Second}, want: "negative"},
		{name: "scheme", o: CheckOptions{Kind: HTTP, Scheme: "ftp"}, want: "scheme"},
		{name: "relative path", o: CheckOptions{Kind: HTTP, Path: "healthz"}, want: "path"},
		{name: "absolute URL path", o: CheckOptions{Kind: HTTP, Path: "http://x/healthz"}, want: "path"},
		{name: "host with space", o: CheckOptions{Kind: HTTP, Host: "a b"}, want: "host"},
		{name: "status", o: CheckOptions{Kind: HTTP, Status: "200-"}, want: "status"},
		{name: "body and regexp", o: CheckOptions{Kind: HTTP, Body: "ok", BodyRegexp: "ok"}, want: "exclusive"},
		{name: "invalid regexp", o: CheckOptions{Kind: HTTP, BodyRegexp: "ok("}, want: "body regexp: error parsing regexp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewChecker(tt.o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NewChecker(%+v) = %v, want an error containing %q", tt.o, err, tt.want)
			}
		})
	}
}

func TestTCPCheck(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	c := mustChecker(t, CheckOptions{Kind: TCP, Timeout: 5 * time.Second})
	if err := c.Check(t.Context(), Target{Name: addr}); err != nil {
		t.Errorf("Check(%s) with a listener = %v, want nil", addr, err)
	}
	ln.Close()
	err = c.Check(t.Context(), Target{Name: addr})
	if err == nil || !strings.Contains(err.Error(), "tcp check "+addr) {
		t.Errorf("Check(%s) with the listener closed = %v, want a tcp check error", addr, err)
	}
}

// TestHTTPCheck judges statuses and bodies; the server answers the status
// in the path with the body in the query.
func TestHTTPCheck(t *testing.T) {
	var seen atomic.Pointer[http.Request]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Store(r)
		code, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/"))
		w.WriteHeader(code)
		w.Write([]byte(r.URL.Query().Get("body")))
	}))
	defer srv.Close()
	tests := []struct {
		name   string
		o      CheckOptions
		pass   bool
		reason string // in the error when !pass
	}{
		{name: "200 in default set", o: CheckOptions{Path: "/200"}, pass: true},
		{name: "302 in default set, not followed", o: CheckOptions{Path: "/302"}, pass: true},
		{name: "503 not in default set", o: CheckOptions{Path: "/503"}, reason: "status 503 not in 200-399"},
		{name: "204 in a list", o: CheckOptions{Path: "/204", Status: "200,204"}, pass: true},
		{name: "302 not in a list", o: CheckOptions{Path: "/302", Status: "200,204"}, reason: "status 302 not in 200,204"},
		{name: "404 allowed", o: CheckOptions{Path: "/404", Status: "200-299,404"}, pass: true},
		{name: "body has substring", o: CheckOptions{Path: "/200?body=db:+BLUE+ok", Body: "BLUE"}, pass: true},
		{name: "body lacks substring", o: CheckOptions{Path: "/200?body=db:+down", Body: "BLUE"}, reason: `body lacks "BLUE"`},
		{name: "status judged before body", o: CheckOptions{Path: "/500?body=BLUE", Body: "BLUE"}, reason: "status 500"},
		{name: "regexp matches", o: CheckOptions{Path: "/200?body=version=42", BodyRegexp: `^version=\d+$`}, pass: true},
		{name: "regexp does not match", o: CheckOptions{Path: "/200?body=version=x", BodyRegexp: `^version=\d+$`}, reason: "body does not match"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.o.Kind = HTTP
			c := mustChecker(t, tt.o)
			err := c.Check(t.Context(), Target{Name: peerOf(srv)})
			if tt.pass {
				if err != nil {
					t.Errorf("Check = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("Check = %v, want an error containing %q", err, tt.reason)
			}
		})
	}
	c := mustChecker(t, CheckOptions{Kind: HTTP, Path: "/200", Host: "origin.example"})
	if err := c.Check(t.Context(), Target{Name: peerOf(srv)}); err != nil {
		t.Fatalf("Check with Host: %v", err)
	}
	if r := seen.Load(); r.Host != "origin.example" || r.Method != http.MethodGet || r.UserAgent() != userAgent {
		t.Errorf("probe request: %s Host %q User-Agent %q, want GET Host %q User-Agent %q",
			r.Method, r.Host, r.UserAgent(), "origin.example", userAgent)
	}
}

func TestHTTPCheckBodyBound(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(strings.Repeat("x", MaxBody)))
		w.Write([]byte("late-marker"))
	}))
	defer srv.Close()
	c := mustChecker(t, CheckOptions{Kind: HTTP, Body: "late-marker"})
	if err := c.Check(t.Context(), Target{Name: peerOf(srv)}); err == nil {
		t.Errorf("Check found a marker past the first %d bytes, want it unread", MaxBody)
	}
}

func TestHTTPCheckTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select { // longer than any Timeout: until the probe gives up
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	c := mustChecker(t, CheckOptions{Kind: HTTP, Timeout: 50 * time.Millisecond})
	err := c.Check(t.Context(), Target{Name: peerOf(srv)})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Check of a server slower than Timeout = %v, want context.DeadlineExceeded", err)
	}
}

func TestHTTPCheckUnixAndDial(t *testing.T) {
	dir, err := os.MkdirTemp("", "hc") // short: socket paths are limited to ~100 bytes
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "origin.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	hosts := make(chan string, 1)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hosts <- r.Host
		w.Write([]byte("ok"))
	})}
	go srv.Serve(ln)
	defer srv.Close()

	var dialed atomic.Pointer[[2]string]
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		dialed.Store(&[2]string{network, addr})
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
	c := mustChecker(t, CheckOptions{Kind: HTTP, Body: "ok"})
	if err := c.Check(t.Context(), Target{Name: "unix:" + sock, Conn: Conn{Dial: dial}}); err != nil {
		t.Fatalf("Check(unix:%s) = %v, want nil", sock, err)
	}
	if got, want := *dialed.Load(), [2]string{"unix", sock}; got != want {
		t.Errorf("Dial got %q, want %q", got, want)
	}
	if got := <-hosts; got != "localhost" {
		t.Errorf("Host of a unix probe = %q, want %q", got, "localhost")
	}
	tcp := mustChecker(t, CheckOptions{Kind: TCP})
	if err := tcp.Check(t.Context(), Target{Name: "unix:" + sock, Conn: Conn{Dial: dial}}); err != nil {
		t.Errorf("tcp Check(unix:%s) = %v, want nil", sock, err)
	}
}

func TestHTTPSCheck(t *testing.T) {
	protos := make(chan string, 1)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case protos <- r.Proto:
		default: // only the first probe's protocol is asked for
		}
		w.Write([]byte("ok"))
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the failing cases' handshake errors are expected
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	tests := []struct {
		name string
		peer string
		o    CheckOptions
		tls  *tls.Config
		pass bool
	}{
		{name: "peer names https", peer: "https://" + peerOf(srv), tls: &tls.Config{RootCAs: roots}, pass: true},
		{name: "scheme option", peer: peerOf(srv), o: CheckOptions{Scheme: "https"}, tls: &tls.Config{RootCAs: roots}, pass: true},
		{name: "server name from Host", peer: "https://" + peerOf(srv), o: CheckOptions{Host: "example.com"}, tls: &tls.Config{RootCAs: roots}, pass: true},
		{name: "wrong server name", peer: "https://" + peerOf(srv), tls: &tls.Config{RootCAs: roots, ServerName: "wrong.test"}},
		{name: "unknown CA", peer: "https://" + peerOf(srv)},
		{name: "plain http to a TLS server", peer: "http://" + peerOf(srv), tls: &tls.Config{RootCAs: roots}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.o.Kind, tt.o.Body = HTTP, "ok"
			err := mustChecker(t, tt.o).Check(t.Context(), Target{Name: tt.peer, Conn: Conn{TLS: tt.tls}})
			if (err == nil) != tt.pass {
				t.Errorf("Check(%s) = %v, want pass %v", tt.peer, err, tt.pass)
			}
		})
	}
	for _, tt := range []struct {
		next []string
		want string
	}{
		{next: nil, want: "HTTP/1.1"},
		{next: []string{"http/1.1"}, want: "HTTP/1.1"},
		{next: []string{"h2", "http/1.1"}, want: "HTTP/2.0"},
	} {
		select { // drop what the table's probes left
		case <-protos:
		default:
		}
		tls := &tls.Config{RootCAs: roots, NextProtos: tt.next}
		if err := mustChecker(t, CheckOptions{Kind: HTTP}).Check(t.Context(), Target{Name: "https://" + peerOf(srv), Conn: Conn{TLS: tls}}); err != nil {
			t.Fatalf("Check with NextProtos %q: %v", tt.next, err)
		}
		if got := <-protos; got != tt.want {
			t.Errorf("probe with NextProtos %q spoke %s, want %s", tt.next, got, tt.want)
		}
	}
}

// TestHTTPCheckH2C probes an origin that speaks only HTTP/2 with prior
// knowledge: a probe passes only with Conn.H2C, as requests to it would,
// and each probe opens a connection of its own.
func TestHTTPCheckH2C(t *testing.T) {
	conns := make(chan struct{}, 16)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(r.Proto))
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the HTTP/1.1 probe's refusal is expected
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetUnencryptedHTTP2(true) // and no HTTP/1
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns <- struct{}{}
		}
	}
	srv.Start()
	defer srv.Close()
	tests := []struct {
		name string
		peer string
		h2c  bool
		pass bool
	}{
		{name: "h2c", peer: peerOf(srv), h2c: true, pass: true},
		{name: "h2c, peer names http", peer: "http://" + peerOf(srv), h2c: true, pass: true},
		{name: "HTTP/1.1 to an h2c-only origin", peer: peerOf(srv)},
	}
	c := mustChecker(t, CheckOptions{Kind: HTTP, Body: "HTTP/2.0"})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := c.Check(t.Context(), Target{Name: tt.peer, Conn: Conn{H2C: tt.h2c}})
			if (err == nil) != tt.pass {
				t.Errorf("Check(%s) with H2C %v = %v, want pass %v", tt.peer, tt.h2c, err, tt.pass)
			}
		})
	}
	for range len(conns) { // drop the table's connections
		<-conns
	}
	target := Target{Name: peerOf(srv), Conn: Conn{H2C: true}}
	for i := range 2 {
		if err := c.Check(t.Context(), target); err != nil {
			t.Fatalf("probe %d: %v", i+1, err)
		}
		select {
		case <-conns:
		case <-time.After(5 * time.Second):
			t.Fatalf("probe %d opened no connection of its own", i+1)
		}
	}
}

// TestHTTPSCheckH2Only probes with a TLS configuration offering only h2,
// as the transport of a peer with alpn "h2" does: a peer that answers over
// HTTP/1.1 fails, as its requests would.
func TestHTTPSCheckH2Only(t *testing.T) {
	newOrigin := func(h2 bool) *httptest.Server {
		s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("ok"))
		}))
		s.EnableHTTP2 = h2
		s.StartTLS()
		t.Cleanup(s.Close)
		return s
	}
	tests := []struct {
		name string
		h2   bool // the origin offers h2
		next []string
		want string // in the error; "" = pass
	}{
		{name: "h2 to an h2 origin", h2: true, next: []string{"h2"}},
		{name: "h2 to an HTTP/1.1 origin", next: []string{"h2"}, want: "offers only h2"},
		{name: "h2h1 to an HTTP/1.1 origin", next: []string{"h2", "http/1.1"}},
	}
	c := mustChecker(t, CheckOptions{Kind: HTTP, Body: "ok"})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newOrigin(tt.h2)
			roots := x509.NewCertPool()
			roots.AddCert(s.Certificate())
			conn := Conn{TLS: &tls.Config{RootCAs: roots, NextProtos: tt.next}}
			err := c.Check(t.Context(), Target{Name: "https://" + peerOf(s), Conn: conn})
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Check = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Check = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
