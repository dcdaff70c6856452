package purge

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestBanMatches(t *testing.T) {
	tests := []struct {
		name string
		ban  Ban
		key  string
		tags []string
		want bool
	}{
		{"exact", Ban{Kind: Exact, Target: "a.example/x?q=1"}, "https://a.example/x?q=1", nil, true},
		{"exact other scheme", Ban{Kind: Exact, Target: "a.example/x?q=1"}, "http://a.example/x?q=1", nil, true},
		{"exact variant", Ban{Kind: Exact, Target: "a.example/x"}, "http://a.example/x\x00Accept-Language:en", nil, true},
		{"exact is not a prefix", Ban{Kind: Exact, Target: "a.example/x"}, "http://a.example/xy", nil, false},
		{"exact other query", Ban{Kind: Exact, Target: "a.example/x"}, "http://a.example/x?q=1", nil, false},
		{"prefix", Ban{Kind: Prefix, Target: "a.example/img/"}, "http://a.example/img/1.png", nil, true},
		{"prefix other host", Ban{Kind: Prefix, Target: "a.example/img/"}, "http://b.example/img/1.png", nil, false},
		{"all", Ban{Kind: All, Target: "a.example/"}, "http://a.example/anything?x", nil, true},
		{"all is not another host's", Ban{Kind: All, Target: "a.example/"}, "http://a.example.evil/x", nil, false},
		{"all with port", Ban{Kind: All, Target: "a.example:8080/"}, "http://a.example/x", nil, false},
		{"tag", Ban{Kind: Tag, Tags: []string{"red", "blue"}}, "http://a.example/x", []string{"green", "blue"}, true},
		{"tag none shared", Ban{Kind: Tag, Tags: []string{"red"}}, "http://a.example/x", []string{"green"}, false},
		{"tag untagged", Ban{Kind: Tag, Tags: []string{"red"}}, "http://a.example/x", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.ban.matches(Rest(tt.key), tt.tags); got != tt.want {
				t.Errorf("%+v matches %q %v = %v, want %v", tt.ban, tt.key, tt.tags, got, tt.want)
			}
		})
	}
}

func TestBansCheck(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	b, err := Open("")
	if err != nil {
		t.Fatal(err)
	}
	add := func(ban Ban, at time.Time) {
		t.Helper()
		if _, err := b.Add(ban, at); err != nil {
			t.Fatal(err)
		}
	}
	add(Ban{Kind: Prefix, Target: "a.example/soft/", Soft: true}, t0.Add(10*time.Second))
	add(Ban{Kind: Exact, Target: "a.example/soft/hard"}, t0.Add(20*time.Second))
	add(Ban{Kind: Prefix, Target: "a.example/soft/", Soft: true}, t0.Add(30*time.Second))
	tests := []struct {
		name  string
		key   string
		stamp time.Time
		want  Verdict
	}{
		{"fetched before the soft bans", "http://a.example/soft/x", t0, Verdict{Stale: t0.Add(10 * time.Second)}},
		{"fetched between the soft bans", "http://a.example/soft/x", t0.Add(15 * time.Second), Verdict{Stale: t0.Add(30 * time.Second)}},
		{"fetched after every ban", "http://a.example/soft/x", t0.Add(31 * time.Second), Verdict{}},
		{"hard beats soft", "http://a.example/soft/hard", t0, Verdict{Purged: true}},
		{"fetched at the ban's instant", "http://a.example/soft/hard", t0.Add(20 * time.Second), Verdict{Purged: true}},
		{"unnamed", "http://a.example/other", t0, Verdict{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.want.Through = t0.Add(30 * time.Second) // the newest ban
			if got := b.Check(tt.key, nil, tt.stamp); got != tt.want {
				t.Errorf("Check(%q, %v) = %+v, want %+v", tt.key, tt.stamp, got, tt.want)
			}
		})
	}
	// A clock that steps back never orders a ban before an older one, nor
	// at the same time: an object stamped just after a ban is not named
	// by the next.
	got, err := b.Add(Ban{Kind: Tag, Tags: []string{"t"}}, t0)
	if want := t0.Add(30*time.Second + time.Nanosecond); err != nil || !got.At.Equal(want) {
		t.Errorf("Add with a clock behind the newest ban: At %v, %v; want %v", got.At, err, want)
	}
}

