package layering

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParseShard(t *testing.T) {
	for in, want := range map[string]Shard{"": {}, "1/1": {1, 1}, "1/4": {1, 4}, "4/4": {4, 4}, "256/256": {256, 256}} {
		got, err := ParseShard(in)
		if err != nil || got != want {
			t.Errorf("ParseShard(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for in, why := range map[string]string{
		"0/2": "I must be from 1 to N", "3/2": "I must be from 1 to N", "a/b": "I (\"a\") is not a number",
		"1/b": "N (\"b\") is not a number", "2": "no /", "1/0": "N must be from 1", "1/257": "N must be from 1 to 256",
		"-1/2": "I must be", " 1/2": "not a number",
	} {
		_, err := ParseShard(in)
		var se *ShardError
		if !errors.As(err, &se) || !strings.Contains(err.Error(), why) || !strings.Contains(err.Error(), "1/4") {
			t.Errorf("ParseShard(%q) = %v; want a ShardError saying %q and showing the form", in, err, why)
		}
	}
}

func TestAssignShards(t *testing.T) {
	// Largest first, each to the least-loaded shard: 10→1, 8→2, 5→3,
	// 4→3 (loads 10 8 5), 3→2 (10 8 9), 1→3 (10 11 9).
	sizes := []int64{4, 10, -1, 5, 8, 3, 1}
	got := AssignShards(sizes, 3)
	want := []int{3, 1, 0, 3, 2, 2, 3}
	if !slices.Equal(got, want) {
		t.Errorf("AssignShards(%v, 3) = %v, want %v", sizes, got, want)
	}
	// Equal sizes: plan order decides, shards filled in turn.
	if got := AssignShards([]int64{7, 7, 7, 7, 7}, 2); !slices.Equal(got, []int{1, 2, 1, 2, 1}) {
		t.Errorf("equal sizes: %v", got)
	}
	// More shards than layers: the extra shards get nothing.
	if got := AssignShards([]int64{1, 2}, 4); !slices.Equal(got, []int{2, 1}) {
		t.Errorf("2 layers over 4 shards: %v", got)
	}
	// One shard: everything.
	if got := AssignShards([]int64{1, 2, -1}, 1); !slices.Equal(got, []int{1, 1, 0}) {
		t.Errorf("one shard: %v", got)
	}
}

// Every non-empty layer goes to exactly one shard, the loads differ by at
// most the largest layer, and the same input gives the same answer.
func TestAssignShardsBalanced(t *testing.T) {
	sizes := make([]int64, 200)
	for i := range sizes {
		sizes[i] = int64((i*7919)%1000 + 1)
	}
	for n := 1; n <= 8; n++ {
		got := AssignShards(sizes, n)
		if !slices.Equal(got, AssignShards(sizes, n)) {
			t.Fatalf("n=%d: not deterministic", n)
		}
		load := make([]int64, n)
		for i, s := range got {
			if s < 1 || s > n {
				t.Fatalf("n=%d: layer %d in shard %d", n, i, s)
			}
			load[s-1] += sizes[i]
		}
		if d := slices.Max(load) - slices.Min(load); d > slices.Max(sizes) {
			t.Errorf("n=%d: loads %v differ by %d, more than the largest layer", n, load, d)
		}
	}
}
