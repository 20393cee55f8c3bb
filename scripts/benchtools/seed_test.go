package main

import (
	"strings"
	"testing"
)

func names(ps []*debPkg) string {
	var s []string
	for _, p := range ps {
		s = append(s, p.Name)
	}
	return strings.Join(s, " ")
}

// Dependencies come first, a cycle loses exactly the edge that closes it,
// the same one on every run, and every prefix is dependency-closed.
func TestSeedOrderBreaksCyclesDeterministically(t *testing.T) {
	mk := func() map[string]*debPkg {
		return map[string]*debPkg{
			"app":    {Name: "app", Deps: []string{"libc6", "libgcc"}, Bytes: 10},
			"libc6":  {Name: "libc6", Deps: []string{"libgcc"}, Bytes: 30},
			"libgcc": {Name: "libgcc", Deps: []string{"libc6"}, Bytes: 20},
			"tool":   {Name: "tool", Deps: []string{"app"}, Bytes: 40},
		}
	}
	for range 5 {
		pkgs := mk()
		order := seedOrder(pkgs)
		if got := names(order); got != "libgcc libc6 app tool" {
			t.Fatalf("order %q", got)
		}
		if got := strings.Join(pkgs["libgcc"].refs, ","); got != "" {
			t.Errorf("libgcc refs %q: the edge back to libc6 closes the cycle and must go", got)
		}
		if got := strings.Join(pkgs["libc6"].refs, ","); got != "libgcc" {
			t.Errorf("libc6 refs %q", got)
		}
		if got := names(selectSeed(order, seedOptions{Budget: 60, MaxPackage: 100})); got != "libgcc libc6 app" {
			t.Errorf("budget 60: %q", got)
		}
		// A package over the size cap is left out with what depends on it.
		if got := names(selectSeed(order, seedOptions{Budget: 1000, MaxPackage: 25})); got != "libgcc" {
			t.Errorf("max package 25: %q", got)
		}
		groups := seedLayers(order, 3)
		var gs []string
		for _, g := range groups {
			gs = append(gs, names(g))
		}
		if got := strings.Join(gs, " | "); got != "libgcc libc6 | app | tool" {
			t.Errorf("3 layers: %q", got)
		}
	}
}

// Store path names never carry characters Nix rejects, and file names are
// quoted so that Nix cannot read them as code.
func TestSeedNixQuoting(t *testing.T) {
	p := &debPkg{Name: "lib:amd64", Version: "1:2.3~rc1", Files: []string{`usr/share/a "b" ${x}`}}
	out := string(seedNix([]*debPkg{p}, [][]*debPkg{{p}}))
	if !strings.Contains(out, `"deb-lib-1_2.3_rc1"`) {
		t.Errorf("store name not sanitised:\n%s", out)
	}
	if !strings.Contains(out, `"usr/share/a \"b\" \${x}\n"`) {
		t.Errorf("file name not quoted:\n%s", out)
	}
}
