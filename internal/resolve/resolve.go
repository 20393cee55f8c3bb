// Package resolve turns a plan into what the layer writer will receive,
// reading no registry but a base image and writing nothing: the plan's
// installables evaluated to store paths, the closure found from metadata
// (the local store and the binary caches' narinfo; Nix builds only what
// neither has), the image's platform chosen from the derivations' system,
// every closure path assigned to one layer (internal/layering), and every
// layer's layer.Spec and key. It also knows where each path's bytes are
// (the local store, a substituter's NAR, replayed from a NAR read once for
// the root filesystem) and checks the config against the image as this
// machine can see it. internal/pipeline wires the result into a build.
package resolve

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"runtime"
	"slices"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/org/nix-layer-action/internal/closure"
	"github.com/org/nix-layer-action/internal/image"
	"github.com/org/nix-layer-action/internal/layer"
	"github.com/org/nix-layer-action/internal/layering"
	"github.com/org/nix-layer-action/internal/plan"
	"github.com/org/nix-layer-action/internal/rootfs"
	"github.com/org/nix-layer-action/internal/substituter"
)

// Resolved is a plan whose deps have been resolved to store paths, whose
// closure has been assigned to layers, and whose every layer has its
// layer.Spec and key. Nothing has been written.
type Resolved struct {
	Plan   *plan.Plan
	Graph  *closure.Graph
	Layers []Planned
	// Roots maps each plan layer name (and plan.RootLayerName) to the store paths its
	// deps resolved to.
	Roots map[string][]string
	// Warnings are things a user should see (layer budget, …).
	Warnings []string
	// Base is the plan's from: image (nil without one).
	Base *image.Previous
	// origin says where each store path's bytes are (nil: all in the
	// plan's store tree or the local store).
	origin *closureSource
	// System is the Nix system the closure is for ("x86_64-linux") and
	// Platform the image's, which follows from it.
	System   string
	Platform v1.Platform
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

// ImageRoots are the store paths whose closure is the image's Nix
// closure: every layer's roots, the config's store paths and the root
// filesystem's sources. Paths a from: image holds are in it too.
func (r *Resolved) ImageRoots() []string { return allRoots(r.Roots) }

// Source reads each store path of the resolved closure from the local
// store (or the plan's store tree) or, for paths only a binary cache
// has, from its NAR through sub.
func (r *Resolved) Source(sub *substituter.Client) layer.Source {
	if r.origin == nil {
		return layer.DirSource{Root: r.Plan.StoreRoot}
	}
	return r.origin.Source(r.Plan.StoreRoot, sub)
}

// Planned is one planned layer: what the layer writer will receive, and
// where in the plan it comes from. Its name, paths and NAR size are its
// Spec's.
type Planned struct {
	// Spec is the layer's contract: name, store paths with NAR hashes and
	// sizes, files, perms, format. An empty layer's holds only its name.
	Spec  layer.Spec
	Key   string // layer.Key(Spec); "" for an empty layer
	Group string // the plan layer it came from (several after a split or auto)
	Empty bool   // nothing left for it: kept in the plan, left out of the image
}

// Name is the layer's name ("base", "base-2" after a split, "auto-1").
func (p Planned) Name() string { return p.Spec.Name }

// Paths are the layer's store paths, sorted.
func (p Planned) Paths() []string {
	if len(p.Spec.Paths) == 0 {
		return nil
	}
	out := make([]string, len(p.Spec.Paths))
	for i, sp := range p.Spec.Paths {
		out[i] = sp.Path
	}
	return out
}

// NarSize is the sum of the NAR sizes of the layer's store paths.
func (p Planned) NarSize() int64 {
	var n int64
	for _, sp := range p.Spec.Paths {
		n += sp.NarSize
	}
	return n
}

// Resolve loads the plan and resolves it (see resolve), with closure
// metadata from sub's binary caches where the local store lacks a path
// (sub may be nil), keying layers in format (zero: layer.DefaultFormat).
// It reads no registry: paths a from: image holds are not subtracted.
func Resolve(ctx context.Context, planFile string, nix NixOptions, sub *substituter.Client, format layer.Format) (*Resolved, error) {
	return ResolveWithBase(ctx, planFile, nix, sub, format, nil)
}

// BaseReader reads plan p's base image (from:) for the platform being
// built; nil when it has none.
type BaseReader func(ctx context.Context, p *plan.Plan, platform v1.Platform) (*image.Previous, error)

// ResolveWithBase is Resolve subtracting what the plan's base image
// holds: readBase (when set) reads it once the platform is known (a bad
// plan fails first).
func ResolveWithBase(ctx context.Context, planFile string, nix NixOptions, sub *substituter.Client, format layer.Format, readBase BaseReader) (*Resolved, error) {
	format, err := CheckFormat(format)
	if err != nil {
		return nil, err
	}
	l, err := loadPlan(ctx, planFile, nix)
	if err != nil {
		return nil, err
	}
	return resolve(ctx, l, nix, sub, readBase, format)
}

// resolve evaluates the plan's installables to store paths (unless the
// plan names a closure graph), finds the closure from metadata (the local
// store, the caches' narinfo; Nix builds only what neither has, see
// realise), assigns every closure path to exactly one layer, and derives
// every layer's Spec and key. readBase, when set, reads the plan's
// base image (once the platform is known): store paths it already holds
// are left out of every layer and its layers count against the layer
// budget. Every layer is keyed in format.
func resolve(ctx context.Context, l *loaded, nix NixOptions, sub *substituter.Client, readBase BaseReader, format layer.Format) (*Resolved, error) {
	p := l.plan
	nixSystem := askSystem(ctx, l, nix)
	rz, err := realise(ctx, l, nix, sub)
	if err != nil {
		return nil, err
	}
	sys, platform, err := imagePlatform(p, rz.system, nixSystem)
	if err != nil {
		return nil, err
	}
	var base *image.Previous
	if readBase != nil {
		if base, err = readBase(ctx, p, platform); err != nil {
			return nil, err
		}
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
	res := &Resolved{Plan: p, Graph: graph, Roots: roots, Base: base, Warnings: baseWarnings, origin: rz.origin, System: sys, Platform: platform}
	files, err := rootFiles(ctx, p, sources, graph, all, layers)
	if err != nil {
		return nil, err
	}
	if res.Layers, err = plannedLayers(p, graph, layers, files, format); err != nil {
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
	for ref := range p.EachDep() {
		if d := ref.Dep; d.Kind == plan.Installable && !seen[d.Value] {
			seen[d.Value] = true
			out = append(out, d.Value)
		}
	}
	return out
}

// depPaths are the store paths dep d stands for: itself, or what its
// installable evaluated to (outputs).
func depPaths(d plan.Dep, outputs map[string][]string) []string {
	if d.Kind == plan.StorePath {
		return []string{d.Value}
	}
	return outputs[d.Value]
}

// realised is a plan's deps turned into store paths, with the closure
// graph of all of them and where each path's bytes are.
type realised struct {
	roots   map[string][]string // plan layer name (and plan.RootLayerName) → store paths
	sources []rootfs.Source     // root-filesystem sources
	graph   *closure.Graph
	origin  *closureSource // nil: every path is read from the store tree
	// system is the Nix system the plan's derivations are for, or the
	// one asked for when it has none ("" when neither says).
	system string
}

// realise turns every dep of the plan into store paths by evaluation only
// (nothing is built to learn a path), and finds the closure: from the
// plan's closure graph file, or from metadata (see metadataClosure).
func realise(ctx context.Context, l *loaded, nixo NixOptions, sub *substituter.Client) (*realised, error) {
	p := l.plan
	sys := requestedSystem(p, nixo)
	n := &closure.Nix{Bin: nixo.Bin, Dir: p.Dir, Env: nixo.Env, Stderr: nixo.Stderr, System: sys}
	if p.StoreRoot != "" && p.ClosureGraph == "" {
		n.Store = p.StoreRoot
	}
	outputs := map[string][]string{}
	drvs := map[string]string{}
	if inst := installables(p); len(inst) > 0 {
		if p.ClosureGraph != "" {
			return nil, fmt.Errorf("%s: installables need nix, but the plan reads its closure from %s", p.File, p.ClosureGraph)
		}
		var err error
		if outputs, drvs, err = n.EvaluateDrvs(ctx, inst); err != nil {
			return nil, attribute(p, err)
		}
	}
	if err := p.Config.ResolveArgs(p.File, p.Attr, outputs); err != nil {
		return nil, err
	}
	r := &realised{roots: rootsOf(p, outputs), sources: rootSources(p, outputs), system: sys}
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
	builders, builderDrvs, err := drvOutputs(ctx, n, l.drvs)
	if err != nil {
		return nil, err
	}
	maps.Copy(drvs, builderDrvs)
	// The platform is settled before anything is built or fetched.
	if r.system, err = closureSystem(p, sys, drvs); err != nil {
		return nil, err
	}
	r.graph, r.origin, err = metadataClosure(ctx, n, sub, p, outputs, builders, all, local, nixo.NoBuild)
	if err != nil {
		return nil, err
	}
	r.sources = rootsFromNAR(r.sources, r.origin, p.StoreRoot, sub)
	return r, nil
}

// rootsFromNAR makes the root-filesystem sources the local store lacks
// read from their substituter's NAR (only their own NAR: realising them
// would fetch their whole closure), kept so that NAR is fetched once.
func rootsFromNAR(sources []rootfs.Source, origin *closureSource, storeRoot string, sub *substituter.Client) []rootfs.Source {
	if origin == nil || sub == nil {
		return sources
	}
	src := origin.Source(storeRoot, sub)
	for i := range sources {
		if origin.origin[sources[i].StorePath] == OriginSubstituter {
			// Kept: the layer holding this store path replays it.
			sources[i].From = origin.kept.keeping(src)
		}
	}
	return sources
}

// drvOutputs maps each output path of a Nix plan's derivations to the
// installable that builds it, and each such installable to its derivation
// file (evaluation only).
func drvOutputs(ctx context.Context, n *closure.Nix, drvs []plan.Realise) (map[string]string, map[string]string, error) {
	if len(drvs) == 0 {
		return nil, nil, nil
	}
	inst := drvInstallables(ctx, n, drvs)
	outs, files, err := n.EvaluateDrvs(ctx, inst)
	if err != nil {
		return nil, nil, err
	}
	m := map[string]string{}
	for _, i := range inst {
		for _, o := range outs[i] {
			m[o] = i
		}
	}
	return m, files, nil
}

// requestedSystem is the system the run asks for: the option, else the
// plan's system: ("" = what Nix runs as).
func requestedSystem(p *plan.Plan, nixo NixOptions) string {
	if nixo.System != "" {
		return nixo.System
	}
	return p.System
}

// closureSystem is the one Nix system the plan's derivations (installable
// → .drv file) are for, read from the derivations themselves; derivations
// for two systems, or for another system than the one asked for (want,
// when set), are an error. Without derivations it is want.
func closureSystem(p *plan.Plan, want string, drvs map[string]string) (string, error) {
	insts := slices.Sorted(maps.Keys(drvs))
	var sys, first string
	for _, inst := range insts {
		s, err := closure.DerivationSystem(filepath.Join(p.StoreRoot, drvs[inst]))
		if err != nil {
			return "", fmt.Errorf("%s: %w", p.File, err)
		}
		switch {
		case want != "" && s != want:
			return "", &PlatformError{File: p.File, Installable: inst, System: s, Want: want}
		case sys == "":
			sys, first = s, inst
		case s != sys:
			return "", fmt.Errorf("%s: %s is built for %s but %s for %s: one image holds the packages of one system", p.File, first, sys, inst, s)
		}
	}
	if sys == "" {
		sys = want
	}
	return sys, nil
}

// PlatformError is a package built for another system than the one asked
// for: x86_64 binaries would end up in an image labelled arm64.
type PlatformError struct {
	File        string // the plan
	Installable string
	System      string // the derivation's system
	Want        string // the system asked for
}

func (e *PlatformError) Error() string {
	return fmt.Sprintf("%s: %s is built for %s, not %s, the system this image is for (its derivation says system = %q); select the package for %s (e.g. .#packages.%s.NAME, or a plain .#NAME)", e.File, e.Installable, e.System, e.Want, e.System, e.Want, e.Want)
}

// askSystem starts asking Nix for the system it builds for when nothing
// else can say what the image's is — no system asked for, no derivations
// in the plan, Nix in use — so the question runs alongside the closure's;
// the returned function waits for the answer ("" when it was not asked).
func askSystem(ctx context.Context, l *loaded, nixo NixOptions) func() (string, error) {
	p := l.plan
	if requestedSystem(p, nixo) != "" || p.ClosureGraph != "" || len(installables(p)) > 0 || len(l.drvs) > 0 {
		return func() (string, error) { return "", nil }
	}
	type answer struct {
		sys string
		err error
	}
	ch := make(chan answer, 1)
	go func() {
		n := &closure.Nix{Bin: nixo.Bin, Dir: p.Dir, Env: nixo.Env}
		s, err := n.CurrentSystem(ctx)
		ch <- answer{s, err}
	}()
	return func() (string, error) {
		a := <-ch
		if a.err != nil {
			return "", fmt.Errorf("asking nix for its system: %w", a.err)
		}
		return a.sys, nil
	}
}

// imagePlatform is the Nix system the closure is for and the image
// platform that follows: the system realise settled on, else (a plan of
// bare store paths) what Nix builds for (nixSystem), else, for a plan that
// reads a closure graph and runs no Nix, this machine's.
func imagePlatform(p *plan.Plan, sys string, nixSystem func() (string, error)) (string, v1.Platform, error) {
	if ns, err := nixSystem(); err != nil {
		return "", v1.Platform{}, err
	} else if sys == "" {
		sys = ns
	}
	if sys == "" {
		sys = hostSystem()
	}
	platform, err := image.PlatformFromSystem(sys)
	if err != nil {
		return "", v1.Platform{}, fmt.Errorf("%s: system: %w", p.File, err)
	}
	return sys, platform, nil
}

// hostSystem is this machine's Nix system.
func hostSystem() string {
	if runtime.GOARCH == "arm64" {
		return "aarch64-linux"
	}
	return "x86_64-linux"
}

// rootsOf maps each plan layer (and the root layer) to its deps' paths.
func rootsOf(p *plan.Plan, outputs map[string][]string) map[string][]string {
	roots := map[string][]string{}
	for _, l := range p.Layers {
		roots[l.Name] = nil // a layer of no deps (auto) still has its entry
	}
	roots[plan.RootLayerName] = p.ConfigStorePaths()
	for ref := range p.EachDep() {
		if ref.Layer != plan.ConfigLayerName {
			roots[ref.Layer] = append(roots[ref.Layer], depPaths(ref.Dep, outputs)...)
		}
	}
	for name, paths := range roots {
		roots[name] = uniqueSorted(paths)
	}
	return roots
}

// closureGraph reads the plan's closure graph file, or asks Nix for the
// closure of all.
func closureGraph(ctx context.Context, p *plan.Plan, n *closure.Nix, all []string) (*closure.Graph, error) {
	switch {
	case p.ClosureGraph != "":
		g, err := closure.LoadGraphFile(p.ClosureGraph)
		var bad *closure.GraphFileError
		if errors.As(err, &bad) {
			// A value of the plan's closure graph: reported like a plan
			// error (file, line, field), annotated on the graph file.
			return nil, &plan.Error{File: bad.File, Line: bad.Line, Field: bad.Field, Msg: bad.Err.Error()}
		}
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

// rootSources are the root-filesystem sources root: names, each labelled
// with where the plan names it.
func rootSources(p *plan.Plan, built map[string][]string) []rootfs.Source {
	var sources []rootfs.Source
	for ref := range p.EachDep() {
		if ref.Layer != plan.RootLayerName {
			continue
		}
		d := ref.Dep
		label := fmt.Sprintf("%s:%d: root: %s", p.File, d.Line, d.Raw)
		if p.Attr != "" { // a plan written in Nix has attribute paths, not lines
			label = fmt.Sprintf("%s: %s.%s: %s", p.File, p.Attr, ref.Field, d.Raw)
		}
		for _, sp := range depPaths(d, built) {
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
	rootRoots := roots[plan.RootLayerName]
	if auto {
		rootRoots = nil
	}
	return append(specs, layering.Spec{Name: plan.RootLayerName, Roots: rootRoots})
}

func uniqueSorted(in []string) []string {
	if len(in) == 0 {
		return nil
	}
	out := slices.Clone(in)
	slices.Sort(out)
	return slices.Compact(out)
}
