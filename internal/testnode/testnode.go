// Package testnode starts real nodes, in the test's own process, for the
// tests of the packages that drive one from outside (node, loadtest,
// cmd/cdnnode).
package testnode

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cdnnode/cdnnode/config"
	"github.com/cdnnode/cdnnode/node"
)

// HTTP1Env is the environment variable that picks the HTTP/1.1 engine of
// the nodes tests start, "fast" or "stdlib" (config.Server.HTTP1): make
// test runs the end-to-end suites once with each. Unset, a node gets the
// config's default.
const HTTP1Env = "CDNNODE_TEST_HTTP1"

// HTTP1Line is the [server] line that picks the engine HTTP1Env names, or
// "" when it is unset.
func HTTP1Line() string {
	if e := os.Getenv(HTTP1Env); e != "" {
		return fmt.Sprintf("http1 = %q", e)
	}
	return ""
}

// Start starts a node from a config of its own: two workers listening on
// loopback, the HTTP/1.1 engine HTTP1Env names, an admin listener, quiet
// logs, and the pools and sites tables holds. The node is shut down
// gracefully when the test ends.
func Start(t testing.TB, tables string) *node.Node {
	t.Helper()
	path := filepath.Join(t.TempDir(), "node.toml")
	text := "[server]\nlisten = [\"127.0.0.1:0\"]\nworkers = 2\n" + HTTP1Line() + "\n[admin]\nlisten = \"127.0.0.1:0\"\n[log]\nlevel = \"error\"\naccess = false\n" + tables
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	n, err := node.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = n.Shutdown(ctx)
	})
	return n
}

// Fronting starts a node whose pool "demo" is the one peer origin (an
// address as the peers key takes it), serving every host, and returns its
// traffic base URL.
func Fronting(t testing.TB, origin string) string {
	t.Helper()
	n := Start(t, fmt.Sprintf("[pools.demo]\npeers = [%q]\n[[sites]]\nname = \"default\"\nhosts = [\"*\"]\npool = \"demo\"\n", origin))
	return "http://" + n.Addrs()[0].String()
}
