// Package bytesize parses and formats byte sizes: the one place that knows
// size units. Sizes are written by users in decimal or binary units
// ("10GB", "512MiB"); they are shown in binary units ("1.5 GiB").
package bytesize

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

// sizeUnits maps lower-cased unit suffixes to their byte multiplier.
// K/M/G/T/P without "i" are decimal (10^3 steps); KiB… are binary.
var sizeUnits = map[string]int64{
	"":    1,
	"b":   1,
	"k":   1e3,
	"kb":  1e3,
	"m":   1e6,
	"mb":  1e6,
	"g":   1e9,
	"gb":  1e9,
	"t":   1e12,
	"tb":  1e12,
	"p":   1e15,
	"pb":  1e15,
	"ki":  1 << 10,
	"kib": 1 << 10,
	"mi":  1 << 20,
	"mib": 1 << 20,
	"gi":  1 << 30,
	"gib": 1 << 30,
	"ti":  1 << 40,
	"tib": 1 << 40,
	"pi":  1 << 50,
	"pib": 1 << 50,
}

// Parse parses a byte size: a plain integer number of bytes ("123"), or
// a number with a unit, decimal ("10GB", "1.5G", "500MB", "1K") or binary
// ("512MiB", "2GiB"). Units are case-insensitive; a space may separate
// number and unit. Fractions are allowed when the result is a whole number
// of bytes. Negative, empty, overflowing or malformed sizes are errors.
func Parse(s string) (int64, error) {
	q := quoteShort(s)
	in := strings.TrimSpace(s)
	if in == "" {
		return 0, fmt.Errorf("invalid size %s: empty", q)
	}
	if in[0] == '-' {
		return 0, fmt.Errorf("invalid size %s: must not be negative", q)
	}
	// split number and unit
	i := 0
	for i < len(in) && (in[i] >= '0' && in[i] <= '9' || in[i] == '.' || in[i] == '_') {
		i++
	}
	num, unit := in[:i], strings.ToLower(strings.TrimSpace(in[i:]))
	mult, ok := sizeUnits[unit]
	if !ok {
		return 0, fmt.Errorf("invalid size %s: unknown unit %s (use B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)", q, quoteShort(in[i:]))
	}
	num = strings.ReplaceAll(num, "_", "")
	intPart, frac, hasDot := strings.Cut(num, ".")
	if intPart == "" && frac == "" || !allDigits(intPart) || !allDigits(frac) || hasDot && frac == "" {
		return 0, fmt.Errorf("invalid size %s: expected a number like 10GB, 512MiB, 1.5G or 123", q)
	}
	// Bound the work: leading/trailing zeros do not count, more than 19
	// integer digits overflow int64, and no unit (at most 10^15 or 2^50)
	// makes more than 15 significant decimals whole.
	intPart = strings.TrimLeft(intPart, "0")
	frac = strings.TrimRight(frac, "0")
	if len(intPart) > 20 {
		return 0, fmt.Errorf("invalid size %s: too large", q)
	}
	if len(frac) > 20 {
		return 0, fmt.Errorf("invalid size %s: not a whole number of bytes", q)
	}
	r, ok := new(big.Rat).SetString("0" + intPart + "." + frac + "0")
	if !ok {
		return 0, fmt.Errorf("invalid size %s: bad number", q)
	}
	r.Mul(r, new(big.Rat).SetInt64(mult))
	if !r.IsInt() {
		return 0, fmt.Errorf("invalid size %s: not a whole number of bytes", q)
	}
	n := r.Num()
	if !n.IsInt64() {
		return 0, fmt.Errorf("invalid size %s: too large", q)
	}
	return n.Int64(), nil
}

// quoteShort quotes s for an error message, cut to 40 bytes.
func quoteShort(s string) string {
	if len(s) > 40 {
		return strconv.Quote(s[:40]) + "…"
	}
	return strconv.Quote(s)
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Format formats n bytes with binary units: "512 B", "1.5 KiB", "3.2 GiB".
func Format(n int64) string {
	neg := n < 0
	if neg {
		n = -n
	}
	s := formatAbs(n)
	if neg {
		return "-" + s
	}
	return s
}

func formatAbs(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	units := []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	v := float64(n) / unit
	i := 0
	for v >= unit && i < len(units)-1 {
		v /= unit
		i++
	}
	// Avoid "1024.0 KiB" from rounding.
	if fmt.Sprintf("%.1f", v) == "1024.0" && i < len(units)-1 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.1f %s", v, units[i])
}

// FormatSigned formats a size delta: "+1.5 MiB", "-12 B", "±0".
func FormatSigned(n int64) string {
	switch {
	case n > 0:
		return "+" + Format(n)
	case n < 0:
		return Format(n)
	default:
		return "±0"
	}
}

// FormatExact is Format followed by the exact count, for messages about
// limits: "9.3 GiB (10000000000 bytes)".
func FormatExact(n int64) string {
	if n < 1024 && n > -1024 {
		return Format(n)
	}
	return fmt.Sprintf("%s (%d bytes)", Format(n), n)
}
