package loadtest

import (
	"math"
	"slices"
	"testing"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want Size
		ok   bool
	}{
		{"1024", Size{1024, 1024}, true},
		{"1KiB", Size{1024, 1024}, true},
		{"64KB", Size{64000, 64000}, true},
		{"0", Size{0, 0}, true},
		{"1KiB-64KiB", Size{1024, 65536}, true},
		{" 1KiB - 2KiB ", Size{1024, 2048}, true},
		{"1GiB", Size{MaxSize, MaxSize}, true},
		{"2GiB", Size{}, false},       // beyond the demo origin
		{"64KiB-1KiB", Size{}, false}, // reversed
		{"-1", Size{}, false},         // negative
		{"1KiB-", Size{}, false},      // open range
		{"1KiB-2KiB-3KiB", Size{}, false},
		{"1.5KiB", Size{}, false},
		{"", Size{}, false},
	}
	for _, tt := range tests {
		got, err := ParseSize(tt.in)
		if (err == nil) != tt.ok || (tt.ok && got != tt.want) {
			t.Errorf("ParseSize(%q) = %+v, %v; want %+v, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

// TestSizeOf: a fixed size is every object's; a range gives each key one
// size within it, log-uniform, so the median is near the geometric mean.
func TestSizeOf(t *testing.T) {
	if n := (Size{1024, 1024}).of(7); n != 1024 {
		t.Errorf("fixed size of key 7 = %d, want 1024", n)
	}
	s := Size{1024, 1 << 20}
	sizes := make([]int64, 10_000)
	for k := range sizes {
		sizes[k] = s.of(int64(k))
		if sizes[k] < s.Min || sizes[k] > s.Max {
			t.Fatalf("size of key %d = %d, outside %v", k, sizes[k], s)
		}
		if again := s.of(int64(k)); again != sizes[k] {
			t.Fatalf("size of key %d = %d, then %d", k, sizes[k], again)
		}
	}
	slices.Sort(sizes)
	median, geo := float64(sizes[len(sizes)/2]), math.Sqrt(1024*(1<<20))
	if median < geo*0.9 || median > geo*1.1 {
		t.Errorf("median size %.0f, want about %.0f (log-uniform)", median, geo)
	}
}

func FuzzParseSize(f *testing.F) {
	f.Add("1KiB")         // fixed, binary unit
	f.Add("1KiB-64KiB")   // range
	f.Add("0-1GiB")       // the widest range
	f.Add("10 MB - 1GiB") // decimal unit and spaces
	f.Fuzz(func(t *testing.T, in string) {
		s, err := ParseSize(in)
		if err != nil {
			return
		}
		if s.Min < 0 || s.Min > s.Max || s.Max > MaxSize {
			t.Fatalf("ParseSize(%q) = %+v: out of bounds", in, s)
		}
		again, err := ParseSize(s.String())
		if err != nil || again != s {
			t.Fatalf("round trip of %q through %q: %+v, %v", in, s.String(), again, err)
		}
		for k := range int64(16) {
			if n := s.of(k); n < s.Min || n > s.Max {
				t.Fatalf("%v: size of key %d = %d", s, k, n)
			}
		}
	})
}
