package pipeline

import (
	"errors"
	"fmt"
	"strings"

	"github.com/org/nix-layer-action/internal/closure"
	"github.com/org/nix-layer-action/internal/plan"
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
	type where struct {
		field string
		dep   plan.Dep
	}
	var found []where
	for _, v := range ne.Deps {
		for i, l := range p.Layers {
			for j, d := range l.Deps {
				if d.Value == v {
					found = append(found, where{fmt.Sprintf("layers[%d].deps[%d]", i, j), d})
				}
			}
		}
		for j, d := range p.Root {
			if d.Value == v {
				found = append(found, where{fmt.Sprintf("root[%d]", j), d})
			}
		}
		for _, a := range p.Config.Args {
			if a.Dep.Value == v {
				found = append(found, where{"config." + a.Field + ".installable", a.Dep})
			}
		}
	}
	if len(found) == 0 {
		return err
	}
	fields := make([]string, 0, len(found))
	for _, f := range found[1:] {
		fields = append(fields, fmt.Sprintf("%s (line %d)", f.field, f.dep.Line))
	}
	what := "dep"
	if strings.HasPrefix(found[0].field, "config.") {
		what = "installable"
	}
	msg := fmt.Sprintf("%s %q: %v", what, found[0].dep.Raw, err)
	if len(fields) > 0 {
		msg += "\n(also failing: " + strings.Join(fields, ", ") + ")"
	}
	return &DepError{Loc: &plan.Error{File: p.File, Line: found[0].dep.Line, Field: found[0].field, Msg: msg}, Err: err}
}
