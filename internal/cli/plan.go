package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/org/nix-layer-action/internal/report"
	"github.com/org/nix-layer-action/internal/resolve"
	"github.com/org/nix-layer-action/internal/secrets"
)

type planCmd struct {
	Env
	planFlags
	asJSON  bool
	noBuild bool
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
	c.planFlags.add(fs.FlagSet, "Nix system whose packages to plan, e.g. aarch64-linux (default: the plan's system:, else Nix's)", compressionUsage)
	fs.BoolVar(&c.asJSON, "json", false, "print JSON for machines")
	fs.BoolVar(&c.noBuild, "no-build", false, "build nothing: when a dep needs a build (no store or binary cache has it), name it, its layer and the derivations, and exit 0 without the layers")
	if help, err := parseFlags(fs, args, c.Stderr); help || err != nil {
		return err
	}
	if c.planFile == "" {
		return errors.New("plan: --plan is required")
	}
	req, err := c.planFlags.request("plan")
	if err != nil {
		return err
	}
	set := secrets.New()
	log := set.Writer(c.Stderr)
	defer log.Flush()
	req.NoBuild, req.Log, req.Secrets = c.noBuild, log, set
	nixo := nixOptions(req)
	sub, err := substituterFor(ctx, nixo, set, func(f string, a ...any) { fmt.Fprintf(log, f+"\n", a...) })
	if err != nil {
		return set.Error(err)
	}
	res, err := resolve.Resolve(ctx, req.PlanFile, nixo, sub, req.Format)
	var ue *resolve.UnbuiltError
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
	out := &report.Plan{File: c.planFile}
	for _, l := range res.Layers {
		out.Layers = append(out.Layers, report.PlanLayer{Name: l.Name(), Group: l.Group, Key: l.Key, NarSize: l.ContentSize(), Empty: l.Empty, Paths: l.Paths()})
	}
	if c.asJSON {
		return out.JSON(c.Stdout)
	}
	return out.Table(c.Stdout)
}

// printUnbuilt says what plan --no-build could not resolve without a
// build, and which layers name it.
func (c *planCmd) printUnbuilt(set *secrets.Set, e *resolve.UnbuiltError) error {
	u := &report.Unbuilt{File: c.planFile, Deps: e.Deps, Derivations: e.Derivations, Fetch: e.Fetch}
	var b strings.Builder
	render := u.Text
	if c.asJSON {
		render = u.JSON
	}
	if err := render(&b); err != nil {
		return err
	}
	_, err := io.WriteString(c.Stdout, set.String(b.String()))
	return err
}
