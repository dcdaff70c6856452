package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cdnnode/cdnnode/internal/testkit"
	"github.com/cdnnode/cdnnode/loadtest"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// argCase is a command line for parseLoadtestArgs and what it must give.
type argCase struct {
	name  string
	args  []string
	check func(c *loadtestCmd) string // "" when right
	err   string                      // wanted in the error
}

// checkArgs runs each case through parseLoadtestArgs.
func checkArgs(t *testing.T, tests []argCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseLoadtestArgs(tt.args, io.Discard)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("parseLoadtestArgs(%q) = %v, want an error saying %q", tt.args, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseLoadtestArgs(%q): %v", tt.args, err)
			}
			if msg := tt.check(c); msg != "" {
				t.Errorf("parseLoadtestArgs(%q): %s: %+v", tt.args, msg, c)
			}
		})
	}
}

// TestLoadtestFlags parses command lines into Options, and refuses bad
// ones with a message naming the problem.
func TestLoadtestFlags(t *testing.T) {
	const url = "http://127.0.0.1:8080"
	tests := []argCase{
		{name: "defaults", args: []string{url}, check: func(c *loadtestCmd) string {
			o := c.opts
			if o.Target != url || o.Connections != 64 || o.Rate != 0 || o.Duration != 0 || o.Warmup != time.Second ||
				o.Keys != loadtest.Single || o.Size != (loadtest.Size{Min: 1024, Max: 1024}) || o.Seed == 0 || o.Timeout != 10*time.Second ||
				o.H2 || c.startOrigin || o.OriginStats != "" || c.jsonFile != "" {
				return "unexpected defaults"
			}
			return ""
		}},
		{name: "everything, flags after the URL", args: []string{url, "-c", "8", "--rate", "2000", "--duration", "30s", "--requests", "100000",
			"--keys", "zipf", "--zipf-s", "0.8", "--objects", "5000", "--size", "1KiB-64KiB", "--query", "cc=max-age%3D5",
			"--purge-pct", "1", "--conditional-pct", "2.5", "--seed", "42", "--h2", "--streams", "4", "--timeout", "2s",
			"--json", "out.json", "--host", "example.com", "--prefix", "p-", "--warmup", "0s"},
			check: func(c *loadtestCmd) string {
				o := c.opts
				if o.Connections != 8 || o.Rate != 2000 || o.Duration != 30*time.Second || o.Requests != 100000 || o.Keys != loadtest.Zipf ||
					o.ZipfS != 0.8 || o.Objects != 5000 || o.Size != (loadtest.Size{Min: 1024, Max: 65536}) || o.Query != "cc=max-age%3D5" ||
					o.PurgePct != 1 || o.ConditionalPct != 2.5 || o.Seed != 42 || !o.H2 || o.Streams != 4 || o.Timeout != 2*time.Second ||
					c.jsonFile != "out.json" || o.Host != "example.com" || o.Prefix != "p-" || o.Warmup != 0 {
					return "a flag was not applied"
				}
				return ""
			}},
		{name: "warm-up follows duration", args: []string{"--duration", "5s", url}, check: func(c *loadtestCmd) string {
			if c.opts.Warmup != 500*time.Millisecond {
				return "warm-up not a tenth of 5s"
			}
			return ""
		}},
		{name: "requests only: no warm-up", args: []string{"--requests", "10", url}, check: func(c *loadtestCmd) string {
			if c.opts.Warmup != 0 || c.opts.Duration != 0 {
				return "warm-up or duration set"
			}
			return ""
		}},
		{name: "bare --origin before the URL", args: []string{"--origin", url}, check: func(c *loadtestCmd) string {
			if !c.startOrigin || c.opts.Target != url {
				return "not a bare --origin"
			}
			return ""
		}},
		{name: "bare --origin after the URL", args: []string{url, "--origin"}, check: func(c *loadtestCmd) string {
			if !c.startOrigin || c.opts.Target != url {
				return "not a bare --origin"
			}
			return ""
		}},
		{name: "--origin ADDR URL", args: []string{"--origin", "127.0.0.1:8081", url}, check: func(c *loadtestCmd) string {
			if c.startOrigin || c.opts.OriginStats != "http://127.0.0.1:8081/__origin/stats" || c.opts.Target != url {
				return "origin address not taken"
			}
			return ""
		}},
		{name: "URL --origin ADDR", args: []string{url, "--origin", "127.0.0.1:8081"}, check: func(c *loadtestCmd) string {
			if c.opts.OriginStats != "http://127.0.0.1:8081/__origin/stats" || c.opts.Target != url {
				return "origin address not taken"
			}
			return ""
		}},
		{name: "--origin=URL", args: []string{"--origin=http://127.0.0.1:8081/", url}, check: func(c *loadtestCmd) string {
			if c.opts.OriginStats != "http://127.0.0.1:8081/__origin/stats" {
				return "origin URL not taken"
			}
			return ""
		}},
		{name: "several URLs", args: []string{url, "-c", "2", "http://127.0.0.1:8082,http://127.0.0.1:8083"}, check: func(c *loadtestCmd) string {
			if c.opts.Target != url+",http://127.0.0.1:8082,http://127.0.0.1:8083" || c.opts.Connections != 2 {
				return "targets not joined"
			}
			return ""
		}},
		{name: "--compare, --slices, --html, --connections", args: []string{"--compare", "http://127.0.0.1:8082", "--slices", "4", "--html", "r.html", "--connections", "3", url}, check: func(c *loadtestCmd) string {
			if c.compare != "http://127.0.0.1:8082" || c.slices != 4 || c.htmlFile != "r.html" || c.opts.Connections != 3 || c.opts.Target != url {
				return "a flag was not applied"
			}
			return ""
		}},
		{name: "--compare defaults to 10 slices", args: []string{"--compare", "http://127.0.0.1:8082", url}, check: func(c *loadtestCmd) string {
			if c.slices != 10 {
				return "not 10 slices"
			}
			return ""
		}},
		{name: "no URL", args: []string{"-c", "4"}, err: "no target URL"},
		{name: "a bad URL among several", args: []string{url, "127.0.0.1:8082"}, err: `invalid target "127.0.0.1:8082"`},
		{name: "bad --compare", args: []string{"--compare", "127.0.0.1:8082", url}, err: `--compare: invalid target "127.0.0.1:8082"`},
		{name: "bad --slices", args: []string{"--compare", "http://127.0.0.1:8082", "--slices", "0", url}, err: "--slices 0"},
		{name: "bad URL", args: []string{"127.0.0.1:8080"}, err: "invalid target"},
		{name: "bad keys", args: []string{"--keys", "pareto", url}, err: "invalid key distribution"},
		{name: "bad size", args: []string{"--size", "2GiB", url}, err: "1GiB"},
		{name: "reversed size range", args: []string{"--size", "64KiB-1KiB", url}, err: "size range"},
		{name: "negative rate", args: []string{"--rate", "-5", url}, err: "rate"},
		{name: "zero connections", args: []string{"-c", "0", url}, err: "at least 1"},
		{name: "zipf exponent", args: []string{"--zipf-s", "0", url}, err: "zipf-s"},
		{name: "percentages", args: []string{"--purge-pct", "80", "--conditional-pct", "30", url}, err: "at most 100"},
		{name: "streams without h2", args: []string{"--streams", "2", url}, err: "needs h2"},
		{name: "bad warm-up", args: []string{"--warmup", "soon", url}, err: "want a duration"},
		{name: "bad origin", args: []string{"--origin=ftp://x", url}, err: "invalid --origin"},
		{name: "unknown flag", args: []string{"--concurrency", "4", url}, err: "flag provided but not defined"},
	}
	checkArgs(t, tests)
}

