package loadtest

import (
	"math"
	"testing"
)

// chiSquare compares observed counts with expected probabilities (which
// sum to 1), merging the tail into one bin once expected counts fall
// below 5 (the classic validity rule), and returns the statistic and
// its degrees of freedom.
func chiSquare(observed []int64, p []float64, total int64) (stat float64, dof int) {
	var tailO, tailE float64
	bins := 0
	for k := range observed {
		e := p[k] * float64(total)
		if e < 5 || tailE > 0 {
			tailO += float64(observed[k])
			tailE += e
			continue
		}
		d := float64(observed[k]) - e
		stat += d * d / e
		bins++
	}
	if tailE > 0 {
		d := tailO - tailE
		stat += d * d / tailE
		bins++
	}
	return stat, bins - 1
}

// chiSquareBound is a bound the statistic of a correct sampler exceeds
// with probability about 1e-9: the mean plus six standard deviations
// (the distribution has mean dof and variance 2 dof), generous for
// small dof, where the tail is longer.
func chiSquareBound(dof int) float64 {
	return float64(dof) + 6*math.Sqrt(2*float64(dof)) + 20
}

// TestZipfFrequencies draws many keys through the plan (so the per-request
// streams are tested too) and compares their frequencies with
// P(rank k) = k^-s / H(n, s) by a chi-square test, and the most popular
// keys by their relative error, for exponents below, at and above 1.
func TestZipfFrequencies(t *testing.T) {
	const draws = 400_000
	for _, tt := range []struct {
		name string
		n    int64
		s    float64
	}{
		{"s=0.6 n=1000", 1000, 0.6},
		{"s=1 n=1000", 1000, 1},
		{"s=1.2 n=10000", 10000, 1.2},
		{"s=2 n=50", 50, 2},
		{"s=0.99 n=2", 2, 0.99},
		{"n=1", 1, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := make([]float64, tt.n)
			var h float64
			for k := range p {
				p[k] = math.Pow(float64(k+1), -tt.s)
				h += p[k]
			}
			for k := range p {
				p[k] /= h
			}
			pl := plan{seed: 12345, keys: newKeys(Zipf, tt.n, tt.s), size: Size{1, 1}}
			counts := make([]int64, tt.n)
			for i := range int64(draws) {
				k := pl.at(i).key
				if k < 0 || k >= tt.n {
					t.Fatalf("key %d out of [0, %d)", k, tt.n)
				}
				counts[k]++
			}
			stat, dof := chiSquare(counts, p, draws)
			if bound := chiSquareBound(dof); stat > bound {
				t.Errorf("chi-square %.1f with %d degrees of freedom, want at most %.1f", stat, dof, bound)
			}
			for k := range min(tt.n, 3) {
				want := p[k] * draws
				if got := float64(counts[k]); math.Abs(got-want) > 0.03*want {
					t.Errorf("rank %d drawn %.0f times, want %.0f ± 3%%", k+1, got, want)
				}
			}
			t.Logf("chi-square %.1f, %d degrees of freedom; rank 1: %d of %d", stat, dof, counts[0], draws)
		})
	}
}

// TestUniformKeys checks the uniform distribution the same way.
func TestUniformKeys(t *testing.T) {
	const n, draws = 500, 200_000
	pl := plan{seed: 99, keys: newKeys(Uniform, n, 0), size: Size{1, 1}}
	counts := make([]int64, n)
	p := make([]float64, n)
	for k := range p {
		p[k] = 1.0 / n
	}
	for i := range int64(draws) {
		counts[pl.at(i).key]++
	}
	stat, dof := chiSquare(counts, p, draws)
	if bound := chiSquareBound(dof); stat > bound {
		t.Errorf("chi-square %.1f with %d degrees of freedom, want at most %.1f", stat, dof, bound)
	}
}

// TestPlanDeterministic: request i depends on the seed and i alone; other
// seeds give other sequences; the mix of kinds follows the percentages.
func TestPlanDeterministic(t *testing.T) {
	mk := func(seed uint64) plan {
		return plan{seed: seed, keys: newKeys(Zipf, 1000, 0.9), size: Size{100, 100_000}, purge: 0.1, cond: 0.2}
	}
	a, b, c := mk(7), mk(7), mk(8)
	same, kinds := 0, [3]int{}
	const n = 10_000
	for i := range int64(n) {
		ra, rb, rc := a.at(i), b.at(i), c.at(i)
		if ra != rb {
			t.Fatalf("seed 7, request %d: %+v, then %+v", i, ra, rb)
		}
		if ra == rc {
			same++
		}
		kinds[ra.kind]++
	}
	// Zipf makes equal keys common; all three fields equal by chance is not.
	if same > n/4 {
		t.Errorf("seeds 7 and 8 agree on %d of %d requests", same, n)
	}
	for k, want := range [3]float64{0.7, 0.2, 0.1} {
		if got := float64(kinds[k]) / n; math.Abs(got-want) > 0.02 {
			t.Errorf("kind %d: %.3f of requests, want %.2f", k, got, want)
		}
	}
}

func TestStreamUint64n(t *testing.T) {
	r := newStream(1, 2)
	for _, n := range []uint64{1, 2, 3, 1000, 1<<63 + 5} {
		for range 1000 {
			if v := r.uint64n(n); v >= n {
				t.Fatalf("uint64n(%d) = %d", n, v)
			}
		}
	}
}

func TestParseKeyDist(t *testing.T) {
	for _, s := range []string{"single", "uniform", "zipf"} {
		if d, err := ParseKeyDist(s); err != nil || string(d) != s {
			t.Errorf("ParseKeyDist(%q) = %q, %v", s, d, err)
		}
	}
	if _, err := ParseKeyDist("Zipf"); err == nil {
		t.Error(`ParseKeyDist("Zipf") succeeded; names are lower case`)
	}
}

// TestZipfChiSquareHasPower: the test above would notice an exponent off
// by 0.03, so passing it means something.
func TestZipfChiSquareHasPower(t *testing.T) {
	const n, draws = 1000, 400_000
	pl := plan{seed: 12345, keys: newKeys(Zipf, n, 1), size: Size{1, 1}}
	counts := make([]int64, n)
	for i := range int64(draws) {
		counts[pl.at(i).key]++
	}
	p := make([]float64, n)
	var h float64
	for k := range p {
		p[k] = math.Pow(float64(k+1), -0.97)
		h += p[k]
	}
	for k := range p {
		p[k] /= h
	}
	if stat, dof := chiSquare(counts, p, draws); stat <= chiSquareBound(dof) {
		t.Errorf("s=1 samples pass as s=0.97: chi-square %.1f, bound %.1f", stat, chiSquareBound(dof))
	}
}
