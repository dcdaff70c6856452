package config

import (
	"strings"
	"testing"
	"time"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		name, in string
		want     Size
		err      string // substring of the error; "" = valid
	}{
		{"bytes", "1024", 1024, ""},
		{"zero", "0", 0, ""},
		{"B unit", "10B", 10, ""},
		{"KiB", "64KiB", 64 << 10, ""},
		{"MiB", "256MiB", 256 << 20, ""},
		{"GiB", "1GiB", 1 << 30, ""},
		{"TiB", "2TiB", 2 << 40, ""},
		{"KB is decimal", "512KB", 512000, ""},
		{"MB is decimal", "3MB", 3000000, ""},
		{"GB is decimal", "1GB", 1000000000, ""},
		{"unit case-insensitive", "256mib", 256 << 20, ""},
		{"upper case unit", "1GIB", 1 << 30, ""},
		{"space before unit", "16 MiB", 16 << 20, ""},
		{"surrounding space", " 8KiB ", 8 << 10, ""},
		{"max int64", "9223372036854775807", 1<<63 - 1, ""},
		{"empty", "", 0, "want digits"},
		{"unit only", "MiB", 0, "want digits"},
		{"negative", "-5MiB", 0, "negative"},
		{"plus sign", "+5", 0, "want digits"},
		{"fraction", "1.5GiB", 0, "unknown unit"},
		{"unknown unit", "12 parsecs", 0, "unknown unit"},
		{"bare K", "64K", 0, "unknown unit"},
		{"overflow digits", "99999999999999999999", 0, "too large"},
		{"overflow by unit", "9000000000GiB", 0, "too large"},
		{"two numbers", "1 2", 0, "unknown unit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSize(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("ParseSize(%q) = %d, %v; want error containing %q", tt.in, got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestSizeString(t *testing.T) {
	tests := []struct {
		name string
		in   Size
		want string
	}{
		{"zero", 0, "0B"},
		{"bytes", 1000, "1000B"},
		{"KiB", 1536 << 10, "1536KiB"},
		{"MiB", 256 << 20, "256MiB"},
		{"GiB", 1 << 30, "1GiB"},
		{"TiB", 3 << 40, "3TiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.in.String(); got != tt.want {
				t.Errorf("Size(%d).String() = %q, want %q", int64(tt.in), got, tt.want)
			}
		})
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		name, in string
		want     time.Duration
		err      string
	}{
		{"seconds", "30s", 30 * time.Second, ""},
		{"compound", "1m30s", 90 * time.Second, ""},
		{"millis", "250ms", 250 * time.Millisecond, ""},
		{"zero", "0s", 0, ""},
		{"bare zero", "0", 0, ""},
		{"negative", "-1s", 0, "negative"},
		{"no unit", "10", 0, "missing unit"},
		{"space", "5 s", 0, "invalid duration"},
		{"empty", "", 0, "invalid duration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseDuration(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("parseDuration(%q) = %v, %v; want error containing %q", tt.in, got, err, tt.err)
				}
				return
			}
			if err != nil || got.D() != tt.want {
				t.Fatalf("parseDuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func FuzzParseSize(f *testing.F) {
	f.Add("256MiB")              // binary unit
	f.Add("512KB")               // decimal unit
	f.Add("1024")                // plain bytes
	f.Add("16 mib")              // space, lower case
	f.Add("-1")                  // negative
	f.Add("9223372036854775807") // max int64
	f.Add("9223372036854775808") // one past it
	f.Add("9007199254740993TiB") // overflow through the unit
	f.Add("1.5GiB")              // fraction
	f.Add("")                    // empty
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSize(s)
		if err != nil {
			return
		}
		if n < 0 {
			t.Fatalf("ParseSize(%q) = %d, negative", s, n)
		}
		if again, err := ParseSize(n.String()); err != nil || again != n {
			t.Fatalf("ParseSize(%q) = %d; round trip through %q gave %d, %v", s, n, n.String(), again, err)
		}
	})
}
