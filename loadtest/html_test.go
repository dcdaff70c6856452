package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cdnnode/cdnnode/internal/testkit"
	"github.com/cdnnode/cdnnode/internal/testnode"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// TestHTML renders real runs, one through a node (hits, a PURGE mix,
// origin offload) and one open loop straight at the demo origin, as a
// page and as an A/B page, and checks what a person would see in them.
func TestHTML(t *testing.T) {
	srv, _ := startDemo(t)
	base := testnode.Fronting(t, srv.Listener.Addr().String())
	stats := srv.URL + "/__origin/stats"
	a := run(t, Options{Target: base, Connections: 2, Duration: 2 * time.Second, Keys: Zipf, Objects: 50, Size: DefaultSize(), PurgePct: 2, OriginStats: stats, Seed: 1})
	b := run(t, Options{Target: srv.URL, Rate: 300, Connections: 4, Duration: 2 * time.Second, Keys: Zipf, Objects: 50, Size: DefaultSize(), OriginStats: stats, Seed: 1})

	t.Run("single", func(t *testing.T) {
		page := render(t, func(w *bytes.Buffer) error { return WriteHTML(w, a) })
		doc := parsePage(t, page)
		testkit.CheckSelfContained(t, doc)

		rows := testkit.TableRows(doc)
		for label, want := range map[string]string{
			"target":                a.Target,
			"requests":              itoa(a.Requests),
			"requests/s":            formatFloat(a.RequestsPerSec),
			"bytes/s":               formatBytes(a.BytesPerSec) + "/s",
			"p50":                   formatDuration(a.Latency.P50),
			"p90":                   formatDuration(a.Latency.P90),
			"p99":                   formatDuration(a.Latency.P99),
			"p99.9":                 formatDuration(a.Latency.P999),
			"max":                   formatDuration(a.Latency.Max),
			"200":                   itoa(a.Status["200"]),
			"hit ratio by requests": formatPct(a.Cache.HitRatio),
			"hit ratio by bytes":    formatPct(a.Cache.ByteHitRatio),
			"PURGE requests":        itoa(a.Purges),
			"origin requests":       itoa(a.Origin.Requests),
			"offload":               formatPct(a.Origin.Offload),
			"errors":                itoa(a.Errors),
			"late sends":            "— (closed loop)",
		} {
			if got := rows[label]; !slices.Equal(got, []string{want}) {
				t.Errorf("summary row %q = %q, want [%q]", label, got, want)
			}
		}
		if a.Cache.Hit == 0 || a.Origin.Requests == 0 {
			t.Errorf("the run through the node had %d hits and %d origin requests; want some of each", a.Cache.Hit, a.Origin.Requests)
		}

		charts := chartsOf(doc)
		if len(charts) != 3 {
			t.Fatalf("%d charts, want 3", len(charts))
		}
		for _, c := range charts {
			if len(c.lines) == 0 || !strings.Contains(c.lines[0], " L") {
				t.Errorf("chart %q has no line: %q", c.title, c.lines)
			}
			if len(c.ticks) < 3 {
				t.Errorf("chart %q has %d tick labels, want axes with several", c.title, len(c.ticks))
			}
		}
		if got := len(charts[0].lines); got != 3 {
			t.Errorf("latency over time has %d lines, want p50, p99 and max", got)
		}
		for _, tick := range []string{"0%", "90%", "99%"} {
			if !slices.Contains(charts[1].ticks, tick) {
				t.Errorf("distribution axis lacks %s: %q", tick, charts[1].ticks)
			}
		}

		if again := render(t, func(w *bytes.Buffer) error { return WriteHTML(w, a) }); !bytes.Equal(page, again) {
			t.Error("two renderings of the same result differ")
		}
	})

	t.Run("compare", func(t *testing.T) {
		doc := parsePage(t, render(t, func(w *bytes.Buffer) error { return WriteHTMLCompare(w, a, b) }))
		testkit.CheckSelfContained(t, doc)
		var heads []string
		for n := range doc.Descendants() {
			if n.DataAtom == atom.Th && n.Parent.Parent.DataAtom == atom.Thead {
				heads = append(heads, testkit.Text(n))
			}
		}
		if want := []string{"", "A", "B", "B/A"}; !slices.Equal(heads, want) {
			t.Errorf("table heads %q, want %q", heads, want)
		}
		rows := testkit.TableRows(doc)
		for label, want := range map[string][]string{
			"requests/s": {formatFloat(a.RequestsPerSec), formatFloat(b.RequestsPerSec), formatRatio(b.RequestsPerSec / a.RequestsPerSec)},
			"p99":        {formatDuration(a.Latency.P99), formatDuration(b.Latency.P99), formatRatio(float64(b.Latency.P99) / float64(a.Latency.P99))},
			"mode":       {"closed loop", "open loop at 300 req/s", ""},
			"late sends": {"— (closed loop)", itoa(b.Late), ""},
		} {
			if got := rows[label]; !slices.Equal(got, want) {
				t.Errorf("summary row %q = %q, want %q", label, got, want)
			}
		}
		charts := chartsOf(doc)
		if len(charts) != 3 {
			t.Fatalf("%d charts, want 3", len(charts))
		}
		for i, want := range []int{6, 2} {
			if got := len(charts[i].lines); got != want {
				t.Errorf("chart %q has %d lines, want %d (A's and B's)", charts[i].title, got, want)
			}
			if charts[i].dashed != want/2 {
				t.Errorf("chart %q has %d dashed lines, want B's %d", charts[i].title, charts[i].dashed, want/2)
			}
		}
	})

	t.Run("hostile target", func(t *testing.T) {
		const evil = `http://x/"><script>alert(1)</script><img src="http://evil.example/x.png">`
		h := *a
		h.Target = evil
		for name, write := range map[string]func(*bytes.Buffer) error{
			"single":  func(w *bytes.Buffer) error { return WriteHTML(w, &h) },
			"compare": func(w *bytes.Buffer) error { return WriteHTMLCompare(w, &h, &h) },
		} {
			page := render(t, write)
			if bytes.Contains(page, []byte("<script")) || bytes.Contains(page, []byte("<img")) {
				t.Errorf("%s: the target's markup reached the page unescaped", name)
			}
			doc := parsePage(t, page)
			testkit.CheckSelfContained(t, doc)
			if got := testkit.TableRows(doc)["target"]; len(got) == 0 || got[0] != evil {
				t.Errorf("%s: target row %q, want the URL as text %q", name, got, evil)
			}
		}
	})

	t.Run("from JSON", func(t *testing.T) {
		// A Result read back from JSON has no histograms in memory; the
		// distribution comes from histogram_v2, the same as before.
		var js bytes.Buffer
		if err := WriteJSON(&js, a); err != nil {
			t.Fatal(err)
		}
		var back Result
		if err := json.Unmarshal(js.Bytes(), &back); err != nil {
			t.Fatal(err)
		}
		orig := chartsOf(parsePage(t, render(t, func(w *bytes.Buffer) error { return WriteHTML(w, a) })))
		got := chartsOf(parsePage(t, render(t, func(w *bytes.Buffer) error { return WriteHTML(w, &back) })))
		for i := range orig {
			if !slices.Equal(got[i].lines, orig[i].lines) {
				t.Errorf("chart %q after a JSON round trip:\n%q\nwant\n%q", orig[i].title, got[i].lines, orig[i].lines)
			}
		}
		// Without histogram_v2 either, the summary's percentiles draw it.
		back.HistogramV2 = ""
		c := chartsOf(parsePage(t, render(t, func(w *bytes.Buffer) error { return WriteHTML(w, &back) })))[1]
		if len(c.lines) != 1 || strings.Count(c.lines[0], " L") != 5 {
			t.Errorf("distribution from percentiles alone: %q, want one line of 6 points", c.lines)
		}
	})

	t.Run("headless chromium", func(t *testing.T) {
		screenshot(t, a, b)
	})
}

