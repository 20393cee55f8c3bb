package nixfix_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/org/nix-layer-action/internal/closure"
	"github.com/org/nix-layer-action/internal/plan"
	"github.com/org/nix-layer-action/internal/testutil/nixfix"
)

var exampleDir = filepath.Join("..", "..", "..", "examples", "quickstart")

// TestExampleConsistent checks the bundled example: the plan parses, every
// path of closure.json is present in the store tree with exactly the
// recorded NAR hash and size (so modes' x bits and symlinks survived), and
// the plan's deps and entrypoint live in the graph.
func TestExampleConsistent(t *testing.T) {
	g, err := closure.LoadGraphFile(filepath.Join(exampleDir, "closure.json"))
	if err != nil {
		t.Fatal(err)
	}
	storeRoot := filepath.Join(exampleDir, "store")
	var total int64
	for _, p := range g.Paths() {
		info, _ := g.Info(p)
		nar, err := nixfix.Nar(filepath.Join(storeRoot, p))
		if err != nil {
			t.Fatal(err)
		}
		if nar.Base32 != info.NarHash || nar.Size != info.NarSize {
			t.Errorf("%s: tree has %s/%d, closure.json says %s/%d", p, nar.Base32, nar.Size, info.NarHash, info.NarSize)
		}
		total += nar.Size
	}
	if total > 3<<20 {
		t.Errorf("example store is %d bytes, keep it under 3 MiB", total)
	}
	ents, err := os.ReadDir(filepath.Join(storeRoot, "nix", "store"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != g.Len() {
		t.Errorf("store tree has %d entries, graph %d", len(ents), g.Len())
	}
	if fi, err := os.Lstat(filepath.Join(storeRoot, findName(t, g, "busybox-"), "bin", "sh")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("busybox bin/sh is not a symlink: %v %v", fi, err)
	}

	pl, err := plan.Load(filepath.Join(exampleDir, "nix-layers.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var names, roots []string
	for _, l := range pl.Layers {
		names = append(names, l.Name)
		for _, d := range l.Deps {
			if d.Kind != plan.StorePath {
				t.Errorf("layer %s dep %s is not a store path", l.Name, d.Raw)
			}
			roots = append(roots, d.Value)
		}
	}
	if !slices.Equal(names, []string{"base", "libs", "app"}) {
		t.Errorf("layers = %v", names)
	}
	c, err := g.Closure(roots...)
	if err != nil || len(c) != g.Len() {
		t.Errorf("closure of the plan's deps = %v, %v; want the whole graph", c, err)
	}
	abs, _ := filepath.Abs(filepath.Join(exampleDir, "closure.json"))
	if pl.ClosureGraph != abs {
		t.Errorf("ClosureGraph = %q, want %q", pl.ClosureGraph, abs)
	}
	if len(pl.Config.Entrypoint) != 1 {
		t.Fatalf("entrypoint = %v", pl.Config.Entrypoint)
	}
	ep := pl.Config.Entrypoint[0]
	script, err := os.ReadFile(filepath.Join(storeRoot, ep))
	if err != nil {
		t.Fatal(err)
	}
	shebang := strings.TrimPrefix(strings.SplitN(string(script), "\n", 2)[0], "#!")
	if _, err := os.Lstat(filepath.Join(storeRoot, shebang)); err != nil {
		t.Errorf("entrypoint interpreter %s missing from the store tree: %v", shebang, err)
	}
}

func findName(t *testing.T, g *closure.Graph, prefix string) string {
	t.Helper()
	found := nixfix.FindByName(g.Paths(), prefix)
	if len(found) != 1 {
		t.Fatalf("paths named %s*: %v", prefix, found)
	}
	return found[0]
}
