package resolve

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/org/nix-layer-action/internal/closure"
	"github.com/org/nix-layer-action/internal/fsmode"
	"github.com/org/nix-layer-action/internal/layer"
	"github.com/org/nix-layer-action/internal/layering"
	"github.com/org/nix-layer-action/internal/nixdb"
	"github.com/org/nix-layer-action/internal/plan"
	"github.com/org/nix-layer-action/internal/rootfs"
)

// plannedLayers builds every layer's Spec once — its store paths with NAR
// hashes, the root layer's files, the perms that may touch it, the format
// — and derives its key from exactly that Spec.
func plannedLayers(p *plan.Plan, g *closure.Graph, layers []layering.Layer, files []layer.File, format layer.Format) ([]Planned, error) {
	groupPerms := map[string][]plan.Perm{}
	for _, l := range p.Layers {
		groupPerms[l.Name] = l.Perms
	}
	filesAt := rootFilesLayer(layers)
	planPerms := layerPerms(p.Perms)
	out := make([]Planned, len(layers))
	for i, l := range layers {
		pl := Planned{Spec: layer.Spec{Name: l.Name}, Group: l.Group, Empty: l.Empty}
		if i == filesAt && len(files) > 0 {
			pl.Empty = false
		}
		if pl.Empty {
			out[i] = pl
			continue
		}
		spec := layer.Spec{Name: l.Name, StoreDir: p.StoreDir, Paths: storePaths(g, l.Paths), Format: format}
		if i == filesAt {
			spec.Files = files
		}
		spec.Perms = append(layerPerms(groupPerms[l.Group]), layer.MatchingPerms(spec, planPerms)...)
		key, err := layer.Key(spec)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.File, err)
		}
		pl.Spec, pl.Key = spec, key
		out[i] = pl
	}
	return out, nil
}

// rootFilesLayer is the index of the layer holding the root files: the
// root layer (its last part, when split); -1 when there is none.
func rootFilesLayer(layers []layering.Layer) int {
	at := -1
	for i, l := range layers {
		if l.Group == plan.RootLayerName || l.Name == plan.RootLayerName {
			at = i
		}
	}
	return at
}

func storePaths(g *closure.Graph, paths []string) []layer.StorePath {
	out := make([]layer.StorePath, 0, len(paths))
	for _, p := range paths {
		info, _ := g.Info(p)
		out = append(out, layer.StorePath{Path: p, NarHash: info.NarHash, NarSize: info.NarSize})
	}
	return out
}

// layerPerms converts plan perms for the layer writer.
func layerPerms(perms []plan.Perm) []layer.Perm {
	var out []layer.Perm
	for _, pm := range perms {
		lp := layer.Perm{Regexp: pm.Regexp, UID: pm.UID, GID: pm.GID}
		if pm.Mode != nil {
			m := fsmode.FromUnix(*pm.Mode)
			lp.Mode = &m
		}
		out = append(out, lp)
	}
	return out
}

// rootFiles gathers the root layer's non-store entries: root-filesystem
// contents, /tmp, users and the Nix database. sources are the store paths
// the plan's root deps resolved to; root-filesystem contents may not lie
// inside the store (they would replace files of store paths).
func rootFiles(ctx context.Context, p *plan.Plan, sources []rootfs.Source, g *closure.Graph, all []string, layers []layering.Layer) ([]layer.File, error) {
	var sets []rootfs.Set
	if len(sources) > 0 {
		sources, err := withNarHashes(sources, g)
		if err != nil {
			return nil, fmt.Errorf("%s: root: %w", p.File, err)
		}
		files, err := rootfs.Collect(ctx, sources, p.StoreRoot, p.StoreDir)
		if err != nil {
			return nil, fmt.Errorf("%s: root: %w", p.File, overlapHolder(err, layers))
		}
		sets = append(sets, rootfs.Set{Label: "root", Files: files})
	}
	if p.Tmp {
		sets = append(sets, rootfs.Set{Label: "tmp", Files: rootfs.Tmp()})
	}
	if len(p.Users) > 0 {
		files, err := userFiles(p)
		if err != nil {
			return nil, err
		}
		sets = append(sets, rootfs.Set{Label: "users", Files: files})
	}
	if p.NixDB {
		files, err := dbFiles(p, g, all)
		if err != nil {
			return nil, err
		}
		sets = append(sets, rootfs.Set{Label: "nix-db", Files: files})
	}
	if len(sets) == 0 {
		return nil, nil
	}
	files, err := rootfs.Merge(sets...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.File, err)
	}
	return files, nil
}

