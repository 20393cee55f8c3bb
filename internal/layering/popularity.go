package layering

import (
	"fmt"
	"math/bits"
	"slices"
)

// Popularity returns, for every path of g, its popularity: the number of
// OTHER paths of g that reach it through references, i.e. the size of its
// transitive-referrer set, counted over the WHOLE graph (not only over the
// layer being split). glibc, referenced directly or indirectly by nearly
// everything, is the most popular path; a top-level application nobody
// depends on has popularity 0. This is the measure nix2container and
// dockerTools' streamLayeredImage use to decide what goes into its own layer.
//
// Self-references are ignored. Reference cycles (which Nix never produces)
// are handled: members of a cycle reach one another.
//
// Cost: O(E·N/64) word operations and O(N·min(N,4096)/8) bytes of memory
// (the reachability bitsets are computed in blocks of 4096 source paths).
func Popularity(g Graph) (map[string]int, error) {
	paths := g.Paths()
	n := len(paths)
	idx := make(map[string]int32, n)
	for i, p := range paths {
		idx[p] = int32(i)
	}
	adj := make([][]int32, n)
	for i, p := range paths {
		in, ok := g.Info(p)
		if !ok {
			return nil, fmt.Errorf("popularity: graph lists %s but has no info for it", p)
		}
		for _, r := range in.References {
			j, ok := idx[r]
			if !ok {
				return nil, fmt.Errorf("popularity: %s references %s, which is not in the graph", p, r)
			}
			if j != int32(i) {
				adj[i] = append(adj[i], j)
			}
		}
	}
	comp, ncomp := sccs(adj)

	// Condensed graph: succ[c] = components c references (deduplicated).
	size := make([]int, ncomp)
	succ := make([][]int32, ncomp)
	for v, ws := range adj {
		c := comp[v]
		size[c]++
		for _, w := range ws {
			if d := comp[w]; d != c {
				succ[c] = append(succ[c], d)
			}
		}
	}
	for c := range succ {
		slices.Sort(succ[c])
		succ[c] = slices.Compact(succ[c])
	}

	// reach[c] (per block of source paths) = the sources that are in c or
	// reach c. Tarjan numbers components dependencies first, so every edge
	// goes from a higher to a lower component number: walking components
	// from the highest number down visits every referrer before its
	// references.
	count := make([]int, ncomp)
	words := min(64, (n+63)/64)
	blockBits := words * 64
	reach := make([]uint64, ncomp*words)
	for start := 0; start < n; start += blockBits {
		clear(reach)
		for v := start; v < min(n, start+blockBits); v++ {
			b := v - start
			reach[int(comp[v])*words+b/64] |= 1 << (b % 64)
		}
		for c := ncomp - 1; c >= 0; c-- {
			rc := reach[c*words : (c+1)*words]
			for _, d := range succ[c] {
				rd := reach[int(d)*words : (int(d)+1)*words]
				for k, w := range rc {
					rd[k] |= w
				}
			}
			for _, w := range rc {
				count[c] += bits.OnesCount64(w)
			}
		}
	}
	pop := make(map[string]int, n)
	for v, p := range paths {
		pop[p] = count[comp[v]] - 1 // minus the path itself
	}
	return pop, nil
}

// sccs numbers the strongly connected components of adj with Tarjan's
// algorithm (iterative). Components are numbered in the order Tarjan emits
// them: a component's number is lower than that of every component
// referencing it.
func sccs(adj [][]int32) (comp []int32, ncomp int) {
	n := len(adj)
	index := make([]int32, n)
	low := make([]int32, n)
	onStack := make([]bool, n)
	comp = make([]int32, n)
	for i := range index {
		index[i] = -1
	}
	var (
		counter int32
		stack   []int32
	)
	type frame struct {
		v  int32
		ei int
	}
	var calls []frame
	visit := func(v int32) {
		index[v], low[v] = counter, counter
		counter++
		stack = append(stack, v)
		onStack[v] = true
		calls = append(calls, frame{v: v})
	}
	for s := range n {
		if index[s] >= 0 {
			continue
		}
		visit(int32(s))
		for len(calls) > 0 {
			f := &calls[len(calls)-1]
			v := f.v
			if f.ei < len(adj[v]) {
				w := adj[v][f.ei]
				f.ei++
				if index[w] < 0 {
					visit(w)
				} else if onStack[w] {
					low[v] = min(low[v], index[w])
				}
				continue
			}
			if low[v] == index[v] {
				for {
					w := stack[len(stack)-1]
					stack = stack[:len(stack)-1]
					onStack[w] = false
					comp[w] = int32(ncomp)
					if w == v {
						break
					}
				}
				ncomp++
			}
			calls = calls[:len(calls)-1]
			if len(calls) > 0 {
				u := calls[len(calls)-1].v
				low[u] = min(low[u], low[v])
			}
		}
	}
	return comp, ncomp
}
