package nixfix_test

import (
	"context"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/org/nix-layer-action/internal/testutil"
	"github.com/org/nix-layer-action/internal/testutil/nixfix"
)

func TestFlakeNixDeterministic(t *testing.T) {
	o := nixfix.Options{Packages: 2, Versions: map[string]string{"pak1": "9.9.9"}}
	a, b := nixfix.FlakeNix(o), nixfix.FlakeNix(o)
	if a != b {
		t.Fatal("FlakeNix is not deterministic")
	}
	for _, want := range []string{`"python3.12-pak1-9.9.9"`, `"python3.12-pak2-1.2.0"`, `"torch-2.9.0"`, "head -c 1048576", "${pak1} ${pak2}"} {
		if !strings.Contains(a, want) {
			t.Errorf("flake.nix lacks %q", want)
		}
	}
	if strings.Contains(a, "pak3") {
		t.Error("flake.nix has pak3 with Packages: 2")
	}
}

// TestFixtureBuild builds the fixture with real nix and checks store
// references, the app script, version changes and Nar against nix path-info.
func TestFixtureBuild(t *testing.T) {
	testutil.Short(t)
	fx := nixfix.Flake(t, t.TempDir(), nixfix.Options{Packages: 2, CudaSize: 10000})
	out := fx.Build(t)
	if len(out) != 8 {
		t.Fatalf("Build() = %v, want 8 attrs", out)
	}
	for attr, name := range map[string]string{"busybox": "busybox-1.36.1", "torch": "torch-2.9.0", "pak1": "python3.12-pak1-1.1.0", "app": "app-1.0", "cuda": "cuda-12.4.0"} {
		if got := nixfix.NameOf(out[attr]); got != name {
			t.Errorf("%s name = %q, want %q", attr, got, name)
		}
	}
	run, err := exec.Command(out["app"] + "/bin/app").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(run), "hello from app\n") {
		t.Fatalf("app: %q, %v", run, err)
	}

	g, err := nixfix.Runner(t, fx.Dir).PathInfo(context.Background(), []string{out["app"], out["baseTools"]})
	if err != nil {
		t.Fatal(err)
	}
	refs := map[string][]string{
		"baseTools": {"busybox", "libshared"},
		"cuda":      {"libshared"},
		"torch":     {"cuda", "libshared"},
		"pak2":      {"libshared", "torch"},
		"app":       {"busybox", "pak1", "pak2"},
	}
	for attr, deps := range refs {
		info, ok := g.Info(out[attr])
		if !ok {
			t.Fatalf("%s missing from graph", attr)
		}
		var want []string
		for _, d := range deps {
			want = append(want, out[d])
		}
		if strings.Join(info.References, " ") != strings.Join(sorted(want), " ") {
			t.Errorf("%s references %v, want %v", attr, info.References, want)
		}
	}
	for _, p := range g.Paths() {
		info, _ := g.Info(p)
		nar, err := nixfix.Nar(p)
		if err != nil {
			t.Fatal(err)
		}
		if nar.SRI != info.NarHash || nar.Size != info.NarSize {
			t.Errorf("Nar(%s) = %s/%d, nix says %s/%d", p, nar.SRI, nar.Size, info.NarHash, info.NarSize)
		}
	}
	if info, _ := g.Info(out["cuda"]); info.NarSize < 10000 {
		t.Errorf("cuda narSize %d < CudaSize", info.NarSize)
	}

	// Changing pak1's version changes pak1 and app only.
	fx2 := nixfix.Flake(t, t.TempDir(), nixfix.Options{Packages: 2, CudaSize: 10000, Versions: map[string]string{"pak1": "1.1.1"}})
	out2 := fx2.OutPaths(t)
	for attr, p := range out {
		changed := out2[attr] != p
		if changed != (attr == "pak1" || attr == "app") {
			t.Errorf("%s: changed=%v after bumping pak1", attr, changed)
		}
	}
	if nixfix.NameOf(out2["pak1"]) != "python3.12-pak1-1.1.1" {
		t.Errorf("bumped pak1 = %s", out2["pak1"])
	}
}

func sorted(s []string) []string { slices.Sort(s); return s }
