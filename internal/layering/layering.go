// Package layering decides which store paths go into which image layer and
// nothing else: keys belong to package layer. It is pure: no I/O, no environment.
//
// Layer i of the plan holds closure(roots_i) minus every path already held by
// ANY earlier layer and minus Options.Exclude (paths a base image already
// has). A layer whose NAR size exceeds its limit is split into parts
// (split.go), and an Auto entry spreads every still-unclaimed path over at
// most N layers by popularity (auto.go).
package layering

import (
	"fmt"
	"sort"

	"github.com/org/nix-layer-action/internal/closure"
)

// DefaultMaxLayerSize is the layer size limit used when neither the spec nor
// the options set one (GHCR rejects layers over 10 GB).
const DefaultMaxLayerSize int64 = 10_000_000_000

// Graph is what layering needs from a store-path reference graph.
// *closure.Graph satisfies it.
type Graph interface {
	Info(path string) (closure.PathInfo, bool)
	Paths() []string                           // every path, sorted
	Closure(roots ...string) ([]string, error) // sorted, roots included
}

var _ Graph = (*closure.Graph)(nil)

// Spec is one entry of the ordered layer plan.
type Spec struct {
	Name    string
	Roots   []string // store paths whose closures this layer wants
	MaxSize int64    // 0 = Options.MaxLayerSize
	// Auto > 0 marks the auto entry: it groups every path of
	// closure(Options.AllRoots) that no earlier layer holds (and that is not
	// in the closure of a later spec) into at most Auto layers. At most one
	// spec may be Auto; it has no Roots.
	Auto int
}

// Options apply to the whole plan.
type Options struct {
	MaxLayerSize int64           // plan-wide limit; 0 = DefaultMaxLayerSize
	Exclude      map[string]bool // paths already in a base image: never placed in a layer
	AllRoots     []string        // every root of the image (for Auto)
}

// Layer is one planned image layer.
type Layer struct {
	Name    string   // "base", or "base-1","base-2" after a split, or "auto-1"…
	Group   string   // the Spec name it came from
	Paths   []string // sorted
	NarSize int64    // sum of the paths' NAR sizes
	Empty   bool     // nothing left for it; kept in the result, left out of the image
}

// TotalLayers returns the number of non-empty layers.
func TotalLayers(layers []Layer) int {
	n := 0
	for _, l := range layers {
		if !l.Empty {
			n++
		}
	}
	return n
}

// Assign distributes the closure of every spec over layers (see the package
// documentation). The result is deterministic: the same graph, specs and
// options always give the same layers, names and keys, whatever the order of
// each spec's Roots.
func Assign(g Graph, specs []Spec, opts Options) ([]Layer, error) {
	if err := validate(specs, opts); err != nil {
		return nil, err
	}
	a := &assigner{g: g, opts: opts, claimed: make(map[string]bool, len(opts.Exclude))}
	for p, ex := range opts.Exclude {
		if ex {
			a.claimed[p] = true
		}
	}
	var out []Layer
	for i, s := range specs {
		var (
			ls  []Layer
			err error
		)
		if s.Auto > 0 {
			ls, err = a.auto(s, specs[i+1:])
		} else {
			ls, err = a.plain(s)
		}
		if err != nil {
			return nil, fmt.Errorf("layer %q: %w", s.Name, err)
		}
		out = append(out, ls...)
	}
	return out, nil
}

func validate(specs []Spec, opts Options) error {
	if opts.MaxLayerSize < 0 {
		return fmt.Errorf("layering: negative max layer size %d", opts.MaxLayerSize)
	}
	seen := make(map[string]bool, len(specs))
	autoAt := -1
	for i, s := range specs {
		switch {
		case s.Name == "":
			return fmt.Errorf("layering: spec %d has no name", i)
		case seen[s.Name]:
			return fmt.Errorf("layering: duplicate layer name %q", s.Name)
		case s.MaxSize < 0:
			return fmt.Errorf("layering: layer %q: negative max size %d", s.Name, s.MaxSize)
		case s.Auto < 0:
			return fmt.Errorf("layering: layer %q: negative auto max-layers %d", s.Name, s.Auto)
		case s.Auto > 0 && len(s.Roots) > 0:
			return fmt.Errorf("layering: auto layer %q must not have roots of its own", s.Name)
		case s.Auto > 0 && autoAt >= 0:
			return fmt.Errorf("layering: layer %q: only one auto layer is allowed (already %q)", s.Name, specs[autoAt].Name)
		}
		seen[s.Name] = true
		if s.Auto > 0 {
			autoAt = i
		}
	}
	return nil
}

// assigner carries the state of one Assign call.
type assigner struct {
	g       Graph
	opts    Options
	claimed map[string]bool // Exclude plus every path of an earlier layer
	pop     map[string]int  // popularity, computed on first need
}

func (a *assigner) limit(s Spec) int64 {
	switch {
	case s.MaxSize > 0:
		return s.MaxSize
	case a.opts.MaxLayerSize > 0:
		return a.opts.MaxLayerSize
	}
	return DefaultMaxLayerSize
}

func (a *assigner) popularity() (map[string]int, error) {
	if a.pop == nil {
		p, err := Popularity(a.g)
		if err != nil {
			return nil, err
		}
		a.pop = p
	}
	return a.pop, nil
}

// take returns the infos of the paths of cl not yet claimed, and claims them.
func (a *assigner) take(cl []string) ([]closure.PathInfo, error) {
	var infos []closure.PathInfo
	for _, p := range cl {
		if a.claimed[p] {
			continue
		}
		in, ok := a.g.Info(p)
		if !ok {
			return nil, &closure.UnknownPathError{Path: p}
		}
		a.claimed[p] = true
		infos = append(infos, in)
	}
	return infos, nil
}

func (a *assigner) closure(roots []string) ([]string, error) {
	if len(roots) == 0 {
		return nil, nil
	}
	cl, err := a.g.Closure(roots...)
	if err != nil {
		return nil, fmt.Errorf("closure: %w", err)
	}
	return cl, nil
}

// plain handles an ordinary (non-auto) spec.
func (a *assigner) plain(s Spec) ([]Layer, error) {
	cl, err := a.closure(s.Roots)
	if err != nil {
		return nil, err
	}
	infos, err := a.take(cl)
	if err != nil {
		return nil, err
	}
	if len(infos) == 0 {
		return []Layer{{Name: s.Name, Group: s.Name, Empty: true}}, nil
	}
	limit := a.limit(s)
	if sumSize(infos) <= limit {
		return []Layer{a.layer(s, s.Name, infos)}, nil
	}
	pop, err := a.popularity()
	if err != nil {
		return nil, err
	}
	parts, err := splitParts(infos, pop, limit)
	if err != nil {
		return nil, err
	}
	out := make([]Layer, len(parts))
	for i, part := range parts {
		out[i] = a.layer(s, fmt.Sprintf("%s-%d", s.Name, i+1), part)
	}
	return out, nil
}

// layer builds a non-empty Layer of spec s from infos (any order).
func (a *assigner) layer(s Spec, name string, infos []closure.PathInfo) Layer {
	paths := make([]string, len(infos))
	for i, in := range infos {
		paths[i] = in.Path
	}
	sort.Strings(paths)
	return Layer{
		Name:    name,
		Group:   s.Name,
		Paths:   paths,
		NarSize: sumSize(infos),
	}
}

func sumSize(infos []closure.PathInfo) int64 {
	var n int64
	for _, in := range infos {
		n += in.NarSize
	}
	return n
}
