package layering

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Shard is part I of a build split over N jobs (1 ≤ I ≤ N). The zero
// value (and 1/1) is the whole build.
type Shard struct {
	Index, Count int
}

// Split reports whether s is a real part of a split build (N > 1).
func (s Shard) Split() bool { return s.Count > 1 }

// String is "I/N".
func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.Index, s.Count) }

// ShardError is a shard spelt wrongly.
type ShardError struct {
	Value string
	Why   string
}

func (e *ShardError) Error() string {
	return fmt.Sprintf("%q is not a shard: %s (want I/N with 1 ≤ I ≤ N, e.g. 1/4)", e.Value, e.Why)
}

// MaxShards bounds N: a GitHub job matrix has at most 256 jobs.
const MaxShards = 256

// ParseShard reads "I/N" (1-based: "1/4" … "4/4"); "" is the whole build.
func ParseShard(s string) (Shard, error) {
	if s == "" {
		return Shard{}, nil
	}
	is, ns, ok := strings.Cut(s, "/")
	if !ok {
		return Shard{}, &ShardError{Value: s, Why: "no /"}
	}
	i, err := strconv.Atoi(is)
	if err != nil {
		return Shard{}, &ShardError{Value: s, Why: fmt.Sprintf("I (%q) is not a number", is)}
	}
	n, err := strconv.Atoi(ns)
	if err != nil {
		return Shard{}, &ShardError{Value: s, Why: fmt.Sprintf("N (%q) is not a number", ns)}
	}
	switch {
	case n < 1 || n > MaxShards:
		return Shard{}, &ShardError{Value: s, Why: fmt.Sprintf("N must be from 1 to %d", MaxShards)}
	case i < 1 || i > n:
		return Shard{}, &ShardError{Value: s, Why: fmt.Sprintf("I must be from 1 to N (%d); shards count from 1", n)}
	}
	return Shard{Index: i, Count: n}, nil
}

// AssignShards spreads layers of the given sizes over n shards, balanced
// by size: largest first (the lower index first among equals), each to the
// shard holding the fewest bytes so far (the lowest-numbered among equals).
// It returns each layer's shard, 1-based; a negative size (an empty layer)
// gets 0, no shard. The result depends only on sizes and n, so every job of
// a matrix computes the same assignment from the same plan without talking
// to the others.
func AssignShards(sizes []int64, n int) []int {
	out := make([]int, len(sizes))
	if n < 1 {
		return out
	}
	order := make([]int, 0, len(sizes))
	for i, s := range sizes {
		if s >= 0 {
			order = append(order, i)
		}
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(sizes[b], sizes[a]) })
	load := make([]int64, n)
	for _, i := range order {
		least := 0
		for s := 1; s < n; s++ {
			if load[s] < load[least] {
				least = s
			}
		}
		load[least] += sizes[i]
		out[i] = least + 1
	}
	return out
}
