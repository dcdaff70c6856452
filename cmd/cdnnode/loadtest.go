package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/cdnnode/cdnnode/demoorigin"
	"github.com/cdnnode/cdnnode/loadtest"
)

// loadtestUsage is the synopsis `cdnnode loadtest -h` and usage errors print.
const loadtestUsage = `usage: cdnnode loadtest [flags] URL [URL...]

Sends demo-origin object requests, URL/obj/<prefix><key>?size=<bytes>...,
to URL (a node in front of the demo origin), closed loop (-c connections
as fast as they are answered) or open loop (--rate), and reports
throughput, latency percentiles, status codes, the cache's hit ratio,
errors and, with --origin, the origin's requests and offload. Several
URLs (or a comma-separated list) take turns, request by request.

  --origin ADDR     read the running demo origin's /__origin/stats at ADDR
  --origin          start a demo origin in this process on 127.0.0.1 and
                    print its address; the node at URL must front it (for
                    example through its admin API: PUT /pools/NAME/peers):
                    the load starts once a probe through URL reaches it
  --compare URL2    run the same load against URL2 too, interleaved in
                    --slices slices (A B A B ...), and report both side by
                    side with the ratio B/A
  --scenario NAME   take flag values from a TOML file (its keys are flag
                    names) or a shipped scenario: hot-hit, zipf-10k,
                    thundering-herd, purge-storm, origin-down; flags on
                    the command line win
Flags may come before or after the URL.`

// frontWait is how long a bare --origin waits for the target to reach
// the in-process demo origin, probing every probeEvery.
const (
	frontWait  = 60 * time.Second
	probeEvery = 250 * time.Millisecond
)

// loadtestCmd is `cdnnode loadtest` after its flags are parsed.
type loadtestCmd struct {
	opts        loadtest.Options // --origin ADDR sets opts.OriginStats
	startOrigin bool             // bare --origin: start one in process
	compare     string           // --compare: target B; "" for a single run
	slices      int              // --slices of a comparison
	jsonFile    string           // "-" is stdout
	htmlFile    string           // "-" is stdout
	scenario    *loadtest.Scenario
}

// originFlag is --origin with an optional value: bare (a boolean flag to
// the flag package) or --origin=ADDR; parseLoadtestArgs also takes the
// argument after a bare --origin as its value when another follows.
type originFlag struct {
	set  bool
	addr string
}

func (f *originFlag) String() string { return f.addr }

func (f *originFlag) Set(s string) error {
	switch s {
	case "true":
		f.set, f.addr = true, ""
	case "false":
		f.set, f.addr = false, ""
	default:
		f.set, f.addr = true, s
	}
	return nil
}

func (f *originFlag) IsBoolFlag() bool { return true }

// keysValue is --keys: parsed when set, so a scenario's bad value is
// reported at its line.
type keysValue struct{ k *loadtest.KeyDist }

func (v keysValue) String() string {
	if v.k == nil {
		return ""
	}
	return string(*v.k)
}

func (v keysValue) Set(s string) (err error) {
	*v.k, err = loadtest.ParseKeyDist(s)
	return err
}

// sizeValue is --size, parsed when set.
type sizeValue struct{ s *loadtest.Size }

func (v sizeValue) String() string {
	if v.s == nil {
		return ""
	}
	return v.s.String()
}

func (v sizeValue) Set(s string) (err error) {
	*v.s, err = loadtest.ParseSize(s)
	return err
}