// TestHTMLEmpty: a run that measured nothing still makes a page, with
// three charts saying so; no result is an error.
func TestHTMLEmpty(t *testing.T) {
	doc := parsePage(t, render(t, func(w *bytes.Buffer) error { return WriteHTML(w, &Result{Target: "http://127.0.0.1:1"}) }))
	charts := chartsOf(doc)
	if len(charts) != 3 {
		t.Fatalf("%d charts, want 3", len(charts))
	}
	for _, c := range charts {
		if len(c.lines) != 0 || !slices.Contains(c.texts, "no data") {
			t.Errorf("chart %q of an empty run: lines %q, texts %q; want none and \"no data\"", c.title, c.lines, c.texts)
		}
	}
	if err := WriteHTML(&bytes.Buffer{}, nil); err == nil {
		t.Error("WriteHTML(nil) succeeded")
	}
	if err := WriteHTMLCompare(&bytes.Buffer{}, &Result{}, nil); err == nil {
		t.Error("WriteHTMLCompare(a, nil) succeeded")
	}
}

// TestHTMLGapsAndErrors: a second without responses (a stall) breaks
// the latency lines instead of dropping them to zero, errors get their
// own line and rows, and error messages are shown as text.
func TestHTMLGapsAndErrors(t *testing.T) {
	lat := Latency{P50: 2 * time.Millisecond, P99: 5 * time.Millisecond, Max: 9 * time.Millisecond}
	res := &Result{
		Target: "http://127.0.0.1:1", Mode: "open", Rate: 100, Requests: 205, Responses: 200, Errors: 5, Late: 7,
		ErrorsByKind: map[string]int64{"timeout": 5},
		ErrorSamples: map[string]string{"timeout": "<b>i/o timeout</b>"},
		Seconds: []Second{
			{Start: 0, Length: time.Second, Requests: 100, Latency: lat},
			{Start: time.Second, Length: time.Second, Requests: 5, Errors: 5},
			{Start: 2 * time.Second, Length: time.Second, Requests: 100, Latency: lat},
		},
	}
	page := render(t, func(w *bytes.Buffer) error { return WriteHTML(w, res) })
	doc := parsePage(t, page)
	rows := testkit.TableRows(doc)
	for label, want := range map[string]string{"errors": "5", "timeout": "5", "late sends": "7", "mode": "open loop at 100 req/s"} {
		if got := rows[label]; !slices.Equal(got, []string{want}) {
			t.Errorf("summary row %q = %q, want [%q]", label, got, want)
		}
	}
	if !strings.Contains(testkit.Text(doc), "First timeout error: <b>i/o timeout</b>") || bytes.Contains(page, []byte("<b>i/o")) {
		t.Error("the error sample is not on the page as text")
	}
	charts := chartsOf(doc)
	for _, d := range charts[0].lines {
		if strings.Count(d, "M") != 2 {
			t.Errorf("latency line %q: want two segments around the stalled second", d)
		}
	}
	if len(charts[2].lines) != 2 || strings.Count(charts[2].lines[1], "L") != 2 {
		t.Errorf("throughput lines %q: want req/s and errors/s over three seconds", charts[2].lines)
	}
}

