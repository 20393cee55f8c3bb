package layering

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/org/nix-layer-action/internal/closure"
)

// auto handles the Auto spec s; later holds the specs after it.
//
// It takes every path of closure(Options.AllRoots) that no earlier layer
// holds, that is not excluded, and that is not in the closure of a later
// spec (those are left for the later spec, e.g. the caller's root layer).
// Like dockerTools' maxLayers, the most popular paths get layers of their
// own and the rest shares the last layer(s):
//
//   - paths are ordered by popularity descending, then NAR size descending,
//     then path ascending (an explicit, stable tie-break);
//   - with k = min(N-1, paths-1) single-path layers, the remaining paths are
//     split under the size limit exactly like an oversized plain layer (see
//     split.go); if k + parts > N, k is lowered until it fits;
//   - if even k = 0 needs more than N parts, *AutoLimitError.
//
// Layers are named "<name>-1" … "<name>-k" (singles first, most popular
// first), all with Group = name. Nothing left → one Empty layer "<name>".
func (a *assigner) auto(s Spec, later []Spec) ([]Layer, error) {
	cl, err := a.closure(a.opts.AllRoots)
	if err != nil {
		return nil, fmt.Errorf("all roots: %w", err)
	}
	reserved := make(map[string]bool)
	for _, l := range later {
		lc, err := a.closure(l.Roots)
		if err != nil {
			return nil, fmt.Errorf("layer %q after it: %w", l.Name, err)
		}
		for _, p := range lc {
			reserved[p] = true
		}
	}
	free := make([]string, 0, len(cl))
	for _, p := range cl {
		if !reserved[p] {
			free = append(free, p)
		}
	}
	infos, err := a.take(free)
	if err != nil {
		return nil, err
	}
	if len(infos) == 0 {
		return []Layer{{Name: s.Name, Group: s.Name, Empty: true}}, nil
	}
	limit := a.limit(s)
	if err := checkFits(infos, limit); err != nil {
		return nil, err
	}
	pop, err := a.popularity()
	if err != nil {
		return nil, err
	}
	groups, err := autoGroups(infos, pop, s.Auto, limit)
	if err != nil {
		return nil, err
	}
	out := make([]Layer, len(groups))
	for i, grp := range groups {
		out[i] = a.layer(s, fmt.Sprintf("%s-%d", s.Name, i+1), grp)
	}
	return out, nil
}

// autoGroups groups infos (every one ≤ limit) into at most maxLayers groups.
func autoGroups(infos []closure.PathInfo, pop map[string]int, maxLayers int, limit int64) ([][]closure.PathInfo, error) {
	order := slices.Clone(infos)
	slices.SortFunc(order, func(a, b closure.PathInfo) int {
		return cmp.Or(
			cmp.Compare(pop[b.Path], pop[a.Path]),
			cmp.Compare(b.NarSize, a.NarSize),
			strings.Compare(a.Path, b.Path),
		)
	})
	for k := min(maxLayers-1, len(order)-1); k >= 0; k-- {
		var parts [][]closure.PathInfo
		if rest := order[k:]; sumSize(rest) <= limit {
			parts = [][]closure.PathInfo{rest}
		} else {
			var err error
			if parts, err = splitParts(rest, pop, limit); err != nil {
				return nil, err
			}
		}
		if k+len(parts) > maxLayers {
			continue
		}
		groups := make([][]closure.PathInfo, 0, k+len(parts))
		for _, in := range order[:k] {
			groups = append(groups, []closure.PathInfo{in})
		}
		return append(groups, parts...), nil
	}
	return nil, &AutoLimitError{MaxLayers: maxLayers, Paths: len(order), Size: sumSize(order), Limit: limit}
}
