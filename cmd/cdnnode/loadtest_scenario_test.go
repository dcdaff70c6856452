package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cdnnode/cdnnode/demoorigin"
	"github.com/cdnnode/cdnnode/internal/testnode"
	"github.com/cdnnode/cdnnode/loadtest"
)

// TestLoadtestScenarioFlags: a scenario sets flags by name, the command
// line wins over it, and a bad scenario is refused naming its file and
// line.
func TestLoadtestScenarioFlags(t *testing.T) {
	const url = "http://127.0.0.1:8080"
	dir := t.TempDir()
	file := func(name, text string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	custom := file("custom.toml", `# every kind of value
description = "custom"
rate = 500
h2 = true
streams = 2
size = 2048
zipf-s = 0.5
keys = "zipf"
objects = 1_000
origin = "127.0.0.1:8081"
warmup = "0s"
`)
	tests := []argCase{
		{name: "shipped", args: []string{"--scenario", "thundering-herd", url}, check: func(c *loadtestCmd) string {
			o := c.opts
			if o.Connections != 512 || o.Keys != loadtest.Single || o.Duration != 20*time.Second || o.Warmup != time.Second ||
				o.Query != "cc=max-age%3D1&delay=50ms" || o.Size != (loadtest.Size{Min: 4096, Max: 4096}) || c.scenario.Name != "thundering-herd" {
				return "scenario not applied"
			}
			return ""
		}},
		{name: "shipped, .toml", args: []string{url, "--scenario", "zipf-10k.toml"}, check: func(c *loadtestCmd) string {
			if c.opts.Keys != loadtest.Zipf || c.opts.Objects != 10000 {
				return "scenario not applied"
			}
			return ""
		}},
		{name: "the command line wins", args: []string{"-c", "8", "--scenario", "thundering-herd", "--duration", "2s", url}, check: func(c *loadtestCmd) string {
			o := c.opts
			if o.Connections != 8 || o.Duration != 2*time.Second || o.Warmup != 200*time.Millisecond || o.Query != "cc=max-age%3D1&delay=50ms" {
				return "the command line did not win"
			}
			return ""
		}},
		{name: "--connections wins over connections", args: []string{"--connections", "8", "--scenario", "hot-hit", url}, check: func(c *loadtestCmd) string {
			if c.opts.Connections != 8 {
				return "--connections did not win"
			}
			return ""
		}},
		{name: "a file", args: []string{"--scenario", custom, url}, check: func(c *loadtestCmd) string {
			o := c.opts
			if o.Rate != 500 || !o.H2 || o.Streams != 2 || o.Size != (loadtest.Size{Min: 2048, Max: 2048}) || o.ZipfS != 0.5 || o.Keys != loadtest.Zipf ||
				o.Objects != 1000 || o.OriginStats != "http://127.0.0.1:8081/__origin/stats" || o.Warmup != 0 || c.scenario.Description != "custom" {
				return "the file was not applied"
			}
			return ""
		}},
		{name: "unknown key", args: []string{"--scenario", file("unknown.toml", "keys = \"zipf\"\n\nconcurrency = 4\n"), url}, err: "unknown.toml:3: concurrency: unknown key"},
		{name: "bad value", args: []string{"--scenario", file("value.toml", "duration = \"10s\"\nkeys = \"pareto\"\n"), url}, err: `value.toml:2: keys: invalid value "pareto"`},
		{name: "wrong type", args: []string{"--scenario", file("type.toml", "connections = \"many\"\n"), url}, err: `type.toml:1: connections: invalid value "many"`},
		{name: "array", args: []string{"--scenario", file("array.toml", "\nquery = [\"a\", \"b\"]\n"), url}, err: "array.toml:2: query: want a string, number or boolean, not an array"},
		{name: "table", args: []string{"--scenario", file("table.toml", "keys = \"zipf\"\n[load]\nrate = 5\n"), url}, err: "table.toml:2: tables are not part of a scenario"},
		{name: "syntax", args: []string{"--scenario", file("syntax.toml", "keys = \"zipf\"\nrate = = 5\n"), url}, err: "syntax.toml:2: "},
		{name: "another scenario", args: []string{"--scenario", file("nested.toml", "scenario = \"hot-hit\"\n"), url}, err: "nested.toml:1: scenario: a scenario cannot name another"},
		{name: "no such scenario", args: []string{"--scenario", "cold-miss", url}, err: `scenario "cold-miss": no such file, nor a shipped scenario (hot-hit, `},
	}
	checkArgs(t, tests)
	for _, name := range loadtest.ScenarioNames() {
		if !strings.Contains(strings.Join(strings.Fields(loadtestUsage), " "), name) {
			t.Errorf("the usage does not list the shipped scenario %s", name)
		}
	}
}

// runLoadtestInProcess runs `cdnnode loadtest args` in this process and
// returns the result it wrote as JSON, and its report.
func runLoadtestInProcess(t *testing.T, args ...string) (*loadtest.Result, string) {
	t.Helper()
	jsonFile := filepath.Join(t.TempDir(), "result.json")
	c, err := parseLoadtestArgs(append(args, "--json", jsonFile), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if err := c.run(context.Background(), &stdout, &stderr); err != nil {
		t.Fatalf("loadtest %q: %v\n%s%s", args, err, stdout.String(), stderr.String())
	}
	t.Logf("loadtest %q:\n%s%s", args, stderr.String(), stdout.String())
	var res loadtest.Result
	readJSON(t, jsonFile, &res)
	return &res, stdout.String()
}

// TestShippedScenarios runs every shipped scenario, as shipped but for a
// 1s duration, through an in-process node in front of the demo origin:
// each succeeds, without errors, and shows what it is for.
func TestShippedScenarios(t *testing.T) {
	checks := map[string]func(res *loadtest.Result) string{
		"hot-hit": func(res *loadtest.Result) string {
			if res.Cache.HitRatio < 0.99 || res.Origin.Requests > 1 {
				return "not all hits"
			}
			return ""
		},
		"zipf-10k": func(res *loadtest.Result) string {
			if res.Objects != 10000 || res.Cache.Miss == 0 || res.Cache.Hit == 0 {
				return "not a mix of hits and misses"
			}
			return ""
		},
		"thundering-herd": func(res *loadtest.Result) string {
			// 1s measured after 100ms of warm-up, an expiry every second:
			// each herd collapses into one origin request (two at most at
			// the edges of the window).
			if res.Connections != 512 || res.Origin.Requests > 3 || res.Requests < 500 {
				return "the herd was not collapsed"
			}
			return ""
		},
		"purge-storm": func(res *loadtest.Result) string {
			if !within(float64(res.Purges)/float64(res.Requests), 0.2, 0.25) || res.Status["200"] == 0 {
				return "not 20% PURGE"
			}
			return ""
		},
		"origin-down": func(res *loadtest.Result) string {
			if res.Objects != 100 || res.Cache.Miss == 0 {
				return "no short-lived objects"
			}
			return ""
		},
	}
	for _, name := range loadtest.ScenarioNames() {
		t.Run(name, func(t *testing.T) {
			check, ok := checks[name]
			if !ok {
				t.Fatalf("no check for the shipped scenario %s", name)
			}
			origin := httptest.NewServer(demoorigin.New(nil))
			t.Cleanup(origin.Close)
			base := testnode.Fronting(t, origin.Listener.Addr().String())
			res, _ := runLoadtestInProcess(t, "--scenario", name, "--duration", "1s", "--origin", origin.Listener.Addr().String(), base)
			if res.Requests == 0 || res.Errors != 0 || res.Origin == nil || res.Origin.Error != "" {
				t.Fatalf("%d requests, %d errors %v, origin %+v", res.Requests, res.Errors, res.ErrorSamples, res.Origin)
			}
			if msg := check(res); msg != "" {
				t.Errorf("%s: %s: cache %+v, origin %+v, %d purges of %d", name, msg, res.Cache, res.Origin, res.Purges, res.Requests)
			}
		})
	}
}

// TestOriginDownScenario stops the origin during origin-down: the node
// keeps answering, from stale copies, without an error.
func TestOriginDownScenario(t *testing.T) {
	demo := demoorigin.New(nil)
	var mu sync.Mutex
	paths := map[string]bool{}
	allSeen := make(chan struct{})
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		demo.ServeHTTP(w, r)
		mu.Lock()
		defer mu.Unlock()
		if !paths[r.URL.Path] {
			paths[r.URL.Path] = true
			if len(paths) == 100 { // every object of the scenario is stored
				close(allSeen)
			}
		}
	}))
	t.Cleanup(origin.Close)
	base := testnode.Fronting(t, origin.Listener.Addr().String())
	go func() {
		select {
		case <-allSeen:
			origin.Close()
		case <-time.After(10 * time.Second):
		}
	}()
	res, _ := runLoadtestInProcess(t, "--scenario", "origin-down", "--duration", "3s", "--warmup", "0s", base)
	select {
	case <-allSeen:
	default:
		t.Fatal("the run did not ask for all 100 objects")
	}
	if res.Errors != 0 || res.Cache.Stale == 0 || res.Status["200"] != res.Requests {
		t.Errorf("with the origin down: %d errors %v, status %v, cache %+v; want stale answers and no error", res.Errors, res.ErrorSamples, res.Status, res.Cache)
	}
}

