package plan

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/org/nix-layer-action/internal/testutil"
	"github.com/org/nix-layer-action/internal/testutil/nixfix"
)

func TestNewNixPlan(t *testing.T) {
	base := t.TempDir()
	tests := []struct {
		in             string
		ref, attr, dir string
	}{
		{".#imagePlan", base, "imagePlan", base},
		{"./infra#plans.prod", filepath.Join(base, "infra"), "plans.prod", filepath.Join(base, "infra")},
		{"path:./infra?dir=x#p", "path:" + filepath.Join(base, "infra") + "?dir=x", "p", filepath.Join(base, "infra")},
		{"/abs/flake#p", "/abs/flake", "p", "/abs/flake"},
		{"../up#p", filepath.Dir(base) + "/up", "p", filepath.Dir(base) + "/up"},
		{"github:org/repo#imagePlan", "github:org/repo", "imagePlan", ""},
		{"myflake#p", "myflake", "p", ""},
	}
	for _, tt := range tests {
		n, err := NewNixPlan(tt.in, base)
		if err != nil {
			t.Errorf("%s: %v", tt.in, err)
			continue
		}
		want := &NixPlan{Installable: tt.in, FlakeRef: tt.ref, Attr: tt.attr, Dir: tt.dir}
		if !reflect.DeepEqual(n, want) {
			t.Errorf("%s: %+v, want %+v", tt.in, n, want)
		}
		if !IsNixPlan(tt.in) {
			t.Errorf("IsNixPlan(%q) = false", tt.in)
		}
	}
	for _, bad := range []string{"nix-layers.yaml", "plans/nix-layers.json", ".#", "#p", "a b#c", "not a ref!#p"} {
		if _, err := NewNixPlan(bad, base); err == nil || IsNixPlan(bad) {
			t.Errorf("%q accepted as a Nix plan", bad)
		}
	}
}

func TestEvalArgs(t *testing.T) {
	n, err := NewNixPlan(".#imagePlan", "/work/repo")
	if err != nil {
		t.Fatal(err)
	}
	args := n.EvalArgs()
	if len(args) != 5 || strings.Join(args[:4], " ") != "eval --json /work/repo#imagePlan --apply" || args[4] != evalApply {
		t.Errorf("EvalArgs = %q", args)
	}
}

// TestNixPlanParse reads a recorded eval output: the plan and the
// derivations to realise, sorted, with their installables for old and new
// Nix.
func TestNixPlanParse(t *testing.T) {
	n := &NixPlan{Installable: ".#imagePlan", FlakeRef: "/flake", Attr: "imagePlan", Dir: "/flake"}
	pl, rs, err := n.Parse(readFixture(t, "eval-output.json"))
	if err != nil {
		t.Fatal(err)
	}
	if pl.File != ".#imagePlan" || pl.Attr != "imagePlan" || len(pl.Layers) != 2 || pl.Layers[1].Deps[1].Sub != "/include" {
		t.Errorf("plan %+v", pl)
	}
	want := []Realise{
		{Drv: "/nix/store/00000000000000000000000000000000-busybox-1.36.1.drv", Outputs: []string{"out"}},
		{Drv: "/nix/store/44444444444444444444444444444444-lib-1.0.drv", Outputs: []string{"dev", "out"}},
		{Drv: "/nix/store/ffffffffffffffffffffffffffffffff-app-1.0.drv", Outputs: []string{"out"}},
	}
	if !reflect.DeepEqual(rs, want) {
		t.Errorf("realise %+v, want %+v", rs, want)
	}
	if got := rs[1].Installable(true); got != "/nix/store/44444444444444444444444444444444-lib-1.0.drv^dev,out" {
		t.Errorf("Installable(true) = %q", got)
	}
	if got := rs[1].Installable(false); got != rs[1].Drv {
		t.Errorf("Installable(false) = %q", got)
	}
	for _, bad := range []string{`{"realise":{}}`, `[1]`, `not json`} {
		_, _, err := n.Parse([]byte(bad))
		var pe *Error
		if !errors.As(err, &pe) || pe.Attr != "imagePlan" {
			t.Errorf("Parse(%s) = %v", bad, err)
		}
	}
}

