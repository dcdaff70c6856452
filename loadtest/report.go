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
	mode := "closed loop"
	if res.Mode == "open" {
		mode = fmt.Sprintf("open loop at %s req/s", formatFloat(res.Rate))
	}
	conns := fmt.Sprintf("%d connections", res.Connections)
	if res.Streams > 1 {
		conns += fmt.Sprintf(" × %d streams", res.Streams)
	}
	fmt.Fprintf(&b, "target    %s over %s, %s, %s, seed %d\n", res.Target, res.Protocol, mode, conns, res.Seed)
	keys := string(res.Keys)
	switch res.Keys {
	case Single:
		keys = "one object"
	case Zipf:
		keys = fmt.Sprintf("zipf (s=%s) over %d objects", formatFloat(res.ZipfS), res.Objects)
	case Uniform:
		keys = fmt.Sprintf("uniform over %d objects", res.Objects)
	}
	fmt.Fprintf(&b, "workload  %s of %s", keys, res.Size)
	if res.PurgePct > 0 {
		fmt.Fprintf(&b, ", %s%% PURGE", formatFloat(res.PurgePct))
	}
	if res.ConditionalPct > 0 {
		fmt.Fprintf(&b, ", %s%% conditional", formatFloat(res.ConditionalPct))
	}
	if res.Query != "" {
		fmt.Fprintf(&b, ", query %s", res.Query)
	}
	b.WriteString("\n")
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

// FormatProgress is the one-line form of p that `cdnnode loadtest`
// prints every second.
func FormatProgress(p Progress) string {
	s := fmt.Sprintf("%6s  %9s req/s  %6d errors  p99 %s", formatDuration(p.Elapsed.Round(100*time.Millisecond)), formatFloat(p.Rate), p.Errors, formatDuration(p.P99))
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