// TestLoadtestUsageExit: a bad command line exits 1 with the reason and
// the synopsis on stderr, before sending anything.
func TestLoadtestUsageExit(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"loadtest", "--keys", "pareto", "http://127.0.0.1:1"}, &stdout, &stderr); code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if !strings.Contains(stderr.String(), `invalid key distribution "pareto"`) || !strings.Contains(stderr.String(), "usage: cdnnode loadtest") || stdout.Len() != 0 {
		t.Errorf("stdout %q, stderr %q", stdout.String(), stderr.String())
	}
	stderr.Reset()
	if code := run([]string{"loadtest", "--requests", "5", "http://127.0.0.1:1"}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "connect to 127.0.0.1:1") {
		t.Errorf("nothing listening: exit %d, stderr %q; want 1 and a connect error", code, stderr.String())
	}
}

// TestLoadtestCommand runs the real binary against a real node and demo
// origin, reading the origin's stats: the report, the progress lines and
// the JSON agree with what the origin saw.
func TestLoadtestCommand(t *testing.T) {
	r := startNode(t)
	jsonFile := filepath.Join(t.TempDir(), "result.json")
	stdout, stderr := runLoadtestBinary(t, "-c", "4", "--duration", "2s", "--warmup", "0s", "--keys", "uniform", "--objects", "20",
		"--seed", "5", "--origin", r.originAddr, "--json", jsonFile, "http://"+r.addr)
	t.Logf("stdout:\n%s\nstderr:\n%s", stdout, stderr)
	for _, want := range []string{"seed 5", "req/s", "p99"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr does not say %q", want)
		}
	}
	if n := strings.Count(stderr, " left)"); n != 2 {
		t.Errorf("%d progress lines, want one per second of 2s", n)
	}
	var res loadtest.Result
	readJSON(t, jsonFile, &res)
	if res.Seed != 5 || res.Requests == 0 || res.Errors != 0 || res.Origin == nil || res.Origin.Error != "" || res.Origin.Requests < 20 || res.Origin.Requests > res.Cache.Miss {
		t.Fatalf("result: seed %d, %d requests, %d errors, origin %+v, cache %+v", res.Seed, res.Requests, res.Errors, res.Origin, res.Cache)
	}
	var st struct{ Requests int64 }
	if err := json.Unmarshal(get(t, "http://"+r.originAddr+"/__origin/stats"), &st); err != nil || st.Requests != res.Origin.Requests {
		t.Errorf("the origin counted %d requests (%v), the report %d", st.Requests, err, res.Origin.Requests)
	}
	if want := regexp.MustCompile(`(?m)^origin +\d+ requests, offload \d+\.\d\d%$`); !want.MatchString(stdout) {
		t.Errorf("report has no origin line matching %s", want)
	}
}

