package plan

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestSyntaxErrorLines checks that YAML syntax errors point at the line
// where the broken construct is (yaml.v3 reports some 0-based).
func TestSyntaxErrorLines(t *testing.T) {
	tests := []struct {
		name, in string
		line     int
	}{
		{"unclosed flow seq", "version: 1\nlayers:\n  - name: a\n    deps: [x\n", 4},
		// the problem is found at the end of input, line 2
		{"unclosed flow seq on line 1", "layers: [x\n", 2},
		{"mapping value in plain scalar line 1", "a: b: c\n", 1},
		{"mapping value in plain scalar line 3", "version: 1\nx: 2\na: b: c\n", 3},
		// reported at the start of the sequence the bad line breaks
		{"bad indentation", "version: 1\nlayers:\n  - name: a\n   deps: []\n", 3},
		{"tab indentation", "version: 1\nlayers:\n\t- name: a\n", 3},
		{"unclosed quote", "version: 1\nname: \"abc\n", 2},
		{"control character", "version: 1\x01\n", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("p.yaml", []byte(tt.in))
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("got %v, want *Error", err)
			}
			if pe.Line != tt.line {
				t.Errorf("line %d, want %d (%v)", pe.Line, tt.line, err)
			}
		})
	}
}

// TestAliasBomb checks that a plan whose aliases expand to billions of
// nodes is rejected instead of being walked.
func TestAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("version: 1\nd0: &d0 [nixpkgs#a, nixpkgs#a, nixpkgs#a, nixpkgs#a, nixpkgs#a, nixpkgs#a, nixpkgs#a, nixpkgs#a]\n")
	for i := 1; i < 12; i++ {
		fmt.Fprintf(&b, "d%d: &d%d [*d%d, *d%d, *d%d, *d%d, *d%d, *d%d, *d%d, *d%d]\n", i, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	b.WriteString("layers: [{name: a, deps: *d11}]\n")
	_, err := Parse("p.yaml", []byte(b.String()))
	var pe *Error
	if !errors.As(err, &pe) || !strings.Contains(pe.Msg, "too many aliases") {
		t.Fatalf("got %v, want alias expansion error", err)
	}
}
