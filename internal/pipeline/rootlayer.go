package pipeline

import (
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/org/nix-layer-action/internal/closure"
	"github.com/org/nix-layer-action/internal/fsmode"
	"github.com/org/nix-layer-action/internal/layer"
	"github.com/org/nix-layer-action/internal/layering"
	"github.com/org/nix-layer-action/internal/nixdb"
	"github.com/org/nix-layer-action/internal/plan"
	"github.com/org/nix-layer-action/internal/rootfs"
)

// rootContent is what the reserved root layer holds besides store paths:
// root-filesystem contents, users, /tmp and the Nix database.
type rootContent struct {
	files []layer.File
	extra []string // key material describing files
}

// collectRoot gathers the root layer's non-store entries. rootSources are the
// store paths the plan's root deps resolved to, with the dep as written.
func collectRoot(p *plan.Plan, rootSources []rootfs.Source, g *closure.Graph, allRoots []string) (*rootContent, error) {
	var sets []rootfs.Set
	if len(rootSources) > 0 {
		files, err := rootfs.Collect(rootSources, p.StoreRoot)
		if err != nil {
			return nil, fmt.Errorf("%s: root: %w", p.File, err)
		}
		sets = append(sets, rootfs.Set{Label: "root", Files: files})
	}
	if p.Tmp {
		sets = append(sets, rootfs.Set{Label: "tmp", Files: rootfs.Tmp()})
	}
	if len(p.Users) > 0 {
		var us []rootfs.User
		for _, u := range p.Users {
			us = append(us, rootfs.User{Name: u.Name, UID: u.UID, GID: u.GID, Home: u.Home})
		}
		files, err := rootfs.Users(us)
		if err != nil {
			return nil, fmt.Errorf("%s: users: %w", p.File, err)
		}
		sets = append(sets, rootfs.Set{Label: "users", Files: files})
	}
	var dbExtra string
	if p.NixDB {
		infos, err := closureInfos(g, allRoots)
		if err != nil {
			return nil, err
		}
		uid, gid, _ := imageUser(p)
		files, err := nixdb.Files(infos, nixdb.Options{StoreDir: p.StoreDir, UID: uid, GID: gid})
		if err != nil {
			return nil, fmt.Errorf("%s: nix-db: %w", p.File, err)
		}
		sets = append(sets, rootfs.Set{Label: "nix-db", Files: files})
		// The database is a function of what it registers; key it by that
		// rather than by its bytes.
		dbExtra = fmt.Sprintf("nix-db uid=%d gid=%d %s", uid, gid, layering.Key("nix-db-v1", nil, infos))
	}
	if len(sets) == 0 {
		return &rootContent{}, nil
	}
	files, err := rootfs.Merge(sets...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.File, err)
	}
	// Everything but the database is keyed by its content digest.
	var keyed []layer.File
	for _, f := range files {
		if !strings.HasPrefix(f.Path, "/nix/var/nix/db/") {
			keyed = append(keyed, f)
		}
	}
	d, err := rootfs.Digest(keyed)
	if err != nil {
		return nil, err
	}
	rc := &rootContent{files: files, extra: []string{"rootfs " + d}}
	if dbExtra != "" {
		rc.extra = append(rc.extra, dbExtra)
	}
	return rc, nil
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
	u := p.Config.User
	if u == "" {
		return 0, 0, false
	}
	name, group, _ := strings.Cut(u, ":")
	for _, pu := range p.Users {
		if pu.Name == name || fmt.Sprint(pu.UID) == name {
			uid, gid = pu.UID, pu.GID
			if group != "" {
				fmt.Sscan(group, &gid)
			}
			return uid, gid, true
		}
	}
	var n int
	if _, err := fmt.Sscan(name, &n); err == nil {
		gid = n
		if group != "" {
			fmt.Sscan(group, &gid)
		}
		return n, gid, true
	}
	return 0, 0, false
}

// layerPerms converts plan perms for layer.Build.
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

// permsMayMatch returns the plan-level perms that match an entry of a layer
// holding paths (or, for the root layer, files), in plan order. Plan-level
// perms go into the key of exactly the layers they touch, so editing one
// does not rebuild every layer. A perm anchored with a literal prefix that
// no path or file shares is ruled out at once; the others are tested
// against every entry the layer will hold (the store paths' files, walked
// on disk under storeRoot, the files, and the parent directories layer.Build
// adds). When a store path cannot be walked (a closure-graph plan without
// the store), the remaining perms are kept: a key may then change more
// often than needed, never less.
func permsMayMatch(perms []plan.Perm, storeRoot, storeDir string, paths []string, files []layer.File) []plan.Perm {
	if storeDir == "" {
		storeDir = layer.DefaultStoreDir
	}
	// layer.Build writes the store dir and its parents into every layer.
	var always []string
	for d := storeDir; d != "/" && d != "."; d = path.Dir(d) {
		always = append(always, d)
	}
	screen := append(append([]string(nil), always...), paths...)
	var cand []plan.Perm
	for _, pm := range perms {
		if prefixMayMatch(pm.Regexp, screen, files) {
			cand = append(cand, pm)
		}
	}
	if len(cand) == 0 {
		return nil
	}
	matched := make([]bool, len(cand))
	left := len(cand)
	test := func(name string) {
		for i, pm := range cand {
			if !matched[i] && pm.Regexp.MatchString(name) {
				matched[i] = true
				left--
			}
		}
	}
	for _, d := range always {
		test(d)
	}
	for _, f := range files {
		for d := f.Path; d != "/" && d != "."; d = path.Dir(d) {
			test(d)
		}
	}
	root := ""
	if storeRoot != "" {
		root = strings.TrimSuffix(filepath.Clean(storeRoot), "/")
	}
	for _, p := range paths {
		if left == 0 {
			break
		}
		host := root + p
		err := filepath.WalkDir(host, func(hp string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			test(p + filepath.ToSlash(hp[len(host):]))
			if left == 0 {
				return filepath.SkipAll
			}
			return nil
		})
		if err != nil {
			return cand // cannot see the store: keep every candidate
		}
	}
	var out []plan.Perm
	for i, pm := range cand {
		if matched[i] {
			out = append(out, pm)
		}
	}
	return out
}

// prefixMayMatch is the cheap screen of permsMayMatch: only a regexp
// anchored with a literal prefix that no path or file of the layer shares
// is ruled out.
func prefixMayMatch(re *regexp.Regexp, paths []string, files []layer.File) bool {
	src := re.String()
	if !strings.HasPrefix(src, "^") {
		return true
	}
	lit, _ := re.LiteralPrefix()
	if lit == "" {
		return true
	}
	for _, p := range paths {
		if strings.HasPrefix(p, lit) || strings.HasPrefix(lit, p) {
			return true
		}
	}
	for _, f := range files {
		if strings.HasPrefix(f.Path, lit) || strings.HasPrefix(lit, f.Path) {
			return true
		}
	}
	return false
}

// rekey recomputes a layer's key once everything that shapes its bytes is
// known: plan-level perms that may touch it, and root-layer content.
func rekey(g *closure.Graph, l *layering.Layer, params string, extra []string) {
	infos := make([]closure.PathInfo, 0, len(l.Paths))
	for _, p := range l.Paths {
		info, _ := g.Info(p)
		infos = append(infos, info)
	}
	extra = append([]string(nil), extra...)
	sort.Strings(extra)
	l.Key = layering.Key(params, extra, infos)
}
