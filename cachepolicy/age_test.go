package cachepolicy

import (
	"net/http"
	"testing"
	"time"
)

func TestInitialAge(t *testing.T) {
	req, resp := now.Add(-2*time.Second), now // response_delay = 2s
	tests := []struct {
		name string
		h    http.Header
		want time.Duration
	}{
		{"no Age, no Date: delay only", hdr(), 2 * time.Second},
		{"Age plus delay", hdr("Age", "100", "Date", date(0)), 102 * time.Second},
		{"apparent age wins when larger", hdr("Age", "1", "Date", date(-60*time.Second)), 60 * time.Second},
		{"corrected age wins when larger", hdr("Age", "100", "Date", date(-60*time.Second)), 102 * time.Second},
		{"Date in the future: apparent age 0", hdr("Date", date(time.Hour)), 2 * time.Second},
		{"invalid Date counts as response time", hdr("Date", "yesterday", "Age", "10"), 12 * time.Second},
		{"invalid Age ignored", hdr("Age", "-5", "Date", date(0)), 2 * time.Second},
		{"non-numeric Age ignored", hdr("Age", "ten"), 2 * time.Second},
		{"Age list uses first member", hdr("Age", "30, 90"), 32 * time.Second},
		{"huge Age clamped", hdr("Age", "99999999999999999999"), 2147483648*time.Second + 2*time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := InitialAge(tt.h, req, resp); got != tt.want {
				t.Errorf("InitialAge(%v) = %v, want %v", tt.h, got, tt.want)
			}
		})
	}
	t.Run("clock going backwards", func(t *testing.T) {
		if got, want := InitialAge(hdr(), now.Add(time.Second), now), time.Duration(0); got != want {
			t.Errorf("InitialAge with request after response = %v, want %v", got, want)
		}
	})
}

func TestEntryAgeTTL(t *testing.T) {
	e := Entry{Lifetime: time.Minute, InitialAge: 10 * time.Second, ResponseTime: now}
	tests := []struct {
		name             string
		at               time.Time
		wantAge, wantTTL time.Duration
	}{
		{"at response time", now, 10 * time.Second, 50 * time.Second},
		{"later", now.Add(20 * time.Second), 30 * time.Second, 30 * time.Second},
		{"stale", now.Add(2 * time.Minute), 130 * time.Second, -70 * time.Second},
		{"clock before response time", now.Add(-time.Hour), 10 * time.Second, 50 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := e.Age(tt.at); got != tt.wantAge {
				t.Errorf("Age(%v) = %v, want %v", tt.at, got, tt.wantAge)
			}
			if got := e.TTL(tt.at); got != tt.wantTTL {
				t.Errorf("TTL(%v) = %v, want %v", tt.at, got, tt.wantTTL)
			}
		})
	}
}

func TestEntryStaleWindows(t *testing.T) {
	// Stored at now, fresh for a minute; stale-while-revalidate 30s,
	// stale-if-error an hour.
	base := Entry{Lifetime: time.Minute, ResponseTime: now, StaleWhileRevalidate: 30 * time.Second, StaleIfError: time.Hour}
	mustRevalidate := base
	mustRevalidate.MustRevalidate = true
	noCache := base
	noCache.NoCache = true
	cc := func(s string) Directives {
		d, err := ParseCacheControl(s)
		if err != nil {
			t.Fatalf("ParseCacheControl(%q): %v", s, err)
		}
		return d
	}
	none := NewDirectives()
	tests := []struct {
		name           string
		e              Entry
		req            Directives
		at             time.Time
		wantSWR, wantE bool
	}{
		{"fresh", base, none, now, false, true},
		{"inside both windows", base, none, now.Add(80 * time.Second), true, true},
		{"last instant of SWR", base, none, now.Add(90 * time.Second), true, true},
		{"past SWR inside SIE", base, none, now.Add(2 * time.Minute), false, true},
		{"past both", base, none, now.Add(2 * time.Hour), false, false},
		{"must-revalidate forbids stale", mustRevalidate, none, now.Add(80 * time.Second), false, false},
		{"no-cache forbids stale", noCache, none, now.Add(80 * time.Second), false, false},
		{"no-cache fresh never on error", noCache, none, now, false, false},
		{"request no-cache", base, cc("no-cache"), now.Add(80 * time.Second), false, false},
		{"request no-cache on a fresh object", base, cc("no-cache"), now, false, false},
		{"request min-fresh", base, cc("min-fresh=1"), now.Add(80 * time.Second), false, false},
		{"request max-age exceeded", base, cc("max-age=70"), now.Add(80 * time.Second), false, false},
		{"request max-age within", base, cc("max-age=100"), now.Add(80 * time.Second), true, true},
		{"request max-stale within windows", base, cc("max-stale=5"), now.Add(80 * time.Second), true, true},
		{"request stale-if-error past the response's", base, cc("stale-if-error=7200"), now.Add(90 * time.Minute), false, true},
		{"request stale-if-error beats its no-cache", base, cc("no-cache, stale-if-error=60"), now.Add(80 * time.Second), false, true},
		{"request stale-if-error too short", base, cc("no-cache, stale-if-error=10"), now.Add(80 * time.Second), false, false},
		{"request stale-if-error never with must-revalidate", mustRevalidate, cc("stale-if-error=7200"), now.Add(80 * time.Second), false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.e.ServeWhileRevalidate(tt.req, tt.at); got != tt.wantSWR {
				t.Errorf("ServeWhileRevalidate(%q) = %v, want %v", tt.req.String(), got, tt.wantSWR)
			}
			if got := tt.e.ServeIfError(tt.req, tt.at); got != tt.wantE {
				t.Errorf("ServeIfError(%q) = %v, want %v", tt.req.String(), got, tt.wantE)
			}
		})
	}
}
