package closure_test

import (
	"os"
	"slices"
	"testing"
)

func contains(list []string, s string) bool { return slices.Contains(list, s) }

func sorted(s ...string) []string { slices.Sort(s); return s }

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
