package loadtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Limits on reading the demo origin's stats.
const (
	statsTimeout = 10 * time.Second
	maxStatsBody = 16 << 20 // by_path lists up to 65536 paths
)

// originCount is one reading of the demo origin's request counter.
type originCount struct {
	n   int64
	ok  bool // read, successfully or not
	err error
}

// originCount reads Options.OriginStats; a zero originCount when there is
// none to read.
func (r *runner) originCount(ctx context.Context) originCount {
	if r.o.OriginStats == "" {
		return originCount{}
	}
	n, err := ReadOriginRequests(ctx, r.o.OriginStats)
	return originCount{n: n, ok: true, err: err}
}

// ReadOriginRequests returns the request count of the demo origin whose
// stats URL (http://host:port/__origin/stats) is given.
func ReadOriginRequests(ctx context.Context, statsURL string) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, statsTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, statsURL, nil)
	if err != nil {
		return 0, fmt.Errorf("origin stats %s: %w", statsURL, err)
	}
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return 0, fmt.Errorf("origin stats %s: %w", statsURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("origin stats %s: status %d", statsURL, resp.StatusCode)
	}
	var st struct {
		Requests *int64 `json:"requests"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxStatsBody)).Decode(&st); err != nil {
		return 0, fmt.Errorf("origin stats %s: %w", statsURL, err)
	}
	if st.Requests == nil {
		return 0, fmt.Errorf("origin stats %s: no \"requests\" count (not the demo origin?)", statsURL)
	}
	return *st.Requests, nil
}

// originResult compares the readings taken when measuring started and
// when the run ended; Result.derive works out the offload.
func originResult(statsURL string, before, after originCount) *Origin {
	o := &Origin{StatsURL: statsURL}
	switch {
	case !before.ok:
		o.Error = "the run ended before measuring started"
	case before.err != nil:
		o.Error = before.err.Error()
	case after.err != nil:
		o.Error = after.err.Error()
	case !after.ok:
		o.Error = "not read after the run"
	case after.n < before.n:
		o.Error = "the origin's counter went back (reset during the run?)"
	default:
		o.Requests = after.n - before.n
	}
	return o
}
