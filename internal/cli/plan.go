package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/org/nix-layer-action/internal/bytesize"
	"github.com/org/nix-layer-action/internal/nixpath"
	"github.com/org/nix-layer-action/internal/pipeline"
	"github.com/org/nix-layer-action/internal/secrets"
)

type planCmd struct {
	Env
	planFile    string
	asJSON      bool
	nixBin      string
	compression string
	system      string
	noBuild     bool
}

func (c *planCmd) Name() string { return "plan" }
func (c *planCmd) Synopsis() string {
	return "resolve the plan and print the layer assignment (no layers written, no network)"
}

func (c *planCmd) Run(ctx context.Context, args []string) error {
	fs := newFlagSet("plan", c.Stdout,
		"usage: nix-layer-action plan --plan FILE [--json]",
		"",
		"Realises the plan's installables, reads their closures and prints which store",
		"paths each layer holds (after splitting and auto layering), with NAR sizes and",
		"layer keys. Writes no layers and touches no registry. What no store or binary",
		"cache has is built (its closure is known only once built), announced first;",
		"--no-build names it and its layers instead.")
	fs.StringVar(&c.planFile, "plan", "", "layer plan: a file (YAML or JSON) or a flake output (.#imagePlan) (required)")
	fs.BoolVar(&c.asJSON, "json", false, "print JSON for machines")
	fs.StringVar(&c.nixBin, "nix", "nix", "nix command to run")
	fs.StringVar(&c.compression, "compression", "gzip", compressionUsage)
	fs.StringVar(&c.system, "system", "", "Nix system whose packages to plan, e.g. aarch64-linux (default: the plan's system:, else Nix's)")
	fs.BoolVar(&c.noBuild, "no-build", false, "build nothing: when a dep needs a build (no store or binary cache has it), name it, its layer and the derivations, and exit 0 without the layers")
	if help, err := parseFlags(fs, args, c.Stderr); help || err != nil {
		return err
	}
	if c.planFile == "" {
		return errors.New("plan: --plan is required")
	}
	format, err := layerFormat("plan", c.compression)
	if err != nil {
		return err
	}
	set := secrets.New()
	log := set.Writer(c.Stderr)
	defer log.Flush()
	sub, err := substituterFor(ctx, pipeline.NixOptions{Bin: c.nixBin}, set, func(f string, a ...any) { fmt.Fprintf(log, f+"\n", a...) })
	if err != nil {
		return set.Error(err)
	}
	res, err := pipeline.Resolve(ctx, c.planFile, pipeline.NixOptions{Bin: c.nixBin, Stderr: log, System: c.system, NoBuild: c.noBuild}, sub, format)
	var ue *pipeline.UnbuiltError
	if errors.As(err, &ue) {
		return c.printUnbuilt(set, ue)
	}
	if err != nil {
		return set.Error(err)
	}
	checked, err := res.CheckConfig()
	if err != nil {
		return set.Error(err)
	}
	for _, w := range append(res.Warnings, checked.Warnings...) {
		fmt.Fprintln(c.Stderr, "warning:", w)
	}
	for _, n := range checked.Notes {
		fmt.Fprintln(c.Stderr, "note:", n)
	}
	type jsonLayer struct {
		Name    string   `json:"name"`
		Group   string   `json:"group"`
		Key     string   `json:"key"`
		NarSize int64    `json:"narSize"`
		Empty   bool     `json:"empty"`
		Paths   []string `json:"paths"`
	}
	if c.asJSON {
		out := struct {
			Plan   string      `json:"plan"`
			Layers []jsonLayer `json:"layers"`
		}{Plan: c.planFile}
		for _, l := range res.Layers {
			paths := l.Paths
			if paths == nil {
				paths = []string{}
			}
			out.Layers = append(out.Layers, jsonLayer{l.Name, l.Group, l.Key, l.ContentSize(), l.Empty, paths})
		}
		enc := json.NewEncoder(c.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	tw := tabwriter.NewWriter(c.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tLAYER\tPATHS\tNAR SIZE\tKEY")
	var total int64
	n, paths := 0, 0
	for _, l := range res.Layers {
		if l.Empty {
			fmt.Fprintf(tw, "-\t%s\t0\t-\t(empty: every path is in an earlier layer; left out)\n", l.Name)
			continue
		}
		n++
		total += l.ContentSize()
		paths += len(l.Paths)
		fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%s\n", n, l.Name, len(l.Paths), bytesize.Format(l.ContentSize()), shortKey(l.Key))
	}
	fmt.Fprintf(tw, "\t%s\t%d\t%s\t\n", count(n, "layer"), paths, bytesize.Format(total))
	return tw.Flush()
}

// printUnbuilt says what plan --no-build could not resolve without a
// build, and which layers name it.
func (c *planCmd) printUnbuilt(set *secrets.Set, e *pipeline.UnbuiltError) error {
	if c.asJSON {
		out := struct {
			Plan        string                `json:"plan"`
			Unbuilt     []pipeline.UnbuiltDep `json:"unbuilt"`
			Derivations []string              `json:"derivations"`
			Fetch       []string              `json:"fetch"`
		}{c.planFile, e.Deps, e.Derivations, e.Fetch}
		if out.Derivations == nil {
			out.Derivations = []string{}
		}
		if out.Fetch == nil {
			out.Fetch = []string{}
		}
		var b strings.Builder
		enc := json.NewEncoder(&b)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return err
		}
		_, err := io.WriteString(c.Stdout, set.String(b.String()))
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "not resolved without a build (--no-build): these deps reach paths no store or binary cache has, and a package's closure is known only once it is built\n")
	for _, d := range e.Deps {
		fmt.Fprintf(&b, "  layer %s: %s\n", d.Layer, d.Dep)
	}
	if len(e.Derivations) > 0 {
		var names []string
		for _, d := range e.Derivations {
			names = append(names, strings.TrimSuffix(nixpath.Name(d), ".drv"))
		}
		fmt.Fprintf(&b, "Nix would build %s: %s\n", count(len(e.Derivations), "derivation"), strings.Join(names, ", "))
	}
	if len(e.Fetch) > 0 {
		fmt.Fprintf(&b, "Nix would fetch %s from its substituters\n", count(len(e.Fetch), "path"))
	}
	b.WriteString("no layers shown: run plan without --no-build (it builds them) or build\n")
	_, err := io.WriteString(c.Stdout, set.String(b.String()))
	return err
}

// count is "1 layer", "2 layers".
func count(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func shortKey(k string) string {
	if len(k) > 19 {
		return k[:19]
	}
	return k
}
