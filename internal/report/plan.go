package report

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/org/nix-layer-action/internal/bytesize"
	"github.com/org/nix-layer-action/internal/nixpath"
)

// Plan is what the plan command prints: which store paths each layer of
// a resolved plan holds, with NAR sizes and keys. Nothing was written.
type Plan struct {
	File   string      `json:"plan"`
	Layers []PlanLayer `json:"layers"`
}

// PlanLayer is one layer of a Plan.
type PlanLayer struct {
	Name    string   `json:"name"`
	Group   string   `json:"group"`
	Key     string   `json:"key"`
	NarSize int64    `json:"narSize"`
	Empty   bool     `json:"empty"`
	Paths   []string `json:"paths"`
}

// JSON writes the plan as indented JSON (paths [] rather than null).
func (p *Plan) JSON(w io.Writer) error {
	out := Plan{File: p.File}
	for _, l := range p.Layers {
		if l.Paths == nil {
			l.Paths = []string{}
		}
		out.Layers = append(out.Layers, l)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// Table writes the plan as a text table for terminals, with a total row.
func (p *Plan) Table(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tLAYER\tPATHS\tNAR SIZE\tKEY")
	var total int64
	n, paths := 0, 0
	for _, l := range p.Layers {
		if l.Empty {
			fmt.Fprintf(tw, "-\t%s\t0\t-\t(empty: every path is in an earlier layer; left out)\n", l.Name)
			continue
		}
		n++
		total += l.NarSize
		paths += len(l.Paths)
		fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%s\n", n, l.Name, len(l.Paths), bytesize.Format(l.NarSize), shortKey(l.Key))
	}
	fmt.Fprintf(tw, "\t%s\t%d\t%s\t\n", Count(n, "layer"), paths, bytesize.Format(total))
	return tw.Flush()
}

// shortKey is a layer key's first 19 characters ("sha256:" and 12 hex).
func shortKey(k string) string {
	if len(k) > 19 {
		return k[:19]
	}
	return k
}

// Unbuilt is what plan --no-build prints when deps need a build: the deps
// and the layers that name them, the derivations Nix would build and the
// paths it would fetch.
type Unbuilt struct {
	File        string       `json:"plan"`
	Deps        []UnbuiltDep `json:"unbuilt"`
	Derivations []string     `json:"derivations"`
	Fetch       []string     `json:"fetch"`
}

// UnbuiltDep is a dep no store or cache has, and the layer that names it
// (a layer's name, "root" or "config").
type UnbuiltDep struct {
	Layer string `json:"layer"`
	Dep   string `json:"dep"`
}

// JSON writes u as indented JSON (lists [] rather than null).
func (u *Unbuilt) JSON(w io.Writer) error {
	out := *u
	if out.Derivations == nil {
		out.Derivations = []string{}
	}
	if out.Fetch == nil {
		out.Fetch = []string{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// Text writes u for terminals.
func (u *Unbuilt) Text(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "not resolved without a build (--no-build): these deps reach paths no store or binary cache has, and a package's closure is known only once it is built\n")
	for _, d := range u.Deps {
		fmt.Fprintf(&b, "  layer %s: %s\n", d.Layer, d.Dep)
	}
	if len(u.Derivations) > 0 {
		var names []string
		for _, d := range u.Derivations {
			names = append(names, strings.TrimSuffix(nixpath.Name(d), ".drv"))
		}
		fmt.Fprintf(&b, "Nix would build %s: %s\n", Count(len(u.Derivations), "derivation"), strings.Join(names, ", "))
	}
	if len(u.Fetch) > 0 {
		fmt.Fprintf(&b, "Nix would fetch %s from its substituters\n", Count(len(u.Fetch), "path"))
	}
	b.WriteString("no layers shown: run plan without --no-build (it builds them) or build\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// Count is "1 layer", "2 layers": n and what, plural unless n is 1.
func Count(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
