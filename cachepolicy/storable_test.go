package cachepolicy

import (
	"net/http"
	"testing"
	"time"
)

// decideCase is one call of Decide and what it must return.
type decideCase struct {
	name          string
	method        string // GET when empty
	reqH          http.Header
	status        int // 200 when 0
	respH         http.Header
	o             Options
	wantReason    Reason
	wantLifetime  time.Duration
	wantHeuristic bool
}

func runDecide(t *testing.T, tests []decideCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method, status, reqH := tt.method, tt.status, tt.reqH
			if method == "" {
				method = http.MethodGet
			}
			if status == 0 {
				status = http.StatusOK
			}
			if reqH == nil {
				reqH = hdr()
			}
			respH := tt.respH.Clone()
			got := Decide(method, reqH, status, respH, now, tt.o)
			if got.Reason != tt.wantReason {
				t.Errorf("Decide(%s, %d, %v).Reason = %v, want %v", method, status, tt.respH, got.Reason, tt.wantReason)
			}
			if got.Lifetime != tt.wantLifetime {
				t.Errorf("Decide(%s, %d, %v).Lifetime = %v, want %v", method, status, tt.respH, got.Lifetime, tt.wantLifetime)
			}
			if got.Heuristic != tt.wantHeuristic {
				t.Errorf("Decide(%s, %d, %v).Heuristic = %v, want %v", method, status, tt.respH, got.Heuristic, tt.wantHeuristic)
			}
			if len(respH) != len(tt.respH) {
				t.Errorf("Decide modified the response header: %v, was %v", respH, tt.respH)
			}
		})
	}
}

func TestDecideStorable(t *testing.T) {
	const minute = time.Minute
	runDecide(t, []decideCase{
		{name: "plain max-age stored", respH: hdr("Cache-Control", "max-age=60"), wantLifetime: minute},
		{name: "HEAD stored", method: http.MethodHead, respH: hdr("Cache-Control", "max-age=60"), wantLifetime: minute},
		{name: "POST not stored", method: http.MethodPost, respH: hdr("Cache-Control", "max-age=60"), wantReason: ReasonMethod},
		{name: "206 never stored", status: http.StatusPartialContent, respH: hdr("Cache-Control", "max-age=60"), wantReason: ReasonStatus},
		{name: "304 never stored", status: http.StatusNotModified, respH: hdr("Cache-Control", "max-age=60"), wantReason: ReasonStatus},
		{name: "500 without freshness not stored", status: 500, respH: hdr("Last-Modified", date(-time.Hour)), o: Options{DefaultTTL: minute}, wantReason: ReasonStatus},
		{name: "500 with max-age stored", status: 500, respH: hdr("Cache-Control", "max-age=5"), wantLifetime: 5 * time.Second},
		{name: "302 with public gets DefaultTTL", status: 302, respH: hdr("Cache-Control", "public"), o: Options{DefaultTTL: minute}, wantLifetime: minute},
		{name: "404 with max-age stored", status: 404, respH: hdr("Cache-Control", "max-age=60"), wantLifetime: minute},
		{name: "no-store", respH: hdr("Cache-Control", "max-age=60, no-store"), wantReason: ReasonNoStore},
		{name: "must-understand with known status ignores no-store", respH: hdr("Cache-Control", "must-understand, no-store, max-age=60"), wantLifetime: minute},
		{name: "must-understand with unknown status", status: 299, respH: hdr("Cache-Control", "must-understand, no-store, max-age=60"), wantReason: ReasonStatus},
		{name: "request no-store", reqH: hdr("Cache-Control", "no-store"), respH: hdr("Cache-Control", "max-age=60"), wantReason: ReasonRequestNoStore},
		{name: "private", respH: hdr("Cache-Control", "private, max-age=60"), wantReason: ReasonPrivate},
		{name: "qualified private with field present", respH: hdr("Cache-Control", `private="X-User", max-age=60`, "X-User", "bob"), wantReason: ReasonPrivate},
		{name: "qualified private without field stored", respH: hdr("Cache-Control", `private="X-User", max-age=60`), wantLifetime: minute},
		{name: "Authorization without permission", reqH: hdr("Authorization", "Bearer x"), respH: hdr("Cache-Control", "max-age=60"), wantReason: ReasonAuthorization},
		{name: "Authorization with public", reqH: hdr("Authorization", "Bearer x"), respH: hdr("Cache-Control", "public, max-age=60"), wantLifetime: minute},
		{name: "Authorization with s-maxage", reqH: hdr("Authorization", "Bearer x"), respH: hdr("Cache-Control", "s-maxage=60"), wantLifetime: minute},
		{name: "Authorization with must-revalidate", reqH: hdr("Authorization", "Bearer x"), respH: hdr("Cache-Control", "must-revalidate, max-age=60"), wantLifetime: minute},
		{name: "Vary star", respH: hdr("Cache-Control", "max-age=60", "Vary", "Accept-Encoding, *"), wantReason: ReasonVaryStar},
		{name: "Vary fields stored", respH: hdr("Cache-Control", "max-age=60", "Vary", "Accept-Encoding"), wantLifetime: minute},
		{name: "Set-Cookie not stored by default", respH: hdr("Cache-Control", "max-age=60", "Set-Cookie", "a=b"), wantReason: ReasonSetCookie},
		{name: "Set-Cookie stored when allowed", respH: hdr("Cache-Control", "max-age=60", "Set-Cookie", "a=b"), o: Options{AllowSetCookie: true}, wantLifetime: minute},
		{name: "malformed Cache-Control", respH: hdr("Cache-Control", "max-age=abc"), wantReason: ReasonInvalid},
		{name: "no freshness at all", respH: hdr(), wantReason: ReasonNoFreshness},
		{name: "Pragma no-cache ignored on response", respH: hdr("Pragma", "no-cache", "Cache-Control", "max-age=60"), wantLifetime: minute},
	})
}

