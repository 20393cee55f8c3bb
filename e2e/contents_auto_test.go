package e2e

// Contents e2e: auto layering.

import (
	"fmt"
	"strings"
	"testing"

	"github.com/org/nix-layer-action/internal/testutil"
	"github.com/org/nix-layer-action/internal/testutil/nixfix"
	"github.com/org/nix-layer-action/internal/testutil/registry"
)

// Test 6: auto layering of every path no explicit layer claims.
func TestE2EContentsAutoLayers(t *testing.T) {
	testutil.Short(t)
	fx := contentsFixture(t, nil)
	out := fx.Build(t, "busybox", "suite")
	planFile := writePlan(t, "nix-layers.yaml", fmt.Sprintf(`version: 1
layers:
  - name: bb
    deps: [%q]
  - name: rest
    auto: {max-layers: 3}
config:
  entrypoint: [%q]
`, fx.Ref("busybox"), out["suite"]+"/bin/hello"))
	g, err := nixfix.Runner(t, fx.Dir).PathInfo(t.Context(), []string{out["suite"], out["busybox"]})
	if err != nil {
		t.Fatal(err)
	}
	var unclaimed []string // everything but busybox: suite, app, every pk
	for _, p := range g.Paths() {
		if p != out["busybox"] {
			unclaimed = append(unclaimed, p)
		}
	}
	if len(unclaimed) < contentsPaks+2 {
		t.Fatalf("fixture closure too small: %v", unclaimed)
	}

	check := func(what string, names []string, paths map[string][]string) {
		t.Helper()
		var got []string
		for i, n := range names {
			if want := fmt.Sprintf("rest-%d", i+1); n != want {
				t.Errorf("%s: auto layer %d named %q, want %q", what, i, n, want)
			}
			got = append(got, paths[n]...)
		}
		if len(names) == 0 || len(names) > 3 {
			t.Errorf("%s: %d auto layers %v, want 1..3", what, len(names), names)
		}
		if strings.Join(sortedCopy(got), " ") != strings.Join(unclaimed, " ") {
			t.Errorf("%s: auto layers hold %v, want every unclaimed path %v", what, sortedCopy(got), unclaimed)
		}
	}

	pj := planCLI(t, planFile)
	var names []string
	paths := map[string][]string{}
	for _, l := range pj.Layers {
		if l.Group == "rest" && !l.Empty {
			names = append(names, l.Name)
			paths[l.Name] = l.Paths
		}
	}
	check("plan", names, paths)
	stdout, _, err := runCLI(t, nil, "plan", "--plan", planFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if !strings.Contains(stdout, n) {
			t.Errorf("plan table does not show %s:\n%s", n, stdout)
		}
	}

	reg := registry.Start(t, registry.Options{})
	ref := reg.Ref("contents/auto:latest")
	r := buildCLI(t, planFile, ref)
	names, paths = nil, map[string][]string{}
	for _, l := range r.Layers {
		if strings.HasPrefix(l.Name, "rest-") && l.Status != "empty" {
			names = append(names, l.Name)
			paths[l.Name] = l.Paths
		}
	}
	check("build", names, paths)
	checkExactlyOnce(t, r, g)
	if got := podmanRun(t, ref); !strings.Contains(got, "hello from app") {
		t.Errorf("podman run = %q", got)
	}
}
