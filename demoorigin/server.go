// Package demoorigin is the bundled demo origin: an http.Handler whose
// responses are chosen by query parameters, so that tests, benchmarks and
// people trying cdnnode can ask for any size, cache policy, validator, Vary,
// surrogate key or failure without writing an origin of their own.
//
// Routes:
//
//	GET|HEAD /obj/<name>?...        a deterministic object; see ServeHTTP
//	POST|PUT|DELETE|PATCH /obj/...  204, for invalidation tests
//	GET /__origin/stats             JSON Stats of the requests received
//	POST /__origin/reset            zero Stats (204)
//
// A Server keeps its own counters (no package state), so one test can run
// several. It is safe for concurrent use.
package demoorigin

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"
)

// maxPaths bounds the paths Stats counts one by one, so that a client
// requesting endless distinct paths cannot grow memory without limit.
const maxPaths = 1 << 16

// otherPath is the Stats.ByPath entry that counts paths beyond maxPaths.
const otherPath = "(other)"

// chunkSize is how many body bytes are generated and written at a time.
const chunkSize = 32 << 10

// Server is the demo origin's handler; safe for concurrent use. Counters are
// its own (no globals) so tests can run several.
type Server struct {
	log  *slog.Logger
	seq  atomic.Int64 // requests ever received, never reset: X-Origin-Request
	bufs sync.Pool    // *[]byte of chunkSize, for body generation

	encoders [numCodings]sync.Pool // encoder of each coding, by coding; identity's is unused

	mu       sync.Mutex // guards requests and byPath
	requests int64
	byPath   map[string]int64
}

// Stats counts the requests a Server received since it was made or last
// reset, excluding those for /__origin/ itself.
type Stats struct {
	Requests int64            `json:"requests"`
	ByPath   map[string]int64 `json:"by_path"`
}

// New returns a demo origin that logs to logger at debug level; logger may be
// nil (discard).
func New(logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{log: logger, byPath: make(map[string]int64)}
	s.bufs.New = func() any {
		b := make([]byte, chunkSize)
		return &b
	}
	return s
}

// Stats returns a copy of the counters; the caller owns its map.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{Requests: s.requests, ByPath: make(map[string]int64, len(s.byPath))}
	for p, n := range s.byPath {
		st.ByPath[p] = n
	}
	return st
}

// reset zeroes the counters. X-Origin-Request keeps counting, so a response
// fetched after a reset is still told apart from one cached before it.
func (s *Server) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = 0
	s.byPath = make(map[string]int64)
}

// record counts one request for path and returns its sequence number.
func (s *Server) record(path string) int64 {
	s.mu.Lock()
	s.requests++
	if _, ok := s.byPath[path]; ok || len(s.byPath) < maxPaths {
		s.byPath[path]++
	} else {
		s.byPath[otherPath]++
	}
	s.mu.Unlock()
	return s.seq.Add(1)
}

// ServeHTTP routes a request; see the package comment and serveObject.
// Every response outside /__origin/ carries Date and X-Origin-Request, the
// request's number in this server's life (1, 2, ...; never reset), which
// tells a cache hit from a new fetch.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	if rest, ok := strings.CutPrefix(path, "/__origin/"); ok {
		s.serveAdmin(w, r, rest)
		return
	}
	seq := s.record(path)
	h := w.Header()
	h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	h.Set("X-Origin-Request", strconv.FormatInt(seq, 10))
	s.log.Debug("demo origin request", "method", r.Method, "uri", r.RequestURI, "seq", seq, "proto", r.Proto)
	name, ok := strings.CutPrefix(path, "/obj/")
	if !ok || name == "" {
		http.NotFound(w, r)
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		s.serveObject(w, r, name)
	case http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch:
		serveUnsafe(w, r)
	default:
		h.Set("Allow", "GET, HEAD, POST, PUT, DELETE, PATCH")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

// serveUnsafe answers an unsafe method with 204 and, if asked, the Location
// (and Content-Location) a cache must invalidate too (RFC 9111 §4.4).
func serveUnsafe(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for _, f := range []struct{ param, field string }{{"location", "Location"}, {"clocation", "Content-Location"}} {
		v := q.Get(f.param)
		if v == "" {
			continue
		}
		if !httpguts.ValidHeaderFieldValue(v) {
			http.Error(w, f.param+": invalid header value", http.StatusBadRequest)
			return
		}
		w.Header().Set(f.field, v)
	}
	w.WriteHeader(http.StatusNoContent)
}

// serveAdmin answers /__origin/<rest>, which is not counted.
func (s *Server) serveAdmin(w http.ResponseWriter, r *http.Request, rest string) {
	switch rest {
	case "stats":
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		body, err := json.Marshal(s.Stats())
		if err != nil {
			http.Error(w, "stats: "+err.Error(), http.StatusInternalServerError)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "no-store")
		h.Set("Content-Length", strconv.Itoa(len(body)))
		if r.Method == http.MethodHead {
			return
		}
		_, _ = w.Write(body)
	case "reset":
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		s.reset()
		w.WriteHeader(http.StatusNoContent)
	default:
		http.NotFound(w, r)
	}
}