func TestDecideFreshness(t *testing.T) {
	runDecide(t, []decideCase{
		{name: "s-maxage over max-age", respH: hdr("Cache-Control", "max-age=60, s-maxage=10"), wantLifetime: 10 * time.Second},
		{name: "max-age over Expires", respH: hdr("Cache-Control", "max-age=60", "Date", date(0), "Expires", date(time.Hour)), wantLifetime: time.Minute},
		{name: "Expires minus Date", respH: hdr("Date", date(-10*time.Second), "Expires", date(time.Hour)), wantLifetime: time.Hour + 10*time.Second},
		{name: "Expires without Date uses now", respH: hdr("Expires", date(time.Hour)), wantLifetime: time.Hour},
		{name: "Expires in the past", respH: hdr("Date", date(0), "Expires", date(-time.Hour)), wantLifetime: 0},
		{name: "invalid Expires is stale but stored", respH: hdr("Expires", "0", "Last-Modified", date(-100*time.Hour)), wantLifetime: 0},
		{name: "two Expires are stale", respH: hdr("Expires", date(time.Hour), "Expires", date(2*time.Hour)), wantLifetime: 0},
		{name: "heuristic 10 percent", respH: hdr("Date", date(0), "Last-Modified", date(-10*time.Hour)), wantLifetime: time.Hour, wantHeuristic: true},
		{name: "heuristic capped at 24h default", respH: hdr("Date", date(0), "Last-Modified", date(-1000*time.Hour)), wantLifetime: 24 * time.Hour, wantHeuristic: true},
		{name: "heuristic capped by HeuristicMax", respH: hdr("Date", date(0), "Last-Modified", date(-10*time.Hour)), o: Options{HeuristicMax: 30 * time.Minute}, wantLifetime: 30 * time.Minute, wantHeuristic: true},
		{name: "heuristic Last-Modified in future", respH: hdr("Date", date(0), "Last-Modified", date(time.Hour)), wantLifetime: 0, wantHeuristic: true},
		{name: "heuristic for 404", status: 404, respH: hdr("Last-Modified", date(-10*time.Hour)), wantLifetime: time.Hour, wantHeuristic: true},
		{name: "no heuristic for 302", status: 302, respH: hdr("Last-Modified", date(-10*time.Hour)), o: Options{DefaultTTL: time.Minute}, wantReason: ReasonStatus},
		{name: "DefaultTTL without Last-Modified", respH: hdr("Date", date(0)), o: Options{DefaultTTL: 5 * time.Minute}, wantLifetime: 5 * time.Minute},
		{name: "heuristic wins over DefaultTTL", respH: hdr("Last-Modified", date(-10*time.Hour)), o: Options{DefaultTTL: 5 * time.Minute}, wantLifetime: time.Hour, wantHeuristic: true},
		{name: "no-cache with max-age=0 stored", respH: hdr("Cache-Control", "no-cache, max-age=0", "ETag", `"x"`), wantLifetime: 0},
	})
}

