package plan

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
)

// evalApply is the --apply function of the plan's nix eval. It returns the
// plan value and the derivations its strings refer to (from their string
// context): nix eval instantiates derivations but does not build them, so
// the output paths a plan names must be realised before their closures can
// be read.
const evalApply = `v: let ctx = builtins.getContext (builtins.toJSON v); in {
  plan = v;
  realise = builtins.listToAttrs (builtins.concatMap (p:
    let c = ctx.${p}; in
    if c ? outputs then [ { name = p; value = c.outputs; } ]
    else if c.allOutputs or false then [ { name = p; value = [ "*" ]; } ]
    else [ ]) (builtins.attrNames ctx));
}`

// NixPlan is a plan written in Nix: a flake output such as ".#imagePlan"
// whose value, evaluated with nix eval --json, has the plan schema. Package
// plan never runs Nix; the caller runs nix with EvalArgs, realises the
// derivations Parse returns, and uses the plan.
type NixPlan struct {
	Installable string // as the user wrote it, e.g. ".#imagePlan"
	FlakeRef    string // resolved: "/abs/dir", "path:/abs/dir?dir=x", "github:org/repo"
	Attr        string // the attribute path, e.g. "imagePlan"
	// Dir is the flake's directory, which relative flake refs and host
	// paths inside the plan resolve against; "" for a flake that is not a
	// local path (github:, git+https:, a registry name).
	Dir string
}

// Realise is a derivation the plan names outputs of, to be built before the
// plan's closures are read.
type Realise struct {
	Drv     string   // /nix/store/…-name.drv
	Outputs []string // output names, sorted; ["*"] for all outputs
}

// IsNixPlan reports whether a --plan argument names a flake output
// (flakeref#attr, e.g. ".#imagePlan") rather than a plan file. A path with
// no '#' is a file.
func IsNixPlan(arg string) bool {
	_, err := NewNixPlan(arg, "/")
	return err == nil
}

// NewNixPlan parses a plan installable, resolving a relative flake path
// against baseDir (the directory the command runs in), with the same rules
// as a dep's flake ref.
func NewNixPlan(installable, baseDir string) (*NixPlan, error) {
	ref, attr, ok := strings.Cut(installable, "#")
	if !ok || ref == "" || attr == "" {
		return nil, fmt.Errorf("plan %q is not a flake output: write flakeref#attr, e.g. \".#imagePlan\"", installable)
	}
	if strings.ContainsFunc(installable, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return nil, fmt.Errorf("plan %q contains whitespace or control characters", installable)
	}
	abs, err := filepath.Abs(baseDir)
	if err != nil {
		return nil, fmt.Errorf("plan %q: cannot resolve %s: %v", installable, baseDir, err)
	}
	p := &parser{dir: abs, allowOutside: true, storeDir: DefaultStoreDir}
	resolved, msg := p.resolveFlakeRef(installable, ref)
	if msg != "" {
		return nil, fmt.Errorf("plan %s", strings.TrimPrefix(msg, "dep "))
	}
	return &NixPlan{Installable: installable, FlakeRef: resolved, Attr: attr, Dir: flakeDir(resolved)}, nil
}

// flakeDir is the local directory of a resolved flake ref, or "".
func flakeDir(ref string) string {
	path, _, _ := strings.Cut(ref, "?")
	path = strings.TrimPrefix(path, "path:")
	if !strings.HasPrefix(path, "/") {
		return ""
	}
	return filepath.Clean(path)
}

// EvalArgs returns the arguments, after the nix program name, of the one
// nix call that evaluates the plan: nix eval --json REF#ATTR --apply F. It
// needs the nix-command and flakes features and nothing from the
// environment; run it in any directory (the ref is absolute).
func (n *NixPlan) EvalArgs() []string {
	return []string{"eval", "--json", n.FlakeRef + "#" + n.Attr, "--apply", evalApply}
}

// Parse reads the stdout of the EvalArgs call: the plan, validated by
// ParseValue, and the derivations to realise before resolving it (sorted
// by path).
func (n *NixPlan) Parse(stdout []byte) (*Plan, []Realise, error) {
	var out struct {
		Plan    json.RawMessage     `json:"plan"`
		Realise map[string][]string `json:"realise"`
	}
	if err := json.Unmarshal(stdout, &out); err != nil || out.Plan == nil {
		return nil, nil, &Error{File: n.Installable, Attr: n.Attr,
			Msg: fmt.Sprintf("unexpected nix eval output (%v); run the arguments of EvalArgs", errOrMissing(err))}
	}
	pl, err := ParseValue(n.Installable, n.Attr, n.Dir, out.Plan)
	if err != nil {
		return nil, nil, err
	}
	var rs []Realise
	for drv, outs := range out.Realise {
		outs = slices.Clone(outs)
		slices.Sort(outs)
		rs = append(rs, Realise{Drv: drv, Outputs: outs})
	}
	slices.SortFunc(rs, func(a, b Realise) int { return strings.Compare(a.Drv, b.Drv) })
	return pl, rs, nil
}

func errOrMissing(err error) error {
	if err != nil {
		return err
	}
	return fmt.Errorf("no \"plan\" key")
}

// Installable returns the nix build installable that realises r. Nix 2.13
// and later take "drv^out,dev" ("drv^*" for all outputs); older Nix takes
// the bare .drv path (caret false), which builds every output.
func (r Realise) Installable(caret bool) string {
	if !caret {
		return r.Drv
	}
	return r.Drv + "^" + strings.Join(r.Outputs, ",")
}
