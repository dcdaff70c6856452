package loadtest

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// WriteHTML writes res as one self-contained HTML page for people: the
// summary table, then latency over time (per-second p50, p99 and max),
// the latency distribution (by percentile, HdrHistogram style) and
// throughput over time, charts drawn as inline SVG. The page loads
// nothing from elsewhere (no scripts, fonts or style sheets) and is the
// same bytes for the same Result. The latency distribution comes from
// res.Histogram, else from res.HistogramV2 (a Result read back from
// JSON), else from res.Latency's percentiles alone.
func WriteHTML(w io.Writer, res *Result) error {
	return writeHTML(w, []*Result{res})
}

// WriteHTMLCompare writes the two runs of an A/B comparison as one page
// like WriteHTML's: each figure of a and b side by side with the ratio
// B/A (coloured where one run is more than 5% better), and both runs in
// every chart, A solid and B dashed.
func WriteHTMLCompare(w io.Writer, a, b *Result) error {
	return writeHTML(w, []*Result{a, b})
}

//go:embed html.tmpl
var htmlText string

var htmlTemplate = template.Must(template.New("report").Parse(htmlText))

// writeHTML renders runs (one, or A and B) whole before writing, so that
// a template error leaves w untouched.
func writeHTML(w io.Writer, runs []*Result) error {
	if slices.Contains(runs, nil) {
		return errors.New("loadtest: no result to write")
	}
	var buf bytes.Buffer
	if err := htmlTemplate.Execute(&buf, newHTMLPage(runs)); err != nil {
		return fmt.Errorf("loadtest: html report: %w", err)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// htmlPage is what the template shows.
type htmlPage struct {
	Title   string
	Compare bool
	Runs    []htmlRun
	// Columns heads the table: the runs' names, then "B/A" when
	// comparing.
	Columns  []string
	Span     int // the table's columns: the labels' and Columns
	Sections []htmlSection
	Samples  []htmlSample
	Charts   []*svgChart
}

type htmlRun struct{ Name, Target, Summary string }

type htmlSection struct {
	Title string
	Rows  []htmlRow
}

// htmlRow is one figure: its value in each run and, comparing, the
// ratio B/A with a class saying whether B is better or worse.
type htmlRow struct {
	Label string
	Cells []string
	Ratio string
	Class string
}

type htmlSample struct{ Run, Kind, Message string }

// runNames are the runs' names on a comparison page.
var runNames = []string{"A", "B"}

func newHTMLPage(runs []*Result) *htmlPage {
	p := &htmlPage{Compare: len(runs) > 1}
	if p.Compare {
		p.Title = fmt.Sprintf("A/B load test: %s vs %s", runs[0].Target, runs[1].Target)
		p.Columns = append(slices.Clone(runNames[:len(runs)]), "B/A")
	} else {
		p.Title = "Load test of " + runs[0].Target
		p.Columns = []string{"value"}
	}
	p.Span = 1 + len(p.Columns)
	for i, r := range runs {
		run := htmlRun{Target: r.Target, Summary: summaryOf(r)}
		if p.Compare {
			run.Name = runNames[i]
		}
		p.Runs = append(p.Runs, run)
		for _, k := range slices.Sorted(maps.Keys(r.ErrorSamples)) {
			p.Samples = append(p.Samples, htmlSample{run.Name, k, r.ErrorSamples[k]})
		}
	}
	for _, s := range sectionsOf(runs) {
		sec := htmlSection{Title: s.title}
		for _, f := range s.figures {
			sec.Rows = append(sec.Rows, f.row(runs))
		}
		p.Sections = append(p.Sections, sec)
	}
	p.Charts = []*svgChart{latencyChart(runs), distributionChart(runs), throughputChart(runs)}
	return p
}

// summaryOf is a run's setup in one line.
func summaryOf(r *Result) string {
	return fmt.Sprintf("%s, %s, %s, %s; seed %d; started %s", r.Protocol, modeOf(r), connectionsOf(r), describeWorkload(r), r.Seed, r.Start.UTC().Format(time.RFC3339))
}

func measuredOf(r *Result) string {
	s := formatDuration(r.Elapsed)
	if r.Warmup > 0 {
		s += " after " + formatDuration(r.Warmup) + " warm-up"
	}
	if r.Interrupted {
		s += " (interrupted)"
	}
	return s
}

// figure is one row of the summary table.
type figure struct {
	label string
	text  func(*Result) string
	// value is the figure as a number for the ratio; nil, or false from
	// it, means no ratio.
	value func(*Result) (float64, bool)
	// better is 1 when higher is better, -1 when lower is, 0 when
	// neither.
	better int
}

func textFigure(label string, f func(*Result) string) figure {
	return figure{label: label, text: f}
}

func countFigure(label string, f func(*Result) int64, better int) figure {
	return figure{label, func(r *Result) string { return strconv.FormatInt(f(r), 10) },
		func(r *Result) (float64, bool) { return float64(f(r)), true }, better}
}

func durationFigure(label string, f func(*Result) time.Duration) figure {
	return figure{label, func(r *Result) string { return formatDuration(f(r)) },
		func(r *Result) (float64, bool) { return float64(f(r)), true }, -1}
}

func fractionFigure(label string, f func(*Result) float64, better int) figure {
	return figure{label, func(r *Result) string { return formatPct(f(r)) },
		func(r *Result) (float64, bool) { return f(r), true }, better}
}

// row is f's cells for runs; with two runs, the ratio of B's value to
// A's.
func (f figure) row(runs []*Result) htmlRow {
	row := htmlRow{Label: f.label}
	for _, r := range runs {
		row.Cells = append(row.Cells, f.text(r))
	}
	if len(runs) < 2 || f.value == nil {
		return row
	}
	a, okA := f.value(runs[0])
	b, okB := f.value(runs[1])
	switch {
	case !okA || !okB:
	case a == b:
		row.Ratio = "1×"
	case a == 0:
		row.Ratio = "—"
	default:
		q := b / a
		row.Ratio = formatRatio(q)
		if f.better != 0 && (q > 1.05 || q < 1/1.05) {
			row.Class = "worse"
			if (q > 1) == (f.better > 0) {
				row.Class = "better"
			}
		}
	}
	return row
}

func formatRatio(q float64) string {
	switch {
	case q >= 100:
		return strconv.FormatFloat(q, 'f', 0, 64) + "×"
	case q >= 10:
		return strconv.FormatFloat(q, 'f', 1, 64) + "×"
	}
	return strconv.FormatFloat(q, 'f', 2, 64) + "×"
}

type section struct {
	title   string
	figures []figure
}

// sectionsOf lists the figures the table shows for runs: every run's
// status codes and error kinds, origin counts if any run read them, the
// request mix if any run had one.
func sectionsOf(runs []*Result) []section {
	anyRun := func(f func(*Result) bool) bool { return slices.ContainsFunc(runs, f) }
	secs := []section{
		{"Run", []figure{
			textFigure("target", func(r *Result) string { return r.Target }),
			textFigure("protocol", func(r *Result) string { return r.Protocol }),
			textFigure("mode", modeOf),
			textFigure("connections", connectionsOf),
			textFigure("workload", describeWorkload),
			textFigure("seed", func(r *Result) string { return strconv.FormatUint(r.Seed, 10) }),
			textFigure("started", func(r *Result) string { return r.Start.UTC().Format(time.RFC3339) }),
			textFigure("measured", measuredOf),
		}},
		{"Throughput", []figure{
			countFigure("requests", func(r *Result) int64 { return r.Requests }, 0),
			{"requests/s", func(r *Result) string { return formatFloat(r.RequestsPerSec) },
				func(r *Result) (float64, bool) { return r.RequestsPerSec, true }, 1},
			{"bytes", func(r *Result) string { return formatBytes(float64(r.Bytes)) },
				func(r *Result) (float64, bool) { return float64(r.Bytes), true }, 0},
			{"bytes/s", func(r *Result) string { return formatBytes(r.BytesPerSec) + "/s" },
				func(r *Result) (float64, bool) { return r.BytesPerSec, true }, 1},
		}},
		{"Latency", []figure{
			durationFigure("p50", func(r *Result) time.Duration { return r.Latency.P50 }),
			durationFigure("p90", func(r *Result) time.Duration { return r.Latency.P90 }),
			durationFigure("p99", func(r *Result) time.Duration { return r.Latency.P99 }),
			durationFigure("p99.9", func(r *Result) time.Duration { return r.Latency.P999 }),
			durationFigure("max", func(r *Result) time.Duration { return r.Latency.Max }),
			durationFigure("mean", func(r *Result) time.Duration { return r.Latency.Mean }),
		}},
	}

	status := section{title: "Status codes"}
	for _, code := range unionKeys(runs, func(r *Result) map[string]int64 { return r.Status }) {
		status.figures = append(status.figures, countFigure(code, func(r *Result) int64 { return r.Status[code] }, 0))
	}
	if len(status.figures) == 0 {
		status.figures = []figure{textFigure("responses", func(*Result) string { return "none" })}
	}
	secs = append(secs, status)

	cache := section{"Cache", []figure{
		fractionFigure("hit ratio by requests", func(r *Result) float64 { return r.Cache.HitRatio }, 1),
		fractionFigure("hit ratio by bytes", func(r *Result) float64 { return r.Cache.ByteHitRatio }, 1),
		textFigure("GETs by Cache-Status", func(r *Result) string {
			c := r.Cache
			return fmt.Sprintf("hit %d, stale %d, miss %d, other %d", c.Hit, c.Stale, c.Miss, c.Other)
		}),
	}}
	if anyRun(func(r *Result) bool { return r.Purges > 0 || r.Conditionals > 0 }) {
		cache.figures = append(cache.figures,
			countFigure("PURGE requests", func(r *Result) int64 { return r.Purges }, 0),
			countFigure("conditional requests", func(r *Result) int64 { return r.Conditionals }, 0),
			countFigure("answered 304", func(r *Result) int64 { return r.NotModified }, 0),
		)
	}
	secs = append(secs, cache)

	if anyRun(func(r *Result) bool { return r.Origin != nil }) {
		known := func(r *Result) bool { return r.Origin != nil && r.Origin.Error == "" }
		originText := func(f func(*Origin) string) func(*Result) string {
			return func(r *Result) string {
				switch {
				case r.Origin == nil:
					return "not read"
				case r.Origin.Error != "":
					return "unknown: " + r.Origin.Error
				}
				return f(r.Origin)
			}
		}
		secs = append(secs, section{"Origin", []figure{
			{"origin requests", originText(func(o *Origin) string { return strconv.FormatInt(o.Requests, 10) }),
				func(r *Result) (float64, bool) { return float64(r.Origin.Requests), known(r) }, -1},
			{"offload", originText(func(o *Origin) string { return formatPct(o.Offload) }),
				func(r *Result) (float64, bool) { return r.Origin.Offload, known(r) }, 1},
		}})
	}

	errs := section{"Errors", []figure{countFigure("errors", func(r *Result) int64 { return r.Errors }, -1)}}
	for _, kind := range unionKeys(runs, func(r *Result) map[string]int64 { return r.ErrorsByKind }) {
		errs.figures = append(errs.figures, countFigure(kind, func(r *Result) int64 { return r.ErrorsByKind[kind] }, -1))
	}
	errs.figures = append(errs.figures, figure{"late sends",
		func(r *Result) string {
			if r.Mode != "open" {
				return "— (closed loop)"
			}
			return strconv.FormatInt(r.Late, 10)
		},
		func(r *Result) (float64, bool) { return float64(r.Late), r.Mode == "open" }, -1})
	return append(secs, errs)
}

// unionKeys is every key of m over runs, sorted.
func unionKeys(runs []*Result, m func(*Result) map[string]int64) []string {
	var keys []string
	for _, r := range runs {
		for k := range m(r) {
			if !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
	}
	slices.Sort(keys)
	return keys
}

// Charts are svgWidth × svgHeight pixels with the plot inside the
// margins.
const (
	svgWidth, svgHeight = 760, 330
	plotLeft, plotRight = 70, svgWidth - 34
	plotTop, plotBottom = 44, svgHeight - 52
)

// svgChart is a line chart ready to draw: pixel coordinates as strings,
// so that the page's bytes do not depend on float formatting in the
// template.
type svgChart struct {
	ID, Title, XLabel, YLabel string
	Width, Height             int
	Left, Right, Top, Bottom  int
	MidX, MidY                int
	XTicks, YTicks            []svgTick
	Lines                     []svgLine
	Legend                    []svgLegend
	// Empty: no series had a point; the chart says so.
	Empty bool
}

type svgTick struct{ Pos, Label string }

type svgLine struct {
	Class  string // the colour's
	Dashed bool
	D      string // the path
}

type svgLegend struct {
	X, TextX string
	Class    string
	Dashed   bool
	Name     string
}

type point struct{ x, y float64 }

// series is one line of a chart, in data units; a gap between points
// splits it into segments.
type series struct {
	name     string
	class    string
	dashed   bool
	segments [][]point
}

func newSeries(name, class string, dashed bool) *series {
	return &series{name: name, class: class, dashed: dashed, segments: [][]point{nil}}
}

// add extends the current segment with p.
func (s *series) add(p point) {
	last := len(s.segments) - 1
	s.segments[last] = append(s.segments[last], p)
}

// gap ends the current segment; the next point starts a new one.
func (s *series) gap() {
	if len(s.segments[len(s.segments)-1]) > 0 {
		s.segments = append(s.segments, nil)
	}
}

// axis maps data from min to max onto pixels, with labelled ticks.
type axis struct {
	min, max float64
	ticks    []float64
	label    func(float64) string
}

// linearAxis runs from 0 to a round number at or above top, with about
// five ticks labelled by format.
func linearAxis(top float64, format func(v, step float64) string) axis {
	if !(top > 0) || math.IsInf(top, 0) {
		top = 1
	}
	raw := top / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := 10 * mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw*(1-1e-9) {
			step = m * mag
			break
		}
	}
	n := int(math.Ceil(top/step - 1e-9))
	a := axis{min: 0, max: float64(n) * step, label: func(v float64) string { return format(v, step) }}
	for i := 0; i <= n; i++ {
		a.ticks = append(a.ticks, float64(i)*step)
	}
	return a
}

// formatTick writes v with as many decimals as step needs; 0 as "0".
func formatTick(v, step float64) string {
	if v == 0 {
		return "0"
	}
	dec := 0
	for ; dec < 6; dec++ {
		scaled := step * math.Pow(10, float64(dec))
		if math.Abs(scaled-math.Round(scaled)) < 1e-6*scaled {
			break
		}
	}
	return strconv.FormatFloat(v, 'f', dec, 64)
}

// formatSITick writes v compactly, in the unit step calls for: 950,
// 12k, 1.5M.
func formatSITick(v, step float64) string {
	switch {
	case v == 0:
		return "0"
	case step >= 1e5:
		return formatTick(v/1e6, step/1e6) + "M"
	case step >= 1e3:
		return formatTick(v/1e3, step/1e3) + "k"
	}
	return formatTick(v, step)
}

func px(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// newChart lays out ss on x and y.
func newChart(id, title, xLabel, yLabel string, x, y axis, ss []*series) *svgChart {
	c := &svgChart{
		ID: id, Title: title, XLabel: xLabel, YLabel: yLabel,
		Width: svgWidth, Height: svgHeight,
		Left: plotLeft, Right: plotRight, Top: plotTop, Bottom: plotBottom,
		MidX: (plotLeft + plotRight) / 2, MidY: (plotTop + plotBottom) / 2,
		Empty: true,
	}
	xpx := func(v float64) float64 {
		return plotLeft + (v-x.min)/(x.max-x.min)*(plotRight-plotLeft)
	}
	ypx := func(v float64) float64 {
		return plotBottom - (v-y.min)/(y.max-y.min)*(plotBottom-plotTop)
	}
	for _, v := range x.ticks {
		c.XTicks = append(c.XTicks, svgTick{px(xpx(v)), x.label(v)})
	}
	for _, v := range y.ticks {
		c.YTicks = append(c.YTicks, svgTick{px(ypx(v)), y.label(v)})
	}
	legendX := float64(plotLeft)
	for _, s := range ss {
		var d strings.Builder
		for _, seg := range s.segments {
			for i, p := range seg {
				cmd := " L"
				if i == 0 {
					cmd = " M"
				}
				d.WriteString(cmd + px(xpx(p.x)) + " " + px(ypx(p.y)))
			}
			if len(seg) == 1 {
				d.WriteString(" h0.1") // a lone point shows as a dot
			}
		}
		if d.Len() == 0 {
			continue
		}
		c.Empty = false
		c.Lines = append(c.Lines, svgLine{s.class, s.dashed, strings.TrimSpace(d.String())})
		c.Legend = append(c.Legend, svgLegend{px(legendX), px(legendX + 24), s.class, s.dashed, s.name})
		legendX += 36 + 7*float64(len(s.name))
	}
	return c
}

// seriesName is name, after the run's on a comparison page.
func seriesName(runs []*Result, i int, name string) string {
	if len(runs) < 2 {
		return name
	}
	if name == "" {
		return runNames[i]
	}
	return runNames[i] + " " + name
}

// runEnd is when r's last second ends, in seconds, to the 10ms below:
// the time axis' end.
func runEnd(r *Result) float64 {
	if len(r.Seconds) == 0 {
		return 0
	}
	s := r.Seconds[len(r.Seconds)-1]
	return (s.Start + s.Length).Truncate(10 * time.Millisecond).Seconds()
}

// minPartial is the shortest last second the charts over time show: the
// few requests in a sliver of a second make a rate that is noise and
// percentiles of next to nothing.
const minPartial = 250 * time.Millisecond

// chartedSeconds is r's seconds less a last one shorter than
// minPartial, unless it is the only one.
func chartedSeconds(r *Result) []Second {
	secs := r.Seconds
	if n := len(secs); n > 1 && secs[n-1].Length < minPartial {
		secs = secs[:n-1]
	}
	return secs
}

// midpoint is the middle of s, in seconds since measuring began.
func midpoint(s Second) float64 { return (s.Start + s.Length/2).Seconds() }

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// latencyChart is each second's p50, p99 and max latency. A second
// without responses leaves a gap rather than a drop to zero.
func latencyChart(runs []*Result) *svgChart {
	var ss []*series
	var xmax, ymax float64
	for i, r := range runs {
		lines := []struct {
			name, class string
			of          func(Latency) time.Duration
		}{
			{"p50", "c0", func(l Latency) time.Duration { return l.P50 }},
			{"p99", "c1", func(l Latency) time.Duration { return l.P99 }},
			{"max", "c2", func(l Latency) time.Duration { return l.Max }},
		}
		for _, l := range lines {
			s := newSeries(seriesName(runs, i, l.name), l.class, i > 0)
			for _, sec := range chartedSeconds(r) {
				if sec.Latency.Max == 0 {
					s.gap()
					continue
				}
				v := ms(l.of(sec.Latency))
				s.add(point{midpoint(sec), v})
				ymax = max(ymax, v)
			}
			ss = append(ss, s)
		}
		xmax = max(xmax, runEnd(r))
	}
	return newChart("latency-over-time", "Latency over time (per second)", "seconds since measuring began", "latency (ms)",
		linearAxis(xmax, formatTick), linearAxis(ymax, formatTick), ss)
}

// throughputChart is each second's requests per second, with hits/s and
// errors/s when there were any.
func throughputChart(runs []*Result) *svgChart {
	var ss []*series
	var xmax, ymax float64
	for i, r := range runs {
		lines := []struct {
			name, class string
			of          func(Second) int64
		}{
			{"req/s", "c0", func(s Second) int64 { return s.Requests }},
			{"hits/s", "c3", func(s Second) int64 { return s.Hits }},
			{"errors/s", "c2", func(s Second) int64 { return s.Errors }},
		}
		for j, l := range lines {
			s := newSeries(seriesName(runs, i, l.name), l.class, i > 0)
			some := false
			for _, sec := range chartedSeconds(r) {
				if sec.Length <= 0 { // not from Run; from JSON, perhaps
					continue
				}
				v := float64(l.of(sec)) / sec.Length.Seconds()
				some = some || v > 0
				s.add(point{midpoint(sec), v})
				ymax = max(ymax, v)
			}
			if some || j == 0 {
				ss = append(ss, s)
			}
		}
		xmax = max(xmax, runEnd(r))
	}
	return newChart("throughput-over-time", "Throughput over time (per second)", "seconds since measuring began", "per second",
		linearAxis(xmax, formatTick), linearAxis(ymax, formatSITick), ss)
}

// distributionSteps is the points per decade of 1/(1-q) on the
// distribution chart.
const distributionSteps = 40

// distributionChart is latency by percentile on a logarithmic axis of
// 1/(1-q), as HdrHistogram's plots draw it: 90% one decade in, 99% two,
// 99.9% three, so the tail gets room. Each run's line ends at its
// maximum, at the percentile of its last response.
func distributionChart(runs []*Result) *svgChart {
	var ss []*series
	var decades, ymax float64
	for i, r := range runs {
		s := newSeries(seriesName(runs, i, ""), "c"+strconv.Itoa(i), i > 0)
		if len(runs) < 2 {
			s.name = "latency"
		}
		if h := histogramOf(r); h != nil && h.TotalCount() > 0 {
			end := math.Log10(float64(h.TotalCount()))
			for k := 0; ; k++ {
				x := float64(k) / distributionSteps
				if x >= end {
					break
				}
				s.add(point{x, float64(h.ValueAtQuantile(100*(1-math.Pow(10, -x)))) / 1000})
			}
			s.add(point{end, float64(h.Max()) / 1000})
			decades = max(decades, end)
		} else if l := r.Latency; l.Max > 0 {
			// The summary's percentiles alone: a coarse line.
			end := max(math.Log10(float64(max(r.Responses, 1))), 3)
			for _, p := range []point{{0, ms(l.Min)}, {math.Log10(2), ms(l.P50)}, {1, ms(l.P90)}, {2, ms(l.P99)}, {3, ms(l.P999)}, {end, ms(l.Max)}} {
				s.add(p)
			}
			decades = max(decades, end)
		}
		for _, seg := range s.segments {
			for _, p := range seg {
				ymax = max(ymax, p.y)
			}
		}
		ss = append(ss, s)
	}
	x := axis{min: 0, max: max(1, math.Ceil(decades-1e-9)), label: percentileLabel}
	for d := 0.0; d <= x.max; d++ {
		x.ticks = append(x.ticks, d)
	}
	return newChart("latency-distribution", "Latency by percentile", "percentile", "latency (ms)",
		x, linearAxis(ymax, formatTick), ss)
}

// percentileLabel names the percentile d decades in: 0%, 90%, 99%,
// 99.9%, ...
func percentileLabel(d float64) string {
	switch n := int(d); n {
	case 0:
		return "0%"
	case 1:
		return "90%"
	default:
		return "99" + strings.TrimSuffix("."+strings.Repeat("9", n-2), ".") + "%"
	}
}

// histogramOf is r's latency histogram: the one it holds, else the one
// its JSON carried, else nil.
func histogramOf(r *Result) *hdr.Histogram {
	if r.Histogram != nil {
		return r.Histogram
	}
	if r.HistogramV2 == "" {
		return nil
	}
	h, err := hdr.Decode([]byte(r.HistogramV2))
	if err != nil {
		return nil
	}
	return h
}
