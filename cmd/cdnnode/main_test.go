package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cdnnode/cdnnode/internal/testkit"
	"github.com/cdnnode/cdnnode/internal/testnode"
)

// binary is the real cdnnode built once for the tests in this package.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "cdnnode-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "cdnnode")
	if out, err := exec.Command("go", "build", "-race", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// TestCheck runs `cdnnode check` on good and bad configs: a bad one exits
// non-zero naming file and line.
func TestCheck(t *testing.T) {
	dir := t.TempDir()
	good := "[pools.demo]\npeers = [\"127.0.0.1:8081\"]\n\n[[sites]]\nname = \"default\"\nhosts = [\"*\"]\npool = \"demo\"\n"
	typo := strings.Replace(good, "pool = \"demo\"", "pool = \"demo\"\ndefualt_ttl = \"10s\"", 1)
	tests := []struct {
		name, file, text string // no text: the shipped config.toml
		ok               bool
		want             *regexp.Regexp
	}{
		{"shipped config", "", "", true, regexp.MustCompile(`config.toml: ok`)},
		{"minimal", "minimal.toml", good, true, regexp.MustCompile(`minimal.toml: ok`)},
		{"typo'd key", "typo.toml", typo, false, regexp.MustCompile(`typo\.toml:8: .*defualt_ttl`)},
		{"bad duration", "duration.toml", strings.Replace(good, "[pools.demo]\n", "[pools.demo]\nconnect_timeout = \"5 parsecs\"\n", 1), false, regexp.MustCompile(`duration\.toml:2: .*connect_timeout`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join("..", "..", "config.toml")
			if tt.text != "" {
				path = filepath.Join(dir, tt.file)
				if err := os.WriteFile(path, []byte(tt.text), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			out, err := exec.Command(binary, "check", "-c", path).CombinedOutput()
			if (err == nil) != tt.ok {
				t.Fatalf("check %s: err %v, want ok=%v; output:\n%s", path, err, tt.ok, out)
			}
			if !tt.want.Match(out) {
				t.Errorf("check output %q does not match %s", out, tt.want)
			}
		})
	}
}

// running is a real node and demo origin started by startNode.
type running struct {
	node       *exec.Cmd
	addr       string // node's traffic address
	adminAddr  string
	originAddr string
}

// startNode starts the real demo origin and node binaries on loopback and
// waits until both serve. The node's log is drained in the background.
func startNode(t *testing.T) *running {
	t.Helper()
	originAddr := testkit.FreeAddr(t)
	origin := exec.Command(binary, "origin", "--listen", originAddr)
	origin.Stderr = io.Discard
	if err := origin.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = origin.Process.Kill(); _ = origin.Wait() })

	cfg := filepath.Join(t.TempDir(), "node.toml")
	text := fmt.Sprintf(`
[server]
listen = ["127.0.0.1:0"]
grace_period = "10s"
%s
[admin]
listen = "127.0.0.1:0"
[log]
format = "json"
[pools.demo]
peers = [%q]
[[sites]]
name = "default"
hosts = ["*"]
pool = "demo"
`, testnode.HTTP1Line(), originAddr)
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	n := exec.Command(binary, "serve", "-c", cfg)
	stderr, err := n.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Process.Kill() })
	lines := bufio.NewScanner(stderr)
	addr, admin := waitListening(t, lines)
	go func() {
		for lines.Scan() { // keep draining the log so the node never blocks on stderr
		}
	}()
	waitUp(t, "http://"+originAddr+"/__origin/stats")
	return &running{node: n, addr: addr, adminAddr: admin, originAddr: originAddr}
}

// result is what a client got for one request.
type result struct {
	status int
	n      int
	err    error
}

// slowRequest starts a GET whose origin answer takes delay and returns
// once the origin has received it; the outcome arrives on the channel.
func (r *running) slowRequest(t *testing.T, delay string) <-chan result {
	t.Helper()
	done := make(chan result, 1)
	go func() {
		resp, err := http.Get("http://" + r.addr + "/obj/slow?size=5000&delay=" + delay)
		if err != nil {
			done <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		done <- result{resp.StatusCode, len(b), err}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !bytes.Contains(get(t, "http://"+r.originAddr+"/__origin/stats"), []byte(`"/obj/slow":1`)) {
		if time.Now().After(deadline) {
			t.Fatal("slow request never reached the origin")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return done
}

// TestSIGTERMDrains holds a slow request in flight, sends SIGTERM, and
// checks the request completes and the process exits 0.
func TestSIGTERMDrains(t *testing.T) {
	r := startNode(t)
	done := r.slowRequest(t, "1500ms")
	if err := r.node.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	res := <-done
	if res.err != nil || res.status != 200 || res.n != 5000 {
		t.Errorf("in-flight request during drain: status %d, %d bytes, err %v; want 200 with 5000 bytes", res.status, res.n, res.err)
	}
	if err := r.node.Wait(); err != nil {
		t.Errorf("node exit after SIGTERM: %v, want status 0", err)
	}
	if _, err := net.DialTimeout("tcp", r.addr, time.Second); err == nil {
		t.Errorf("node still accepts connections on %s after exit", r.addr)
	}
}

// TestSIGINTStopsAtOnce: SIGINT does not wait for a slow in-flight request;
// the process exits and the request is cut.
func TestSIGINTStopsAtOnce(t *testing.T) {
	r := startNode(t)
	done := r.slowRequest(t, "20s")
	if err := r.node.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	// The request still has 20 s to go: an exit well before that was not a drain.
	if err := waitExit(t, r.node, 10*time.Second); err != nil {
		t.Errorf("node exit after SIGINT: %v, want status 0", err)
	}
	if res := <-done; res.err == nil && res.status == 200 && res.n == 5000 {
		t.Error("the in-flight request completed; SIGINT must cut it")
	}
}

// waitExit waits up to limit for the started cmd to exit and returns how
// it did; one still running then is killed and fails the test.
func waitExit(t *testing.T, cmd *exec.Cmd, limit time.Duration) error {
	t.Helper()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		return err
	case <-time.After(limit):
		_ = cmd.Process.Kill()
		t.Fatalf("%s still running after %v", cmd.Args[1], limit)
		return nil
	}
}

// waitListening reads the node's JSON log until it names its traffic and
// admin addresses.
func waitListening(t *testing.T, lines *bufio.Scanner) (traffic, admin string) {
	t.Helper()
	re := regexp.MustCompile(`"traffic":\["([0-9.:]+)".*"admin":"([0-9.:]+)"`)
	for lines.Scan() {
		if m := re.FindStringSubmatch(lines.Text()); m != nil {
			return m[1], m[2]
		}
	}
	t.Fatalf("node exited before listening: %v", lines.Err())
	return "", ""
}

func waitUp(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never came up: %v", url, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func get(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return b
}