// parseLoadtestArgs parses and checks the command line.
func parseLoadtestArgs(args []string, out io.Writer) (*loadtestCmd, error) {
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), loadtestUsage)
		fs.PrintDefaults()
	}
	var c loadtestCmd
	o := &c.opts
	fs.IntVar(&o.Connections, "c", loadtest.DefaultConnections, "`connections` (closed loop: each sends back to back; open loop: the pool requests wait for)")
	fs.IntVar(&o.Connections, "connections", loadtest.DefaultConnections, "`connections`, the same as -c")
	fs.Float64Var(&o.Rate, "rate", 0, "open loop at `R` requests per second; 0 = closed loop")
	fs.DurationVar(&o.Duration, "duration", 0, "measured `time` after the warm-up (default 10s, or unbounded with --requests)")
	fs.Int64Var(&o.Requests, "requests", 0, "stop after this many measured `requests` (or at --duration)")
	warmup := time.Duration(-1) // not given
	fs.Func("warmup", "warm-up `time`, excluded from the results (default a tenth of --duration, at most 1s; none with --requests only)", func(s string) error {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			return fmt.Errorf("want a duration such as 1s, not %q", s)
		}
		warmup = d
		return nil
	})
	o.Keys, o.Size = loadtest.Single, loadtest.DefaultSize()
	fs.Var(keysValue{&o.Keys}, "keys", "key `distribution`: single, uniform or zipf")
	fs.Float64Var(&o.ZipfS, "zipf-s", loadtest.DefaultZipfS, "zipf `exponent`, any value above 0")
	fs.Int64Var(&o.Objects, "objects", loadtest.DefaultObjects, "`number` of objects uniform and zipf choose from")
	fs.Var(sizeValue{&o.Size}, "size", "object `size`: fixed (1KiB) or a range (1KiB-64KiB, log-uniform, fixed per object)")
	fs.StringVar(&o.Query, "query", "", "more demo origin `parameters` for every object URL, e.g. 'cc=max-age%3D300&delay=5ms'")
	fs.StringVar(&o.Prefix, "prefix", loadtest.DefaultPrefix, "object name `prefix`")
	fs.StringVar(&o.Host, "host", "", "Host header `name` (and TLS server name) instead of the URL's")
	fs.Float64Var(&o.PurgePct, "purge-pct", 0, "`percent` of requests that PURGE an object")
	fs.Float64Var(&o.ConditionalPct, "conditional-pct", 0, "`percent` of requests that are conditional GETs (If-Modified-Since; adds lm=1 to URLs)")
	fs.Uint64Var(&o.Seed, "seed", 0, "`seed` of the request sequence (default: random, printed)")
	fs.BoolVar(&o.H2, "h2", false, "HTTP/2: TLS with ALPN for https URLs, h2c with prior knowledge for http")
	fs.IntVar(&o.Streams, "streams", 1, "with --h2, concurrent `streams` per connection")
	fs.DurationVar(&o.Timeout, "timeout", loadtest.DefaultTimeout, "per-request `time` limit")
	insecure := fs.Bool("insecure", false, "do not verify the target's TLS certificate")
	fs.StringVar(&c.jsonFile, "json", "", "also write the result as JSON to `file` (- for stdout)")
	fs.StringVar(&c.htmlFile, "html", "", "also write the result as a self-contained HTML page to `file` (- for stdout)")
	var origin originFlag
	fs.Var(&origin, "origin", "demo origin `ADDR` whose stats to read; bare: start one (see above)")
	fs.StringVar(&c.compare, "compare", "", "compare with the target(s) at `URL2` (see above)")
	fs.IntVar(&c.slices, "slices", loadtest.DefaultSlices, "with --compare, the `number` of slices each side's run is cut into")
	scenario := fs.String("scenario", "", "flag values from the scenario `file` or shipped scenario (see above)")

	rest, err := parseInterspersedWith(fs, args, func(prev string) bool {
		// "--origin ADDR URL", "URL --origin ADDR": the argument after a
		// bare --origin is its value when there is a URL besides.
		return (prev == "-origin" || prev == "--origin") && origin.addr == ""
	}, func(s string) { origin.addr = s })
	if err != nil {
		return nil, err
	}
	if *scenario != "" {
		if c.scenario, err = applyScenario(fs, *scenario); err != nil {
			return nil, fmt.Errorf("loadtest: %w", err)
		}
	}
	if len(rest) == 0 {
		return nil, usageErrorOf("loadtest", errors.New("no target URL"), loadtestUsage)
	}
	o.Target = strings.Join(rest, ",")
	switch {
	case warmup >= 0:
		o.Warmup = warmup
	case o.Duration > 0:
		o.Warmup = loadtest.DefaultWarmup(o.Duration)
	case o.Requests == 0: // the default duration
		o.Warmup = loadtest.DefaultWarmup(loadtest.DefaultDuration)
	}
	if o.Seed == 0 {
		o.Seed = rand.Uint64() | 1
	}
	if *insecure {
		o.TLS = &tls.Config{InsecureSkipVerify: true}
	}
	switch {
	case origin.set && origin.addr == "":
		c.startOrigin = true
	case origin.set:
		o.OriginStats, err = statsURL(origin.addr)
		if err != nil {
			return nil, usageErrorOf("loadtest", err, loadtestUsage)
		}
	}
	// Negative counts would read as "default" below the flag package.
	if o.Connections <= 0 || o.Streams <= 0 || o.Objects <= 0 {
		return nil, usageErrorOf("loadtest", errors.New("-c, --streams and --objects must be at least 1"), loadtestUsage)
	}
	if o.ZipfS <= 0 {
		return nil, usageErrorOf("loadtest", fmt.Errorf("--zipf-s %v: want a value above 0", o.ZipfS), loadtestUsage)
	}
	if o.Timeout <= 0 {
		return nil, usageErrorOf("loadtest", fmt.Errorf("--timeout %v: want a positive time", o.Timeout), loadtestUsage)
	}
	if o.Duration < 0 || o.Requests < 0 {
		return nil, usageErrorOf("loadtest", errors.New("--duration and --requests must not be negative"), loadtestUsage)
	}
	if err := o.Validate(); err != nil {
		return nil, usageErrorOf("loadtest", err, loadtestUsage)
	}
	if c.compare != "" {
		ob := *o
		ob.Target = c.compare
		if err := ob.Validate(); err != nil {
			return nil, usageErrorOf("loadtest", fmt.Errorf("--compare: %w", err), loadtestUsage)
		}
		if c.slices < 1 || c.slices > loadtest.MaxSlices {
			return nil, usageErrorOf("loadtest", fmt.Errorf("--slices %d: want 1 to %d", c.slices, loadtest.MaxSlices), loadtestUsage)
		}
	}
	return &c, nil
}

