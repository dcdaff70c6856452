package loadtest

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// WriteJSON writes res as indented JSON.
func WriteJSON(w io.Writer, res *Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}

// Report writes res as a human summary: what was run, throughput,
// latency percentiles, status codes, the cache's answers, the origin's
// and the errors.
func Report(w io.Writer, res *Result) error {
	var b strings.Builder
	fmt.Fprintf(&b, "target    %s over %s\n", formatTargets(res.Target), describeRun(res))
	fmt.Fprintf(&b, "workload  %s\n", describeWorkload(res))
	fmt.Fprintf(&b, "measured  %s", formatDuration(res.Elapsed))
	if res.Warmup > 0 {
		fmt.Fprintf(&b, " after %s warm-up", formatDuration(res.Warmup))
	}
	if res.Interrupted {
		b.WriteString(" (interrupted)")
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "requests  %d, %s req/s, %d errors", res.Requests, formatFloat(res.RequestsPerSec), res.Errors)
	if res.Mode == "open" {
		fmt.Fprintf(&b, ", %d late", res.Late)
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "bytes     %s, %s/s\n", formatBytes(float64(res.Bytes)), formatBytes(res.BytesPerSec))
	l := res.Latency
	fmt.Fprintf(&b, "latency   p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  (mean %s)\n",
		formatDuration(l.P50), formatDuration(l.P90), formatDuration(l.P99), formatDuration(l.P999), formatDuration(l.Max), formatDuration(l.Mean))
	fmt.Fprintf(&b, "status    %s\n", formatCounts(res.Status))
	c := res.Cache
	fmt.Fprintf(&b, "cache     hit ratio %s by requests, %s by bytes (hit %d, stale %d, miss %d, other %d)\n",
		formatPct(c.HitRatio), formatPct(c.ByteHitRatio), c.Hit, c.Stale, c.Miss, c.Other)
	if res.Purges > 0 || res.Conditionals > 0 {
		fmt.Fprintf(&b, "mix       %d PURGE, %d conditional, %d answered 304\n", res.Purges, res.Conditionals, res.NotModified)
	}
	if o := res.Origin; o != nil {
		if o.Error != "" {
			fmt.Fprintf(&b, "origin    unknown: %s\n", o.Error)
		} else {
			fmt.Fprintf(&b, "origin    %d requests, offload %s\n", o.Requests, formatPct(o.Offload))
		}
	}
	if len(res.ErrorsByKind) > 0 {
		fmt.Fprintf(&b, "errors    %s\n", formatCounts(res.ErrorsByKind))
		for _, k := range slices.Sorted(maps.Keys(res.ErrorSamples)) {
			fmt.Fprintf(&b, "          first %s error: %s\n", k, res.ErrorSamples[k])
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// describeRun says how res was run: "HTTP/1.1, closed loop, 64
// connections, seed 7".
func describeRun(res *Result) string {
	return fmt.Sprintf("%s, %s, %s, seed %d", res.Protocol, modeOf(res), connectionsOf(res), res.Seed)
}

// modeOf says how requests were paced: "closed loop" or "open loop at
// 2000 req/s".
func modeOf(r *Result) string {
	if r.Mode == "open" {
		return fmt.Sprintf("open loop at %s req/s", formatFloat(r.Rate))
	}
	return "closed loop"
}

// connectionsOf says what carried the requests: "64 connections", with
// their streams for h2.
func connectionsOf(r *Result) string {
	s := fmt.Sprintf("%d connections", r.Connections)
	if r.Streams > 1 {
		s += fmt.Sprintf(" × %d streams", r.Streams)
	}
	return s
}

// describeWorkload says what res requested: "zipf (s=0.8) over 10000
// objects of 1KiB-64KiB, 5% PURGE".
func describeWorkload(res *Result) string {
	var b strings.Builder
	keys := string(res.Keys)
	switch res.Keys {
	case Single:
		keys = "one object"
	case Zipf:
		keys = fmt.Sprintf("zipf (s=%s) over %d objects", formatFloat(res.ZipfS), res.Objects)
	case Uniform:
		keys = fmt.Sprintf("uniform over %d objects", res.Objects)
	}
	fmt.Fprintf(&b, "%s of %s", keys, res.Size)
	if res.PurgePct > 0 {
		fmt.Fprintf(&b, ", %s%% PURGE", formatFloat(res.PurgePct))
	}
	if res.ConditionalPct > 0 {
		fmt.Fprintf(&b, ", %s%% conditional", formatFloat(res.ConditionalPct))
	}
	if res.Query != "" {
		fmt.Fprintf(&b, ", query %s", res.Query)
	}
	return b.String()
}

// formatTargets spells a target list: "http://a:80, http://b:80
// (round-robin)".
func formatTargets(list string) string {
	parts := strings.Split(list, ",")
	if len(parts) == 1 {
		return list
	}
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return strings.Join(parts, ", ") + " (round-robin)"
}

// WriteJSONCompare writes c as indented JSON.
func WriteJSONCompare(w io.Writer, c *Comparison) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(c)
}

// ReportCompare writes c as a human summary: both targets, the workload,
// the slices, then each figure of A and B side by side with B / A, and
// each side's status codes and errors.
func ReportCompare(w io.Writer, c *Comparison) error {
	var b strings.Builder
	a, bb := c.A, c.B
	fmt.Fprintf(&b, "A         %s over %s\n", formatTargets(a.Target), describeRun(a))
	fmt.Fprintf(&b, "B         %s\n", formatTargets(bb.Target))
	fmt.Fprintf(&b, "workload  %s\n", describeWorkload(a))
	per := 0
	for _, s := range c.Slices {
		if s.Side == "A" {
			per++
		}
	}
	fmt.Fprintf(&b, "slices    %d per side, interleaved A B A B ...; measured A %s, B %s", per, formatDuration(a.Elapsed), formatDuration(bb.Elapsed))
	if a.Warmup > 0 {
		fmt.Fprintf(&b, " after %s warm-up each", formatDuration(a.Warmup))
	}
	if a.Interrupted || bb.Interrupted {
		b.WriteString(" (interrupted)")
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "%-16s %12s %12s %8s\n", "", "A", "B", "B/A")
	for _, f := range c.Figures {
		label, format := figureFormat(f.Name)
		ratio := "-"
		if f.Ratio != nil {
			ratio = strconv.FormatFloat(*f.Ratio, 'f', 2, 64)
		}
		fmt.Fprintf(&b, "%-16s %12s %12s %8s\n", label, format(f.A), format(f.B), ratio)
	}
	for _, s := range []struct {
		name string
		res  *Result
	}{{"A", a}, {"B", bb}} {
		fmt.Fprintf(&b, "status %s  %s\n", s.name, formatCounts(s.res.Status))
		if len(s.res.ErrorsByKind) > 0 {
			fmt.Fprintf(&b, "errors %s  %s\n", s.name, formatCounts(s.res.ErrorsByKind))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// figureFormat returns the label of a Figure in ReportCompare and how to
// write its values.
func figureFormat(name string) (string, func(float64) string) {
	count := func(f float64) string { return strconv.FormatFloat(f, 'f', 0, 64) }
	dur := func(f float64) string { return formatDuration(time.Duration(f)) }
	pct := formatPct
	switch name {
	case "requests":
		return "requests", count
	case "requests_per_sec":
		return "req/s", formatFloat
	case "bytes_per_sec":
		return "bytes/s", formatBytes
	case "errors":
		return "errors", count
	case "late":
		return "late", count
	case "cache.hit_ratio":
		return "hit ratio", pct
	case "cache.byte_hit_ratio":
		return "byte hit ratio", pct
	case "origin.requests":
		return "origin requests", count
	case "origin.offload":
		return "offload", pct
	}
	if p, ok := strings.CutPrefix(name, "latency."); ok {
		p = strings.TrimSuffix(p, "_ns")
		if p == "p999" {
			p = "p99.9"
		}
		return "latency " + p, dur
	}
	return name, formatFloat
}

// FormatProgress is the one-line form of p that `cdnnode loadtest`
// prints every second.
func FormatProgress(p Progress) string {
	s := fmt.Sprintf("%6s  %9s req/s  %6d errors  p99 %s", formatDuration(p.Elapsed.Round(100*time.Millisecond)), formatFloat(p.Rate), p.Errors, formatDuration(p.P99))
	if p.Side != "" {
		s = p.Side + " " + s
	}
	left := time.Duration(-1)
	if p.Total > 0 {
		left = max(p.Total-p.Elapsed, 0)
	}
	if p.Left > 0 && p.Rate > 0 {
		eta := time.Duration(float64(p.Left) / p.Rate * float64(time.Second))
		if left < 0 || eta < left {
			left = eta
		}
	}
	if left >= 0 {
		s += fmt.Sprintf("  (%s left)", formatDuration(left.Round(time.Second)))
	}
	return s
}

// formatCounts writes "k1 n1, k2 n2" in key order (numeric keys by
// value).
func formatCounts(m map[string]int64) string {
	if len(m) == 0 {
		return "none"
	}
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s: %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

// formatDuration rounds d to three significant digits: 1.23ms, 20.1ms,
// 153µs, 1.5s.
func formatDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "0s"
	case d < time.Microsecond:
		return d.String()
	}
	unit := time.Duration(1)
	for v := d; v >= 1000; v /= 10 {
		unit *= 10
	}
	return d.Round(unit).String()
}

// formatFloat writes f with at most two decimals (none from 100 up) and
// no trailing zeros.
func formatFloat(f float64) string {
	if math.Abs(f) >= 100 {
		return strconv.FormatFloat(f, 'f', 0, 64)
	}
	s := strings.TrimRight(strconv.FormatFloat(f, 'f', 2, 64), "0")
	return strings.TrimSuffix(s, ".")
}

func formatPct(f float64) string { return strconv.FormatFloat(100*f, 'f', 2, 64) + "%" }

// formatBytes writes n bytes in binary units: 512B, 1.5KiB, 53.6MiB.
func formatBytes(n float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for ; n >= 1024 && i < len(units)-1; i++ {
		n /= 1024
	}
	if i == 0 {
		return strconv.FormatFloat(n, 'f', 0, 64) + "B"
	}
	return strconv.FormatFloat(n, 'f', 1, 64) + units[i]
}