func TestLinearAxis(t *testing.T) {
	for _, tt := range []struct {
		top    float64
		format func(v, step float64) string
		want   []string
	}{
		{10, formatTick, []string{"0", "2", "4", "6", "8", "10"}},
		{11, formatTick, []string{"0", "2.5", "5.0", "7.5", "10.0", "12.5"}},
		{0.37, formatTick, []string{"0", "0.1", "0.2", "0.3", "0.4"}},
		{0.09, formatTick, []string{"0", "0.02", "0.04", "0.06", "0.08", "0.10"}},
		{0, formatTick, []string{"0", "0.2", "0.4", "0.6", "0.8", "1.0"}},
		{23456, formatSITick, []string{"0", "5k", "10k", "15k", "20k", "25k"}},
		{2.1e6, formatSITick, []string{"0", "0.5M", "1.0M", "1.5M", "2.0M", "2.5M"}},
		{870, formatSITick, []string{"0", "200", "400", "600", "800", "1000"}},
	} {
		a := linearAxis(tt.top, tt.format)
		var got []string
		for _, v := range a.ticks {
			got = append(got, a.label(v))
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("linearAxis(%v) ticks %q, want %q", tt.top, got, tt.want)
		}
		if a.max < tt.top {
			t.Errorf("linearAxis(%v) ends at %v, below the data", tt.top, a.max)
		}
	}
}

