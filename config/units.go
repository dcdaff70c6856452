package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Duration is a non-negative time span, written in TOML as a string that
// time.ParseDuration accepts: "30s", "1m30s", "250ms". Zero usually means
// "off"; each field says what it means for it.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats d as time.Duration does, e.g. "1m30s".
func (d Duration) String() string { return time.Duration(d).String() }

// parseDuration parses a config duration: time.ParseDuration, minus the
// negative values no setting has a meaning for.
func parseDuration(s string) (Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q: %w", s, err)
	}
	if d < 0 {
		return 0, fmt.Errorf("invalid duration %q: negative", s)
	}
	return Duration(d), nil
}

// Size is a number of bytes, written in TOML as an integer (bytes) or as a
// string with an optional unit: "1024", "512KB", "256MiB". See ParseSize.
type Size int64

// sizeUnits are the accepted unit suffixes, matched case-insensitively:
// decimal (KB = 1000) and binary (KiB = 1024) multiples.
var sizeUnits = [...]struct {
	name string
	mult int64
}{
	{"b", 1},
	{"kb", 1000}, {"mb", 1000 * 1000}, {"gb", 1000 * 1000 * 1000}, {"tb", 1000 * 1000 * 1000 * 1000},
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
}

// ParseSize parses a byte count: decimal digits, optionally followed (after
// optional spaces) by one of the units B, KB, MB, GB, TB (powers of 1000) or
// KiB, MiB, GiB, TiB (powers of 1024), case-insensitive. "256MiB" is
// 268435456, "512KB" is 512000 and "1024" is 1024 bytes. Signs, fractions,
// unknown units and values beyond int64 are errors.
func ParseSize(s string) (Size, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	if i == 0 {
		if strings.HasPrefix(t, "-") {
			return 0, fmt.Errorf("invalid size %q: negative", s)
		}
		return 0, fmt.Errorf("invalid size %q: want digits and an optional unit such as 256MiB", s)
	}
	n, err := strconv.ParseInt(t[:i], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid size %q: too large", s)
	}
	unit := strings.TrimLeft(t[i:], " ")
	mult := int64(0)
	if unit == "" {
		mult = 1
	}
	for _, u := range sizeUnits {
		if strings.EqualFold(unit, u.name) {
			mult = u.mult
		}
	}
	if mult == 0 {
		return 0, fmt.Errorf("invalid size %q: unknown unit %q (want B, KB, MB, GB, KiB, MiB or GiB)", s, unit)
	}
	if n > math.MaxInt64/mult {
		return 0, fmt.Errorf("invalid size %q: too large", s)
	}
	return Size(n * mult), nil
}

// sizeFromInteger converts the text of a TOML integer (bytes): decimal with
// underscores, or 0x/0o/0b prefixed.
func sizeFromInteger(s string) (Size, error) {
	n, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 0, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid size %s: %w", s, errors.Unwrap(err))
	}
	if n < 0 {
		return 0, fmt.Errorf("invalid size %s: negative", s)
	}
	return Size(n), nil
}

// String formats s in the largest binary unit that divides it exactly,
// e.g. "256MiB", "1536B"; ParseSize(s.String()) == s for s >= 0.
func (s Size) String() string {
	for _, u := range [...]struct {
		name string
		mult int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if s != 0 && int64(s)%u.mult == 0 {
			return strconv.FormatInt(int64(s)/u.mult, 10) + u.name
		}
	}
	return strconv.FormatInt(int64(s), 10) + "B"
}
