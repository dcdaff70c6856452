package loadtest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cdnnode/cdnnode/demoorigin"
)

// retryOnce runs attempt, and once more if it fails: for the few tests
// that assert on measured timing (rate, latency), which a machine busy
// with other work can spoil once. Anything else fails the test at once
// through t.
func retryOnce(t *testing.T, attempt func() error) {
	t.Helper()
	err := attempt()
	if err == nil {
		return
	}
	t.Logf("first attempt: %v; trying again", err)
	if err := attempt(); err != nil {
		t.Fatal(err)
	}
}

// run is Run that ends the test on an error.
func run(t *testing.T, o Options) *Result {
	t.Helper()
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if testing.Verbose() {
		_ = Report(os.Stderr, res)
	}
	return res
}

// startDemo starts the demo origin on loopback.
func startDemo(t *testing.T) (*httptest.Server, *demoorigin.Server) {
	t.Helper()
	demo := demoorigin.New(nil)
	srv := httptest.NewServer(demo)
	t.Cleanup(srv.Close)
	return srv, demo
}

// logServer is an origin that answers "ok" after delay and records each
// request's arrival, method, URI and If-Modified-Since, and how long its
// handler took.
type logServer struct {
	delay time.Duration

	mu   sync.Mutex // guards the rest
	seen []seenRequest
}

type seenRequest struct {
	at        time.Time
	took      time.Duration
	line, ims string
}

func (s *logServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	at := time.Now()
	if s.delay > 0 {
		time.Sleep(s.delay)
	}
	w.Header().Set("Content-Length", "2")
	_, _ = w.Write([]byte("ok"))
	s.mu.Lock()
	s.seen = append(s.seen, seenRequest{at, time.Since(at), r.Method + " " + r.RequestURI, r.Header.Get("If-Modified-Since")})
	s.mu.Unlock()
}

func (s *logServer) requests() []seenRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.seen)
}

func startLog(t *testing.T, delay time.Duration) (*httptest.Server, *logServer) {
	t.Helper()
	ls := &logServer{delay: delay}
	srv := httptest.NewServer(ls)
	t.Cleanup(srv.Close)
	return srv, ls
}

// within reports whether got is within frac of want.
func within(got, want, frac float64) bool {
	return got >= want*(1-frac) && got <= want*(1+frac)
}