// nixPlanFlake is a flake whose imagePlan output is a plan of real
// derivations (builder /bin/sh, no inputs), with a relative installable
// dep and a subpath; brokenPlan names a dep that is neither.
const nixPlanFlake = `{
  outputs = { self }:
    let
      system = "x86_64-linux";
      mk = name: builtins.derivation {
        inherit name system;
        builder = "/bin/sh";
        args = [ "-c" "echo ${name} > $out" ];
      };
      base = mk "nixplan-base-1.0";
      app = mk "nixplan-app-2.0";
    in {
      tool = mk "nixplan-tool-1.0";
      imagePlan = {
        version = 1;
        layers = [
          { name = "base"; deps = [ base ]; }
          { name = "app"; deps = [ app ".#tool" ]; max-size = "1GB"; }
        ];
        tmp = true;
        config.entrypoint = [ "${app}" ];
      };
      brokenPlan = {
        version = 1;
        layers = [
          { name = "base"; deps = [ base ]; }
          { name = "app"; deps = [ "result/bin/app" ]; }
        ];
      };
    };
}
`

// TestNixEvalReal evaluates a real flake with the EvalArgs call: the plan
// parses with its derivations as store paths, the derivations to realise
// build to exactly those paths, and a bad plan's error names its attribute
// path. It skips without nix, and fails under CI=true.
func TestNixEvalReal(t *testing.T) {
	testutil.Short(t)
	nix := testutil.RequireTool(t, "nix")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "flake.nix"), []byte(nixPlanFlake), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) ([]byte, error) {
		cmd := exec.CommandContext(context.Background(), nix, append([]string{"--extra-experimental-features", "nix-command flakes"}, args...)...)
		cmd.Env = append(os.Environ(), nixfix.Env()...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("nix %s: %v\n%s", args[0], err, stderr.String())
		}
		return out, nil
	}

	n, err := NewNixPlan(".#imagePlan", dir)
	if err != nil {
		t.Fatal(err)
	}
	out, err := run(n.EvalArgs()...)
	if err != nil {
		t.Fatal(err)
	}
	pl, rs, err := n.Parse(out)
	if err != nil {
		t.Fatalf("%v\neval output: %s", err, out)
	}
	base, app := pl.Layers[0].Deps[0], pl.Layers[1].Deps[0]
	for _, d := range []Dep{base, app} {
		if d.Kind != StorePath || !strings.HasPrefix(d.Value, "/nix/store/") {
			t.Errorf("dep %+v is not a store path", d)
		}
	}
	if !strings.HasSuffix(base.Value, "-nixplan-base-1.0") || !strings.HasSuffix(app.Value, "-nixplan-app-2.0") {
		t.Errorf("deps %s, %s", base.Value, app.Value)
	}
	if tool := pl.Layers[1].Deps[1]; tool.Kind != Installable || tool.Value != dir+"#tool" {
		t.Errorf("relative installable %+v, want %s#tool", tool, dir)
	}
	if len(pl.Config.Entrypoint) != 1 || pl.Config.Entrypoint[0] != app.Value || pl.Layers[1].MaxSize != 1_000_000_000 {
		t.Errorf("config %+v, app layer %+v", pl.Config, pl.Layers[1])
	}

	// nix eval only instantiates: the realise list builds the outputs.
	if len(rs) != 2 {
		t.Fatalf("realise %+v, want the base and app derivations", rs)
	}
	args := []string{"build", "--no-link", "--json"}
	caret := nixHasCaret(t, run)
	for _, r := range rs {
		args = append(args, r.Installable(caret))
	}
	built, err := run(args...)
	if err != nil {
		t.Fatal(err)
	}
	var results []struct {
		Outputs map[string]string `json:"outputs"`
	}
	if err := json.Unmarshal(built, &results); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, r := range results {
		got[r.Outputs["out"]] = true
	}
	if !got[base.Value] || !got[app.Value] {
		t.Errorf("realised %v, want %s and %s", got, base.Value, app.Value)
	}
	for _, p := range []string{base.Value, app.Value} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("after realising: %v", err)
		}
	}

	bad, err := NewNixPlan(".#brokenPlan", dir)
	if err != nil {
		t.Fatal(err)
	}
	out, err = run(bad.EvalArgs()...)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = bad.Parse(out)
	if err == nil || !strings.HasPrefix(err.Error(), `.#brokenPlan: brokenPlan.layers[1].deps[0]: dep "result/bin/app" is neither a store path nor an installable`) {
		t.Errorf("broken plan: %v", err)
	}
}

// nixHasCaret reports whether nix takes "drv^out" installables (2.13+).
func nixHasCaret(t *testing.T, run func(...string) ([]byte, error)) bool {
	t.Helper()
	out, err := run("--version")
	if err != nil {
		t.Fatal(err)
	}
	var major, minor int
	f := strings.Fields(string(out))
	if len(f) == 0 {
		t.Fatalf("nix --version: %q", out)
	}
	if _, err := fmt.Sscanf(f[len(f)-1], "%d.%d", &major, &minor); err != nil {
		t.Fatalf("nix --version %q: %v", out, err)
	}
	return major > 2 || major == 2 && minor >= 13
}