func TestDecideTargeted(t *testing.T) {
	std := Options{TargetedFields: []string{"CDN-Cache-Control"}}
	own := Options{TargetedFields: []string{"Cdnnode-Cache-Control", "CDN-Cache-Control"}}
	runDecide(t, []decideCase{
		{name: "targeted no-store over Cache-Control max-age", respH: hdr("Cache-Control", "max-age=60", "CDN-Cache-Control", "no-store"), o: std, wantReason: ReasonNoStore},
		{name: "targeted max-age over Cache-Control no-store", respH: hdr("Cache-Control", "no-store", "CDN-Cache-Control", "max-age=100"), o: std, wantLifetime: 100 * time.Second},
		{name: "configured name over CDN-Cache-Control", respH: hdr("Cdnnode-Cache-Control", "max-age=7", "CDN-Cache-Control", "max-age=100"), o: own, wantLifetime: 7 * time.Second},
		{name: "second name used when first missing", respH: hdr("CDN-Cache-Control", "max-age=100"), o: own, wantLifetime: 100 * time.Second},
		{name: "invalid targeted field skipped", respH: hdr("Cdnnode-Cache-Control", "max-age=x", "CDN-Cache-Control", "max-age=100"), o: own, wantLifetime: 100 * time.Second},
		{name: "empty targeted field falls back", respH: hdr("CDN-Cache-Control", "", "Cache-Control", "max-age=60"), o: std, wantLifetime: time.Minute},
		{name: "targeted field ignores Expires", respH: hdr("CDN-Cache-Control", "public", "Expires", date(time.Hour)), o: Options{TargetedFields: []string{"CDN-Cache-Control"}, DefaultTTL: time.Second}, wantLifetime: time.Second},
		{name: "unlisted targeted field ignored", respH: hdr("CDN-Cache-Control", "no-store", "Cache-Control", "max-age=60"), wantLifetime: time.Minute},
	})
}

func TestDecideFlags(t *testing.T) {
	siteStale := Options{StaleWhileRevalidate: 5 * time.Second, StaleIfError: time.Hour}
	tests := []struct {
		name                   string
		respH                  http.Header
		o                      Options
		wantNoCache, wantMustR bool
		wantSWR, wantSIE       time.Duration
	}{
		{name: "none", respH: hdr("Cache-Control", "max-age=1")},
		{name: "no-cache", respH: hdr("Cache-Control", "no-cache, max-age=1"), wantNoCache: true},
		{name: "qualified no-cache with field present", respH: hdr("Cache-Control", `no-cache="X-A", max-age=1`, "X-A", "1"), wantNoCache: true},
		{name: "qualified no-cache without field", respH: hdr("Cache-Control", `no-cache="X-A", max-age=1`)},
		{name: "must-revalidate", respH: hdr("Cache-Control", "must-revalidate, max-age=1"), wantMustR: true},
		{name: "proxy-revalidate", respH: hdr("Cache-Control", "proxy-revalidate, max-age=1"), wantMustR: true},
		{name: "s-maxage implies proxy-revalidate", respH: hdr("Cache-Control", "s-maxage=1"), wantMustR: true},
		{name: "stale windows", respH: hdr("Cache-Control", "max-age=1, stale-while-revalidate=30, stale-if-error=600"), wantSWR: 30 * time.Second, wantSIE: 10 * time.Minute},
		{name: "site defaults", respH: hdr("Cache-Control", "max-age=1"), o: siteStale, wantSWR: 5 * time.Second, wantSIE: time.Hour},
		{name: "response windows beat site defaults", respH: hdr("Cache-Control", "max-age=1, stale-while-revalidate=30"), o: siteStale, wantSWR: 30 * time.Second, wantSIE: time.Hour},
		{name: "explicit zero beats site default", respH: hdr("Cache-Control", "max-age=1, stale-while-revalidate=0, stale-if-error=0"), o: siteStale},
		{name: "targeted field windows", respH: hdr("Cache-Control", "max-age=1, stale-if-error=9", "CDN-Cache-Control", "max-age=5, stale-if-error=60"), o: Options{TargetedFields: []string{"CDN-Cache-Control"}}, wantSIE: time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Decide(http.MethodGet, hdr(), 200, tt.respH, now, tt.o)
			if got.Reason != Stored {
				t.Fatalf("Decide(%v).Reason = %v, want stored", tt.respH, got.Reason)
			}
			if got.NoCache != tt.wantNoCache || got.MustRevalidate != tt.wantMustR {
				t.Errorf("Decide(%v) NoCache, MustRevalidate = %v, %v, want %v, %v", tt.respH, got.NoCache, got.MustRevalidate, tt.wantNoCache, tt.wantMustR)
			}
			if got.StaleWhileRevalidate != tt.wantSWR || got.StaleIfError != tt.wantSIE {
				t.Errorf("Decide(%v) windows = %v, %v, want %v, %v", tt.respH, got.StaleWhileRevalidate, got.StaleIfError, tt.wantSWR, tt.wantSIE)
			}
		})
	}
}

