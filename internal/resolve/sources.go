package resolve

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/org/nix-layer-action/internal/closure"
	"github.com/org/nix-layer-action/internal/layer"
	"github.com/org/nix-layer-action/internal/nixpath"
	"github.com/org/nix-layer-action/internal/plan"
	"github.com/org/nix-layer-action/internal/report"
	"github.com/org/nix-layer-action/internal/substituter"
)

// Origin is where a store path's bytes come from when its layer is built.
type Origin string

// Origins.
const (
	OriginLocal       Origin = "local store"
	OriginSubstituter Origin = "substituter"
	OriginBuilt       Origin = "built" // realised by Nix in this run (built, or substituted by Nix)
)

// closureSource is what the resolution learned about where every path of
// the closure lives.
type closureSource struct {
	origin map[string]Origin
	// kept holds the entries of substituted paths already read whole in
	// this run (root-filesystem sources), so their NAR is fetched once.
	kept *keptNARs
}

// Source returns the layer.Source reading each store path from where it
// lives: the local store (under storeRoot) or the substituter's NAR (read
// from memory when this run already read it whole).
func (c *closureSource) Source(storeRoot string, sub *substituter.Client) layer.Source {
	local := layer.DirSource{Root: storeRoot}
	if sub == nil {
		return local
	}
	return &perPath{local: local, remote: c.kept.replaying(layer.NARSource{Open: sub.OpenNAR}), origin: c.origin}
}

// perPath dispatches each store path to its source.
type perPath struct {
	local  layer.Source
	remote layer.Source
	origin map[string]Origin
}

func (p *perPath) Walk(ctx context.Context, path string, fn func(*layer.Entry) error) error {
	if p.origin[path] == OriginSubstituter {
		return p.remote.Walk(ctx, path, fn)
	}
	return p.local.Walk(ctx, path, fn)
}

// keptNARs remembers the entries of store paths whose NAR was read whole
// and verified (the walk returned no error), so a later walk of the same
// path replays them instead of fetching the NAR again. Only paths read
// through keeping are remembered: root-filesystem sources, at most
// rootFromNARLimit each, whose files are held in memory anyway.
type keptNARs struct {
	mu      sync.Mutex
	entries map[string][]keptEntry
}

type keptEntry struct {
	layer.Entry
	data []byte
}

// keeping returns a Source that walks src and remembers what it read.
func (k *keptNARs) keeping(src layer.Source) layer.Source {
	return walkFunc(func(ctx context.Context, path string, fn func(*layer.Entry) error) error {
		if kept, ok := k.get(path); ok {
			return replay(kept, fn)
		}
		var kept []keptEntry
		err := src.Walk(ctx, path, func(e *layer.Entry) error {
			ke := keptEntry{Entry: *e}
			if e.Mode.IsRegular() {
				data, err := io.ReadAll(io.LimitReader(e.Body, e.Size+1))
				if err != nil {
					return err
				}
				if int64(len(data)) != e.Size {
					return fmt.Errorf("%s: %d bytes, the entry says %d", e.Path, len(data), e.Size)
				}
				ke.data = data
			}
			kept = append(kept, ke)
			return fn(ke.entry())
		})
		if err == nil {
			k.mu.Lock()
			k.entries[path] = kept
			k.mu.Unlock()
		}
		return err
	})
}

// replaying returns a Source that replays a remembered path and walks src
// for any other.
func (k *keptNARs) replaying(src layer.Source) layer.Source {
	return walkFunc(func(ctx context.Context, path string, fn func(*layer.Entry) error) error {
		if kept, ok := k.get(path); ok {
			return replay(kept, fn)
		}
		return src.Walk(ctx, path, fn)
	})
}

func (k *keptNARs) get(path string) ([]keptEntry, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	kept, ok := k.entries[path]
	return kept, ok
}

// replay calls fn for each remembered entry, stopping at its first error.
func replay(kept []keptEntry, fn func(*layer.Entry) error) error {
	for i := range kept {
		if err := fn(kept[i].entry()); err != nil {
			return err
		}
	}
	return nil
}

// entry is a fresh layer.Entry whose Body reads the kept bytes (and
// offers them whole through Bytes, so a reader holding them in memory
// shares them instead of copying).
func (e keptEntry) entry() *layer.Entry {
	out := e.Entry
	out.Body = nil
	if e.Mode.IsRegular() {
		out.Body = &keptBody{Reader: bytes.NewReader(e.data), data: e.data}
	}
	return &out
}

// keptBody reads kept bytes; Bytes returns all of them.
type keptBody struct {
	*bytes.Reader
	data []byte
}

// Bytes returns the whole body, which the caller must not modify.
func (b *keptBody) Bytes() []byte { return b.data }

