package cachepolicy

import (
	"net/http"
	"testing"
	"time"
)

func TestReuse(t *testing.T) {
	// Stored at now with a 60s lifetime and an initial age of 10s.
	e := Entry{Lifetime: time.Minute, InitialAge: 10 * time.Second, ResponseTime: now}
	mustRevalidate := e
	mustRevalidate.MustRevalidate = true
	noCache := e
	noCache.NoCache = true
	cc := func(s string) Directives {
		d, err := ParseCacheControl(s)
		if err != nil {
			t.Fatalf("ParseCacheControl(%q): %v", s, err)
		}
		return d
	}
	tests := []struct {
		name string
		req  Directives
		e    Entry
		at   time.Time
		want Verdict
	}{
		{"fresh", NewDirectives(), e, now, Fresh},
		{"last fresh instant", NewDirectives(), e, now.Add(49 * time.Second), Fresh},
		{"stale at lifetime", NewDirectives(), e, now.Add(50 * time.Second), Revalidate},
		{"stale", NewDirectives(), e, now.Add(time.Hour), Revalidate},
		{"max-age satisfied", cc("max-age=30"), e, now.Add(20 * time.Second), Fresh},
		{"max-age exceeded", cc("max-age=30"), e, now.Add(21 * time.Second), Revalidate},
		{"max-age=0 forces revalidation", cc("max-age=0"), e, now, Revalidate},
		{"min-fresh satisfied", cc("min-fresh=40"), e, now, Fresh},
		{"min-fresh not satisfied", cc("min-fresh=40"), e, now.Add(11 * time.Second), Revalidate},
		{"max-stale allows", cc("max-stale=30"), e, now.Add(80 * time.Second), StaleOK},
		{"max-stale exceeded", cc("max-stale=30"), e, now.Add(81 * time.Second), Revalidate},
		{"max-stale any", cc("max-stale"), e, now.Add(1000 * time.Hour), StaleOK},
		{"max-stale on fresh is fresh", cc("max-stale"), e, now, Fresh},
		{"max-stale with must-revalidate", cc("max-stale"), mustRevalidate, now.Add(80 * time.Second), Revalidate},
		{"must-revalidate fresh", NewDirectives(), mustRevalidate, now, Fresh},
		{"request no-cache", cc("no-cache"), e, now, Revalidate},
		{"response no-cache", NewDirectives(), noCache, now, Revalidate},
		{"response no-cache beats max-stale", cc("max-stale"), noCache, now, Revalidate},
		{"Pragma no-cache", RequestDirectives(hdr("Pragma", "no-cache")), e, now, Revalidate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Reuse(tt.req, tt.e, tt.at); got != tt.want {
				t.Errorf("Reuse(%q, age %v) = %v, want %v", tt.req.String(), tt.e.Age(tt.at), got, tt.want)
			}
		})
	}
}

func TestRequestDirectives(t *testing.T) {
	tests := []struct {
		name string
		h    http.Header
		want string
	}{
		{"none", hdr(), ""},
		{"Cache-Control", hdr("Cache-Control", "max-age=5"), "max-age=5"},
		{"Pragma no-cache without Cache-Control", hdr("Pragma", "no-cache"), "no-cache"},
		{"Pragma list", hdr("Pragma", "x, No-Cache"), "no-cache"},
		{"Pragma ignored with Cache-Control", hdr("Pragma", "no-cache", "Cache-Control", "max-stale"), "max-stale"},
		{"malformed Cache-Control ignored", hdr("Cache-Control", "max-age=x"), ""},
		{"malformed Cache-Control falls back to Pragma", hdr("Cache-Control", "max-age=x", "Pragma", "no-cache"), "no-cache"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := RequestDirectives(tt.h)
			if got.String() != tt.want {
				t.Errorf("RequestDirectives(%v) = %q, want %q", tt.h, got.String(), tt.want)
			}
			if got.MaxStale == 0 || got.MinFresh == 0 {
				t.Errorf("RequestDirectives(%v) has zero Deltas, want Absent", tt.h)
			}
		})
	}
}

func TestVerdictString(t *testing.T) {
	for v, want := range map[Verdict]string{Fresh: "fresh", StaleOK: "stale-ok", Revalidate: "revalidate", Verdict(9): "unknown"} {
		if got := v.String(); got != want {
			t.Errorf("Verdict(%d).String() = %q, want %q", v, got, want)
		}
	}
}
