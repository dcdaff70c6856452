package health

import (
	"testing"
	"time"
)

// TestPassiveConsecutive ejects on consecutive failures, ends the ejection
// after the cool-down on a fake clock, and re-ejects on probation.
func TestPassiveConsecutive(t *testing.T) {
	clk := newClock()
	rec := &recorder{}
	const peer = "origin-a:80"
	m := mustMonitor(t, targets(Conn{}, peer, "origin-b:80"), Options{
		Passive:  Passive{MaxFails: 3, CoolDown: 10 * time.Second},
		OnChange: rec.onChange,
		Now:      clk.Now,
	})
	step := func(ok bool, wantHealthy bool) {
		t.Helper()
		m.Report(0, ok)
		if got := m.Healthy(0); got != wantHealthy {
			t.Fatalf("Healthy after Report(%v) = %v, want %v", ok, got, wantHealthy)
		}
	}
	step(false, true)
	step(false, true)
	step(true, true) // a success resets the count
	step(false, true)
	step(false, true)
	step(false, false) // the third in a row ejects
	step(true, false)  // outcomes of earlier requests do not end an ejection
	clk.advance(10*time.Second - time.Nanosecond)
	if m.Healthy(0) {
		t.Fatal("Healthy a nanosecond before the cool-down ends = true, want false")
	}
	clk.advance(time.Nanosecond)
	if !m.Healthy(0) {
		t.Fatal("Healthy at the end of the cool-down = false, want true")
	}
	step(false, false) // probation: one failure re-ejects
	clk.advance(10 * time.Second)
	step(true, true) // a success ends the probation
	step(false, true)
	step(false, true)
	if !m.Healthy(1) {
		t.Error("Healthy(other peer) = false, want true: ejection is per peer")
	}
	rec.expect(t,
		change{peer, false, "passive: 3 consecutive failed exchanges"},
		change{peer, true, "passive: cool-down of 10s over"},
		change{peer, false, "passive: failed on probation after a cool-down"},
		change{peer, true, "passive: cool-down of 10s over"},
	)
}

// TestPassiveErrorRate replays outcomes ("+" ok, "-" failed) into a window
// of 10 judged from 5 exchanges above a 50% error rate.
func TestPassiveErrorRate(t *testing.T) {
	tests := []struct {
		name     string
		outcomes string
		ejected  bool
		reason   string
	}{
		{name: "too few exchanges", outcomes: "----", ejected: false},
		{name: "all of the minimum failed", outcomes: "-----", ejected: true, reason: "5 of the latest 5"},
		{name: "rate at the limit", outcomes: "+-+-+-+-+-", ejected: false},
		{name: "rate above the limit", outcomes: "+-+-+-+-+--", ejected: true, reason: "6 of the latest 10"},
		{name: "old failures leave the window", outcomes: "+-+-+-+-+" + "++++++" + "---", ejected: false},
		{name: "successes at the end do not eject", outcomes: "+---" + "+" + "+++++", ejected: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			m := mustMonitor(t, targets(Conn{}, "p:80"), Options{
				Passive:  Passive{Window: 10, MinRequests: 5, MaxErrorRate: 0.5, CoolDown: time.Second},
				OnChange: rec.onChange,
				Now:      newClock().Now,
			})
			for _, o := range tt.outcomes {
				m.Report(0, o == '+')
			}
			if got := !m.Healthy(0); got != tt.ejected {
				t.Fatalf("ejected after %q = %v, want %v", tt.outcomes, got, tt.ejected)
			}
			if tt.ejected {
				rec.expect(t, change{"p:80", false, "passive: " + tt.reason + " exchanges failed"})
			} else {
				rec.expect(t)
			}
		})
	}
}

// TestPassiveEjectionResetsWindow shows an ejection forgets the failures
// that caused it: after the cool-down, a success ends the probation and
// the window starts empty.
func TestPassiveEjectionResetsWindow(t *testing.T) {
	clk := newClock()
	m := mustMonitor(t, targets(Conn{}, "p:80"), Options{
		Passive: Passive{Window: 4, MaxErrorRate: 0.5, CoolDown: time.Second},
		Now:     clk.Now,
	})
	for _, ok := range []bool{true, false, false, false} {
		m.Report(0, ok)
	}
	if m.Healthy(0) {
		t.Fatal("Healthy with 3 of 4 failed = true, want false")
	}
	clk.advance(time.Second)
	m.Report(0, true)
	m.Report(0, false)
	m.Report(0, true)
	if !m.Healthy(0) {
		t.Error("Healthy with 1 of 3 failed since the ejection = false, want true")
	}
}

// TestSweep ends an ejection with no traffic and no call of Healthy, so
// OnChange (and the gauge it sets) says the peer is back.
func TestSweep(t *testing.T) {
	clk := newClock()
	rec := &recorder{}
	m := mustMonitor(t, targets(Conn{}, "p:80"), Options{
		Passive:  Passive{MaxFails: 1, CoolDown: time.Second},
		OnChange: rec.onChange,
		Now:      clk.Now,
	})
	m.Report(0, false)
	m.sweep()
	clk.advance(time.Second)
	m.sweep()
	m.sweep()
	rec.expect(t, change{"p:80", false, "passive"}, change{"p:80", true, "cool-down of 1s over"})
}

func TestReportWithoutPassive(t *testing.T) {
	m := mustMonitor(t, targets(Conn{}, "p:80"), Options{})
	for range 100 {
		m.Report(0, false)
	}
	if !m.Healthy(0) {
		t.Error("Healthy with neither active nor passive checks = false, want true")
	}
}

func TestHealthyAllocs(t *testing.T) {
	clk := newClock()
	m := mustMonitor(t, targets(Conn{}, "up:80", "ejected:80"), Options{
		Passive: Passive{MaxFails: 1, CoolDown: time.Second},
		Now:     clk.Now,
	})
	m.Report(1, false)
	allocs := testing.AllocsPerRun(100, func() {
		if !m.Healthy(0) || m.Healthy(1) {
			t.Fatal("Healthy(up, ejected) changed")
		}
	})
	if allocs != 0 {
		t.Errorf("Healthy allocates %v times per call, want 0", allocs)
	}
}
