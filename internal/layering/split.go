package layering

import (
	"cmp"
	"hash/fnv"
	"slices"
	"strings"

	"github.com/org/nix-layer-action/internal/closure"
	"github.com/org/nix-layer-action/internal/nixpath"
)

// Splitting a layer over its size limit
//
// The parts must be deterministic, each at most the limit, and STABLE: when
// one package changes, typically only one part's key should change, so a
// rebuild re-pushes one part instead of all of them. First-fit-decreasing
// bin packing is not stable (one size change reshuffles later bins), so the
// split is content-defined instead:
//
//  1. Order. Paths are sorted by (store name without the hash, full path).
//     A path's position does not depend on its hash, its size or the rest
//     of the graph: a rebuilt package keeps its place.
//
//  2. Cut. A range of the order whose total NAR size exceeds the limit is
//     cut in two at one position and both halves are handled the same way,
//     recursively, until every range fits. The cut is placed after the path
//     whose store name has the smallest FNV-1a hash, among the positions
//     that leave at least a quarter of the range's size on each side (ties:
//     the earlier position). If no position qualifies (one path holds more
//     than half the range), the cut that minimises the larger side is used
//     (ties: smaller name hash, then earlier position).
//
//  3. Number. The parts are numbered by popularity (see Popularity): the
//     part holding the most popular path is "-1", and so on (ties: order).
//     Numbering does not enter the keys.
//
// The cut positions depend only on store names (without hashes), on the
// order, and on coarse size thresholds. Hence:
//   - a new hash or NAR hash for a path, same size: the cuts are identical,
//     exactly one part's content (and key) changes;
//   - a path added or a size changed: the cuts move only when a candidate
//     crosses a quarter threshold or the changed range starts or stops
//     fitting the limit, which is rare for a change small against the range;
//   - each range that fits is a part, so parts are ≤ limit, disjoint, and
//     together hold exactly the input; the number of parts stays near
//     total/limit (each cut leaves ≥ ¼ on each side).
//
// Why popularity does not drive the order, as it does in dockerTools: adding
// one package raises the popularity of its whole closure by one, and any
// popularity-based order (even log₂ buckets) then moves many paths between
// parts. Measured on random graphs (TestSplitStableUnderAddition), ordering
// by (log₂ popularity bucket, name) left only ~60% of additions confined to
// one part, against ~99% for name order. Popularity still decides the auto
// layer's single-path layers (auto.go) and the part numbering.
//
// A single path larger than the limit cannot be placed: *TooLargeError.

// item is a path being split, with its sort and cut attributes.
type item struct {
	info closure.PathInfo
	name string
	pop  int
	hash uint64
}

func nameHash(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

func newItems(infos []closure.PathInfo, pop map[string]int) []item {
	items := make([]item, len(infos))
	for i, in := range infos {
		name := nixpath.Name(in.Path)
		p := pop[in.Path]
		items[i] = item{info: in, name: name, pop: p, hash: nameHash(name)}
	}
	return items
}

// checkFits returns a *TooLargeError for the largest path over limit (ties:
// smallest path), or nil.
func checkFits(infos []closure.PathInfo, limit int64) error {
	var worst *closure.PathInfo
	for i := range infos {
		in := &infos[i]
		if in.NarSize > limit && (worst == nil || in.NarSize > worst.NarSize ||
			in.NarSize == worst.NarSize && in.Path < worst.Path) {
			worst = in
		}
	}
	if worst != nil {
		return &TooLargeError{Path: worst.Path, Size: worst.NarSize, Limit: limit}
	}
	return nil
}

// splitParts splits infos (total over limit, or not) into parts of at most
// limit bytes each, as described above. Parts come in order; the infos
// inside a part are in split order (callers sort paths).
func splitParts(infos []closure.PathInfo, pop map[string]int, limit int64) ([][]closure.PathInfo, error) {
	if err := checkFits(infos, limit); err != nil {
		return nil, err
	}
	items := newItems(infos, pop)
	slices.SortFunc(items, func(a, b item) int {
		return cmp.Or(strings.Compare(a.name, b.name), strings.Compare(a.info.Path, b.info.Path))
	})
	cum := make([]int64, len(items)+1)
	for i, it := range items {
		cum[i+1] = cum[i] + it.info.NarSize
	}
	var ranges [][2]int
	bisect(items, cum, 0, len(items), limit, &ranges)
	top := make([]int, len(ranges)) // most popular path per range
	for i, r := range ranges {
		for _, it := range items[r[0]:r[1]] {
			top[i] = max(top[i], it.pop)
		}
	}
	perm := make([]int, len(ranges))
	for i := range perm {
		perm[i] = i
	}
	slices.SortStableFunc(perm, func(a, b int) int { return cmp.Compare(top[b], top[a]) })
	parts := make([][]closure.PathInfo, len(ranges))
	for i, ri := range perm {
		r := ranges[ri]
		part := make([]closure.PathInfo, 0, r[1]-r[0])
		for _, it := range items[r[0]:r[1]] {
			part = append(part, it.info)
		}
		parts[i] = part
	}
	return parts, nil
}

// bisect appends to out the ranges of items[lo:hi] after cutting it until
// every range fits limit (every single item fits: checked before).
func bisect(items []item, cum []int64, lo, hi int, limit int64, out *[][2]int) {
	total := cum[hi] - cum[lo]
	if total <= limit || hi-lo <= 1 {
		*out = append(*out, [2]int{lo, hi})
		return
	}
	// Cut at c means items[lo:c] | items[c:hi], "after item c-1".
	best := -1
	for c := lo + 1; c < hi; c++ {
		left := cum[c] - cum[lo]
		if 4*left < total || 4*(total-left) < total {
			continue
		}
		if best < 0 || items[c-1].hash < items[best-1].hash {
			best = c
		}
	}
	if best < 0 {
		var bestMax int64
		for c := lo + 1; c < hi; c++ {
			left := cum[c] - cum[lo]
			m := max(left, total-left)
			if best < 0 || m < bestMax || m == bestMax && items[c-1].hash < items[best-1].hash {
				best, bestMax = c, m
			}
		}
	}
	bisect(items, cum, lo, best, limit, out)
	bisect(items, cum, best, hi, limit, out)
}
