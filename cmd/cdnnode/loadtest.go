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
const loadtestUsage = `usage: cdnnode loadtest [flags] URL

Sends demo-origin object requests, URL/obj/<prefix><key>?size=<bytes>...,
to URL (a node in front of the demo origin), closed loop (-c connections
as fast as they are answered) or open loop (--rate), and reports
throughput, latency percentiles, status codes, the cache's hit ratio,
errors and, with --origin, the origin's requests and offload.

  --origin ADDR   read the running demo origin's /__origin/stats at ADDR
  --origin        start a demo origin in this process on 127.0.0.1 and
                  print its address; the node at URL must front it (for
                  example through its admin API: PUT /pools/NAME/peers):
                  the load starts once a probe through URL reaches it
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
	jsonFile    string           // "-" is stdout
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
	keys := fs.String("keys", string(loadtest.Single), "key `distribution`: single, uniform or zipf")
	fs.Float64Var(&o.ZipfS, "zipf-s", loadtest.DefaultZipfS, "zipf `exponent`, any value above 0")
	fs.Int64Var(&o.Objects, "objects", loadtest.DefaultObjects, "`number` of objects uniform and zipf choose from")
	size := fs.String("size", loadtest.DefaultSize().String(), "object `size`: fixed (1KiB) or a range (1KiB-64KiB, log-uniform, fixed per object)")
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
	var origin originFlag
	fs.Var(&origin, "origin", "demo origin `ADDR` whose stats to read; bare: start one (see above)")

	rest, err := parseInterspersedWith(fs, args, func(prev string) bool {
		// "--origin ADDR URL", "URL --origin ADDR": the argument after a
		// bare --origin is its value when there is a URL besides.
		return (prev == "-origin" || prev == "--origin") && origin.addr == ""
	}, func(s string) { origin.addr = s })
	if err != nil {
		return nil, err
	}
	switch len(rest) {
	case 0:
		return nil, usageErrorOf("loadtest", errors.New("no target URL"), loadtestUsage)
	case 1:
		o.Target = rest[0]
	default:
		return nil, usageErrorOf("loadtest", fmt.Errorf("one target URL, not %q", rest), loadtestUsage)
	}
	if o.Keys, err = loadtest.ParseKeyDist(*keys); err != nil {
		return nil, usageErrorOf("loadtest", err, loadtestUsage)
	}
	if o.Size, err = loadtest.ParseSize(*size); err != nil {
		return nil, usageErrorOf("loadtest", err, loadtestUsage)
	}
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
	return &c, nil
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
		if err := waitFronted(ctx, &o, demo, stderr); err != nil {
			return err
		}
		o.OriginStats = "http://" + addr + "/__origin/stats"
	}
	fmt.Fprintf(stderr, "loadtest: %s, seed %d\n", o.Target, o.Seed)
	o.Progress = func(p loadtest.Progress) { fmt.Fprintln(stderr, loadtest.FormatProgress(p)) }
	res, err := loadtest.Run(ctx, o)
	if err != nil {
		return fmt.Errorf("loadtest: %w", err)
	}
	if err := loadtest.Report(stdout, res); err != nil {
		return err
	}
	if c.jsonFile != "" {
		if err := writeResultJSON(c.jsonFile, stdout, res); err != nil {
			return err
		}
	}
	if res.Responses == 0 && res.Requests > 0 {
		return fmt.Errorf("loadtest: none of %d requests got a response", res.Requests)
	}
	return nil
}

func writeResultJSON(name string, stdout io.Writer, res *loadtest.Result) error {
	if name == "-" {
		return loadtest.WriteJSON(stdout, res)
	}
	f, err := os.Create(name)
	if err != nil {
		return fmt.Errorf("loadtest: --json: %w", err)
	}
	if err := loadtest.WriteJSON(f, res); err != nil {
		f.Close()
		return fmt.Errorf("loadtest: --json: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("loadtest: --json: %w", err)
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

// waitFronted sends uncacheable probe GETs through the target, one every
// probeEvery, until one reaches demo, for at most frontWait.
func waitFronted(ctx context.Context, o *loadtest.Options, demo *demoorigin.Server, stderr io.Writer) error {
	tr := &http.Transport{TLSClientConfig: o.TLS, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 2 * time.Second}
	base := strings.TrimSuffix(o.Target, "/")
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
			fmt.Fprintf(stderr, "loadtest: waiting up to %v for %s to reach the demo origin\n", frontWait, o.Target)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("loadtest: %w", ctx.Err())
		case <-time.After(probeEvery):
		}
	}
	return fmt.Errorf("loadtest: %s did not reach the demo origin within %v", o.Target, frontWait)
}
