package main

import "testing"

// TestSubsetPlanKeepsLargestPrefixUnderK: the subset keeps the first
// packages in plan order whose closure holds at most k paths, and drops
// layers left empty.
func TestSubsetPlanKeepsLargestPrefixUnderK(t *testing.T) {
	g := pathGraph{
		"/a": nil, "/b": {"/a"}, "/c": {"/a", "/b"}, "/d": nil, "/e": {"/d"},
	}
	layers := []planLayer{{Name: "one", Deps: []string{"/b", "/c"}}, {Name: "two", Deps: []string{"/e"}}}
	for _, tc := range []struct {
		k, paths, layers int
	}{{1, 2, 1}, {2, 2, 1}, {3, 3, 1}, {4, 3, 1}, {5, 5, 2}, {99, 5, 2}} {
		got, n := subsetPlan(layers, g, tc.k)
		if n != tc.paths || len(got) != tc.layers {
			t.Errorf("k=%d: %d paths in %d layers, want %d in %d", tc.k, n, len(got), tc.paths, tc.layers)
		}
	}
	if len(layers[0].Deps) != 2 {
		t.Errorf("subsetPlan changed its input: %v", layers[0].Deps)
	}
}