// withNarHashes gives every root-filesystem source read from the local
// store its NarHash from g, so Collect checks what it reads against what
// Nix registered (a source read from a substituter's NAR is checked
// there).
func withNarHashes(sources []rootfs.Source, g *closure.Graph) ([]rootfs.Source, error) {
	out := slices.Clone(sources)
	for i, s := range out {
		if s.From != nil {
			continue
		}
		info, ok := g.Info(s.StorePath)
		if !ok || info.NarHash == "" {
			return nil, fmt.Errorf("root dep %s: no NAR hash known for %s to check its contents against", s.Label, s.StorePath)
		}
		out[i].NarHash = info.NarHash
	}
	return out, nil
}

// overlapHolder names the layer holding the store path a root dep would
// overwrite.
func overlapHolder(err error, layers []layering.Layer) error {
	oe, ok := err.(*rootfs.StoreOverlapError)
	if !ok {
		return err
	}
	for _, l := range layers {
		for _, sp := range l.Paths {
			if oe.Path == sp || strings.HasPrefix(oe.Path, sp+"/") {
				oe.Holder = fmt.Sprintf("store path %s of layer %s", sp, l.Name)
				return oe
			}
		}
	}
	return oe
}

func userFiles(p *plan.Plan) ([]layer.File, error) {
	var us []rootfs.User
	for _, u := range p.Users {
		us = append(us, rootfs.User{Name: u.Name, UID: u.UID, GID: u.GID, Home: u.Home})
	}
	files, err := rootfs.Users(us)
	if err != nil {
		return nil, fmt.Errorf("%s: users: %w", p.File, err)
	}
	return files, nil
}

func dbFiles(p *plan.Plan, g *closure.Graph, all []string) ([]layer.File, error) {
	infos, err := closureInfos(g, all)
	if err != nil {
		return nil, err
	}
	uid, gid, _ := imageUser(p)
	files, err := nixdb.Files(infos, nixdb.Options{StoreDir: p.StoreDir, UID: uid, GID: gid})
	if err != nil {
		return nil, fmt.Errorf("%s: nix-db: %w", p.File, err)
	}
	return files, nil
}

func closureInfos(g *closure.Graph, roots []string) ([]closure.PathInfo, error) {
	if len(roots) == 0 {
		return nil, nil
	}
	paths, err := g.Closure(roots...)
	if err != nil {
		return nil, err
	}
	infos := make([]closure.PathInfo, 0, len(paths))
	for _, p := range paths {
		info, _ := g.Info(p)
		infos = append(infos, info)
	}
	return infos, nil
}

// imageUser resolves config.user to numeric ids when the plan defines it.
func imageUser(p *plan.Plan) (uid, gid int, ok bool) {
	name, group, _ := strings.Cut(p.Config.User, ":")
	if name == "" {
		return 0, 0, false
	}
	for _, pu := range p.Users {
		if pu.Name == name || strconv.Itoa(pu.UID) == name {
			return pu.UID, groupID(group, pu.GID), true
		}
	}
	if n, err := strconv.Atoi(name); err == nil {
		return n, groupID(group, n), true
	}
	return 0, 0, false
}

func groupID(group string, def int) int {
	if n, err := strconv.Atoi(group); err == nil {
		return n
	}
	return def
}
