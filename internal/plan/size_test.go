package plan

import (
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
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
		got, err := ParseSize(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseSize(%q) = %d, %v; want error containing %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}