func TestPercentileLabel(t *testing.T) {
	for d, want := range []string{"0%", "90%", "99%", "99.9%", "99.99%", "99.999%"} {
		if got := percentileLabel(float64(d)); got != want {
			t.Errorf("percentileLabel(%d) = %q, want %q", d, got, want)
		}
	}
}

// screenshot renders the single and A/B pages of a and b in headless
// Chromium and checks each screenshot is a picture with something drawn.
// With LOADTEST_SCREENSHOT_DIR set, the pages and screenshots are kept
// there for a person to look at.
func screenshot(t *testing.T, a, b *Result) {
	bin := ""
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		t.Skip("no chromium or chromium-browser on PATH to render the page with")
	}
	dir := os.Getenv("LOADTEST_SCREENSHOT_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	for name, write := range map[string]func(*bytes.Buffer) error{
		"report":  func(w *bytes.Buffer) error { return WriteHTML(w, a) },
		"compare": func(w *bytes.Buffer) error { return WriteHTMLCompare(w, a, b) },
	} {
		page := filepath.Join(dir, name+".html")
		shot := filepath.Join(dir, name+".png")
		if err := os.WriteFile(page, render(t, write), 0o644); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
			"--user-data-dir="+t.TempDir(), "--hide-scrollbars", "--window-size=840,3000",
			"--screenshot="+shot, "file://"+page)
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("%s: %v\n%s", filepath.Base(bin), err, out)
		}
		f, err := os.Open(shot)
		if err != nil {
			t.Fatalf("no screenshot: %v\n%s", err, out)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatalf("screenshot %s: %v", shot, err)
		}
		bounds := img.Bounds()
		if bounds.Dx() < 100 || bounds.Dy() < 100 {
			t.Fatalf("screenshot %s is %v", shot, bounds)
		}
		// Something is drawn: the page is not one colour.
		first := img.At(bounds.Min.X, bounds.Min.Y)
		blank := true
		for y := bounds.Min.Y; y < bounds.Max.Y && blank; y += 3 {
			for x := bounds.Min.X; x < bounds.Max.X; x += 3 {
				if img.At(x, y) != first {
					blank = false
					break
				}
			}
		}
		if blank {
			t.Errorf("screenshot %s is blank", shot)
		}
		t.Logf("%s: %v screenshot %s", name, bounds.Size(), shot)
	}
}

func render(t *testing.T, write func(*bytes.Buffer) error) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := write(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// parsePage parses page as HTML, failing the test if the parser reports
// anything odd: a page that is not HTML, or stray text outside the body.
func parsePage(t *testing.T, page []byte) *html.Node {
	t.Helper()
	if !bytes.HasPrefix(page, []byte("<!DOCTYPE html>")) {
		t.Fatalf("page does not start with a doctype: %.60q", page)
	}
	doc, err := html.ParseWithOptions(bytes.NewReader(page), html.ParseOptionEnableScripting(false))
	if err != nil {
		t.Fatal(err)
	}
	var body *html.Node
	for n := range doc.Descendants() {
		if n.DataAtom == atom.Body {
			body = n
		}
	}
	if body == nil || body.FirstChild == nil {
		t.Fatal("page has no body")
	}
	return doc
}

// chart is what a test reads from an inline <svg>.
type chart struct {
	title  string
	lines  []string // the paths' d
	dashed int      // paths drawn dashed
	ticks  []string // the axes' labels
	texts  []string // every text
}

func chartsOf(doc *html.Node) []chart {
	var charts []chart
	for n := range doc.Descendants() {
		if n.DataAtom != atom.Svg {
			continue
		}
		c := chart{title: attr(n, "aria-label")}
		for e := range n.Descendants() {
			switch e.Data {
			case "path":
				if d := attr(e, "d"); d != "" {
					c.lines = append(c.lines, d)
				}
				if strings.Contains(attr(e, "class"), "dashed") {
					c.dashed++
				}
			case "text":
				c.texts = append(c.texts, testkit.Text(e))
				if attr(e, "class") == "tick" {
					c.ticks = append(c.ticks, testkit.Text(e))
				}
			}
		}
		charts = append(charts, c)
	}
	return charts
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