// TestLoadtestStartsOrigin follows the bare --origin flow the README
// documents: loadtest starts a demo origin and prints its address, the
// node is pointed at it through the admin API, and the load starts once a
// probe through the node reaches it.
func TestLoadtestStartsOrigin(t *testing.T) {
	r := startNode(t)
	cmd := exec.Command(binary, "loadtest", "--origin", "--requests", "300", "-c", "2", "--keys", "uniform", "--objects", "10", "http://"+r.addr)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	lines := bufio.NewScanner(stderr)
	var addr string
	re := regexp.MustCompile(`demo origin listening on (127\.0\.0\.1:\d+)`)
	for addr == "" && lines.Scan() {
		if m := re.FindStringSubmatch(lines.Text()); m != nil {
			addr = m[1]
		}
	}
	if addr == "" {
		t.Fatalf("no demo origin address printed: %v", lines.Err())
	}
	go func() {
		for lines.Scan() { // drain, so the command never blocks on stderr
		}
	}()
	req, err := http.NewRequest(http.MethodPut, "http://"+r.adminAddr+"/pools/demo/peers", strings.NewReader(`{"peers":[{"addr":"`+addr+`"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT peers: %s", resp.Status)
	}
	if err := waitExit(t, cmd, 60*time.Second); err != nil {
		t.Fatalf("loadtest: %v\n%s", err, stdout.String())
	}
	out := stdout.String()
	m := regexp.MustCompile(`(?m)^origin +(\d+) requests`).FindStringSubmatch(out)
	if m == nil || m[1] == "0" || !strings.Contains(out, "requests  300,") {
		t.Errorf("report:\n%s\nwant 300 requests and the in-process origin's requests counted", out)
	}
}

// TestLoadtestHTML runs the binary once with --html: the file is an HTML
// document that loads and runs nothing (no script, stylesheet, image,
// frame or embedded object, no src or href at all, no CSS url() or
// @import), with three charts, and its summary table holds the run's
// figures, as the JSON has them.
func TestLoadtestHTML(t *testing.T) {
	r := startNode(t)
	dir := t.TempDir()
	jsonFile, htmlFile := filepath.Join(dir, "result.json"), filepath.Join(dir, "result.html")
	runLoadtestBinary(t, "-c", "2", "--requests", "300", "--keys", "uniform", "--objects", "20", "--seed", "3",
		"--origin", r.originAddr, "--json", jsonFile, "--html", htmlFile, "http://"+r.addr)
	var res loadtest.Result
	readJSON(t, jsonFile, &res)
	if res.Origin == nil || res.Origin.Error != "" {
		t.Fatalf("origin: %+v", res.Origin)
	}

	page, err := os.ReadFile(htmlFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(page, []byte("<!DOCTYPE html>")) {
		t.Fatalf("--html wrote no HTML document: %.60q", page)
	}
	doc, err := html.Parse(bytes.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	testkit.CheckSelfContained(t, doc)
	charts := 0
	for n := range doc.Descendants() {
		if n.DataAtom == atom.Svg {
			charts++
		}
	}
	if charts != 3 {
		t.Errorf("%d charts, want 3 (latency over time, throughput, latency distribution)", charts)
	}
	rows := testkit.TableRows(doc) // the summary table's rows by label
	for label, want := range map[string]string{
		"target":          "http://" + r.addr,
		"requests":        "300",
		"errors":          "0",
		"origin requests": strconv.FormatInt(res.Origin.Requests, 10),
	} {
		if got := rows[label]; len(got) != 1 || got[0] != want {
			t.Errorf("summary row %q = %q, want [%q]", label, got, want)
		}
	}
}

// readJSON decodes the JSON file at path, as loadtest's --json writes it,
// into v.
func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("JSON: %v\n%s", err, b)
	}
}
