package testkit_test

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"testing"
	"time"

	"github.com/cdnnode/cdnnode/internal/testkit"
)

func TestCAServer(t *testing.T) {
	ca := testkit.NewCA(t)
	leaf := ca.Server(t, "origin.test", "127.0.0.1").Leaf
	for _, tt := range []struct {
		name string
		ok   bool
	}{
		{"origin.test", true},
		{"127.0.0.1", true},
		{"wrong.test", false},
		{"127.0.0.2", false},
	} {
		_, err := leaf.Verify(x509.VerifyOptions{DNSName: tt.name, Roots: ca.Pool()})
		if (err == nil) != tt.ok {
			t.Errorf("Verify(%s) = %v, want ok %v", tt.name, err, tt.ok)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "origin.test", Roots: testkit.NewCA(t).Pool()}); err == nil {
		t.Error("another CA's pool trusts the server certificate")
	}
}

func TestCAClientFiles(t *testing.T) {
	ca := testkit.NewCA(t)
	dir := t.TempDir()
	certFile, keyFile := testkit.WriteKeyPair(t, dir, "client", ca.Client(t, "cdnnode"))
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if cn := pair.Leaf.Subject.CommonName; cn != "cdnnode" {
		t.Errorf("client CN = %q, want cdnnode", cn)
	}
	caPEM, err := os.ReadFile(ca.WriteFile(t, dir, "ca"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatal("the CA file holds no PEM certificate")
	}
	opts := x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if _, err := pair.Leaf.Verify(opts); err != nil {
		t.Errorf("client certificate against the CA file: %v", err)
	}
}

func TestFreeAddr(t *testing.T) {
	addr := testkit.FreeAddr(t)
	if c, err := net.DialTimeout("tcp", addr, 5*time.Second); err == nil {
		c.Close()
		t.Errorf("dial %s succeeded, want it refused", addr)
	}
}

func TestWaitFor(t *testing.T) {
	n := 0
	testkit.WaitFor(t, "the third call", func() bool { n++; return n == 3 })
	if n != 3 {
		t.Errorf("cond called %d times, want 3", n)
	}
}
