package closure_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/org/nix-layer-action/internal/closure"
	"github.com/org/nix-layer-action/internal/testutil"
	"github.com/org/nix-layer-action/internal/testutil/nixfix"
)

// TestNixIntegration builds the fixture flake with the real nix and checks
// Build attribution, the path-info graph and error reporting.
func TestNixIntegration(t *testing.T) {
	testutil.Short(t)
	fx := nixfix.Flake(t, t.TempDir(), nixfix.Options{Packages: 2, CudaSize: 64 << 10})
	n := nixfix.Runner(t, fx.Dir)
	ctx := context.Background()
	want := fx.OutPaths(t) // evaluated independently of closure.Nix

	res, err := n.Build(ctx, []string{".#app", ".#torch", ".#busybox", ".#pak1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"app", "torch", "busybox", "pak1"} {
		if got := res[".#"+a]; !reflect.DeepEqual(got, []string{want[a]}) {
			t.Fatalf("Build[.#%s] = %v, want [%s]", a, got, want[a])
		}
	}
	app := want["app"]
	nixfix.StorePathsExist(t, app, want["torch"])

	// A store path installable maps to itself.
	res, err = n.Build(ctx, []string{want["busybox"], ".#libshared"})
	if err != nil {
		t.Fatal(err)
	}
	if res[want["busybox"]][0] != want["busybox"] || res[".#libshared"][0] != want["libshared"] {
		t.Fatalf("Build(store path, .#libshared) = %v", res)
	}

	g, err := n.PathInfo(ctx, []string{app})
	if err != nil {
		t.Fatal(err)
	}
	c, err := g.Closure(app)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"app", "busybox", "torch", "cuda", "libshared", "pak1", "pak2"} {
		if !contains(c, want[a]) {
			t.Errorf("closure of app lacks %s (%s): %v", a, want[a], c)
		}
	}
	if contains(c, want["baseTools"]) || len(c) != 7 {
		t.Errorf("closure of app = %v, want exactly 7 paths without base-tools", c)
	}
	if info, _ := g.Info(want["cuda"]); info.NarSize < 64<<10 || !strings.HasPrefix(info.NarHash, "sha256") {
		t.Errorf("cuda info = %+v", info)
	}
	if r := g.Referrers(want["torch"]); !reflect.DeepEqual(r, sorted(want["pak1"], want["pak2"])) {
		t.Errorf("referrers of torch = %v", r)
	}
	if !strings.Contains(readFile(t, app+"/bin/app"), want["busybox"]+"/bin/sh") {
		t.Error("app script does not use the busybox shell")
	}
}

func TestNixIntegrationErrors(t *testing.T) {
	testutil.Short(t)
	fx := nixfix.Flake(t, t.TempDir(), nixfix.Options{Packages: 1, CudaSize: 1024})
	n := nixfix.Runner(t, fx.Dir)
	ctx := context.Background()
	var ne *closure.NixError

	_, err := n.Build(ctx, []string{".#libshared", ".#doesNotExist"})
	if !errors.As(err, &ne) || !reflect.DeepEqual(ne.Deps, []string{".#doesNotExist"}) {
		t.Fatalf("Build(.#doesNotExist) error = %v", err)
	}
	t.Logf("missing attribute: %v", err)
	if !strings.HasPrefix(ne.Stderr, "error:") || !strings.Contains(ne.Stderr, "doesNotExist") {
		t.Fatalf("Stderr = %q", ne.Stderr)
	}

	_, err = n.Build(ctx, []string{".#broken", ".#libshared"})
	if !errors.As(err, &ne) || !reflect.DeepEqual(ne.Deps, []string{".#broken"}) {
		t.Fatalf("Build(.#broken) error = %v", err)
	}
	t.Logf("failing builder: %v", err)
	if !strings.Contains(ne.Stderr, "fails on purpose") || strings.Contains(ne.Stderr, "building '") {
		t.Fatalf("Stderr = %q", ne.Stderr)
	}

	const missing = "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-missing-1.0"
	_, err = n.Build(ctx, []string{".#libshared", missing})
	if !errors.As(err, &ne) || !reflect.DeepEqual(ne.Deps, []string{missing}) || !strings.Contains(ne.Stderr, "'"+missing+"'") {
		t.Fatalf("Build(missing store path) error = %v", err)
	}
	var inv *closure.InvalidPathError
	if !errors.As(err, &inv) || inv.Path != missing || !strings.Contains(err.Error(), "path '"+missing+"' is not valid") {
		t.Fatalf("Build(missing store path) error = %v, want InvalidPathError", err)
	}
	t.Logf("invalid store path dep: %v", err)

	lib := fx.Build(t, "libshared")["libshared"]
	_, err = n.PathInfo(ctx, []string{lib, missing})
	if !errors.As(err, &ne) || !reflect.DeepEqual(ne.Deps, []string{missing}) {
		t.Fatalf("PathInfo(missing) error = %v", err)
	}
	t.Logf("invalid path: %v", err)
	if !strings.Contains(err.Error(), "path '"+missing+"' is not valid") {
		t.Fatalf("PathInfo(missing) message = %q", err)
	}
}

// Evaluate finds output paths without building (the outputs stay invalid
// until built); Valid tells valid from invalid paths in one call.
func TestNixIntegrationEvaluateAndValid(t *testing.T) {
	testutil.Short(t)
	fx := nixfix.Flake(t, t.TempDir(), nixfix.Options{Packages: 1, CudaSize: 1024, Versions: map[string]string{"libshared": "9.9-evaluate-only"}})
	n := nixfix.Runner(t, fx.Dir)
	ctx := context.Background()
	want := fx.OutPaths(t)
	got, err := n.Evaluate(ctx, []string{".#libshared", ".#busybox"})
	if err != nil {
		t.Fatal(err)
	}
	if got[".#libshared"][0] != want["libshared"] || got[".#busybox"][0] != want["busybox"] {
		t.Fatalf("Evaluate = %v, want %v", got, want)
	}
	bb := fx.Build(t, "busybox")["busybox"]
	valid, invalid, err := n.Valid(ctx, []string{bb, want["libshared"]})
	if err != nil {
		t.Fatal(err)
	}
	if len(valid) != 1 || valid[0].Path != bb || !reflect.DeepEqual(invalid, []string{want["libshared"]}) {
		t.Fatalf("Valid: %+v, invalid %v; want %s valid and %s invalid (evaluated, never built)", valid, invalid, bb, want["libshared"])
	}
}
