package pipeline

import (
	"context"
	"fmt"
	"slices"

	"github.com/org/nix-layer-action/internal/closure"
	"github.com/org/nix-layer-action/internal/image"
	"github.com/org/nix-layer-action/internal/layer"
	"github.com/org/nix-layer-action/internal/layering"
	"github.com/org/nix-layer-action/internal/plan"
	"github.com/org/nix-layer-action/internal/rootfs"
	"github.com/org/nix-layer-action/internal/substituter"
)

// RootLayer is the reserved name of the final layer that holds whatever the
// config's store paths (and root-filesystem sources) still need.
const RootLayer = "root"

// Resolved is a plan whose deps have been resolved to store paths, whose
// closure has been assigned to layers, and whose every layer has its
// layer.Spec and key. Nothing has been written.
type Resolved struct {
	Plan   *plan.Plan
	Graph  *closure.Graph
	Layers []Planned
	// Roots maps each plan layer name (and RootLayer) to the store paths its
	// deps resolved to.
	Roots map[string][]string
	// Warnings are things a user should see (layer budget, …).
	Warnings []string
	// Base is the plan's from: image (nil without one).
	Base *image.Previous
	// origin says where each store path's bytes are (nil: all in the
	// plan's store tree or the local store).
	origin *closureSource
}

// Origin says where store path p's bytes are read from.
func (r *Resolved) Origin(p string) Origin {
	if r.origin == nil {
		return OriginLocal
	}
	if o, ok := r.origin.origin[p]; ok {
		return o
	}
	return OriginLocal
}

// Planned is one planned layer with what the layer writer will receive.
type Planned struct {
	layering.Layer
	Spec layer.Spec // the layer's contract: paths, files, perms, format
	Key  string     // layer.Key(Spec); "" for an empty layer
}

// Resolve loads the plan and resolves it (see resolve), with closure
// metadata from sub's binary caches where the local store lacks a path
// (sub may be nil). It reads no registry: paths a from: image holds are
// not subtracted.
func Resolve(ctx context.Context, planFile string, nix NixOptions, sub *substituter.Client) (*Resolved, error) {
	l, err := loadPlan(ctx, planFile, nix)
	if err != nil {
		return nil, err
	}
	return resolve(ctx, l, nix, sub, nil)
}

// resolve realises the plan's installables with one nix build call (unless
// the plan names a closure graph), queries the closure graph with one nix
// path-info call, assigns every closure path to exactly one layer, and
// derives every layer's Spec and key. base, when set, is the plan's base
// image: store paths it already holds are left out of every layer and its
// layers count against the layer budget.
func resolve(ctx context.Context, l *loaded, nix NixOptions, sub *substituter.Client, base *image.Previous) (*Resolved, error) {
	p := l.plan
	rz, err := realise(ctx, l, nix, sub)
	if err != nil {
		return nil, err
	}
	roots, sources, graph := rz.roots, rz.sources, rz.graph
	all := allRoots(roots)
	exclude, baseLayers, baseWarnings := baseExclude(base)
	layers, err := layering.Assign(graph, layeringSpecs(p, roots), layering.Options{
		MaxLayerSize: p.MaxLayerSize,
		AllRoots:     all,
		Exclude:      exclude,
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.File, err)
	}
	res := &Resolved{Plan: p, Graph: graph, Roots: roots, Base: base, Warnings: baseWarnings, origin: rz.origin}
	files, err := rootFiles(p, sources, graph, all, layers)
	if err != nil {
		return nil, err
	}
	if res.Layers, err = plannedLayers(p, graph, layers, files); err != nil {
		return nil, err
	}
	total := layering.TotalLayers(layers) + baseLayers
	warn, err := layering.Budget(total)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.File, err)
	}
	if warn {
		res.Warnings = append(res.Warnings, fmt.Sprintf("%d layers (including %d of the base image): more than 100 layers slows pulls and some runtimes refuse over 127", total, baseLayers))
	}
	return res, nil
}

func allRoots(roots map[string][]string) []string {
	var all []string
	for _, r := range roots {
		all = append(all, r...)
	}
	return uniqueSorted(all)
}

// installables lists the plan's installable deps, each once, in plan order.
func installables(p *plan.Plan) []string {
	var out []string
	seen := map[string]bool{}
	for _, deps := range allDeps(p) {
		for _, d := range deps {
			if d.Kind == plan.Installable && !seen[d.Value] {
				seen[d.Value] = true
				out = append(out, d.Value)
			}
		}
	}
	return out
}

// allDeps are the deps of every layer, of root: and of the config's
// {installable, path} items.
func allDeps(p *plan.Plan) [][]plan.Dep {
	return append(planDeps(p), p.Root, p.Config.Deps())
}

func planDeps(p *plan.Plan) [][]plan.Dep {
	out := make([][]plan.Dep, 0, len(p.Layers))
	for _, l := range p.Layers {
		out = append(out, l.Deps)
	}
	return out
}

// realised is a plan's deps turned into store paths, with the closure
// graph of all of them and where each path's bytes are.
type realised struct {
	roots   map[string][]string // plan layer name (and RootLayer) → store paths
	sources []rootfs.Source     // root-filesystem sources
	graph   *closure.Graph
	origin  *closureSource // nil: every path is read from the store tree
}

