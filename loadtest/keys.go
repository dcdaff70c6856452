package loadtest

import (
	"fmt"
	"math"
	"math/bits"
)

// KeyDist names how requests choose among the objects.
type KeyDist string

// The key distributions.
const (
	// Single sends every request for one object (key 0): a hot hit.
	Single KeyDist = "single"
	// Uniform picks each of Objects objects with equal probability.
	Uniform KeyDist = "uniform"
	// Zipf picks the object of popularity rank k (1 = most popular, key
	// k-1) with probability proportional to 1/k^ZipfS.
	Zipf KeyDist = "zipf"
)

// ParseKeyDist parses "single", "uniform" or "zipf".
func ParseKeyDist(s string) (KeyDist, error) {
	switch d := KeyDist(s); d {
	case Single, Uniform, Zipf:
		return d, nil
	}
	return "", fmt.Errorf("invalid key distribution %q: want single, uniform or zipf", s)
}

// stream is a splitmix64 generator: the random numbers one request draws.
// Request i of a run with seed s draws from newStream(s, i), so what it
// asks for depends on s and i alone, whatever the concurrency, the mode or
// the timing: the same seed gives the same sequence of requests.
type stream struct{ state uint64 }

const golden = 0x9e3779b97f4a7c15

func newStream(seed, i uint64) stream {
	return stream{state: mix64(seed) ^ mix64(i*0xd1b54a32d192ed03+golden)}
}

// mix64 is splitmix64's output function: a bijection that scatters bits.
func mix64(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

func (r *stream) next() uint64 {
	r.state += golden
	return mix64(r.state)
}

// float64 returns a uniform value in [0, 1).
func (r *stream) float64() float64 {
	return float64(r.next()>>11) * 0x1p-53
}

// uint64n returns a uniform value in [0, n), n > 0, without bias (Lemire's
// multiply-and-reject; the rejection loop almost never runs twice).
func (r *stream) uint64n(n uint64) uint64 {
	hi, lo := bits.Mul64(r.next(), n)
	if lo < n {
		thresh := -n % n
		for range 64 {
			if lo >= thresh {
				break
			}
			hi, lo = bits.Mul64(r.next(), n)
		}
	}
	return hi
}

// keys draws object keys in [0, objects) from a stream. Read-only after
// newKeys: shared by every worker.
type keys struct {
	dist    KeyDist
	objects uint64
	zipf    zipfSampler
}

func newKeys(d KeyDist, objects int64, s float64) keys {
	k := keys{dist: d, objects: uint64(objects)}
	if d == Zipf {
		k.zipf = newZipfSampler(objects, s)
	}
	return k
}

// next returns the key of the next object to request.
func (k *keys) next(r *stream) int64 {
	switch k.dist {
	case Uniform:
		return int64(r.uint64n(k.objects))
	case Zipf:
		return k.zipf.sample(r) - 1
	}
	return 0
}

// zipfSampler draws ranks 1..n with P(k) proportional to k^-s for any
// s > 0, by rejection-inversion (W. Hörmann and G. Derflinger, "Rejection-
// inversion to generate variates from monotone discrete distributions",
// ACM TOMACS 6(3), 1996), as Apache Commons RNG's
// RejectionInversionZipfSampler does. math/rand/v2's Zipf needs s > 1,
// and real cache workloads sit around s = 0.6-1.0. It takes O(1) time and
// no table, so n can be large; on average well under 1.1 tries per
// sample. Read-only after newZipfSampler.
type zipfSampler struct {
	n, s       float64
	hIntegralX float64 // hIntegral(1.5) - 1
	hIntegralN float64 // hIntegral(n + 0.5)
	cut        float64 // a k with k - x <= cut is accepted at once
}

func newZipfSampler(n int64, s float64) zipfSampler {
	z := zipfSampler{n: float64(n), s: s}
	z.hIntegralX = z.hIntegral(1.5) - 1
	z.hIntegralN = z.hIntegral(z.n + 0.5)
	z.cut = 2 - z.hIntegralInverse(z.hIntegral(2.5)-z.h(2))
	return z
}

// maxZipfTries bounds the rejection loop; the chance of needing more than
// a few tries is negligible, and the last candidate is returned anyway.
const maxZipfTries = 64

// sample returns a rank in [1, n].
func (z *zipfSampler) sample(r *stream) int64 {
	var k float64
	for range maxZipfTries {
		// u is uniform in (hIntegralX, hIntegralN].
		u := z.hIntegralN + r.float64()*(z.hIntegralX-z.hIntegralN)
		x := z.hIntegralInverse(u)
		k = math.Floor(x + 0.5)
		k = min(max(k, 1), z.n)
		if k-x <= z.cut || u >= z.hIntegral(k+0.5)-z.h(k) {
			break
		}
	}
	return int64(k)
}

// h is the unnormalised density x^-s.
func (z *zipfSampler) h(x float64) float64 { return math.Exp(-z.s * math.Log(x)) }

// hIntegral is an antiderivative of h: (x^(1-s) - 1) / (1-s), log x at s = 1.
func (z *zipfSampler) hIntegral(x float64) float64 {
	lx := math.Log(x)
	return helper2((1-z.s)*lx) * lx
}

// hIntegralInverse inverts hIntegral.
func (z *zipfSampler) hIntegralInverse(x float64) float64 {
	t := max(x*(1-z.s), -1) // t < -1 only by rounding
	return math.Exp(helper1(t) * x)
}

// helper1 is log1p(x)/x, continuous at 0.
func helper1(x float64) float64 {
	if math.Abs(x) > 1e-8 {
		return math.Log1p(x) / x
	}
	return 1 - x*(0.5-x*(1.0/3-0.25*x))
}

// helper2 is expm1(x)/x, continuous at 0.
func helper2(x float64) float64 {
	if math.Abs(x) > 1e-8 {
		return math.Expm1(x) / x
	}
	return 1 + x*0.5*(1+x*(1.0/3)*(1+0.25*x))
}
