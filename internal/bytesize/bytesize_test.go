package bytesize

import (
	"sort"
	"strconv"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		err  string
	}{
		{in: "123", want: 123},
		{in: "0", want: 0},
		{in: "10GB", want: 10_000_000_000},
		{in: "10gb", want: 10_000_000_000},
		{in: "10 GB", want: 10_000_000_000},
		{in: "512MiB", want: 512 << 20},
		{in: "1.5G", want: 1_500_000_000},
		{in: "1.5KiB", want: 1536},
		{in: ".5K", want: 500},
		{in: "2TiB", want: 2 << 40},
		{in: "3TB", want: 3e12},
		{in: "7KB", want: 7000},
		{in: "100B", want: 100},
		{in: "10_000_000_000", want: 10_000_000_000},
		{in: "9223372036854775807", want: 9223372036854775807},
		{in: "", err: "empty"},
		{in: "  ", err: "empty"},
		{in: "-1", err: "negative"},
		{in: "-5MB", err: "negative"},
		{in: "9223372036854775808", err: "too large"},
		{in: "10000000PB", err: "too large"},
		{in: "1.5", err: "whole number of bytes"},
		{in: "1.0000001KB", err: "whole number of bytes"},
		{in: "10XB", err: "unknown unit"},
		{in: "GB", err: "expected a number"},
		{in: "1.", err: "expected a number"},
		{in: "1.2.3", err: "expected a number"},
		{in: ".", err: "expected a number"},
		{in: "+5", err: "unknown unit"},
		{in: "1e9", err: "unknown unit"},
		{in: "0x10", err: "unknown unit"},
		{in: strings.Repeat("9", 100), err: "too large"},
		{in: strings.Repeat("0", 100) + "5KB", want: 5000},
		{in: "1." + strings.Repeat("0", 100) + "KB", want: 1000},
		{in: "1." + strings.Repeat("1", 30) + "KB", err: "not a whole number"},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("Parse(%q) = %d, %v; want error containing %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Parse(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}

func TestFormat(t *testing.T) {
	cases := map[int64]string{
		0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB",
		1<<20 - 1: "1.0 MiB", 5 << 30: "5.0 GiB", -2048: "-2.0 KiB",
		10_000_000_000: "9.3 GiB",
	}
	keys := make([]int64, 0, len(cases))
	for k := range cases {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	for _, n := range keys {
		if got := Format(n); got != cases[n] {
			t.Errorf("Format(%d) = %q, want %q", n, got, cases[n])
		}
	}
	if FormatSigned(0) != "±0" || FormatSigned(2048) != "+2.0 KiB" || FormatSigned(-1) != "-1 B" {
		t.Errorf("FormatSigned: %q %q %q", FormatSigned(0), FormatSigned(2048), FormatSigned(-1))
	}
	if got := FormatExact(10_000_000_000); got != "9.3 GiB (10000000000 bytes)" {
		t.Errorf("FormatExact = %q", got)
	}
	if got := FormatExact(12); got != "12 B" {
		t.Errorf("FormatExact(12) = %q", got)
	}
}

// FuzzParse: Parse never panics, never returns a negative size,
// and accepts every plain non-negative int64 it is given.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"123", "10GB", "512MiB", "1.5G", "-1", "", "1.", "9223372036854775807", "5 gib", "1_0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := Parse(s)
		if v, perr := strconv.ParseInt(s, 10, 64); perr == nil && v >= 0 && s[0] != '+' && s[0] != '-' {
			if err != nil || n != v {
				t.Fatalf("Parse(%q) = %d, %v; want %d", s, n, err, v)
			}
		}
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		if n < 0 {
			t.Fatalf("Parse(%q) = %d < 0", s, n)
		}
	})
}