func TestReasonString(t *testing.T) {
	want := map[Reason]string{
		Stored: "stored", ReasonMethod: "method", ReasonStatus: "status", ReasonNoStore: "no-store",
		ReasonRequestNoStore: "request-no-store", ReasonPrivate: "private", ReasonAuthorization: "authorization",
		ReasonVaryStar: "vary-star", ReasonSetCookie: "set-cookie", ReasonNoFreshness: "no-freshness",
		ReasonInvalid: "invalid-cache-control", Reason(200): "unknown",
	}
	for r, w := range want {
		if got := r.String(); got != w {
			t.Errorf("Reason(%d).String() = %q, want %q", r, got, w)
		}
	}
}

func TestStripTargeted(t *testing.T) {
	o := Options{TargetedFields: []string{"Cdnnode-Cache-Control", "CDN-Cache-Control"}}
	h := hdr("Cdnnode-Cache-Control", "max-age=1", "CDN-Cache-Control", "max-age=2", "Cache-Control", "max-age=3")
	o.StripTargeted(h)
	if got, want := len(h), 1; got != want {
		t.Errorf("after StripTargeted %d fields left (%v), want %d", got, h, want)
	}
	if got, want := h.Get("Cache-Control"), "max-age=3"; got != want {
		t.Errorf("Cache-Control = %q, want %q", got, want)
	}
}

func FuzzDecide(f *testing.F) {
	f.Add("max-age=60", "max-age=5", date(time.Hour), date(0), date(-time.Hour), "3", 200)  // everything valid
	f.Add("no-store", "", "0", "", "", "", 404)                                             // invalid Expires
	f.Add("s-maxage=99999999999", "max-stale", "", "garbage", "garbage", "-1", 301)         // clamped, bad dates
	f.Add(`private="a", no-cache=b`, "no-cache", "", date(0), date(time.Hour), "1, 2", 302) // qualified forms
	f.Fuzz(func(t *testing.T, cc, cdn, expires, dt, lm, age string, status int) {
		respH := hdr("Cache-Control", cc, "CDN-Cache-Control", cdn, "Expires", expires, "Date", dt, "Last-Modified", lm, "Age", age)
		o := Options{TargetedFields: []string{"CDN-Cache-Control"}, DefaultTTL: time.Minute}
		d := Decide(http.MethodGet, hdr(), status, respH, now, o)
		if d.Lifetime < 0 {
			t.Fatalf("Decide(%v) lifetime %v < 0", respH, d.Lifetime)
		}
		if d.Reason != Stored && d.Lifetime != 0 {
			t.Fatalf("Decide(%v) = %v with lifetime %v", respH, d.Reason, d.Lifetime)
		}
		if a := InitialAge(respH, now.Add(-time.Second), now); a < 0 {
			t.Fatalf("InitialAge(%v) = %v < 0", respH, a)
		}
	})
}
