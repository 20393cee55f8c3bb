package report

import (
	"sort"
	"strings"

	"github.com/org/nix-layer-action/internal/nixpath"
)

// LayerPaths is one layer's store paths, as recorded in an image's metadata
// (previous image) or computed from the plan (next image).
type LayerPaths struct {
	Name  string
	Key   string
	Paths []PathSize
	// Compression is the layer's compression ("gzip", "zstd"; "" when
	// unknown). It is part of the key: a layer in another compression is
	// rebuilt even with the same paths.
	Compression string
}

// Package is a store path split into name, version and output.
type Package struct {
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
	Output  string `json:"output,omitempty"` // "dev", "lib", … when the name ends in a known output suffix
	Path    string `json:"path"`
	NarSize int64  `json:"narSize"`
}

// VersionChange is a package present in both images with a different store
// path: usually a new version, or the same version rebuilt (other inputs).
type VersionChange struct {
	Name       string `json:"name"`
	Output     string `json:"output,omitempty"`
	OldVersion string `json:"oldVersion"`
	NewVersion string `json:"newVersion"`
	OldPath    string `json:"oldPath"`
	NewPath    string `json:"newPath"`
	SizeDelta  int64  `json:"sizeDelta"`
}

// Layer diff states.
const (
	LayerUnchanged = "unchanged"
	LayerRebuilt   = "rebuilt"
	LayerAdded     = "added"
	LayerRemoved   = "removed"
)

// LayerDiff compares one layer (matched by name) between two images.
type LayerDiff struct {
	Name      string          `json:"name"`
	State     string          `json:"state"` // unchanged | rebuilt | added | removed
	Rebuilt   bool            `json:"rebuilt"`
	Added     []Package       `json:"added,omitempty"`
	Removed   []Package       `json:"removed,omitempty"`
	Changed   []VersionChange `json:"changed,omitempty"`
	OldSize   int64           `json:"oldSize"` // sum of NAR sizes
	NewSize   int64           `json:"newSize"`
	SizeDelta int64           `json:"sizeDelta"`
	// Reason says why a rebuilt layer is rebuilt when its packages alone
	// do not: "compression zstd → gzip" ("" otherwise).
	Reason string `json:"reason,omitempty"`
}

// CompressionChange is the compression of the compared image's layers and
// the one the plan would be built in, when they differ.
type CompressionChange struct {
	From string `json:"from"`
	To   string `json:"to"`
	// Layers is how many layers are rebuilt for the compression alone
	// (their store paths are the same).
	Layers int `json:"layers"`
}

// Diff compares the layers of a previous image with the planned ones.
type Diff struct {
	HasPrevious bool        `json:"hasPrevious"`
	Layers      []LayerDiff `json:"layers"`
	OldSize     int64       `json:"oldSize"`
	NewSize     int64       `json:"newSize"`
	SizeDelta   int64       `json:"sizeDelta"`
	// Compression is set when layers present in both images differ in
	// compression, which changes every such layer's key.
	Compression *CompressionChange `json:"compressionChange,omitempty"`
}

// Rebuilt returns how many layers would be (re)built: rebuilt or added.
func (d *Diff) Rebuilt() int {
	n := 0
	for _, l := range d.Layers {
		if l.Rebuilt {
			n++
		}
	}
	return n
}

// ComputeDiff compares prev (nil: no previous image) with next. Layers are
// matched by name and reported in next's order, followed by layers only in
// prev. Within a layer, a path present in both is unchanged; the others are
// matched by package name (and output) into version changes, the rest are
// added or removed packages. A layer is rebuilt when its key differs.
func ComputeDiff(prev, next []LayerPaths) *Diff {
	d := &Diff{HasPrevious: prev != nil, Layers: []LayerDiff{}}
	prevByName := make(map[string]LayerPaths, len(prev))
	for _, l := range prev {
		prevByName[l.Name] = l
	}
	seen := make(map[string]bool, len(next))
	for _, n := range next {
		seen[n.Name] = true
		p, ok := prevByName[n.Name]
		ld := diffLayer(p.Paths, n.Paths)
		ld.Name = n.Name
		switch {
		case !ok:
			ld.State, ld.Rebuilt = LayerAdded, true
		case p.Key != n.Key:
			ld.State, ld.Rebuilt = LayerRebuilt, true
			d.noteCompression(&ld, p, n)
		default:
			ld.State = LayerUnchanged
		}
		d.Layers = append(d.Layers, ld)
	}
	for _, p := range prev {
		if seen[p.Name] {
			continue
		}
		seen[p.Name] = true
		ld := diffLayer(p.Paths, nil)
		ld.Name, ld.State = p.Name, LayerRemoved
		d.Layers = append(d.Layers, ld)
	}
	for _, l := range d.Layers {
		d.OldSize += l.OldSize
		d.NewSize += l.NewSize
	}
	d.SizeDelta = d.NewSize - d.OldSize
	return d
}