// walkFunc adapts a function to layer.Source.
type walkFunc func(ctx context.Context, path string, fn func(*layer.Entry) error) error

func (f walkFunc) Walk(ctx context.Context, path string, fn func(*layer.Entry) error) error {
	return f(ctx, path, fn)
}

// metadataClosure resolves the closure of the plan's store paths (all)
// from metadata only: the local store's where paths are valid, the
// substituters' narinfo for the rest, and a Nix build only for what no
// cache has (the only case that pays for a closure), unless noBuild
// (then an *UnbuiltError). Nothing is downloaded. outputs maps each installable to the paths it evaluated to;
// mustBeLocal are paths whose contents are needed whole (root-filesystem
// sources): when the local store lacks one, it is read from its own NAR
// if a cache has it and it is at most rootFromNARLimit, else realised.
func metadataClosure(ctx context.Context, n *closure.Nix, sub *substituter.Client, p *plan.Plan, outputs map[string][]string, builders map[string]string, all, mustBeLocal []string, noBuild bool) (*closure.Graph, *closureSource, error) {
	valid, invalid, err := n.Valid(ctx, all)
	if err != nil {
		return nil, nil, err
	}
	var cached []closure.PathInfo
	missing := invalid
	if len(invalid) > 0 && sub != nil {
		if cached, missing, err = fromCaches(ctx, sub, invalid); err != nil {
			return nil, nil, err
		}
	}
	build := needsBuild(p, outputs, builders, invalid, cached, missing, mustBeLocal)
	if len(build) > 0 && noBuild {
		return nil, nil, unbuilt(ctx, n, p, outputs, builders, build)
	}
	if len(build) > 0 {
		announceBuild(ctx, n, build)
		if _, err := n.Build(ctx, build); err != nil {
			return nil, nil, attribute(p, err)
		}
		valid = nil // what is valid now is asked again
	} else if valid == nil {
		valid = []closure.PathInfo{} // known: nothing is valid
	}
	return mergeClosure(ctx, n, all, valid, invalid, cached)
}

// announceBuild says, in our words rather than Nix's, what Nix is about to
// build and why: how many derivations, which, and for which deps. It asks
// Nix first (a dry run, building nothing); when that fails it says nothing
// and the build itself reports the error.
func announceBuild(ctx context.Context, n *closure.Nix, build []string) {
	if n.Stderr == nil {
		return
	}
	d, err := n.WillBuild(ctx, build)
	if err != nil {
		return
	}
	if line := buildAnnouncement(d, build); line != "" {
		fmt.Fprintln(n.Stderr, line)
	}
}

// whyBuild is why even `plan` builds what no store or cache has.
const whyBuild = "a package's closure is known only once it is built"

// buildAnnouncement is the line announceBuild prints ("" when Nix would
// neither build nor fetch anything):
// "nix: building 2 derivations no store or binary cache has (…), for .#app: a-1.0, b-2.1".
func buildAnnouncement(d closure.DryRun, deps []string) string {
	const maxNames = 8
	names := func(paths []string) string {
		var out []string
		for i, p := range paths {
			if i == maxNames {
				out = append(out, fmt.Sprintf("… and %d more", len(paths)-maxNames))
				break
			}
			out = append(out, strings.TrimSuffix(nixpath.Name(p), ".drv"))
		}
		return strings.Join(out, ", ")
	}
	what := report.Count(len(d.Build), "derivation")
	forDeps := strings.Join(deps, ", ")
	switch {
	case len(d.Build) > 0 && len(d.Fetch) > 0:
		return fmt.Sprintf("nix: building %s no store or binary cache has (%s), and fetching %s from Nix's substituters, for %s: %s", what, whyBuild, report.Count(len(d.Fetch), "path"), forDeps, names(d.Build))
	case len(d.Build) > 0:
		return fmt.Sprintf("nix: building %s no store or binary cache has (%s), for %s: %s", what, whyBuild, forDeps, names(d.Build))
	case len(d.Fetch) > 0:
		return fmt.Sprintf("nix: fetching %s from Nix's substituters (for %s): %s", report.Count(len(d.Fetch), "path"), forDeps, names(d.Fetch))
	}
	return ""
}

// fromCaches asks the substituters for the closures of paths; the paths no
// cache has are returned as missing, not as an error.
func fromCaches(ctx context.Context, sub *substituter.Client, paths []string) ([]closure.PathInfo, []string, error) {
	infos, err := sub.PathInfos(ctx, paths)
	var me *substituter.MissingError
	if errors.As(err, &me) {
		return infos, me.Paths, nil
	}
	if err != nil {
		return nil, nil, err
	}
	return infos, nil, nil
}

