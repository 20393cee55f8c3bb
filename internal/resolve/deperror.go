package resolve

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/org/nix-layer-action/internal/closure"
	"github.com/org/nix-layer-action/internal/plan"
	"github.com/org/nix-layer-action/internal/report"
)

// DepError is a Nix failure attributed to the plan deps that caused it: it
// reads as the plan's file:line: field (so the action annotates the plan
// file), and errors.As still finds both the *plan.Error and the
// *closure.NixError.
type DepError struct {
	Loc *plan.Error
	Err error
}

func (e *DepError) Error() string { return e.Loc.Error() }

// Unwrap returns the location and the Nix error.
func (e *DepError) Unwrap() []error { return []error{e.Loc, e.Err} }

// attribute names the plan deps behind a Nix failure; other errors are
// returned as they are.
func attribute(p *plan.Plan, err error) error {
	err = closure.AddGitHint(err, p.Dir)
	var ne *closure.NixError
	if !errors.As(err, &ne) || len(ne.Deps) == 0 {
		return err
	}
	var found []plan.DepRef
	for _, v := range ne.Deps {
		for ref := range p.EachDep() {
			if ref.Dep.Value == v {
				found = append(found, ref)
			}
		}
	}
	if len(found) == 0 {
		return err
	}
	fields := make([]string, 0, len(found))
	for _, f := range found[1:] {
		fields = append(fields, fmt.Sprintf("%s (line %d)", f.Field, f.Dep.Line))
	}
	what := "dep"
	if found[0].Layer == plan.ConfigLayerName {
		what = "installable"
	}
	msg := fmt.Sprintf("%s %q: %v", what, found[0].Dep.Raw, err)
	if len(fields) > 0 {
		msg += "\n(also failing: " + strings.Join(fields, ", ") + ")"
	}
	return &DepError{Loc: &plan.Error{File: p.File, Line: found[0].Dep.Line, Field: found[0].Field, Msg: msg}, Err: err}
}

// UnbuiltError says which of the plan's deps need a build to be resolved
// (no store or binary cache has their closure) when building is off
// (NixOptions.NoBuild). Nothing was built.
type UnbuiltError struct {
	File string
	// Deps are the deps concerned, each with the layer that names it, in
	// plan order.
	Deps []UnbuiltDep
	// Derivations are the .drv paths Nix would build, and Fetch the
	// paths it would fetch from its substituters (nil when Nix could not
	// say).
	Derivations, Fetch []string
}

// UnbuiltDep is a dep no store or cache has, and where the plan names it:
// a layer's name, "root" or "config".
type UnbuiltDep = report.UnbuiltDep

func (e *UnbuiltError) Error() string {
	var where []string
	for _, d := range e.Deps {
		where = append(where, fmt.Sprintf("%s (layer %s)", d.Dep, d.Layer))
	}
	msg := fmt.Sprintf("%s: not resolved without a build: %s", e.File, strings.Join(where, ", "))
	if len(e.Derivations) > 0 {
		msg += fmt.Sprintf(" need %s no store or binary cache has", report.Count(len(e.Derivations), "derivation"))
	}
	return msg
}

// unbuilt is the *UnbuiltError for the installables build, which Nix
// would realise; it asks Nix (a dry run) what that would build.
func unbuilt(ctx context.Context, n *closure.Nix, p *plan.Plan, outputs map[string][]string, builders map[string]string, build []string) error {
	e := &UnbuiltError{File: p.File}
	if d, err := n.WillBuild(ctx, build); err == nil {
		e.Derivations, e.Fetch = d.Build, d.Fetch
	}
	for ref := range p.EachDep() {
		d := ref.Dep
		inst := d.Value
		for _, o := range depPaths(d, outputs) {
			if b, ok := builders[o]; ok {
				inst = b
			}
		}
		if slices.Contains(build, inst) || slices.Contains(build, d.Value) {
			e.Deps = append(e.Deps, UnbuiltDep{Layer: ref.Layer, Dep: d.Value})
		}
	}
	return e
}
