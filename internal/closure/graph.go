// Package closure runs or reads Nix to obtain the store-path reference graph
// (path → narHash, narSize, references) that layering works on.
package closure

import (
	"fmt"
	"sort"
)

// PathInfo describes one store path as reported by `nix path-info --json` or
// exportReferencesGraph. NarHash is kept exactly as Nix printed it (either
// "sha256:<nix-base32>" or SRI "sha256-<base64>").
type PathInfo struct {
	Path       string   `json:"path"`
	NarHash    string   `json:"narHash"`
	NarSize    int64    `json:"narSize"`
	References []string `json:"references"`
}

// Graph is a validated, closed set of store paths and their references.
type Graph struct {
	infos     map[string]PathInfo
	referrers map[string][]string
	paths     []string
}

// DanglingReferenceError reports a reference to a path missing from the graph.
type DanglingReferenceError struct {
	Path      string // the referring path
	Reference string // the missing path
}

func (e *DanglingReferenceError) Error() string {
	return fmt.Sprintf("closure graph: %s references %s, which is not in the graph", e.Path, e.Reference)
}

// UnknownPathError reports a path that is not in the graph.
type UnknownPathError struct{ Path string }

func (e *UnknownPathError) Error() string {
	return fmt.Sprintf("closure graph: unknown store path %s", e.Path)
}

// NewGraph validates infos (no empty or duplicate paths, every reference
// present) and builds a graph. References are deduplicated and sorted; a
// self-reference is kept in Info but ignored for Referrers.
func NewGraph(infos []PathInfo) (*Graph, error) {
	g := &Graph{
		infos:     make(map[string]PathInfo, len(infos)),
		referrers: make(map[string][]string),
	}
	for i, in := range infos {
		if in.Path == "" {
			return nil, fmt.Errorf("closure graph: entry %d has an empty path", i)
		}
		if _, dup := g.infos[in.Path]; dup {
			return nil, fmt.Errorf("closure graph: duplicate entry for %s", in.Path)
		}
		if in.NarSize < 0 {
			return nil, fmt.Errorf("closure graph: %s has negative narSize %d", in.Path, in.NarSize)
		}
		in.References = sortedUnique(in.References)
		g.infos[in.Path] = in
		g.paths = append(g.paths, in.Path)
	}
	sort.Strings(g.paths)
	for _, p := range g.paths {
		for _, r := range g.infos[p].References {
			if _, ok := g.infos[r]; !ok {
				return nil, &DanglingReferenceError{Path: p, Reference: r}
			}
			if r != p {
				g.referrers[r] = append(g.referrers[r], p) // p iterates sorted
			}
		}
	}
	return g, nil
}

// Info returns the PathInfo for path.
func (g *Graph) Info(path string) (PathInfo, bool) {
	in, ok := g.infos[path]
	if !ok {
		return PathInfo{}, false
	}
	in.References = append([]string(nil), in.References...)
	return in, true
}

// Len returns the number of paths in the graph.
func (g *Graph) Len() int { return len(g.paths) }

// Paths returns every path of the graph, sorted.
func (g *Graph) Paths() []string { return append([]string(nil), g.paths...) }

// Closure returns the sorted transitive closure of roots (roots included).
// A root not in the graph yields an *UnknownPathError naming it.
func (g *Graph) Closure(roots ...string) ([]string, error) {
	seen := make(map[string]bool)
	stack := make([]string, 0, len(roots))
	for _, r := range roots {
		if _, ok := g.infos[r]; !ok {
			return nil, &UnknownPathError{Path: r}
		}
		if !seen[r] {
			seen[r] = true
			stack = append(stack, r)
		}
	}
	for len(stack) > 0 {
		p := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, r := range g.infos[p].References {
			if !seen[r] {
				seen[r] = true
				stack = append(stack, r)
			}
		}
	}
	out := make([]string, 0, len(seen))
	for p := range seen {
		out = append(out, p)
	}
	sort.Strings(out)
	return out, nil
}

// Referrers returns the paths that directly reference path (reverse edges),
// sorted, excluding path itself.
func (g *Graph) Referrers(path string) []string {
	return append([]string(nil), g.referrers[path]...)
}

func sortedUnique(in []string) []string {
	out := make([]string, 0, len(in))
	out = append(out, in...)
	sort.Strings(out)
	j := 0
	for i, s := range out {
		if i > 0 && s == out[j-1] {
			continue
		}
		out[j] = s
		j++
	}
	return out[:j]
}