// realise turns every dep of the plan into store paths by evaluation only
// (nothing is built to learn a path), and finds the closure: from the
// plan's closure graph file, or from metadata (see metadataClosure).
func realise(ctx context.Context, l *loaded, nixo NixOptions, sub *substituter.Client) (*realised, error) {
	p := l.plan
	n := &closure.Nix{Bin: nixo.Bin, Dir: p.Dir, Env: nixo.Env, Stderr: nixo.Stderr}
	if p.StoreRoot != "" && p.ClosureGraph == "" {
		n.Store = p.StoreRoot
	}
	outputs := map[string][]string{}
	if inst := installables(p); len(inst) > 0 {
		if p.ClosureGraph != "" {
			return nil, fmt.Errorf("%s: installables need nix, but the plan reads its closure from %s", p.File, p.ClosureGraph)
		}
		var err error
		if outputs, err = n.Evaluate(ctx, inst); err != nil {
			return nil, attribute(p, err)
		}
	}
	if err := p.Config.ResolveArgs(p.File, p.Attr, outputs); err != nil {
		return nil, err
	}
	r := &realised{roots: rootsOf(p, outputs), sources: rootSources(p, outputs)}
	all := allRoots(r.roots)
	var err error
	if p.ClosureGraph != "" || len(all) == 0 {
		r.graph, err = closureGraph(ctx, p, n, all)
		return r, err
	}
	var local []string
	for _, s := range r.sources {
		local = append(local, s.StorePath)
	}
	builders, err := drvOutputs(ctx, n, l.drvs)
	if err != nil {
		return nil, err
	}
	r.graph, r.origin, err = metadataClosure(ctx, n, sub, p, outputs, builders, all, local)
	return r, err
}

// drvOutputs maps each output path of a Nix plan's derivations to the
// installable that builds it (evaluation only).
func drvOutputs(ctx context.Context, n *closure.Nix, drvs []plan.Realise) (map[string]string, error) {
	if len(drvs) == 0 {
		return nil, nil
	}
	inst := drvInstallables(ctx, n, drvs)
	outs, err := n.Evaluate(ctx, inst)
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, i := range inst {
		for _, o := range outs[i] {
			m[o] = i
		}
	}
	return m, nil
}

// rootsOf maps each plan layer (and the root layer) to its deps' paths.
func rootsOf(p *plan.Plan, outputs map[string][]string) map[string][]string {
	pathsOf := func(deps []plan.Dep) []string {
		var out []string
		for _, d := range deps {
			if d.Kind == plan.Installable {
				out = append(out, outputs[d.Value]...)
			} else {
				out = append(out, d.Value)
			}
		}
		return uniqueSorted(out)
	}
	roots := map[string][]string{}
	for _, l := range p.Layers {
		roots[l.Name] = pathsOf(l.Deps)
	}
	roots[RootLayer] = uniqueSorted(append(pathsOf(p.Root), p.ConfigStorePaths()...))
	return roots
}

// closureGraph reads the plan's closure graph file, or asks Nix for the
// closure of all.
func closureGraph(ctx context.Context, p *plan.Plan, n *closure.Nix, all []string) (*closure.Graph, error) {
	switch {
	case p.ClosureGraph != "":
		g, err := closure.LoadGraphFile(p.ClosureGraph)
		if err != nil {
			return nil, err
		}
		for _, r := range all {
			if _, ok := g.Info(r); !ok {
				return nil, fmt.Errorf("%s: store path %s is not in the closure graph %s", p.File, r, p.ClosureGraph)
			}
		}
		return g, nil
	case len(all) > 0:
		g, err := n.PathInfo(ctx, all)
		if err != nil {
			return nil, attribute(p, err)
		}
		return g, nil
	default:
		return closure.NewGraph(nil)
	}
}

func rootSources(p *plan.Plan, built map[string][]string) []rootfs.Source {
	var sources []rootfs.Source
	for j, d := range p.Root {
		paths := []string{d.Value}
		if d.Kind == plan.Installable {
			paths = built[d.Value]
		}
		label := fmt.Sprintf("%s:%d: root: %s", p.File, d.Line, d.Raw)
		if p.Attr != "" { // a plan written in Nix has attribute paths, not lines
			label = fmt.Sprintf("%s: %s.root[%d]: %s", p.File, p.Attr, j, d.Raw)
		}
		for _, sp := range paths {
			sources = append(sources, rootfs.Source{Label: label, StorePath: sp})
		}
	}
	return sources
}

// layeringSpecs turns the plan's layers (plus the reserved root layer)
// into layering specs.
func layeringSpecs(p *plan.Plan, roots map[string][]string) []layering.Spec {
	var specs []layering.Spec
	auto := false
	for _, l := range p.Layers {
		s := layering.Spec{Name: l.Name, Roots: roots[l.Name], MaxSize: l.MaxSize}
		if l.Auto != nil {
			s.Auto = l.Auto.MaxLayers
			auto = true
		}
		specs = append(specs, s)
	}
	// The auto entry takes every path no explicit layer claims, which is
	// exactly what the root layer would otherwise hold (the closures of the
	// config's store paths and of the root deps): layering leaves a later
	// spec's closure to that spec, so with auto the root spec claims no
	// store paths and keeps only its files. Its roots still count in
	// Options.AllRoots.
	rootRoots := roots[RootLayer]
	if auto {
		rootRoots = nil
	}
	return append(specs, layering.Spec{Name: RootLayer, Roots: rootRoots})
}

func uniqueSorted(in []string) []string {
	if len(in) == 0 {
		return nil
	}
	out := slices.Clone(in)
	slices.Sort(out)
	return slices.Compact(out)
}