// applyScenario sets fs's flags from the scenario called name (a file or
// a shipped one), but those given on the command line: they win. Keys
// must be flag names; errors name the file and line.
func applyScenario(fs *flag.FlagSet, name string) (*loadtest.Scenario, error) {
	sc, err := loadtest.LoadScenario(name)
	if err != nil {
		return nil, err
	}
	// -c and --connections are one setting.
	canonical := func(k string) string {
		if k == "connections" {
			return "c"
		}
		return k
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[canonical(f.Name)] = true })
	err = sc.Apply(func(key, value string) error {
		switch {
		case key == "scenario":
			return errors.New("a scenario cannot name another")
		case fs.Lookup(key) == nil:
			return errors.New("unknown key: not a loadtest flag")
		case given[canonical(key)]:
			return nil
		}
		if err := fs.Set(key, value); err != nil {
			return fmt.Errorf("invalid value %q: %w", value, err)
		}
		return nil
	})
	return sc, err
}

// statsURL turns --origin's ADDR (host:port, or an http URL) into the
// demo origin's stats URL.
func statsURL(addr string) (string, error) {
	s := addr
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
		return "", fmt.Errorf("invalid --origin %q: want the demo origin's host:port", addr)
	}
	if !strings.HasSuffix(u.Path, "/__origin/stats") {
		u.Path = strings.TrimSuffix(u.Path, "/") + "/__origin/stats"
	}
	return u.String(), nil
}

// runLoadtest runs `cdnnode loadtest`: the report goes to stdout,
// progress lines to stderr. SIGINT or SIGTERM stop the load early and
// still report. It fails on a usage error, when the target cannot be
// reached, or when no request got a response.
func runLoadtest(args []string, stdout, stderr io.Writer) error {
	c, err := parseLoadtestArgs(args, stderr)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return c.run(ctx, stdout, stderr)
}

