// Package pipeline wires the steps plan → closure → layering → layer → image
// → publish → report into the two jobs the CLI and the action run: Resolve
// (what `plan` prints) and Build (what `build` does).
package pipeline

import (
	"context"
	"fmt"
	"io"
	"sort"

	"github.com/org/nix-layer-action/internal/closure"
	"github.com/org/nix-layer-action/internal/image"
	"github.com/org/nix-layer-action/internal/layer"
	"github.com/org/nix-layer-action/internal/layering"
	"github.com/org/nix-layer-action/internal/plan"
	"github.com/org/nix-layer-action/internal/rootfs"
)

// RootLayer is the reserved name of the final layer that holds whatever the
// config's store paths (and root-filesystem sources) still need.
const RootLayer = "root"

// NixOptions says how to run Nix. The zero value runs "nix" from PATH with
// the process environment only.
type NixOptions struct {
	Bin    string    // default "nix"
	Env    []string  // extra environment, e.g. NIX_CONFIG=...
	Stderr io.Writer // Nix's own progress output
}

// Resolved is a plan whose deps have been realised and whose closure has been
// assigned to layers. Nothing has been written.
type Resolved struct {
	Plan   *plan.Plan
	Graph  *closure.Graph
	Layers []layering.Layer
	// Roots maps each plan layer name (and RootLayer) to the store paths its
	// deps resolved to.
	Roots map[string][]string
	// Warnings are things a user should see (layer budget, …).
	Warnings []string
	// RootFiles are the root layer's non-store entries (root-fs contents,
	// users, /tmp, Nix database).
	RootFiles []layer.File
	// RootFilesLayer names the layer that holds RootFiles.
	RootFilesLayer string
	// Perms are the perms that apply to each layer (by layer name).
	Perms map[string][]plan.Perm
}

// finishLayers adds what shapes the layers' bytes beyond their store paths:
// perms (layer-level, and plan-level where they may match) and the root
// layer's files. Keys are recomputed with all of it.
func finishLayers(res *Resolved, sources []rootfs.Source, allRoots []string) error {
	p := res.Plan
	rc, err := collectRoot(p, sources, res.Graph, allRoots)
	if err != nil {
		return err
	}
	res.RootFiles = rc.files
	groupPerms := map[string][]plan.Perm{}
	for _, l := range p.Layers {
		groupPerms[l.Name] = l.Perms
	}
	filesAt := -1 // the root layer (its last part, when split) holds the files
	for i, l := range res.Layers {
		if l.Group == RootLayer || l.Name == RootLayer {
			filesAt = i
		}
	}
	if filesAt >= 0 {
		res.RootFilesLayer = res.Layers[filesAt].Name
	}
	for i := range res.Layers {
		l := &res.Layers[i]
		isRoot := i == filesAt
		if isRoot && l.Empty && len(rc.files) > 0 {
			l.Empty = false
		}
		if l.Empty {
			continue
		}
		var files []layer.File
		if isRoot {
			files = rc.files
		}
		perms := append([]plan.Perm(nil), groupPerms[l.Group]...)
		perms = append(perms, permsMayMatch(p.Perms, p.StoreRoot, p.StoreDir, l.Paths, files)...)
		res.Perms[l.Name] = perms
		extra := permKey(perms)
		if isRoot {
			extra = append(extra, rc.extra...)
		}
		rekey(res.Graph, l, layer.KeyParams(), extra)
	}
	return nil
}

// Resolve loads the plan, realises its installables with one nix build call
// (unless the plan names a closure graph), queries the closure graph with one
// nix path-info call, and assigns every closure path to exactly one layer.
func Resolve(ctx context.Context, planFile string, nix NixOptions) (*Resolved, error) {
	p, err := plan.Load(planFile)
	if err != nil {
		return nil, err
	}
	return ResolvePlan(ctx, p, nix)
}

// ResolvePlan is Resolve for an already-parsed plan.
func ResolvePlan(ctx context.Context, p *plan.Plan, nix NixOptions) (*Resolved, error) {
	return resolvePlan(ctx, p, nix, nil)
}