// needsBuild lists what Nix must realise: each dep whose closure reaches a
// path neither the local store nor a cache has, and each whose contents
// must be on disk but are not. A store path dep is built through the
// derivation that has it as output (builders: a Nix plan's derivations),
// else asked for as it is (Nix can only substitute it).
func needsBuild(p *plan.Plan, outputs map[string][]string, builders map[string]string, invalid []string, cached []closure.PathInfo, missing, mustBeLocal []string) []string {
	c := &coverage{known: map[string]closure.PathInfo{}, gone: map[string]bool{}, invalid: map[string]bool{}}
	for _, in := range cached {
		c.known[in.Path] = in
	}
	for _, m := range missing {
		c.gone[m] = true
	}
	for _, i := range invalid {
		c.invalid[i] = true
	}
	var out []string
	budget := int64(rootFromNARLimit) // for all root sources read from NARs
	for ref := range p.EachDep() {
		d := ref.Dep
		if slices.Contains(out, d.Value) {
			continue
		}
		for _, o := range depPaths(d, outputs) {
			if c.reachesMissing(o) || slices.Contains(mustBeLocal, o) && c.invalid[o] && !c.fetchable(o, &budget) {
				inst := d.Value
				if b, ok := builders[o]; ok {
					inst = b
				}
				if !slices.Contains(out, inst) {
					out = append(out, inst)
				}
				break
			}
		}
	}
	return out
}

// coverage is what the local store and the caches know.
type coverage struct {
	known   map[string]closure.PathInfo // cached infos
	gone    map[string]bool             // in no cache
	invalid map[string]bool             // not in the local store
}

// rootFromNARLimit bounds the NAR size of all root-filesystem sources of
// a run read from a cache instead of the store: their files are held in
// memory until the root layer is written. buildEnvs and /etc trees are far
// smaller; what does not fit is realised by Nix and read from the store.
const rootFromNARLimit = 32 << 20

// fetchable reports whether a cache has path with a NAR that fits in what
// is left of budget, and takes its size from budget when it does.
func (c *coverage) fetchable(path string, budget *int64) bool {
	in, ok := c.known[path]
	if !ok || in.NarSize > *budget {
		return false
	}
	*budget -= in.NarSize
	return true
}

// reachesMissing reports whether the closure of path (through the cached
// infos) reaches a path no cache has.
func (c *coverage) reachesMissing(path string) bool {
	seen := map[string]bool{}
	var walk func(string) bool
	walk = func(p string) bool {
		if seen[p] {
			return false
		}
		seen[p] = true
		if c.gone[p] {
			return true
		}
		in, ok := c.known[p]
		if !ok {
			return false // local: its closure is local too
		}
		for _, r := range in.References {
			if r != p && walk(r) {
				return true
			}
		}
		return false
	}
	return walk(path)
}

// mergeClosure builds the graph: the local store's infos for the closure
// of every root valid now (including what was just realised), the caches'
// for the rest; local wins where both know a path. Paths that were not
// valid before and are now were realised by this run. valid, when not
// nil, is what is valid now (nothing was built since it was asked).
func mergeClosure(ctx context.Context, n *closure.Nix, all []string, valid []closure.PathInfo, invalidBefore []string, cached []closure.PathInfo) (*closure.Graph, *closureSource, error) {
	if valid == nil {
		var err error
		if valid, _, err = n.Valid(ctx, all); err != nil {
			return nil, nil, err
		}
	}
	src := &closureSource{origin: map[string]Origin{}, kept: &keptNARs{entries: map[string][]keptEntry{}}}
	var infos []closure.PathInfo
	if len(valid) > 0 {
		roots := make([]string, 0, len(valid))
		for _, v := range valid {
			roots = append(roots, v.Path)
		}
		local, err := n.PathInfo(ctx, roots)
		if err != nil {
			return nil, nil, err
		}
		for _, p := range local.Paths() {
			in, _ := local.Info(p)
			infos = append(infos, in)
			src.origin[p] = OriginLocal
		}
	}
	for _, p := range invalidBefore {
		if src.origin[p] == OriginLocal {
			src.origin[p] = OriginBuilt
		}
	}
	for _, in := range cached {
		if _, ok := src.origin[in.Path]; !ok {
			infos = append(infos, in)
			src.origin[in.Path] = OriginSubstituter
		}
	}
	g, err := closure.NewGraph(infos)
	if err != nil {
		return nil, nil, fmt.Errorf("merging local and cached closure metadata: %w", err)
	}
	for _, r := range all {
		if _, ok := g.Info(r); !ok {
			return nil, nil, fmt.Errorf("store path %s is neither in the local store nor in any binary cache, and no installable builds it", r)
		}
	}
	return g, src, nil
}
