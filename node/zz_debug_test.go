package node_test

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/cdnnode/cdnnode/config"
	"github.com/cdnnode/cdnnode/node"
)

func TestZZDebug(t *testing.T) {
	rec := newRecorder()
	origin := newOrigin(t, rec)
	path := t.TempDir() + "/n.toml"
	os.WriteFile(path, []byte(fmt.Sprintf("[server]\nlisten = [\"127.0.0.1:0\"]\nworkers = 1\nmax_body = \"1KiB\"\n[admin]\nlisten = \"127.0.0.1:0\"\n[pools.p]\npeers = [%q]\n[[sites]]\nname = \"example\"\nhosts = [\"*\"]\npool = \"p\"\n", origin)), 0o600)
	cfg, err := config.Load(path)
	if err != nil { t.Fatal(err) }
	n, err := node.New(cfg, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil { t.Fatal(err) }
	n.Start()
	defer n.Close()
	for _, req := range []string{os.Getenv("REQ1"), os.Getenv("REQ2")} {
		if req == "" { continue }
		c, _ := net.Dial("tcp", n.Addrs()[0].String())
		c.SetDeadline(time.Now().Add(3*time.Second))
		io.WriteString(c, req)
		b, err := io.ReadAll(c)
		t.Logf("%q %v", b, err)
		t.Logf("origin: %+v", rec.seen())
	}
}