// noteCompression records in ld and d that a rebuilt layer's compression
// changes, and counts it as rebuilt for that alone when no package changed.
func (d *Diff) noteCompression(ld *LayerDiff, p, n LayerPaths) {
	if p.Compression == "" || n.Compression == "" || p.Compression == n.Compression {
		return
	}
	ld.Reason = "compression " + p.Compression + " → " + n.Compression
	if d.Compression == nil {
		d.Compression = &CompressionChange{From: p.Compression, To: n.Compression}
	}
	if len(ld.Added)+len(ld.Removed)+len(ld.Changed) == 0 {
		d.Compression.Layers++
	}
}

func diffLayer(prev, next []PathSize) LayerDiff {
	var ld LayerDiff
	inPrev := make(map[string]bool, len(prev))
	inNext := make(map[string]bool, len(next))
	for _, p := range prev {
		inPrev[p.Path] = true
		ld.OldSize += p.NarSize
	}
	for _, p := range next {
		inNext[p.Path] = true
		ld.NewSize += p.NarSize
	}
	ld.SizeDelta = ld.NewSize - ld.OldSize

	// Group the paths unique to each side by (name, output).
	type group struct{ old, new []Package }
	groups := map[string]*group{}
	var keys []string
	get := func(k string) *group {
		g := groups[k]
		if g == nil {
			g = &group{}
			groups[k] = g
			keys = append(keys, k)
		}
		return g
	}
	for _, p := range prev {
		if !inNext[p.Path] {
			pk := NewPackage(p)
			g := get(pk.Name + "\x00" + pk.Output)
			g.old = append(g.old, pk)
		}
	}
	for _, p := range next {
		if !inPrev[p.Path] {
			pk := NewPackage(p)
			g := get(pk.Name + "\x00" + pk.Output)
			g.new = append(g.new, pk)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		g := groups[k]
		sortPkgs(g.old)
		sortPkgs(g.new)
		n := min(len(g.old), len(g.new))
		for i := 0; i < n; i++ {
			o, nw := g.old[i], g.new[i]
			ld.Changed = append(ld.Changed, VersionChange{
				Name: o.Name, Output: o.Output,
				OldVersion: o.Version, NewVersion: nw.Version,
				OldPath: o.Path, NewPath: nw.Path,
				SizeDelta: nw.NarSize - o.NarSize,
			})
		}
		ld.Removed = append(ld.Removed, g.old[n:]...)
		ld.Added = append(ld.Added, g.new[n:]...)
	}
	return ld
}

func sortPkgs(p []Package) {
	sort.Slice(p, func(i, j int) bool {
		if c := compareVersions(p[i].Version, p[j].Version); c != 0 {
			return c < 0
		}
		return p[i].Path < p[j].Path
	})
}

// NewPackage parses a store path into a Package.
func NewPackage(p PathSize) Package {
	name, version := nixpath.PackageName(p.Path)
	pk := Package{Name: name, Version: version, Path: p.Path, NarSize: p.NarSize}
	pk.Version, pk.Output = nixpath.SplitOutput(version)
	return pk
}

// compareVersions compares like Nix's compareVersions: components split at
// "." and "-" and at digit/non-digit boundaries; numbers numerically, "pre"
// sorts before everything, other strings lexically, numbers above strings.
func compareVersions(a, b string) int {
	ca, cb := versionComponents(a), versionComponents(b)
	for i := 0; i < len(ca) || i < len(cb); i++ {
		var x, y string
		if i < len(ca) {
			x = ca[i]
		}
		if i < len(cb) {
			y = cb[i]
		}
		if c := compareComponent(x, y); c != 0 {
			return c
		}
	}
	return 0
}

func versionComponents(v string) []string {
	var out []string
	for i := 0; i < len(v); {
		c := v[i]
		if c == '.' || c == '-' {
			i++
			continue
		}
		j := i
		digit := c >= '0' && c <= '9'
		for j < len(v) && v[j] != '.' && v[j] != '-' && (v[j] >= '0' && v[j] <= '9') == digit {
			j++
		}
		out = append(out, v[i:j])
		i = j
	}
	return out
}

func isNum(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func compareComponent(x, y string) int {
	if x == y {
		return 0
	}
	xn, yn := isNum(x), isNum(y)
	switch {
	case xn && yn:
		x, y = strings.TrimLeft(x, "0"), strings.TrimLeft(y, "0")
		if len(x) != len(y) {
			if len(x) < len(y) {
				return -1
			}
			return 1
		}
		return strings.Compare(x, y)
	case x == "" && yn:
		return -1
	case xn && y == "":
		return 1
	case x == "pre":
		return -1
	case y == "pre":
		return 1
	case yn:
		return -1
	case xn:
		return 1
	default:
		return strings.Compare(x, y)
	}
}