func TestBansExpire(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bans.json")
	b, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := b.Newest(); ok {
		t.Error("Newest of no bans reports one")
	}
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	for i := range 3 {
		if _, err := b.Add(Ban{Kind: Tag, Tags: []string{"t"}}, t0.Add(time.Duration(i)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := b.Expire(t0.Add(-time.Second)); n != 0 || err != nil || b.Len() != 3 {
		t.Errorf("Expire before every ban dropped %d (%v), %d left", n, err, b.Len())
	}
	if n, err := b.Expire(t0.Add(time.Second)); n != 2 || err != nil || b.Len() != 1 {
		t.Errorf("Expire through the second ban dropped %d (%v), %d left; want 2, 1", n, err, b.Len())
	}
	if newest, ok := b.Newest(); !ok || !newest.Equal(t0.Add(2*time.Second)) {
		t.Errorf("Newest = %v, %v; want the third ban's time", newest, ok)
	}
	if v := b.Check("http://a/x", []string{"t"}, t0); !v.Purged {
		t.Error("the ban left does not purge what it names")
	}
	again, err := Open(path)
	if err != nil || again.Len() != 1 {
		t.Fatalf("reopened after Expire: %d bans, %v; want 1", again.Len(), err)
	}
}

// TestBansExpireSparesFlights: Expire drops no ban that a fill in flight
// could be named by, one made at or after the oldest flight's stamp, and
// a flight that has ended holds nothing.
func TestBansExpireSparesFlights(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) func() time.Time { return func() time.Time { return t0.Add(d) } }
	tests := []struct {
		name    string
		flights []time.Duration // stamps of the flights in flight
		ended   []time.Duration // stamps of flights that have ended
		want    int             // bans dropped of those at t0+1s, +2s, +3s
	}{
		{"none in flight", nil, nil, 3},
		{"stamped before every ban", []time.Duration{0}, nil, 0},
		{"stamped at a ban", []time.Duration{2 * time.Second}, nil, 1},
		{"stamped just after a ban", []time.Duration{2*time.Second + time.Nanosecond}, nil, 2},
		{"stamped after every ban", []time.Duration{4 * time.Second}, nil, 3},
		{"the oldest counts", []time.Duration{3 * time.Second, 1500 * time.Millisecond}, nil, 1},
		{"ended", nil, []time.Duration{0}, 3},
		{"ended and in flight", []time.Duration{2500 * time.Millisecond}, []time.Duration{0}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Open("")
			if err != nil {
				t.Fatal(err)
			}
			for i := range 3 {
				if _, err := b.Add(Ban{Kind: Tag, Tags: []string{"t"}}, t0.Add(time.Duration(i+1)*time.Second)); err != nil {
					t.Fatal(err)
				}
			}
			for i, d := range append(tt.flights, tt.ended...) {
				f := b.Begin(uint64(i), at(d))
				if !f.Stamp.Equal(t0.Add(d)) {
					t.Fatalf("Begin stamped %v, want %v", f.Stamp, t0.Add(d))
				}
				if i >= len(tt.flights) {
					f.End()
				}
			}
			if n, err := b.Expire(t0.Add(3 * time.Second)); n != tt.want || err != nil || b.Len() != 3-tt.want {
				t.Errorf("Expire through every ban dropped %d (%v), %d left; want %d dropped", n, err, b.Len(), tt.want)
			}
		})
	}
}

// TestBansFlightsConcurrent: while purges come and the sweeper expires
// what it can as fast as it can, a ban made since a flight began keeps
// naming what the flight stores until the flight ends; with flights of
// many keys at once.
func TestBansFlightsConcurrent(t *testing.T) {
	b, err := Open("")
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var sweeps atomic.Int64 // Expire calls made
	var purger sync.WaitGroup
	purger.Go(func() { // purges something else and sweeps, as the proxy does
		for range 10_000_000 {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := b.Add(Ban{Kind: Exact, Target: "a.example/other"}, time.Now()); err != nil {
				t.Error(err)
				return
			}
			through, _ := b.Newest()
			if _, err := b.Expire(through); err != nil {
				t.Error(err)
				return
			}
			sweeps.Add(1)
		}
	})
	var fills sync.WaitGroup
	for g := range 4 {
		fills.Go(func() {
			for i := range 100 {
				f := b.Begin(uint64(i), time.Now)
				key := fmt.Sprintf("http://a.example/%d/%d", g, i)
				if _, err := b.Add(Ban{Kind: Exact, Target: Rest(key)}, time.Now()); err != nil {
					t.Error(err)
					return
				}
				// Two sweeps later, one began after the ban was made.
				for n, j := sweeps.Load(), 0; sweeps.Load() < n+2 && j < 10_000_000; j++ {
					runtime.Gosched()
				}
				if !b.Check(key, nil, f.Stamp).Purged {
					t.Errorf("the ban naming a fill stamped %v expired while it was in flight", f.Stamp)
				}
				f.End()
			}
		})
	}
	fills.Wait()
	close(stop)
	purger.Wait()
	if n, err := b.Expire(time.Now()); b.Len() != 0 || err != nil {
		t.Errorf("after every flight ended, Expire dropped %d (%v) and left %d bans", n, err, b.Len())
	}
}

func TestBansPersist(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bans.json")
	b, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	if _, err := b.Add(Ban{Kind: Tag, Tags: []string{"red"}}, at); err != nil {
		t.Fatal(err)
	}
	again, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if again.Len() != 1 || !again.Check("http://a/x", []string{"red"}, at.Add(-time.Second)).Purged {
		t.Fatalf("reopened bans: %d, and they do not purge what they did", again.Len())
	}
	for _, bad := range []string{`{`, `[{"kind":"exact"}]`, `[{"kind":"tag","at":"2026-11-23T12:00:00Z"}]`, `[{"kind":"nuke","target":"a/"}]`,
		`[{"kind":"all","target":"a/","at":"2026-11-23T12:00:01Z"},{"kind":"all","target":"a/","at":"2026-11-23T12:00:00Z"}]`,
		`[{"kind":"all","target":"a/","at":"2026-11-23T12:00:00Z"},{"kind":"all","target":"a/","at":"2026-11-23T12:00:00Z"}]`} {
		if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(path); err == nil {
			t.Errorf("Open accepted bans file %s", bad)
		}
	}
}

func TestRequestKind(t *testing.T) {
	tests := []struct {
		name string
		req  Request
		want Kind
		ok   bool
	}{
		{"urls", Request{URLs: []string{"http://a/x", "https://a/y"}}, Exact, true},
		{"prefix", Request{Prefix: "http://a/img/"}, Prefix, true},
		{"tags", Request{Tags: []string{"a", "b"}}, Tag, true},
		{"all", Request{All: "a.example"}, All, true},
		{"none", Request{}, "", false},
		{"two", Request{All: "a", Tags: []string{"t"}}, "", false},
		{"relative url", Request{URLs: []string{"/x"}}, "", false},
		{"ftp url", Request{URLs: []string{"ftp://a/x"}}, "", false},
		{"empty tag", Request{Tags: []string{""}}, "", false},
		{"tag with space", Request{Tags: []string{"a b"}}, "", false},
		{"all with a path", Request{All: "a/x"}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.req.Kind()
			if got != tt.want || (err == nil) != tt.ok {
				t.Errorf("Kind() = %q, %v; want %q, ok %v", got, err, tt.want, tt.ok)
			}
		})
	}
}