// TestLoadtestCompareCommand runs the binary with --compare: the node (A)
// against the origin it fronts (B), with --json and --html.
func TestLoadtestCompareCommand(t *testing.T) {
	r := startNode(t)
	dir := t.TempDir()
	jsonFile, htmlFile := filepath.Join(dir, "cmp.json"), filepath.Join(dir, "cmp.html")
	stdout, stderr := runLoadtestBinary(t, "-c", "2", "--requests", "400", "--keys", "uniform", "--objects", "20", "--slices", "4",
		"--compare", "http://"+r.originAddr, "--json", jsonFile, "--html", htmlFile, "http://"+r.addr)
	t.Logf("stdout:\n%s\nstderr:\n%s", stdout, stderr)
	for _, want := range []string{"slices    4 per side", "requests                  400          400     1.00", "hit ratio"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("report does not say %q", want)
		}
	}
	var cmp loadtest.Comparison
	readJSON(t, jsonFile, &cmp)
	if cmp.A.Requests != 400 || cmp.B.Requests != 400 || len(cmp.Slices) != 8 || cmp.A.Cache.HitRatio < 0.9 || cmp.B.Cache.HitRatio != 0 {
		t.Errorf("JSON: A %d requests (hit ratio %v), B %d (%v), %d slices", cmp.A.Requests, cmp.A.Cache.HitRatio, cmp.B.Requests, cmp.B.Cache.HitRatio, len(cmp.Slices))
	}
	page, err := os.ReadFile(htmlFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(bytes.ToLower(bytes.TrimSpace(page)), []byte("<!doctype html>")) || !bytes.Contains(page, []byte(r.originAddr)) {
		t.Errorf("--html wrote no HTML page naming both targets (%d bytes)", len(page))
	}
}

// execLoadtest is the binary's `cdnnode loadtest args`, writing to
// stdout and stderr.
func execLoadtest(stdout, stderr io.Writer, args ...string) *exec.Cmd {
	cmd := exec.Command(binary, append([]string{"loadtest"}, args...)...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	return cmd
}

// runLoadtestBinary runs the binary's `cdnnode loadtest args` to its end and
// returns what it wrote to stdout and stderr; it fails t if the command
// fails.
func runLoadtestBinary(t *testing.T, args ...string) (stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	if err := execLoadtest(&out, &errOut, args...).Run(); err != nil {
		t.Fatalf("loadtest: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errOut.String())
	}
	return out.String(), errOut.String()
}

// within reports whether got is within frac of want.
func within(got, want, frac float64) bool {
	return got >= want*(1-frac) && got <= want*(1+frac)
}
