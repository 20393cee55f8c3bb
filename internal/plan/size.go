package plan

import (
	"fmt"
	"math/big"
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

// ParseSize parses a byte size: a plain integer number of bytes ("123"), or
// a number with a unit, decimal ("10GB", "1.5G", "500MB", "1K") or binary
// ("512MiB", "2GiB"). Units are case-insensitive; a space may separate
// number and unit. Fractions are allowed when the result is a whole number
// of bytes. Negative, empty, overflowing or malformed sizes are errors.
func ParseSize(s string) (int64, error) {
	in := strings.TrimSpace(s)
	if in == "" {
		return 0, fmt.Errorf("invalid size %q: empty", s)
	}
	if len(in) > 64 {
		return 0, fmt.Errorf("invalid size %.20q…: too long", s)
	}
	if in[0] == '-' {
		return 0, fmt.Errorf("invalid size %q: must not be negative", s)
	}
	// split number and unit
	i := 0
	for i < len(in) && (in[i] >= '0' && in[i] <= '9' || in[i] == '.' || in[i] == '_') {
		i++
	}
	num, unit := in[:i], strings.ToLower(strings.TrimSpace(in[i:]))
	mult, ok := sizeUnits[unit]
	if !ok {
		return 0, fmt.Errorf("invalid size %q: unknown unit %q (use B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)", s, in[i:])
	}
	num = strings.ReplaceAll(num, "_", "")
	intPart, frac, hasDot := strings.Cut(num, ".")
	if intPart == "" && frac == "" || !allDigits(intPart) || !allDigits(frac) || hasDot && frac == "" {
		return 0, fmt.Errorf("invalid size %q: expected a number like 10GB, 512MiB, 1.5G or 123", s)
	}
	if intPart == "" {
		intPart = "0"
	}
	r, ok := new(big.Rat).SetString(intPart + "." + frac + "0")
	if !ok {
		return 0, fmt.Errorf("invalid size %q: bad number", s)
	}
	r.Mul(r, new(big.Rat).SetInt64(mult))
	if !r.IsInt() {
		return 0, fmt.Errorf("invalid size %q: not a whole number of bytes", s)
	}
	n := r.Num()
	if !n.IsInt64() {
		return 0, fmt.Errorf("invalid size %q: too large", s)
	}
	return n.Int64(), nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