// resolvePlan resolves p; base, when set, is the plan's base image: store
// paths it already holds are left out of every layer and its layers count
// against the layer budget.
func resolvePlan(ctx context.Context, p *plan.Plan, nix NixOptions, base *image.Previous) (*Resolved, error) {
	roots, sources, graph, err := realise(ctx, p, nix)
	if err != nil {
		return nil, err
	}
	specs, err := specsFor(p, roots)
	if err != nil {
		return nil, err
	}
	var all []string
	for _, r := range roots {
		all = append(all, r...)
	}
	exclude, baseLayers := baseExclude(base)
	layers, err := layering.Assign(graph, specs, layering.Options{
		MaxLayerSize: p.MaxLayerSize,
		KeyParams:    layer.KeyParams(),
		AllRoots:     uniqueSorted(all),
		Exclude:      exclude,
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.File, err)
	}
	res := &Resolved{Plan: p, Graph: graph, Layers: layers, Roots: roots, Perms: map[string][]plan.Perm{}}
	if err := finishLayers(res, sources, uniqueSorted(all)); err != nil {
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

// realise turns every dep of the plan into store paths and returns the
// closure graph of all of them.
func realise(ctx context.Context, p *plan.Plan, nixo NixOptions) (map[string][]string, []rootfs.Source, *closure.Graph, error) {
	n := &closure.Nix{Bin: nixo.Bin, Dir: p.Dir, Env: nixo.Env, Stderr: nixo.Stderr}
	if p.StoreRoot != "" && p.ClosureGraph == "" {
		n.Store = p.StoreRoot
	}

	// Installables, realised by one nix build call.
	var installables []string
	seen := map[string]bool{}
	addDeps := func(deps []plan.Dep) {
		for _, d := range deps {
			if d.Kind == plan.Installable && !seen[d.Value] {
				seen[d.Value] = true
				installables = append(installables, d.Value)
			}
		}
	}
	for _, l := range p.Layers {
		addDeps(l.Deps)
	}
	addDeps(p.Root)
	built := map[string][]string{}
	if len(installables) > 0 {
		if p.ClosureGraph != "" {
			return nil, nil, nil, fmt.Errorf("%s: installables need nix, but the plan reads its closure from %s", p.File, p.ClosureGraph)
		}
		var err error
		built, err = n.Build(ctx, installables)
		if err != nil {
			return nil, nil, nil, err
		}
	}
	pathsOf := func(deps []plan.Dep) []string {
		var out []string
		for _, d := range deps {
			if d.Kind == plan.Installable {
				out = append(out, built[d.Value]...)
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
	rootPaths := append(pathsOf(p.Root), p.ConfigStorePaths()...)
	roots[RootLayer] = uniqueSorted(rootPaths)

	var all []string
	for _, r := range roots {
		all = append(all, r...)
	}
	all = uniqueSorted(all)

	var graph *closure.Graph
	if p.ClosureGraph != "" {
		g, err := closure.LoadGraphFile(p.ClosureGraph)
		if err != nil {
			return nil, nil, nil, err
		}
		for _, r := range all {
			if _, ok := g.Info(r); !ok {
				return nil, nil, nil, fmt.Errorf("%s: store path %s is not in the closure graph %s", p.File, r, p.ClosureGraph)
			}
		}
		graph = g
	} else if len(all) > 0 {
		g, err := n.PathInfo(ctx, all)
		if err != nil {
			return nil, nil, nil, err
		}
		graph = g
	} else {
		g, err := closure.NewGraph(nil)
		if err != nil {
			return nil, nil, nil, err
		}
		graph = g
	}
	var sources []rootfs.Source
	for _, d := range p.Root {
		paths := []string{d.Value}
		if d.Kind == plan.Installable {
			paths = built[d.Value]
		}
		for _, sp := range paths {
			sources = append(sources, rootfs.Source{Label: fmt.Sprintf("%s:%d: root: %s", p.File, d.Line, d.Raw), StorePath: sp})
		}
	}
	return roots, sources, graph, nil
}

// specsFor turns the plan's layers (plus the reserved root layer) into
// layering specs.
func specsFor(p *plan.Plan, roots map[string][]string) ([]layering.Spec, error) {
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
	specs = append(specs, layering.Spec{Name: RootLayer, Roots: rootRoots})
	return specs, nil
}

func permKey(perms []plan.Perm) []string {
	var out []string
	for _, pm := range perms {
		s := "perm path=" + pm.Path
		if pm.Mode != nil {
			s += fmt.Sprintf(" mode=%o", *pm.Mode)
		}
		if pm.UID != nil {
			s += fmt.Sprintf(" uid=%d", *pm.UID)
		}
		if pm.GID != nil {
			s += fmt.Sprintf(" gid=%d", *pm.GID)
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

func uniqueSorted(in []string) []string {
	if len(in) == 0 {
		return nil
	}
	out := append([]string(nil), in...)
	sort.Strings(out)
	j := 0
	for i := range out {
		if i == 0 || out[i] != out[j-1] {
			out[j] = out[i]
			j++
		}
	}
	return out[:j]
}