// run is runLoadtest after parsing, until ctx is done.
func (c *loadtestCmd) run(ctx context.Context, stdout, stderr io.Writer) error {
	o := c.opts
	if c.startOrigin {
		addr, demo, closeOrigin, err := startDemoOrigin()
		if err != nil {
			return err
		}
		defer closeOrigin()
		fmt.Fprintf(stderr, "loadtest: demo origin listening on %s; %s must front it, e.g.\n"+
			"  curl -X PUT http://127.0.0.1:9090/pools/demo/peers -d '{\"peers\":[{\"addr\":\"%s\"}]}'\n", addr, o.Target, addr)
		targets := o.Target
		if c.compare != "" {
			targets += "," + c.compare
		}
		for base := range strings.SplitSeq(targets, ",") {
			if err := waitFronted(ctx, strings.TrimSpace(base), &o, demo, stderr); err != nil {
				return err
			}
		}
		o.OriginStats = "http://" + addr + "/__origin/stats"
	}
	if sc := c.scenario; sc != nil && sc.Description != "" {
		fmt.Fprintf(stderr, "loadtest: scenario %s: %s\n", sc.Name, sc.Description)
	}
	progress := newProgressLine(stderr)
	o.Progress = progress.show
	if c.compare != "" {
		fmt.Fprintf(stderr, "loadtest: A %s, B %s, %d slices each, seed %d\n", o.Target, c.compare, c.slices, o.Seed)
		cmp, err := loadtest.Compare(ctx, o, c.compare, c.slices)
		progress.done()
		if err != nil {
			return fmt.Errorf("loadtest: %w", err)
		}
		return c.report(stdout, []*loadtest.Result{cmp.A, cmp.B},
			func(w io.Writer) error { return loadtest.ReportCompare(w, cmp) },
			func(w io.Writer) error { return loadtest.WriteJSONCompare(w, cmp) },
			func(w io.Writer) error { return loadtest.WriteHTMLCompare(w, cmp.A, cmp.B) })
	}
	fmt.Fprintf(stderr, "loadtest: %s, seed %d\n", o.Target, o.Seed)
	res, err := loadtest.Run(ctx, o)
	progress.done()
	if err != nil {
		return fmt.Errorf("loadtest: %w", err)
	}
	return c.report(stdout, []*loadtest.Result{res},
		func(w io.Writer) error { return loadtest.Report(w, res) },
		func(w io.Writer) error { return loadtest.WriteJSON(w, res) },
		func(w io.Writer) error { return loadtest.WriteHTML(w, res) })
}

// report writes the text report to stdout and the --json and --html
// files, and fails when one of results (a run, or each side of a
// comparison) got no response at all.
func (c *loadtestCmd) report(stdout io.Writer, results []*loadtest.Result, text, json, html func(io.Writer) error) error {
	if err := text(stdout); err != nil {
		return err
	}
	if err := writeOutput("--json", c.jsonFile, stdout, json); err != nil {
		return err
	}
	if err := writeOutput("--html", c.htmlFile, stdout, html); err != nil {
		return err
	}
	for _, res := range results {
		if res.Responses == 0 && res.Requests > 0 {
			return fmt.Errorf("loadtest: none of %d requests to %s got a response", res.Requests, res.Target)
		}
	}
	return nil
}

// writeOutput writes with write to the file name ("-": stdout; "":
// nothing), for the flag called flagName.
func writeOutput(flagName, name string, stdout io.Writer, write func(io.Writer) error) error {
	switch name {
	case "":
		return nil
	case "-":
		return write(stdout)
	}
	f, err := os.Create(name)
	if err != nil {
		return fmt.Errorf("loadtest: %s: %w", flagName, err)
	}
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("loadtest: %s: %w", flagName, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("loadtest: %s: %w", flagName, err)
	}
	return nil
}

// startDemoOrigin serves a demo origin on a free loopback port until the
// returned function is called.
func startDemoOrigin() (string, *demoorigin.Server, func(), error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, nil, fmt.Errorf("loadtest: demo origin: %w", err)
	}
	demo := demoorigin.New(nil)
	srv := &http.Server{Handler: demo, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	return l.Addr().String(), demo, func() { _ = srv.Close() }, nil
}

// waitFronted sends uncacheable probe GETs through the target at base,
// one every probeEvery, until one reaches demo, for at most frontWait.
func waitFronted(ctx context.Context, base string, o *loadtest.Options, demo *demoorigin.Server, stderr io.Writer) error {
	tr := &http.Transport{TLSClientConfig: o.TLS, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 2 * time.Second}
	base = strings.TrimSuffix(base, "/")
	u, err := url.Parse(base)
	if err != nil {
		return fmt.Errorf("loadtest: %w", err)
	}
	run := rand.Uint32()
	for n := range int(frontWait / probeEvery) {
		probe := fmt.Sprintf("/obj/__loadtest-probe-%08x-%d", run, n)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+probe+"?size=0&cc=no-store", nil)
		if err != nil {
			return fmt.Errorf("loadtest: %w", err)
		}
		if o.Host != "" {
			req.Host = o.Host
		}
		if resp, err := client.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		if demo.Stats().ByPath[u.Path+probe] > 0 {
			return nil
		}
		if n == 0 {
			fmt.Fprintf(stderr, "loadtest: waiting up to %v for %s to reach the demo origin\n", frontWait, base)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("loadtest: %w", ctx.Err())
		case <-time.After(probeEvery):
		}
	}
	return fmt.Errorf("loadtest: %s did not reach the demo origin within %v", base, frontWait)
}
