package resolve

import (
	"context"
	"errors"
	"io/fs"
	"os"

	"github.com/org/nix-layer-action/internal/closure"
	"github.com/org/nix-layer-action/internal/plan"
)

// loaded is a plan and, for a plan written in Nix, the derivations its
// store paths are outputs of (to build whatever no cache has).
type loaded struct {
	plan *plan.Plan
	drvs []plan.Realise
}

// loadPlan reads a plan file, or evaluates a flake output (".#imagePlan")
// with one nix eval to the same schema: derivations become store paths,
// and validation errors name the attribute path.
func loadPlan(ctx context.Context, arg string, nixo NixOptions) (*loaded, error) {
	if _, err := os.Stat(arg); err == nil || !errors.Is(err, fs.ErrNotExist) || !plan.IsNixPlan(arg) {
		p, err := plan.Load(arg)
		return &loaded{plan: p}, err
	}
	cwd, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	np, err := plan.NewNixPlan(arg, cwd)
	if err != nil {
		return nil, err
	}
	n := &closure.Nix{Bin: nixo.Bin, Dir: np.Dir, Env: nixo.Env, Stderr: nixo.Stderr, System: nixo.System}
	out, err := n.Eval(ctx, np.EvalArgs())
	if err != nil {
		return nil, closure.AddGitHint(err, np.Dir)
	}
	p, drvs, err := np.Parse(out)
	if err != nil {
		return nil, err
	}
	return &loaded{plan: p, drvs: drvs}, nil
}

// drvInstallables are the nix build installables of a Nix plan's
// derivations, spelled for the Nix at hand.
func drvInstallables(ctx context.Context, n *closure.Nix, drvs []plan.Realise) []string {
	major, minor := n.Version(ctx)
	caret := major > 2 || major == 2 && minor >= 13
	out := make([]string, 0, len(drvs))
	for _, d := range drvs {
		out = append(out, d.Installable(caret))
	}
	return out
}
